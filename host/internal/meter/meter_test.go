package meter

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// module assembles a module of one type (i32) -> i64, the given function
// bodies (code after the locals), and exports function 0 as "run".
func module(bodies ...[]byte) []byte {
	sec := func(id byte, payload []byte) []byte {
		return append(appendU32([]byte{id}, uint32(len(payload))), payload...)
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, sec(secType, []byte{1, 0x60, 1, 0x7f, 1, 0x7e})...)
	fn := appendU32(nil, uint32(len(bodies)))
	for range bodies {
		fn = append(fn, 0)
	}
	out = append(out, sec(secFunction, fn)...)
	out = append(out, sec(secExport, append(appendName([]byte{1}, "run"), KindFunction, 0))...)
	code := appendU32(nil, uint32(len(bodies)))
	for _, b := range bodies {
		b = append([]byte{1, 1, 0x7e}, b...) // one i64 local
		code = appendU32(code, uint32(len(b)))
		code = append(code, b...)
	}
	return append(out, sec(secCode, code)...)
}

// countdown: local1 = 0; loop { local1++; br_if 0 (--param != 0) }; local1
var countdown = []byte{
	0x03, 0x40, // loop
	0x20, 0x01, 0x42, 0x01, 0x7c, 0x21, 0x01, // local1 += 1
	0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, // param -= 1 (tee)
	0x0d, 0x00, // br_if 0
	0x0b,       // end
	0x20, 0x01, // local.get 1
	0x0b, // end
}

func instantiate(t *testing.T, wasm []byte) (api.Module, api.MutableGlobal) {
	t.Helper()
	m, err := Decode(wasm, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	metered, err := m.Instrument()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	t.Cleanup(func() { rt.Close(ctx) })
	mod, err := rt.Instantiate(ctx, metered)
	if err != nil {
		t.Fatalf("instantiate the metered module: %v", err)
	}
	g, ok := mod.ExportedGlobal(FuelExport).(api.MutableGlobal)
	if !ok {
		t.Fatalf("no mutable global %s", FuelExport)
	}
	return mod, g
}

func TestInstrumentCharges(t *testing.T) {
	mod, fuel := instantiate(t, module(countdown))
	run := mod.ExportedFunction("run")
	ctx := context.Background()
	used := func(n uint64) int64 {
		t.Helper()
		fuel.Set(1 << 40)
		res, err := run.Call(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if res[0] != n {
			t.Fatalf("run(%d) = %d: the metered code computes something else", n, res[0])
		}
		return 1<<40 - int64(fuel.Get())
	}
	// Region 0 (loop, local.get, end: 3) is charged with the loop, which
	// begins the body; the loop body has 10 instructions, its end included.
	for _, n := range []uint64{1, 10, 1000} {
		if got, want := used(n), int64(n)*13; got != want {
			t.Errorf("run(%d) used %d fuel, want %d", n, got, want)
		}
	}
	// Out of fuel: a trap, with the counter below zero.
	fuel.Set(100)
	if _, err := run.Call(ctx, 1000); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("run past its fuel: err = %v, want an unreachable trap", err)
	}
	if v := int64(fuel.Get()); v >= 0 {
		t.Errorf("fuel after the trap = %d, want < 0", v)
	}
}

func TestDecodeLimits(t *testing.T) {
	nested := func(depth int) []byte {
		var b []byte
		for range depth {
			b = append(b, 0x02, 0x40)
		}
		for range depth {
			b = append(b, 0x0b)
		}
		return append(b, 0x42, 0x00, 0x0b)
	}
	long := func(n int) []byte {
		var b []byte
		for range n / 2 {
			b = append(b, 0x41, 0x00, 0x1a) // i32.const 0, drop
		}
		return append(b, 0x42, 0x00, 0x0b)
	}
	cases := []struct {
		name   string
		wasm   []byte
		limits Limits
		limit  Limit
		fn     int
	}{
		{"module size", module(countdown), Limits{ModuleBytes: 20}, LimitModuleBytes, -1},
		{"function count", module(countdown, countdown, countdown), Limits{Functions: 2}, LimitFunctions, -1},
		{"body size", module(countdown, long(100)), Limits{BodyBytes: 100}, LimitBodyBytes, 1},
		{"instructions", module(countdown, long(1000)), Limits{Instructions: 500}, LimitInstructions, 1},
		{"nesting", module(nested(5), nested(80_000)), Limits{}, LimitNesting, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.wasm, c.limits)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != c.limit || le.Function != c.fn {
				t.Fatalf("err = %v, want the %s limit on function %d", err, c.limit, c.fn)
			}
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := module(countdown)
	m, err := Decode(good, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// Every cut inside the last section (the code) is malformed.
	for i := m.sections[len(m.sections)-1].start + 1; i < len(good); i++ {
		if _, err := Decode(good[:i], Limits{}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("module cut at %d bytes: err = %v, want ErrMalformed", i, err)
		}
	}
}

func TestInstrumentRefusesReservedExport(t *testing.T) {
	wasm := module(countdown)
	m, err := Decode(wasm, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	m.Exports = append(m.Exports, Export{Name: FuelExport})
	if _, err := m.Instrument(); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("err = %v, want the reserved name refused", err)
	}
}

// TestZeroedDuringAHostCall: the host zeroes the counter while the guest is
// in a host function that then returns normally; the guest, about to spin
// for ever, traps at its loop's first charge. wazero reloads mutable
// globals after every call, so no stale count survives the call.
func TestZeroedDuringAHostCall(t *testing.T) {
	// Imports env.wait () -> (); function 1 calls it, then spins.
	sec := func(id byte, payload []byte) []byte {
		return append(appendU32([]byte{id}, uint32(len(payload))), payload...)
	}
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	wasm = append(wasm, sec(secType, []byte{1, 0x60, 0, 0})...)
	wasm = append(wasm, sec(secImport, append(appendName(appendName([]byte{1}, "env"), "wait"), KindFunction, 0))...)
	wasm = append(wasm, sec(secFunction, []byte{1, 0})...)
	wasm = append(wasm, sec(secExport, append(appendName([]byte{1}, "run"), KindFunction, 1))...)
	body := []byte{0, 0x10, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b} // call 0; loop br 0 end; end
	wasm = append(wasm, sec(secCode, append(appendU32([]byte{1}, uint32(len(body))), body...))...)

	m, err := Decode(wasm, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	metered, err := m.Instrument()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	var fuel api.MutableGlobal
	_, err = rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func(ctx context.Context) { fuel.Set(0) }).Export("wait").
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, metered)
	if err != nil {
		t.Fatal(err)
	}
	fuel = mod.ExportedGlobal(FuelExport).(api.MutableGlobal)
	fuel.Set(1 << 62)
	if _, err := mod.ExportedFunction("run").Call(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("err = %v, want the meter's trap", err)
	}
	if v := int64(fuel.Get()); v >= 0 {
		t.Errorf("fuel = %d, want < 0", v)
	}
}

// TestInstrumentAddsMissingSections: a module with no global, export or
// code section gets the first two, in order.
func TestInstrumentAddsMissingSections(t *testing.T) {
	_, fuel := instantiate(t, []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00"))
	if fuel.Get() != 0 {
		t.Errorf("fuel = %d, want 0 before the embedder sets a budget", fuel.Get())
	}
}
