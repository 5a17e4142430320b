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
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/memalign/bundle"
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

// BenchmarkGuard measures what keeping a module to its wall time costs
// in CPU: each optimizer runs under no guard at all (wazero with neither
// interrupt checks nor metering: a spinning module could not be stopped),
// under the meter (what every module gets), and under wazero's interrupt
// checks (WithCloseOnContextDone, the guard before the meter). The guard
// cost is the cpu-ms/op of a guard divided by that of "none" in the same
// run:
//
//	go test ./host -run '^$' -bench Guard -count 5
//
// noop aligns 10 examples; fewshot picks 30 of 300 (embedding,
// farthest-point sampling, guideline rendering, JSON both ways); MemAlign
// (the embedded module) aligns 100 and 1,000 examples against instant,
// recorded models. Instances are reused for every call, so the figures are
// the calls', not instance starts'.
func BenchmarkGuard(b *testing.B) {
	guards := []string{"none", "meter", "interrupts"}
	hosts := map[string]*host.Host{}
	for _, g := range guards {
		hosts[g] = newHost(b, host.NewConfig().WithGuard(g).
			WithModels(recordedModels{}, memalignRoles...).
			WithEvaluator(&agreeingEvaluator{agree: true}))
	}
	fewshotExamples := testExamples(300)
	for i := range fewshotExamples {
		fewshotExamples[i].Inputs += " " + strings.Repeat(fmt.Sprintf("detail%d ", i%17), 1+i%5)
	}
	memalignWasm, err := bundle.Module()
	if err != nil {
		b.Fatal(err)
	}
	pool := host.Pool{MaxUses: 1 << 30, RecyclePages: 1 << 16}
	limits := host.Limits{ModelCalls: 1 << 20, Tokens: 1 << 40}
	cases := []struct {
		name string
		wasm []byte
		in   host.Input
	}{
		{"noop", wasmBytes(b, "noop"), host.Input{Judge: testJudge(b), Examples: testExamples(10)}},
		{"fewshot", wasmBytes(b, "fewshot"), host.Input{Judge: testJudge(b), Examples: fewshotExamples, Config: map[string]any{"k": 30, "verify": true}}},
		{"memalign100", memalignWasm, host.Input{Judge: memalignJudge(b), Examples: memalignExamples(100), Seed: 7}},
		{"memalign1000", memalignWasm, host.Input{Judge: memalignJudge(b), Examples: memalignExamples(1000), Seed: 7}},
	}
	for _, c := range cases {
		for _, g := range guards {
			p, err := hosts[g].Load(context.Background(), c.wasm, host.Manifest{Limits: limits, Pool: pool})
			if err != nil {
				b.Fatal(err)
			}
			b.Run(c.name+"/"+g, func(b *testing.B) {
				if _, err := p.Align(context.Background(), c.in); err != nil { // warm the instance
					b.Fatal(err)
				}
				var fuel int64
				start := llmtest.CPUTime()
				for b.Loop() {
					res, err := p.Align(context.Background(), c.in)
					if err != nil {
						b.Fatal(err)
					}
					fuel = res.Usage.Fuel
				}
				b.ReportMetric(float64((llmtest.CPUTime()-start).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
				if fuel > 0 {
					b.ReportMetric(float64(fuel)/1e6, "Mfuel/op")
				}
			})
		}
	}
}

// recordedModels answers like a recording, as MemAlign's own benchmarks
// do: the same request always gets the same answer, instantly.
type recordedModels struct{}

func (recordedModels) Chat(_ context.Context, req llm.ChatRequest) (*llm.ChatResponse, error) {
	user := req.Messages[len(req.Messages)-1].Content
	n := strings.Count(user, `"id":`)
	answer := fmt.Sprintf(`{"guideline": "Prefer specific answers.", "guidelines": [{"guideline_text": "Batch of %d: cite the plan's exact limits.", "source_trace_ids": [0, %d]}]}`, n, max(n-1, 0))
	return &llm.ChatResponse{Model: req.Model, Content: answer, Usage: llm.Usage{PromptTokens: len(user) / 4, CompletionTokens: 30}}, nil
}

func (recordedModels) Embed(_ context.Context, req llm.EmbedRequest) (*llm.EmbedResponse, error) {
	out := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, len(req.Inputs))}
	for i, in := range req.Inputs {
		out.Vectors[i] = llmtest.Vector(in, req.Dimensions)
	}
	return out, nil
}

// memalignRoles are MemAlign's benchmark roles: 512-dimensional embeddings.
var memalignRoles = []host.Role{
	{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1-mini"},
	{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 512},
}

// memalignExamples and memalignJudge are MemAlign's benchmark inputs
// (plugins/memalign/bundle).
func memalignExamples(n int) []judge.Example {
	out := make([]judge.Example, n)
	for i := range out {
		value := "yes"
		if i%3 == 0 {
			value = "no"
		}
		out[i] = judge.Example{
			TraceID:   fmt.Sprintf("tr-%04d", i),
			Inputs:    fmt.Sprintf("Question %d: what is the API rate limit on the Team plan for workspace %d?", i, i%7),
			Outputs:   fmt.Sprintf("Answer %d: the Team plan allows %d requests per minute.", i, 600+i%2*2400),
			Value:     value,
			Rationale: fmt.Sprintf("Rationale %d: Team is 600 requests/min; Enterprise is 3,000.", i),
		}
	}
	return out
}

func memalignJudge(t testing.TB) *judge.Judge {
	j, err := judge.New("support_quality", "Is {{ outputs }} a correct answer to {{ inputs }}?",
		judge.WithModel("openai:/gpt-4.1-mini"), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	return j
}
