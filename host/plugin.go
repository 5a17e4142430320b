package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/alignhost/alignhost/pluginapi"
)

// Plugin is a loaded optimizer module: compiled once, run in a pool of
// instances. It is safe for concurrent use: each concurrent Align gets its
// own instance, up to Limits.Instances at a time.
type Plugin struct {
	host     *Host
	name     string
	info     *ModuleInfo
	trusted  bool
	limits   Limits
	grants   Grants
	pool     Pool
	seed     int64
	desc     pluginapi.Description
	prep     *preparer
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	log      *slog.Logger
	seq      atomic.Uint64
	sem      chan struct{}
	// running counts calls in flight.
	running sync.WaitGroup

	mu     sync.Mutex
	idle   []*instance
	closed bool
}

// Name returns the name the plugin gave itself.
func (p *Plugin) Name() string { return p.name }

// Description returns what the plugin said about itself.
func (p *Plugin) Description() pluginapi.Description { return p.desc }

// Info returns what is known of the module without running it.
func (p *Plugin) Info() ModuleInfo { return *p.info }

// Trusted reports whether the plugin was loaded as trusted: its bytes are
// pinned by hash. It runs metered and stoppable like any other.
func (p *Plugin) Trusted() bool { return p.trusted }

// initTime bounds start-up and describe.
func (p *Plugin) initTime() time.Duration { return min(maxInitTime, p.limits.wallTime()) }

// Limits returns the plugin's limits, defaults filled in.
func (p *Plugin) Limits() Limits { return p.limits }

// describe checks the module's ABI version and asks for its description.
func (p *Plugin) describe(ctx context.Context, inst *instance) (*pluginapi.Description, error) {
	cs := &callState{plugin: p.name, op: "load", log: inst.log, limits: p.limits}
	res, err := inst.call(ctx, cs, p.initTime(), inst.mod.ExportedFunction(pluginapi.ExportABIVersion))
	if err != nil {
		return nil, err
	}
	if v := int(int32(res[0])); v != pluginapi.ABIVersion {
		err := abiVersionError(v, "its alignhost_abi_version returns "+fmt.Sprint(v))
		return nil, &Error{Plugin: p.name, Op: "load", Kind: ABIViolation, Message: err.Error(), Err: err}
	}

	cs = &callState{plugin: p.name, op: "describe", log: inst.log, limits: p.limits}
	wall := &LimitError{Plugin: p.name, Op: "describe", Limit: LimitWallTime, Value: p.initTime().String()}
	cctx, cancel := context.WithTimeoutCause(ctx, p.initTime(), wall)
	defer cancel()
	cctx = withCall(cctx, cs)
	res, err = inst.callIn(cctx, ctx, cs, wall, inst.mod.ExportedFunction(pluginapi.ExportDescribe))
	if err != nil {
		return nil, err
	}
	data, err := inst.result(cctx, ctx, cs, wall, pluginapi.ExportDescribe, res[0])
	if err != nil {
		return nil, err
	}
	desc, err := pluginapi.DecodeDescription(data)
	if err != nil {
		var pe *pluginapi.Error
		if errors.As(err, &pe) {
			return nil, &Error{Plugin: p.name, Op: "describe", Kind: OptimizerFailed, Message: pe.Error(), Err: pe}
		}
		return nil, &Error{Plugin: p.name, Op: "describe", Kind: ABIViolation, Message: "returned malformed JSON: " + err.Error(), Err: err}
	}
	if err := desc.Validate(); err != nil {
		return nil, &Error{Plugin: p.name, Op: "describe", Kind: ABIViolation, Message: err.Error(), Err: err}
	}
	return desc, nil
}

// rename names the plugin as its description does, from now on.
func (p *Plugin) rename(name string, inst *instance) {
	p.name = name
	p.log = p.host.log.With(slog.String("plugin", name))
	inst.log = p.log.With(slog.Uint64("instance", inst.id))
	inst.out.setLogger(inst.log)
}

// result copies a packed result out of the guest's memory and frees it.
func (inst *instance) result(cctx, parent context.Context, cs *callState, wall *LimitError, export string, packed uint64) ([]byte, error) {
	ptr, n := pluginapi.Unpack(packed)
	if packed == 0 {
		return nil, cs.abiError("%s returned no result", export)
	}
	if int64(n) > int64(cs.limits.MessageBytes) {
		return nil, &LimitError{Plugin: cs.plugin, Op: cs.op, Limit: LimitMessageSize, Value: mib(uint64(cs.limits.MessageBytes))}
	}
	if n < 2 {
		return nil, cs.abiError("%s returned a result of %d byte(s), too short for a JSON object", export, n)
	}
	mem := inst.mod.Memory()
	b, ok := mem.Read(ptr, n)
	if !ok {
		return nil, cs.abiError("%s returned a result outside its memory (address %#x, length %d, memory %d bytes)", export, ptr, n, mem.Size())
	}
	out := append([]byte(nil), b...)
	if _, err := inst.callIn(cctx, parent, cs, wall, inst.free, uint64(ptr)); err != nil {
		return nil, err
	}
	return out, nil
}

