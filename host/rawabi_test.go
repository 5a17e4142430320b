package host_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
)

// The rawabi guest (testdata/rawabi) implements the ABI from docs/abi.md
// alone, without package pluginapi: these tests hold the document to what
// the host does.

// guidelineModel answers every chat with one guideline and records the
// requests.
type guidelineModel struct {
	mu       sync.Mutex
	requests []llm.ChatRequest
}

const rawGuideline = "An answer that names no plan is at best fair."

func (m *guidelineModel) Chat(_ context.Context, req llm.ChatRequest) (*llm.ChatResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, req)
	return &llm.ChatResponse{Model: req.Model, Content: "  " + rawGuideline + "\n", Usage: llm.Usage{PromptTokens: 40, CompletionTokens: 12}}, nil
}

func (m *guidelineModel) Embed(context.Context, llm.EmbedRequest) (*llm.EmbedResponse, error) {
	return nil, errors.New("the raw guest never embeds")
}

// rawJudge is an aligned ordinal judge with every member set, so that a
// guest that loses a member it does not know is caught.
func rawJudge(t *testing.T) *judge.Judge {
	t.Helper()
	j, err := judge.New("quality", "Rate the answer in {{ outputs }} to {{ inputs }}.",
		judge.WithValueType(judge.ValueType{Type: judge.Categorical, Values: []string{"excellent", "good", "fair", "poor"}, Ordinal: true}),
		judge.WithModel("openai:/gpt-4.1-mini"),
		judge.WithDescription("Overall quality."),
		judge.WithInferenceParams(map[string]any{"temperature": 0.0, "seed": 7.0}))
	if err != nil {
		t.Fatal(err)
	}
	j.Memory = &judge.Memory{
		Guidelines: []judge.Guideline{{Text: "Written by a person."}},
		Examples:   []judge.Example{rawExamples(1)[0]},
		Retrieval:  judge.Retrieval{K: 3},
	}
	if err := j.Validate(); err != nil {
		t.Fatal(err)
	}
	return j
}

// rawExamples returns n examples labelled for rawJudge.
func rawExamples(n int) []judge.Example {
	out := testExamples(n)
	for i := range out {
		out[i].Value = []string{"excellent", "good", "fair", "poor"}[i%4]
	}
	return out
}

