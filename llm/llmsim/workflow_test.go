package llmsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/judge/judgefile"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmsim"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/memalign"
	"github.com/alignhost/alignhost/plugins/memalign/bundle"
	"github.com/alignhost/alignhost/retrieval"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// demoDir is the bundled dataset of `alignhost demo`.
var demoDir = filepath.Join("..", "..", "cmd", "alignhost", "demodata")

// demoSeed is the seed of the held-out split in these tests.
const demoSeed = 1

// loadDemo reads the demo's judge and its traces, each carrying the
// support lead's label as HUMAN feedback, with the labels by trace ID.
func loadDemo(t testing.TB) (*judge.Judge, []*trace.Trace, map[string]string) {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(demoDir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	j, err := judgefile.Decode(read("support_quality.toml"), judgefile.TOML)
	if err != nil {
		t.Fatal(err)
	}
	records, err := trace.Read(bytes.NewReader(read("traces.jsonl")), "traces.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*trace.Trace{}
	var traces []*trace.Trace
	for _, r := range records {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		byID[r.Trace.Info.TraceID] = r.Trace
		traces = append(traces, r.Trace)
	}
	rows, err := trace.ReadFeedback(bytes.NewReader(read("feedback.csv")), "feedback.csv")
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	at := trace.NewTimestamp(time.Date(2026, 10, 15, 9, 0, 0, 0, time.UTC))
	for _, r := range rows {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		v, err := j.ValueType.Normalize(r.Value)
		if err != nil {
			t.Fatalf("feedback line %d: %v", r.Line, err)
		}
		raw, _ := json.Marshal(v)
		tr := byID[r.TraceID]
		if tr == nil {
			t.Fatalf("feedback line %d: no trace %s", r.Line, r.TraceID)
		}
		tr.Info.Assessments = append(tr.Info.Assessments, trace.Assessment{
			Name: j.Name, TraceID: r.TraceID, Source: trace.Source{Type: trace.SourceHuman, ID: r.SourceID},
			CreateTime: at, LastUpdateTime: at, Rationale: r.Rationale, Feedback: &trace.Feedback{Value: raw},
		})
		labels[r.TraceID] = fmt.Sprint(v)
	}
	if len(labels) != len(traces) {
		t.Fatalf("%d labels for %d traces", len(labels), len(traces))
	}
	return j, traces, labels
}

// workflow is one run of the demo's workflow against a simulated model.
type workflow struct {
	client *llm.Client
	model  *llmsim.Model
	host   *host.Host
}

func newWorkflow(t testing.TB) *workflow {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	model := llmsim.New()
	t.Cleanup(model.Close)
	srv, err := model.Serve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := llm.New(llm.WithGetenv(srv.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(ctx, host.NewConfig().WithCacheDir("").WithModels(client,
		host.Role{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1"},
		host.Role{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 512}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return &workflow{client: client, model: model, host: h}
}

// judgeAll evaluates j on traces through the production judge path and
// returns its answers in order.
func (w *workflow) judgeAll(t testing.TB, j *judge.Judge, traces []*trace.Trace) []agreement.Answer {
	t.Helper()
	ev, err := eval.New(w.client, eval.WithExampleRetriever(retrieval.New(w.client)), eval.WithNoCache())
	if err != nil {
		t.Fatal(err)
	}
	reg := &store.RegisteredJudge{Name: j.Name, Judge: j}
	out := make([]agreement.Answer, len(traces))
	for i, tr := range traces {
		a, err := ev.Evaluate(context.Background(), reg, tr)
		if err != nil {
			t.Fatal(err)
		}
		if a.Feedback == nil || a.Feedback.Error != nil {
			t.Fatalf("trace %s: judgement failed: %+v", tr.Info.TraceID, a.Feedback)
		}
		var v string
		if err := json.Unmarshal(a.Feedback.Value, &v); err != nil {
			t.Fatalf("trace %s: value %s: %v", tr.Info.TraceID, a.Feedback.Value, err)
		}
		out[i] = agreement.Answer{Value: v, Rationale: a.Rationale}
	}
	return out
}

// figures is what one run measured on the held-out traces.
type figures struct {
	Train, Test                 int
	BaseKappa, AlignedKappa     float64
	BaseAccuracy, AlignedAcc    float64
	Guidelines                  int
	DistillChats, EmbedRequests int
	AlignedJudge                string // JSON, without provenance
}

// runWorkflow splits the demo data 70/30 stratified by label, judges the
// held-out part with the base judge, aligns the judge on the rest with
// runner (MemAlign), and judges the held-out part again.
func runWorkflow(t testing.TB, w *workflow, runner host.Runner, seed uint64, config map[string]any) figures {
	t.Helper()
	j, traces, labels := loadDemo(t)
	fold, err := agreement.Split(len(traces), 0.3, seed, func(i int) string { return labels[traces[i].Info.TraceID] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var train, test []*trace.Trace
	for _, i := range fold.Train {
		train = append(train, traces[i])
	}
	for _, i := range fold.Test {
		test = append(test, traces[i])
	}

	base := w.judgeAll(t, j, test)

	examples, skipped, err := trace.Examples(j, train)
	if err != nil || len(skipped) > 0 {
		t.Fatalf("examples: %v, skipped %v", err, skipped)
	}
	before := len(w.model.Requests())
	res, err := runner.Align(context.Background(), host.Input{Judge: j, Examples: examples, Skipped: skipped, Config: config})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Report.Warnings) > 0 {
		t.Fatalf("alignment warnings: %v", res.Report.Warnings)
	}
	f := figures{Train: len(train), Test: len(test)}
	for _, r := range w.model.Requests()[before:] {
		switch r.Kind {
		case "chat":
			f.DistillChats++
		case "embeddings":
			f.EmbedRequests++
		}
	}
	aligned := res.Judge
	if aligned.Memory != nil {
		f.Guidelines = len(aligned.Memory.Guidelines)
	}

	after := w.judgeAll(t, aligned, test)

	cases := make([]agreement.Case, len(test))
	for i, tr := range test {
		id := tr.Info.TraceID
		cases[i] = agreement.Case{TraceID: id, Human: agreement.Answer{Value: labels[id]}, A: base[i], B: after[i]}
	}
	c, err := agreement.Compare(cases, agreement.PassFailScale("yes", "no"), agreement.Options{Resamples: agreement.NoBootstrap})
	if err != nil {
		t.Fatal(err)
	}
	kappa, _ := c.Delta(agreement.Kappa)
	acc, _ := c.Delta(agreement.Accuracy)
	f.BaseKappa, f.AlignedKappa = kappa.A.Value, kappa.B.Value
	f.BaseAccuracy, f.AlignedAcc = acc.A.Value, acc.B.Value
	// What the aligned judge still gets wrong, and why.
	for _, d := range c.Disagreements {
		if d.Outcome == agreement.Fixed {
			continue
		}
		t.Logf("disagreement %s (%s): human %v, base %v, aligned %v: %s", d.TraceID, d.Outcome, d.Human.Value, d.A.Value, d.B.Value, d.B.Rationale)
	}
	aligned.Provenance = nil
	b, err := json.Marshal(aligned)
	if err != nil {
		t.Fatal(err)
	}
	f.AlignedJudge = string(b)
	return f
}

// TestDemoWorkflow runs the demo's workflow on the bundled data with the
// real pieces — go-openai over loopback HTTP with structured output, the
// judge engine, MemAlign through the host's chat and embed capabilities,
// retrieval of stored examples — and only the model simulated. Aligning
// must lift agreement with the support leads on the held-out traces from
// about chance to strong, and two runs must measure exactly the same.
func TestDemoWorkflow(t *testing.T) {
	var runs [2]figures
	for i := range runs {
		w := newWorkflow(t)
		native, err := w.host.LoadNative(memalign.Optimizer{}, host.Manifest{Name: "memalign"})
		if err != nil {
			t.Fatal(err)
		}
		runs[i] = runWorkflow(t, w, native, demoSeed, nil)
	}
	f := runs[0]
	t.Logf("held-out %d of %d traces: kappa %.3f -> %.3f, accuracy %.3f -> %.3f; %d guidelines; %d distillation chat, %d embedding requests",
		f.Test, f.Train+f.Test, f.BaseKappa, f.AlignedKappa, f.BaseAccuracy, f.AlignedAcc, f.Guidelines, f.DistillChats, f.EmbedRequests)

	if f.Test < 14 || f.Test > 16 {
		t.Errorf("held out %d traces, want about 30%% of 48", f.Test)
	}
	if f.BaseKappa > 0.4 {
		t.Errorf("base kappa %.3f: the generic judge should agree with the leads little better than chance", f.BaseKappa)
	}
	if f.AlignedKappa < 0.7 || f.AlignedKappa-f.BaseKappa < 0.4 {
		t.Errorf("aligned kappa %.3f (base %.3f): alignment should lift agreement to strong", f.AlignedKappa, f.BaseKappa)
	}
	// Six policies in the catalogue, each taught by the training labels,
	// in one distillation prompt: MemAlign's ⌈N/50⌉.
	if f.Guidelines != 6 || f.DistillChats != 1 {
		t.Errorf("%d guidelines from %d distillation chats, want 6 from 1", f.Guidelines, f.DistillChats)
	}
	// One embed call for the examples' queries and the guidelines, none
	// falling back to the local embedder.
	if f.EmbedRequests != 1 {
		t.Errorf("%d embedding requests during alignment, want 1", f.EmbedRequests)
	}
	if runs[0] != runs[1] {
		t.Errorf("two runs differ:\n%+v\n%+v", runs[0], runs[1])
	}
}

// TestDemoWorkflowExamplesOnly aligns with episodic memory only: the judge
// learns a policy only when a retrieved example's rationale teaches it, so
// agreement rises, but less than with guidelines.
func TestDemoWorkflowExamplesOnly(t *testing.T) {
	w := newWorkflow(t)
	native, err := w.host.LoadNative(memalign.Optimizer{}, host.Manifest{Name: "memalign"})
	if err != nil {
		t.Fatal(err)
	}
	f := runWorkflow(t, w, native, demoSeed, map[string]any{memalign.KeyDisableSemanticMemory: true})
	t.Logf("examples only: kappa %.3f -> %.3f, accuracy %.3f -> %.3f", f.BaseKappa, f.AlignedKappa, f.BaseAccuracy, f.AlignedAcc)
	if f.Guidelines != 0 || f.DistillChats != 0 {
		t.Errorf("%d guidelines from %d chats with semantic memory disabled", f.Guidelines, f.DistillChats)
	}
	if f.AlignedKappa <= f.BaseKappa {
		t.Errorf("kappa %.3f -> %.3f: retrieved examples taught nothing", f.BaseKappa, f.AlignedKappa)
	}
}

// TestDemoWorkflowWebAssembly aligns with the MemAlign module alignhost
// embeds, as the demo does: the aligned judge and the figures must be the
// native run's.
func TestDemoWorkflowWebAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the embedded MemAlign module")
	}
	wasm, err := bundle.Module()
	if err != nil {
		t.Fatal(err)
	}
	w := newWorkflow(t)
	p, err := w.host.Load(context.Background(), wasm, host.Manifest{Name: "memalign", SHA256: bundle.SHA256(), Trusted: true})
	if err != nil {
		t.Fatal(err)
	}
	got := runWorkflow(t, w, p, demoSeed, nil)

	w2 := newWorkflow(t)
	native, err := w2.host.LoadNative(memalign.Optimizer{}, host.Manifest{Name: "memalign"})
	if err != nil {
		t.Fatal(err)
	}
	want := runWorkflow(t, w2, native, demoSeed, nil)
	if got != want {
		t.Errorf("WebAssembly and native runs differ:\nwasm   %+v\nnative %+v", got, want)
	}
}

// TestDemoWorkflowAcrossSplits repeats the workflow on twelve different
// 70/30 splits, so that the lift does not rest on one lucky split. The
// aligned judge knows only what the training labels teach, so a split
// whose training part never states a figure (Enterprise's 90-day Trash
// window, say) leaves the held-out replies that misquote it undetected.
func TestDemoWorkflowAcrossSplits(t *testing.T) {
	if testing.Short() {
		t.Skip("twelve alignments")
	}
	var base, aligned float64
	const n = 12
	for seed := uint64(1); seed <= n; seed++ {
		w := newWorkflow(t)
		native, err := w.host.LoadNative(memalign.Optimizer{}, host.Manifest{Name: "memalign"})
		if err != nil {
			t.Fatal(err)
		}
		f := runWorkflow(t, w, native, seed, nil)
		t.Logf("seed %2d: kappa %6.3f -> %.3f, accuracy %.3f -> %.3f", seed, f.BaseKappa, f.AlignedKappa, f.BaseAccuracy, f.AlignedAcc)
		if f.AlignedKappa <= f.BaseKappa {
			t.Errorf("seed %d: kappa %.3f -> %.3f, alignment did not help", seed, f.BaseKappa, f.AlignedKappa)
		}
		base += f.BaseKappa / n
		aligned += f.AlignedKappa / n
	}
	t.Logf("mean kappa over %d splits: %.3f -> %.3f", n, base, aligned)
	if base > 0.2 || aligned < 0.7 {
		t.Errorf("mean kappa %.3f -> %.3f, want the base judge near chance and the aligned one strong", base, aligned)
	}
}

// TestDemoAllLabels aligns on all 48 labels with guidelines only (no
// retrieved examples, so no judgement can copy its own trace's label):
// once every policy and figure is taught, the simulated judge agrees with
// every label. The held-out figures are therefore bounded by what a
// training split happens to teach, not by the rubric.
func TestDemoAllLabels(t *testing.T) {
	j, traces, labels := loadDemo(t)
	w := newWorkflow(t)
	native, err := w.host.LoadNative(memalign.Optimizer{}, host.Manifest{Name: "memalign"})
	if err != nil {
		t.Fatal(err)
	}
	examples, _, err := trace.Examples(j, traces)
	if err != nil {
		t.Fatal(err)
	}
	res, err := native.Align(context.Background(), host.Input{Judge: j, Examples: examples,
		Config: map[string]any{memalign.KeyDisableEpisodicMemory: true}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Judge.Memory.Retrieval.K != 0 {
		t.Fatalf("retrieval k = %d, want none", res.Judge.Memory.Retrieval.K)
	}
	for _, g := range res.Judge.Memory.Guidelines {
		t.Logf("guideline (%d sources): %s", len(g.SourceTraceIDs), g.Text)
	}
	answers := w.judgeAll(t, res.Judge, traces)
	for i, tr := range traces {
		if got, want := answers[i].Value, labels[tr.Info.TraceID]; got != want {
			t.Errorf("trace %s: %v, the leads said %s: %s", tr.Info.TraceID, got, want, answers[i].Rationale)
		}
	}
}