// Align runs one alignment on an instance of the plugin.
//
// # Errors
//
// Align returns an *Error (InvalidInput before the plugin runs;
// ABIViolation, Crash, OptimizerFailed or InvalidJudge after), a
// *LimitError when a limit ends the call, or the context's error, wrapped,
// when ctx ends first. After any error the instance is discarded; the
// next call gets a fresh one.
func (p *Plugin) Align(ctx context.Context, in Input) (*Result, error) {
	start := time.Now()
	req, err := p.prep.request(in)
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, &Error{Plugin: p.name, Op: "align", Kind: InvalidInput, Message: "encode request: " + err.Error(), Err: err}
	}
	if len(data) > p.limits.MessageBytes {
		return nil, &LimitError{Plugin: p.name, Op: "align", Limit: LimitMessageSize, Value: mib(uint64(p.limits.MessageBytes))}
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("plugin %s: align: wait for an instance: %w", p.name, ctx.Err())
	}
	defer func() { <-p.sem }()
	if !p.enter() {
		return nil, fmt.Errorf("plugin %s: align: %w", p.name, ErrClosed)
	}
	defer p.running.Done()

	inst, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	wall := &LimitError{Plugin: p.name, Op: "align", Limit: LimitWallTime, Value: p.limits.wallTime().String()}
	sess := &session{
		plugin: p.name, desc: &p.desc, limits: p.limits,
		models: p.host.models, noCache: p.host.noCache, roles: roleMap(p.host.roles), evaluator: p.host.eval, log: inst.log,
		judge: req.Judge, examples: req.Examples, judgeModels: in.JudgeModels, judgeParams: in.JudgeParams, progress: in.Progress,
		wallLimit: wall,
	}
	cs := &callState{plugin: p.name, op: "align", log: inst.log, limits: p.limits, sess: sess, held: map[uint32][]byte{}}
	cctx, cancel := context.WithTimeoutCause(ctx, p.limits.wallTime(), wall)
	defer cancel()
	cctx = withCall(cctx, cs)

	out, err := inst.alignOn(cctx, ctx, cs, wall, data)
	cs.logs.report(ctx, cs.log)
	p.put(inst, err == nil)
	if err != nil {
		return nil, err
	}
	resp, err := pluginapi.DecodeAlignResponse(out)
	if err != nil {
		var pe *pluginapi.Error
		if errors.As(err, &pe) {
			return nil, &Error{Plugin: p.name, Op: "align", Kind: OptimizerFailed, Message: pe.Error(), Err: pe}
		}
		return nil, &Error{Plugin: p.name, Op: "align", Kind: ABIViolation, Message: "returned malformed JSON: " + err.Error(), Err: err}
	}
	usage := sess.usage()
	usage.Fuel = cs.fuelUsed
	return p.prep.finish(in, resp, usage, time.Since(start))
}

// alignOn passes the request to the guest and returns its result.
func (inst *instance) alignOn(cctx, parent context.Context, cs *callState, wall *LimitError, data []byte) ([]byte, error) {
	res, err := inst.callIn(cctx, parent, cs, wall, inst.alloc, uint64(len(data)))
	if err != nil {
		return nil, err
	}
	ptr := uint32(res[0])
	if ptr == 0 {
		if inst.mem.refused.Load() {
			return nil, &LimitError{Plugin: cs.plugin, Op: cs.op, Limit: LimitMemory, Value: mib(inst.mem.limit)}
		}
		return nil, cs.abiError("%s returned 0 for %d bytes", pluginapi.ExportAlloc, len(data))
	}
	if mem := inst.mod.Memory(); !mem.Write(ptr, data) {
		return nil, cs.abiError("%s returned a buffer outside its memory (address %#x, length %d, memory %d bytes)",
			pluginapi.ExportAlloc, ptr, len(data), mem.Size())
	}
	res, err = inst.callIn(cctx, parent, cs, wall, inst.align, uint64(ptr), uint64(len(data)))
	if err != nil {
		return nil, err
	}
	out, err := inst.result(cctx, parent, cs, wall, pluginapi.ExportAlign, res[0])
	if err != nil {
		return nil, err
	}
	if _, err := inst.callIn(cctx, parent, cs, wall, inst.free, uint64(ptr)); err != nil {
		return nil, err
	}
	return out, nil
}

// enter counts a call in, unless the plugin is closed.
func (p *Plugin) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.running.Add(1)
	return true
}

// get returns an idle instance or starts one.
func (p *Plugin) get(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return inst, nil
	}
	p.mu.Unlock()
	return p.newInstance(ctx, "start")
}

// put returns an instance to the pool, or closes it: after an error, after
// Pool.MaxUses calls, past Pool.RecyclePages of memory, or when the pool is
// full or closed.
func (p *Plugin) put(inst *instance, healthy bool) {
	inst.uses++
	if !healthy || inst.closed || inst.uses >= p.pool.MaxUses ||
		uint64(inst.mod.Memory().Size()) > uint64(p.pool.RecyclePages)*pageSize {
		inst.close()
		return
	}
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.limits.Instances {
		p.mu.Unlock()
		inst.close()
		return
	}
	p.idle = append(p.idle, inst)
	p.mu.Unlock()
}

// Close closes the plugin's instances and releases its compiled code. It
// waits for calls in flight until ctx ends, then returns an error and
// leaves them; every call ends by its wall time, since the meter stops a
// guest that does not return.
func (p *Plugin) Close(ctx context.Context) error {
	p.host.forget(p)
	return p.close(ctx)
}

func (p *Plugin) close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, inst := range idle {
		inst.close()
	}
	done := make(chan struct{})
	go func() {
		p.running.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("close plugin %s: calls still running: %w", p.name, ctx.Err())
	}
	p.closeRuntime()
	return nil
}

func (p *Plugin) closeRuntime() {
	if p.runtime != nil {
		_ = p.runtime.Close(context.Background())
	}
}

// ensure Plugin is a Runner.
var _ Runner = (*Plugin)(nil)
