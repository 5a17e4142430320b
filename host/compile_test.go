package host_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/host"
)

// assemble returns a module of one function type () -> (), one function
// per body (the code after the locals, its final end included), and no
// imports or exports.
func assemble(bodies ...[]byte) []byte {
	u32 := func(b []byte, v uint32) []byte {
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v == 0 {
				return append(b, c)
			}
			b = append(b, c|0x80)
		}
	}
	sec := func(out []byte, id byte, payload []byte) []byte {
		return append(u32(append(out, id), uint32(len(payload))), payload...)
	}
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = sec(out, 1, []byte{1, 0x60, 0, 0})
	fn := u32(nil, uint32(len(bodies)))
	for range bodies {
		fn = append(fn, 0)
	}
	out = sec(out, 3, fn)
	code := u32(nil, uint32(len(bodies)))
	for _, b := range bodies {
		code = u32(code, uint32(len(b)+1))
		code = append(append(code, 0), b...) // no locals
	}
	return sec(out, 10, code)
}

// nestedBlocks is a body of depth nested empty blocks.
func nestedBlocks(depth int) []byte {
	b := make([]byte, 0, 3*depth+1)
	for range depth {
		b = append(b, 0x02, 0x40)
	}
	for range depth {
		b = append(b, 0x0b)
	}
	return append(b, 0x0b)
}

// longBody is a body of about n instructions (i32.const 0, drop).
func longBody(n int) []byte {
	b := make([]byte, 0, 3*n/2+1)
	for range n / 2 {
		b = append(b, 0x41, 0x00, 0x1a)
	}
	return append(b, 0x0b)
}

// The compile bombs of the containment issue: 80,000 nested blocks (which
// took wazero 87–208 s to compile), and one function of 3 million
// instructions (3.19 GB to compile).
var compileBombs = []struct {
	name   string
	wasm   func() []byte
	limits host.CompileLimits
	limit  host.Limit
	detail string
}{
	{"80k nested blocks", func() []byte { return assemble(longBody(10), nestedBlocks(80_000)) }, host.CompileLimits{},
		host.LimitNesting, "function 1 reaches 2049"},
	{"3M instructions", func() []byte { return assemble(longBody(3_000_000)) }, host.CompileLimits{},
		host.LimitFunctionSize, "function 0 has 4500002 bytes"},
	{"3M instructions, size limit raised", func() []byte { return assemble(longBody(3_000_000)) }, host.CompileLimits{FunctionBytes: 64 << 20},
		host.LimitFunctionInstructions, "function 0 reaches 200001"},
}

// TestCompileBombsAreRefused checks that each bomb is refused before it is
// compiled, by Load and by Inspect, naming the limit, its value and the
// function.
func TestCompileBombsAreRefused(t *testing.T) {
	for _, bomb := range compileBombs {
		t.Run(bomb.name, func(t *testing.T) {
			h := newHost(t, host.NewConfig().WithCacheDir("").WithCompileLimits(bomb.limits))
			wasm := bomb.wasm()
			_, err := h.Load(context.Background(), wasm, host.Manifest{Name: "bomb"})
			var le *host.LimitError
			if !errors.As(err, &le) || le.Limit != bomb.limit || le.Op != "load" || le.Plugin != "bomb" || le.Detail != bomb.detail {
				t.Fatalf("load: err = %v, want the %s limit (%s)", err, bomb.limit, bomb.detail)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has more than one line: %q", err)
			}
			t.Log(err)
			_, err = h.Inspect(context.Background(), wasm)
			if !errors.As(err, &le) || le.Limit != bomb.limit || le.Op != "inspect" {
				t.Fatalf("inspect: err = %v, want the %s limit", err, bomb.limit)
			}
		})
	}
}

// TestCompileLimitsPassMemAlignsShape checks the default limits against a
// module shaped like the largest parts of the bundled MemAlign, doubled:
// 1,100 levels of nesting and 45,000 instructions in one function.
func TestCompileLimitsPassMemAlignsShape(t *testing.T) {
	h := newHost(t, host.NewConfig().WithCacheDir(""))
	info, err := h.Inspect(context.Background(), assemble(nestedBlocks(1_100), longBody(45_000)))
	if err != nil {
		t.Fatal(err)
	}
	if info.Functions != 2 || info.Nesting != 1_101 || info.LargestFunction < 67_000 {
		t.Errorf("info = %+v", info)
	}
}

