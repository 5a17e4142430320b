package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/examples/fewshot"
)

// The benchmarks measure what docs/abi.md and the package documentation
// quote. Run them with, for example:
//
//	go test ./host -run '^$' -bench . -count 5 -benchtime 20x
//
// Wall time on a shared machine is noisy: compare medians, and the ratios
// between sub-benchmarks of one run.

// stubModels answers chat and embed in-process, instantly, so that a
// benchmark measures the plugin and the ABI rather than HTTP.
type stubModels struct{}

func (stubModels) Chat(_ context.Context, req llm.ChatRequest) (*llm.ChatResponse, error) {
	return &llm.ChatResponse{Model: req.Model, Content: `{"guideline":"Prefer specific answers."}`, Usage: llm.Usage{PromptTokens: 100, CompletionTokens: 10}}, nil
}

func (stubModels) Embed(_ context.Context, req llm.EmbedRequest) (*llm.EmbedResponse, error) {
	out := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, len(req.Inputs))}
	for i, in := range req.Inputs {
		out.Vectors[i] = llmtest.Vector(in, req.Dimensions)
	}
	return out, nil
}

func benchHost(b *testing.B) *host.Host {
	b.Helper()
	return newHost(b, host.NewConfig().WithModels(stubModels{}, testRoles...).
		WithEvaluator(&agreeingEvaluator{agree: true}))
}

// noopOptimizer is the noop example's optimizer, for native runs.
type noopOptimizer struct{}

func (noopOptimizer) Describe() pluginapi.Description {
	return pluginapi.Description{Name: "noop", Version: "1.0.0", Description: "Returns the judge unchanged."}
}

func (noopOptimizer) Align(_ context.Context, _ pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	return &pluginapi.AlignResponse{Judge: req.Judge, Report: pluginapi.Report{
		Summary: "judge unchanged", Counts: map[string]int{"examples_seen": len(req.Examples)},
	}}, nil
}

// BenchmarkCompile measures compiling a Go guest without a cache, with and
// without the interrupt checks of untrusted modules.
func BenchmarkCompile(b *testing.B) {
	wasm := wasmBytes(b, "fewshot")
	for _, trusted := range []bool{false, true} {
		name := "untrusted"
		if trusted {
			name = "trusted"
		}
		b.Run("cold/"+name, func(b *testing.B) {
			for b.Loop() {
				h, err := host.New(context.Background(), host.NewConfig().WithCacheDir(""))
				if err != nil {
					b.Fatal(err)
				}
				m := host.Manifest{}
				if trusted {
					m = host.Manifest{SHA256: sha256Hex(wasm), Trusted: true}
				}
				if _, err := h.Load(context.Background(), wasm, m); err != nil {
					b.Fatal(err)
				}
				h.Close(context.Background())
			}
		})
	}
}

// BenchmarkLoad measures a load as a fresh CLI process sees it: a new host
// on a warm on-disk cache (compiled code read from disk, one instance
// started, ABI version and describe called).
func BenchmarkLoad(b *testing.B) {
	wasm := wasmBytes(b, "fewshot")
	dir := filepath.Join(b.TempDir(), "cache")
	warm := func() {
		h, err := host.New(context.Background(), host.NewConfig().WithCacheDir(dir))
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close(context.Background())
		if _, err := h.Load(context.Background(), wasm, host.Manifest{}); err != nil {
			b.Fatal(err)
		}
	}
	warm()
	b.Run("warm-disk-cache", func(b *testing.B) {
		for b.Loop() {
			warm()
		}
	})
}

