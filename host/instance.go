package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/alignhost/alignhost/pluginapi"
)

// abandonGrace is how long the host waits, once a call's context has
// ended, for a guest that does not stop (a trusted module spinning, which
// nothing can interrupt) before it returns to its caller and leaves the
// guest to finish on its own.
const abandonGrace = 100 * time.Millisecond

// instance is one instantiated module. It runs one call at a time and is
// discarded after any error.
type instance struct {
	p      *Plugin
	id     uint64
	mod    api.Module
	mem    *linearMemory
	out    *guestOutput
	log    *slog.Logger
	alloc  api.Function
	free   api.Function
	align  api.Function
	uses   int
	closed bool
	// stack is reused by exec for each call's parameters and results.
	stack [2]uint64
}

// newInstance instantiates the module and runs its _initialize; op names
// the step in errors ("load", "start").
func (p *Plugin) newInstance(ctx context.Context, op string) (*instance, error) {
	id := p.seq.Add(1)
	log := p.log.With(slog.Uint64("instance", id))
	out := newGuestOutput(log)
	allocator, mem := memoryAllocator(uint64(p.limits.MemoryPages) * pageSize)
	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out.stdout()).
		WithStderr(out.stderr()).
		WithRandSource(newSeededRand(p.seed))
	if p.grants.Clock {
		cfg = cfg.WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	}
	env := make([]string, 0, len(p.grants.Env))
	for k := range p.grants.Env {
		env = append(env, k)
	}
	sort.Strings(env)
	for _, k := range env {
		cfg = cfg.WithEnv(k, p.grants.Env[k])
	}
	if len(p.grants.Dirs) > 0 {
		fs := wazero.NewFSConfig()
		for guest, hostDir := range p.grants.Dirs {
			fs = fs.WithReadOnlyDirMount(hostDir, guest)
		}
		cfg = cfg.WithFSConfig(fs)
	}

	mod, err := p.runtime.InstantiateModule(experimental.WithMemoryAllocator(ctx, allocator), p.compiled, cfg)
	if err != nil {
		return nil, &Error{Plugin: p.name, Op: op, Kind: ABIViolation, Message: "instantiate: " + err.Error(), Err: err}
	}
	inst := &instance{
		p: p, id: id, mod: mod, mem: mem, out: out, log: log,
		alloc: mod.ExportedFunction(pluginapi.ExportAlloc),
		free:  mod.ExportedFunction(pluginapi.ExportFree),
		align: mod.ExportedFunction(pluginapi.ExportAlign),
	}
	if init := mod.ExportedFunction(pluginapi.ExportInitialize); init != nil {
		cs := &callState{plugin: p.name, op: op, log: log, limits: p.limits}
		if _, err := inst.call(ctx, cs, p.initTime(), init); err != nil {
			inst.close()
			return nil, err
		}
	}
	return inst, nil
}

// newSeededRand returns the deterministic random source of an instance.
func newSeededRand(seed int64) *rand.ChaCha8 {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(uint64(seed) >> (8 * i))
	}
	copy(key[8:], "alignhost plugin random source")
	return rand.NewChaCha8(key)
}

// call runs export f under a wall-time limit of timeout with the call state
// cs, and turns any failure into an *Error or *LimitError.
func (inst *instance) call(ctx context.Context, cs *callState, timeout time.Duration, f api.Function, params ...uint64) ([]uint64, error) {
	wall := &LimitError{Plugin: cs.plugin, Op: cs.op, Limit: LimitWallTime, Value: timeout.String()}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, wall)
	defer cancel()
	return inst.callIn(withCall(cctx, cs), ctx, cs, wall, f, params...)
}

// callIn runs export f in cctx, a context that carries cs and ends with
// cause wall; parent is the caller's context.
func (inst *instance) callIn(cctx, parent context.Context, cs *callState, wall *LimitError, f api.Function, params ...uint64) ([]uint64, error) {
	inst.out.resetTail()
	res, err := inst.exec(cctx, f, params...)
	if err == nil {
		return res, nil
	}
	return nil, inst.classify(cctx, parent, cs, wall, err)
}

// exec calls f. A module compiled with interrupt checks stops by itself
// when ctx ends; a trusted one cannot be interrupted, so it runs on its own
// goroutine and is abandoned if it outlives ctx by abandonGrace: the caller
// gets its answer, and the instance is closed when the guest returns.
func (inst *instance) exec(ctx context.Context, f api.Function, params ...uint64) ([]uint64, error) {
	if !inst.p.trusted {
		return inst.invoke(ctx, f, params...)
	}
	type outcome struct {
		res []uint64
		err error
	}
	done := make(chan outcome, 1)
	inst.p.running.Add(1)
	go func() {
		defer inst.p.running.Done()
		res, err := inst.invoke(ctx, f, params...)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-ctx.Done():
	}
	t := time.NewTimer(abandonGrace)
	defer t.Stop()
	select {
	case o := <-done:
		return o.res, o.err
	case <-t.C:
	}
	inst.closed = true // never reused; closed when the guest returns
	inst.p.running.Add(1)
	go func() {
		defer inst.p.running.Done()
		<-done
		inst.out.flush()
		_ = inst.mod.Close(context.Background())
	}()
	inst.log.LogAttrs(ctx, slog.LevelWarn, "trusted plugin did not stop at the end of its call; it keeps running until it returns")
	return nil, ctx.Err()
}

// invoke calls f with the instance's reusable stack.
func (inst *instance) invoke(ctx context.Context, f api.Function, params ...uint64) ([]uint64, error) {
	stack := inst.stack[:]
	copy(stack, params)
	if err := f.CallWithStack(ctx, stack); err != nil {
		return nil, err
	}
	return stack[:len(f.Definition().ResultTypes())], nil
}

// classify explains why a call failed, most specific first: the error a
// host function ended it with, the session's fatal error (a limit), a
// refused memory grow, the wall-time limit, the caller's cancellation, the
// guest's exit, and otherwise a crash with the guest's last words.
func (inst *instance) classify(cctx, parent context.Context, cs *callState, wall *LimitError, err error) error {
	var he *Error
	var le *LimitError
	if err := cs.fatalErr(); err != nil {
		return err
	}
	switch {
	case cs.sess != nil && cs.sess.fatalErr() != nil:
		return cs.sess.fatalErr()
	case errors.As(err, &he):
		return he
	case errors.As(err, &le):
		return le
	case inst.mem.refused.Load():
		return &LimitError{Plugin: cs.plugin, Op: cs.op, Limit: LimitMemory, Value: mib(inst.mem.limit)}
	case context.Cause(cctx) == wall:
		return wall
	case parent.Err() != nil:
		return fmt.Errorf("plugin %s: %s: %w", cs.plugin, cs.op, parent.Err())
	}
	reason := inst.out.reason()
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		msg := fmt.Sprintf("exited with code %d", exit.ExitCode())
		if reason != "" {
			msg += ": " + reason
		}
		return &Error{Plugin: cs.plugin, Op: cs.op, Kind: Crash, Message: msg, Err: err}
	}
	if reason == "" {
		reason, _, _ = strings.Cut(err.Error(), "\n")
	}
	return &Error{Plugin: cs.plugin, Op: cs.op, Kind: Crash, Message: "crashed: " + reason, Err: err}
}

// close releases the instance, unless a call is still running in it.
func (inst *instance) close() {
	if inst.closed {
		return
	}
	inst.closed = true
	inst.out.flush()
	_ = inst.mod.Close(context.Background())
}
