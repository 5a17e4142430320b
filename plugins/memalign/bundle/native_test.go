package bundle_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/memalign"
	"github.com/alignhost/alignhost/plugins/memalign/bundle"
)

// recordedModels answers like a recording: the same request always gets the
// same answer, instantly, so that native and WebAssembly runs see identical
// model behaviour.
type recordedModels struct{}

func (recordedModels) Chat(_ context.Context, req llm.ChatRequest) (*llm.ChatResponse, error) {
	user := req.Messages[len(req.Messages)-1].Content
	// One guideline per batch, sourced from the batch's first and last record.
	n := strings.Count(user, `"id":`)
	answer := fmt.Sprintf(`{"guidelines": [{"guideline_text": "Batch of %d: cite the plan's exact limits.", "source_trace_ids": [0, %d]}]}`, n, n-1)
	return &llm.ChatResponse{Model: req.Model, Content: answer, Usage: llm.Usage{PromptTokens: len(user) / 4, CompletionTokens: 30}}, nil
}

func (recordedModels) Embed(_ context.Context, req llm.EmbedRequest) (*llm.EmbedResponse, error) {
	out := &llm.EmbedResponse{Model: req.Model, Vectors: make([][]float32, len(req.Inputs))}
	for i, in := range req.Inputs {
		out.Vectors[i] = llmtest.Vector(in, req.Dimensions)
	}
	return out, nil
}

func roles() []host.Role {
	return []host.Role{
		{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1-mini"},
		{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 512},
	}
}

func examples(n int) []judge.Example {
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

func baseJudge(t testing.TB) *judge.Judge {
	j, err := judge.New("support_quality", "Is {{ outputs }} a correct answer to {{ inputs }}?",
		judge.WithModel("openai:/gpt-4.1-mini"), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// runners loads MemAlign twice: the embedded module and the same Go code
// in-process.
func runners(t testing.TB) (wasm, native host.Runner) {
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithCacheDir("").WithModels(recordedModels{}, roles()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	module, err := bundle.Module()
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(ctx, module, host.Manifest{Name: "memalign", SHA256: bundle.SHA256(), Trusted: true})
	if err != nil {
		t.Fatal(err)
	}
	n, err := h.LoadNative(memalign.Optimizer{}, host.Manifest{Name: "memalign"})
	if err != nil {
		t.Fatal(err)
	}
	return p, n
}

// TestNativeAndWebAssemblyAgree runs one alignment of 100 examples through
// the embedded module and natively: the aligned judges and reports must be
// identical.
func TestNativeAndWebAssemblyAgree(t *testing.T) {
	wasm, native := runners(t)
	in := host.Input{Judge: baseJudge(t), Examples: examples(100), Seed: 7}
	var got [2][]byte
	var calls [2]int
	for i, r := range []host.Runner{wasm, native} {
		res, err := r.Align(context.Background(), in)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		calls[i] = res.Usage.ModelCalls
		res.Judge.Provenance = nil
		got[i], _ = json.Marshal(struct {
			J *judge.Judge
			R pluginapi.Report
		}{res.Judge, res.Report})
	}
	if string(got[0]) != string(got[1]) {
		t.Fatalf("WebAssembly and native MemAlign differ:\nwasm   %.400s\nnative %.400s", got[0], got[1])
	}
	// ⌈100/50⌉ distillation requests and one embedding call: no more.
	if calls[0] != 3 || calls[1] != 3 {
		t.Errorf("model calls: wasm %d, native %d; want 3 (2 distillation requests + 1 embedding call)", calls[0], calls[1])
	}
}

// BenchmarkAlign100 reports the CPU time of one MemAlign alignment of 100
// examples with instant models, natively and in the embedded (trusted)
// module; the ratio is the WebAssembly overhead.
func BenchmarkAlign100(b *testing.B) {
	wasm, native := runners(b)
	in := host.Input{Judge: baseJudge(b), Examples: examples(100), Seed: 7}
	for _, bc := range []struct {
		name string
		r    host.Runner
	}{{"native", native}, {"wasm", wasm}} {
		b.Run(bc.name, func(b *testing.B) {
			start := cpuTime()
			for b.Loop() {
				if _, err := bc.r.Align(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N)/1000, "cpu-ms/op")
		})
	}
}

func cpuTime() time.Duration { return llmtest.CPUTime() }

// slowModels answers like recordedModels after a fixed latency per call.
type slowModels struct {
	recordedModels
	latency time.Duration
}

func (s slowModels) Chat(ctx context.Context, req llm.ChatRequest) (*llm.ChatResponse, error) {
	time.Sleep(s.latency)
	return s.recordedModels.Chat(ctx, req)
}

func (s slowModels) Embed(ctx context.Context, req llm.EmbedRequest) (*llm.EmbedResponse, error) {
	time.Sleep(s.latency)
	return s.recordedModels.Embed(ctx, req)
}

// BenchmarkAlignAt1sLatency measures the wall time of aligning 100
// examples with the embedded module when every model call takes one second:
// the target is under three latencies plus one second (distillation batches
// run in parallel, then one embedding call).
func BenchmarkAlignAt1sLatency(b *testing.B) {
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithModels(slowModels{latency: time.Second}, roles()...))
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(ctx)
	module, _ := bundle.Module()
	p, err := h.Load(ctx, module, host.Manifest{Name: "memalign", SHA256: bundle.SHA256(), Trusted: true})
	if err != nil {
		b.Fatal(err)
	}
	in := host.Input{Judge: baseJudge(b), Examples: examples(100), Seed: 7}
	for b.Loop() {
		if _, err := p.Align(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/align")
}