// BenchmarkAlignNoop measures one align round trip of the noop optimizer
// with 10 examples: on a pooled instance, on a fresh instance each time
// (the difference is the cost of starting an instance), and natively.
func BenchmarkAlignNoop(b *testing.B) {
	h := benchHost(b)
	in := host.Input{Judge: testJudge(b), Examples: testExamples(10)}
	wasm := wasmBytes(b, "noop")
	runners := []struct {
		name string
		r    host.Runner
	}{}
	for _, c := range []struct {
		name string
		m    host.Manifest
	}{
		{"pooled/untrusted", host.Manifest{}},
		{"pooled/trusted", host.Manifest{SHA256: sha256Hex(wasm), Trusted: true}},
		{"fresh-instance/untrusted", host.Manifest{Pool: host.Pool{MaxUses: 1}}},
		{"fresh-instance/trusted", host.Manifest{SHA256: sha256Hex(wasm), Trusted: true, Pool: host.Pool{MaxUses: 1}}},
	} {
		p, err := h.Load(context.Background(), wasm, c.m)
		if err != nil {
			b.Fatal(err)
		}
		runners = append(runners, struct {
			name string
			r    host.Runner
		}{c.name, p})
	}
	n, err := h.LoadNative(noopOptimizer{}, host.Manifest{})
	if err != nil {
		b.Fatal(err)
	}
	runners = append(runners, struct {
		name string
		r    host.Runner
	}{"native", n})
	for _, r := range runners {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := r.r.Align(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHostCall measures one round trip from guest code into a host
// function and back (the progress import), as the difference between an
// align that makes 200,000 calls and one that makes none.
func BenchmarkHostCall(b *testing.B) {
	h := benchHost(b)
	wasm := wasmBytes(b, "hostile")
	const calls = 200_000
	for _, c := range []struct {
		name string
		m    host.Manifest
	}{
		{"untrusted", host.Manifest{}},
		{"trusted", host.Manifest{SHA256: sha256Hex(wasm), Trusted: true}},
	} {
		p, err := h.Load(context.Background(), wasm, c.m)
		if err != nil {
			b.Fatal(err)
		}
		align := func(n int) time.Duration {
			start := time.Now()
			if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(b), Examples: testExamples(1),
				Config: map[string]any{"mode": "progress_loop", "n": n}}); err != nil {
				b.Fatal(err)
			}
			return time.Since(start)
		}
		b.Run(c.name, func(b *testing.B) {
			var with, without time.Duration
			for b.Loop() {
				with += align(calls)
				without += align(0)
			}
			b.ReportMetric(float64((with-without).Nanoseconds())/float64(b.N*calls), "ns/hostcall")
		})
	}
}

// BenchmarkCapabilityCall measures one chat capability call through the
// handle protocol (request JSON, host work, held response, take) against
// in-process models, as the difference between an align of the hostile
// module that makes 200 chat calls and one that makes none.
func BenchmarkCapabilityCall(b *testing.B) {
	h := newHost(b, host.NewConfig().WithModels(stubModels{}, testRoles...))
	p := load(b, h, "hostile", host.Manifest{Limits: host.Limits{ModelCalls: 1 << 30, Tokens: 1 << 40}})
	const calls = 200
	align := func(n int) time.Duration {
		start := time.Now()
		if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(b), Examples: testExamples(1),
			Config: map[string]any{"mode": "chat_loop", "n": n}}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	b.Run("chat", func(b *testing.B) {
		var with, without time.Duration
		for b.Loop() {
			with += align(calls)
			without += align(0)
		}
		b.ReportMetric(float64((with-without).Nanoseconds())/float64(b.N*calls), "ns/chatcall")
	})
}

// BenchmarkRequest1000 measures an align with 1,000 examples (a 0.3 MB
// request decoded with encoding/json) by the noop optimizer in WebAssembly,
// with and without the wall-time guard, and natively (where the request
// makes the same JSON round trip).
func BenchmarkRequest1000(b *testing.B) {
	h := benchHost(b)
	in := host.Input{Judge: testJudge(b), Examples: testExamples(1000)}
	data, _ := json.Marshal(pluginapi.AlignRequest{Judge: in.Judge, Examples: in.Examples})
	b.Logf("request: %d bytes", len(data))
	wasm := wasmBytes(b, "noop")
	guarded, err := h.Load(context.Background(), wasm, host.Manifest{})
	if err != nil {
		b.Fatal(err)
	}
	trusted, err := h.Load(context.Background(), wasm, host.Manifest{SHA256: sha256Hex(wasm), Trusted: true})
	if err != nil {
		b.Fatal(err)
	}
	native, err := h.LoadNative(noopOptimizer{}, host.Manifest{})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range []struct {
		name string
		r    host.Runner
	}{{"wasm/untrusted", guarded}, {"wasm/trusted", trusted}, {"native", native}} {
		b.Run(r.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := r.r.Align(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGuard measures what the wall-time guard costs a real optimizer:
// fewshot over 300 examples picking 30 (embedding, farthest-point
// sampling, guideline rendering, JSON both ways), against in-process
// models, untrusted (guarded) and trusted, and natively.
func BenchmarkGuard(b *testing.B) {
	h := benchHost(b)
	examples := testExamples(300)
	for i := range examples {
		examples[i].Inputs += " " + strings.Repeat(fmt.Sprintf("detail%d ", i%17), 1+i%5)
	}
	in := host.Input{Judge: testJudge(b), Examples: examples, Config: map[string]any{"k": 30, "verify": true}}
	wasm := wasmBytes(b, "fewshot")
	guarded, err := h.Load(context.Background(), wasm, host.Manifest{Limits: host.Limits{ModelCalls: 1 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	trusted, err := h.Load(context.Background(), wasm, host.Manifest{SHA256: sha256Hex(wasm), Trusted: true, Limits: host.Limits{ModelCalls: 1 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	native, err := h.LoadNative(fewshot.Optimizer{}, host.Manifest{Limits: host.Limits{ModelCalls: 1 << 20}})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range []struct {
		name string
		r    host.Runner
	}{{"fewshot/untrusted", guarded}, {"fewshot/trusted", trusted}, {"fewshot/native", native}} {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				res, err := r.r.Align(context.Background(), in)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Judge.Memory.Guidelines) != 30 {
					b.Fatalf("%d guidelines", len(res.Judge.Memory.Guidelines))
				}
			}
		})
	}
}
