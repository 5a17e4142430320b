package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/alignhost/alignhost/host/internal/meter"
	"github.com/alignhost/alignhost/pluginapi"
)

// stopInterval is how often the host zeroes a guest's fuel once its call's
// context has ended, until the call returns: a guest charging at that very
// moment may write its old count back over one zero.
const stopInterval = time.Millisecond

// instance is one instantiated module. It runs one call at a time and is
// discarded after any error.
type instance struct {
	p     *Plugin
	id    uint64
	mod   api.Module
	mem   *linearMemory
	out   *guestOutput
	log   *slog.Logger
	alloc api.Function
	free  api.Function
	align api.Function
	// fuel is the meter's counter (meter.FuelExport), reserve the fuel
	// not yet moved into it (meter.ReserveExport).
	fuel    api.MutableGlobal
	reserve api.MutableGlobal
	uses    int
	closed  bool
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
	fuel, ok := mod.ExportedGlobal(meter.FuelExport).(api.MutableGlobal)
	reserve, okReserve := mod.ExportedGlobal(meter.ReserveExport).(api.MutableGlobal)
	if (!ok || !okReserve) && p.host.guard == guardMeter {
		_ = mod.Close(context.Background())
		return nil, &Error{Plugin: p.name, Op: op, Kind: ABIViolation, Message: "instantiate: the metered module has no fuel counter"}
	}
	inst := &instance{
		p: p, id: id, mod: mod, mem: mem, out: out, log: log,
		alloc:   mod.ExportedFunction(pluginapi.ExportAlloc),
		free:    mod.ExportedFunction(pluginapi.ExportFree),
		align:   mod.ExportedFunction(pluginapi.ExportAlign),
		fuel:    fuel,
		reserve: reserve,
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
// cause wall; parent is the caller's context. The call gets what is left
// of cs's fuel, and is stopped when cctx ends by zeroing its fuel: the
// guest traps at its next charge (a function entry or a loop header), and
// a guest in a host function traps when that returns to it.
func (inst *instance) callIn(cctx, parent context.Context, cs *callState, wall *LimitError, f api.Function, params ...uint64) ([]uint64, error) {
	inst.out.resetTail()
	if inst.fuel == nil { // the guard-cost benchmark's unmetered modules
		res, err := inst.invoke(cctx, f, params...)
		if err != nil {
			return nil, inst.classify(cctx, parent, cs, wall, err, false)
		}
		return res, nil
	}
	budget := cs.limits.Fuel - cs.fuelUsed
	fuel, reserve := meter.Split(budget)
	inst.fuel.Set(uint64(fuel))
	inst.reserve.Set(uint64(reserve))
	release := inst.stopAtEnd(cctx)
	res, err := inst.invoke(cctx, f, params...)
	release()
	fuel, reserve = int64(inst.fuel.Get()), int64(inst.reserve.Get())
	cs.fuelUsed += budget - max(fuel+reserve, 0)
	if err == nil {
		return res, nil
	}
	return nil, inst.classify(cctx, parent, cs, wall, err, fuel < 0)
}

// stopAtEnd zeroes the instance's fuel (reserve and counter) when ctx ends, and again every
// stopInterval until the returned release is called; release waits until
// nothing writes the counter any more.
func (inst *instance) stopAtEnd(ctx context.Context) (release func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(exited)
		t := time.NewTicker(stopInterval)
		defer t.Stop()
		for {
			inst.reserve.Set(0)
			inst.fuel.Set(0)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() {
		close(done)
		if !stop() {
			<-exited
		}
	}
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
// fuel limit (the meter trapped: outOfFuel, and neither of the two before
// made the host zero the counter), the guest's exit, and otherwise a crash
// with the guest's last words.
func (inst *instance) classify(cctx, parent context.Context, cs *callState, wall *LimitError, err error, outOfFuel bool) error {
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
	case outOfFuel:
		return &LimitError{Plugin: cs.plugin, Op: cs.op, Limit: LimitFuel, Value: strconv.FormatInt(cs.limits.Fuel, 10)}
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