// TestInspectDoesNotCompile inspects a module that is well-formed but
// invalid (its function leaves an i32 on a stack typed empty): Inspect
// reads its structure, Load, which compiles, refuses it.
func TestInspectDoesNotCompile(t *testing.T) {
	h := newHost(t, host.NewConfig().WithCacheDir(""))
	invalid := assemble([]byte{0x41, 0x07, 0x0b})
	info, err := h.Inspect(context.Background(), invalid)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	if info.Functions != 1 || info.Size != len(invalid) {
		t.Errorf("info = %+v", info)
	}
	var pe *host.Error
	if _, err := h.Load(context.Background(), invalid, host.Manifest{}); !errors.As(err, &pe) || pe.Kind != host.ABIViolation ||
		!strings.Contains(err.Error(), "not a valid WebAssembly module") {
		t.Fatalf("load: err = %v, want it refused as invalid", err)
	}

	fewshot, err := h.Inspect(context.Background(), wasmBytes(t, "fewshot"))
	if err != nil {
		t.Fatal(err)
	}
	var align string
	for _, f := range fewshot.Exports {
		if f.Name == "alignhost_align" {
			align = f.Signature()
		}
	}
	if align != "(i32, i32) -> i64" || fewshot.Functions < 100 || fewshot.LargestFunction == 0 || fewshot.MemoryMinPages == 0 ||
		len(fewshot.ImportedABIs) != 1 {
		t.Errorf("fewshot: align %q, info %+v", align, fewshot)
	}
}

// TestCompileTimeLimit loads a module whose compile-time limit has passed
// before its compile starts.
func TestCompileTimeLimit(t *testing.T) {
	h := newHost(t, host.NewConfig().WithCacheDir("").WithCompileLimits(host.CompileLimits{CompileTime: time.Nanosecond}))
	_, err := h.Load(context.Background(), wasmBytes(t, "noop"), host.Manifest{Name: "noop"})
	var le *host.LimitError
	if !errors.As(err, &le) || le.Limit != host.LimitCompileTime || le.Value != "1ns" || le.Op != "load" || le.Plugin != "noop" {
		t.Fatalf("err = %v, want the compile-time limit", err)
	}
}

// BenchmarkCompileBomb measures what each bomb costs the host before it is
// refused (the bound: 2 s and 300 MB), and what compiling a module
// right at the default limits costs (one function nested 2,048 deep, one
// of 200,000 instructions): ms/op, and peak-MB as the Go heap's growth
// during the load, sampled.
func BenchmarkCompileBomb(b *testing.B) {
	d := host.DefaultCompileLimits()
	cases := []struct {
		name string
		wasm []byte
	}{
		{"refuse/80k-nested-blocks", compileBombs[0].wasm()},
		{"refuse/3M-instructions", compileBombs[1].wasm()},
		{"compile/nesting-at-limit", assemble(nestedBlocks(d.Nesting - 1))},
		{"compile/instructions-at-limit", assemble(longBody(d.FunctionInstructions - 2))},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var peak uint64
			for b.Loop() {
				h, err := host.New(context.Background(), host.NewConfig().WithCacheDir(""))
				if err != nil {
					b.Fatal(err)
				}
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				stop := make(chan struct{})
				sampled := make(chan uint64)
				go func() {
					var max uint64
					var m runtime.MemStats
					t := time.NewTicker(5 * time.Millisecond)
					defer t.Stop()
					for {
						runtime.ReadMemStats(&m)
						max = maxU(max, m.HeapAlloc)
						select {
						case <-stop:
							sampled <- max
							return
						case <-t.C:
						}
					}
				}()
				_, err = h.Load(context.Background(), c.wasm, host.Manifest{})
				close(stop)
				if s := <-sampled; s > before.HeapAlloc {
					peak = maxU(peak, s-before.HeapAlloc)
				}
				var le *host.LimitError
				var pe *host.Error
				if !errors.As(err, &le) && !(errors.As(err, &pe) && pe.Kind == host.ABIViolation) {
					b.Fatalf("load: %v", err)
				}
				h.Close(context.Background())
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
		})
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
