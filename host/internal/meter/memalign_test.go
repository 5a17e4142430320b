package meter

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/alignhost/alignhost/plugins/memalign/bundle"
)

// TestMemAlignFitsTheDefaults decodes the bundled MemAlign under the
// default limits, with the margins DefaultLimits quotes, and compiles it
// metered.
func TestMemAlignFitsTheDefaults(t *testing.T) {
	wasm, err := bundle.Module()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Decode(wasm, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var maxSize, maxIns, maxNest int
	for _, b := range m.Bodies {
		maxSize = max(maxSize, b.Size)
		maxIns = max(maxIns, b.Instructions)
		maxNest = max(maxNest, b.Nesting)
	}
	d := DefaultLimits()
	t.Logf("%d bytes, %d functions; largest body %d bytes, %d instructions; nesting %d", len(wasm), len(m.Bodies), maxSize, maxIns, maxNest)
	if len(wasm)*4 > d.ModuleBytes || len(m.Bodies)*4 > d.Functions || maxSize*4 > d.BodyBytes || maxIns*4 > d.Instructions || maxNest*3 > d.Nesting {
		t.Errorf("MemAlign is within a factor of 4 (3 for nesting) of a default limit")
	}
	metered, err := m.Instrument()
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		t.Skip("compiling MemAlign takes seconds")
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	if _, err := rt.CompileModule(ctx, metered); err != nil {
		t.Fatalf("compile metered MemAlign: %v", err)
	}
}

// FuzzInstrument: the decoder never panics, and a module wazero accepts
// stays one it accepts once metered.
func FuzzInstrument(f *testing.F) {
	f.Add(module(countdown))
	f.Add(module([]byte{0x02, 0x40, 0x03, 0x40, 0x0b, 0x0b, 0x42, 0x00, 0x0b}))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		m, err := Decode(wasm, Limits{Instructions: 10_000, Nesting: 100})
		if err != nil {
			return
		}
		metered, err := m.Instrument()
		if err != nil {
			return
		}
		ctx := context.Background()
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(nil))
		defer rt.Close(ctx)
		if _, err := rt.CompileModule(ctx, wasm); err != nil {
			return
		}
		if _, err := rt.CompileModule(ctx, metered); err != nil {
			t.Fatalf("wazero compiles the module but not its metered form: %v", err)
		}
	})
}

// BenchmarkInstrumentMemAlign measures what metering adds to every load,
// cached compilation or not: decoding the bundled MemAlign (4.7 MB) under
// the limits and writing it instrumented.
func BenchmarkInstrumentMemAlign(b *testing.B) {
	wasm, err := bundle.Module()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(wasm)))
	for b.Loop() {
		m, err := Decode(wasm, Limits{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Instrument(); err != nil {
			b.Fatal(err)
		}
	}
}