// TestRawABIAlign runs an align of the raw guest: one chat through the
// handle protocol, a log line, and a judge that comes back with the
// guideline added, every other member intact and the host's provenance.
func TestRawABIAlign(t *testing.T) {
	rec := &recorder{}
	models := &guidelineModel{}
	h := newHost(t, host.NewConfig().WithLogger(slog.New(rec)).WithModels(models, testRoles...))
	p := load(t, h, "rawabi", host.Manifest{})

	d := p.Description()
	if d.Name != "rawabi" || d.Version != "0.1.0" || len(d.Capabilities) != 1 || d.Capabilities[0] != "chat" ||
		len(d.Config) != 1 || d.Config[0].Key != "mode" {
		t.Fatalf("description = %+v", d)
	}

	base := rawJudge(t)
	examples := rawExamples(3)
	res, err := p.Align(context.Background(), host.Input{Judge: base, Examples: examples})
	if err != nil {
		t.Fatal(err)
	}

	want := base.Clone()
	want.Memory.Guidelines = append(want.Memory.Guidelines, judge.Guideline{
		Text: rawGuideline, SourceTraceIDs: []string{"tr-000", "tr-001", "tr-002"},
	})
	got := res.Judge.Clone()
	got.Provenance = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("judge =\n%+v\nwant\n%+v", got, want)
	}
	if got.Fingerprint() != want.Fingerprint() {
		t.Error("the returned judge asks something else than the base judge with one more guideline")
	}
	// The guest wrote a forged provenance; the host replaces it.
	if pv := res.Judge.Provenance; pv == nil || pv.Optimizer != "rawabi" || pv.OptimizerVersion != "0.1.0" ||
		pv.BaseJudge != "quality" || pv.NumTraces != 3 {
		t.Errorf("provenance = %+v, want the host's", pv)
	}

	// What take answered, as the guest saw it.
	wantCounts := map[string]int{
		"take_wrong_length":   2, // nothing copied, the response stays held
		"take_unknown_handle": 1,
		"take":                0,
		"take_again":          1, // take released the response
		"guidelines_added":    1,
	}
	if !reflect.DeepEqual(res.Report.Counts, wantCounts) {
		t.Errorf("counts = %v, want %v", res.Report.Counts, wantCounts)
	}
	if res.Report.Summary != "added 1 guideline to 1" {
		t.Errorf("summary = %q", res.Report.Summary)
	}

	// The role "reflection" reached the model it stands for.
	if len(models.requests) != 1 || models.requests[0].Model != "openai:/gpt-4.1" || len(models.requests[0].Messages) != 2 {
		t.Errorf("chat requests = %+v", models.requests)
	}
	if u := res.Usage; u.Fuel <= 0 || u != (host.Usage{ModelCalls: 1, PromptTokens: 40, CompletionTokens: 12, Fuel: u.Fuel}) {
		t.Errorf("usage = %+v", res.Usage)
	}

	logged := rec.find(fmt.Sprintf("reflection proposed %q", rawGuideline))
	if len(logged) != 1 || attr(logged[0], "plugin") != "rawabi" || logged[0].Level.String() != "INFO" {
		t.Errorf("log records = %+v, want one info line from rawabi", logged)
	}

	// The aligned judge aligns again: memory that exists grows.
	again, err := p.Align(context.Background(), host.Input{Judge: res.Judge, Examples: examples})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Judge.Memory.Guidelines); n != 3 {
		t.Errorf("re-alignment holds %d guidelines, want 3", n)
	}

	// A judge without memory gets one.
	plain := testJudge(t)
	fresh, err := p.Align(context.Background(), host.Input{Judge: plain, Examples: testExamples(2)})
	if err != nil {
		t.Fatal(err)
	}
	if m := fresh.Judge.Memory; m == nil || len(m.Guidelines) != 1 || m.Guidelines[0].Text != rawGuideline {
		t.Errorf("memory = %+v, want one guideline", m)
	}
}

// TestRawABIFailures checks that each way the raw guest fails, or breaks
// the ABI, reaches the caller as one line naming the plugin, and that a
// capability it did not declare answers an error object it can read.
func TestRawABIFailures(t *testing.T) {
	h := newHost(t, host.NewConfig().WithModels(&guidelineModel{}, testRoles...))
	p := load(t, h, "rawabi", host.Manifest{})
	cases := []struct {
		mode string
		kind host.Kind
		want string
	}{
		{"error", host.OptimizerFailed, "plugin rawabi: align: deliberate failure of a raw plugin"},
		{"rename", host.InvalidJudge, `renamed from "quality" to "renamed_by_rawabi"`},
		{"short_result", host.ABIViolation, "alignhost_align returned a result of 1 byte(s), too short for a JSON object"},
		{"take_outside", host.ABIViolation, "passed take a buffer outside its memory (address 0xffffff00"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			_, err := p.Align(context.Background(), host.Input{Judge: rawJudge(t), Examples: rawExamples(2), Config: map[string]any{"mode": tc.mode}})
			var pe *host.Error
			if !errors.As(err, &pe) || pe.Kind != tc.kind || pe.Plugin != "rawabi" || pe.Op != "align" {
				t.Fatalf("error = %v, want %v", err, tc.kind)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "plugin rawabi: align: ") || !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("error = %q, want one line containing %q", msg, tc.want)
			}
		})
	}

	t.Run("undeclared", func(t *testing.T) {
		res, err := p.Align(context.Background(), host.Input{Judge: rawJudge(t), Examples: rawExamples(2), Config: map[string]any{"mode": "undeclared"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Report.Counts["embed_not_declared"] != 1 || res.Report.Counts["guidelines_added"] != 1 {
			t.Errorf("counts = %v, want embed to answer not_declared and the align to go on", res.Report.Counts)
		}
	})
}
