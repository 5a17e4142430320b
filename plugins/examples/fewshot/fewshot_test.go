package fewshot_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/examples/fewshot"
)

func TestPick(t *testing.T) {
	cases := []struct {
		name    string
		vectors [][]float32
		k       int
		want    []int
	}{
		{"none", nil, 3, nil},
		{"k zero", [][]float32{{1, 0}}, 0, nil},
		// The centroid leans to the x axis: start there, then take the
		// farthest (-x), then the y axis.
		{"spread", [][]float32{{1, 0}, {0.9, 0.1}, {0, 1}, {-1, 0}, {1, 0.05}}, 3, []int{1, 3, 2}},
		{"k above n", [][]float32{{1, 0}, {0, 1}}, 5, []int{0, 1}},
		{"duplicates tie to the lower index", [][]float32{{1, 0}, {1, 0}, {1, 0}}, 2, []int{0, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := fewshot.Pick(tc.vectors, tc.k); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Pick = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestGuideline(t *testing.T) {
	got := fewshot.Guideline(judge.Example{TraceID: "t", Inputs: "Can I pay yearly?", Outputs: "Yes,\n  on Pro.", Value: "yes", Rationale: "Correct plan."})
	want := `In a case like the request "Can I pay yearly?" answered with "Yes, on Pro.", the experts' verdict was "yes": Correct plan.`
	if got != want {
		t.Errorf("Guideline =\n%s\nwant\n%s", got, want)
	}
	long := fewshot.Guideline(judge.Example{TraceID: "t", Outputs: strings.Repeat("word ", 500), Value: 4.0})
	if len(long) > 500 || !strings.Contains(long, "…") || !strings.Contains(long, "verdict was 4") {
		t.Errorf("long guideline (%d bytes) = %s", len(long), long)
	}
}

// TestAlignNatively runs the optimizer in-process against a fake model
// server, as a plugin author would test it before building WebAssembly.
func TestAlignNatively(t *testing.T) {
	srv := llmtest.NewServer(t)
	client, err := llm.New(llm.WithGetenv(srv.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), host.NewConfig().WithCacheDir("").WithModels(client,
		host.Role{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 32}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	n, err := h.LoadNative(fewshot.Optimizer{}, host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	j, err := judge.New("polite", "Is {{ outputs }} polite?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	var examples []judge.Example
	for i, text := range []string{"thanks a lot", "go away", "thank you so much", "whatever", "please hold on", "thanks!"} {
		examples = append(examples, judge.Example{TraceID: fmt.Sprint("t", i), Outputs: text, Value: "yes"})
	}
	res, err := n.Align(context.Background(), host.Input{Judge: j, Examples: examples, Config: map[string]any{"k": 2}})
	if err != nil {
		t.Fatal(err)
	}
	g := res.Judge.Memory.Guidelines
	if len(g) != 2 || g[0].SourceTraceIDs[0] == g[1].SourceTraceIDs[0] {
		t.Fatalf("guidelines = %+v", g)
	}
	if res.Report.Counts["guidelines_added"] != 2 || res.Usage.ModelCalls != 1 {
		t.Errorf("report %+v usage %+v", res.Report, res.Usage)
	}
	if _, err := n.Align(context.Background(), host.Input{Judge: j, Examples: examples, Config: map[string]any{"k": 0}}); err == nil ||
		!strings.Contains(err.Error(), "config k must be at least 1, got 0") {
		t.Errorf("k=0: %v", err)
	}
}
