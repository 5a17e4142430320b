package align_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/align"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/memalign"
	"github.com/alignhost/alignhost/retrieval"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// evalsbench reads ../shared/datasets/evalsbench as flat JSON Lines traces
// with a HUMAN "coverage" label (pass → yes, fail → no) and the dataset's
// rationale, and returns them with the label of each response text.
func evalsbench(t *testing.T) ([]*trace.Trace, map[string]string) {
	t.Helper()
	dir := filepath.Join("..", "..", "shared", "datasets", "evalsbench")
	var lines []string
	labels := map[string]string{}
	for _, f := range []struct{ file, label, rationale string }{
		{"annotation_df.csv", "verdict", "reason"},
		{"benchmark_df.csv", "target", "notes"},
	} {
		fh, err := os.Open(filepath.Join(dir, f.file))
		if err != nil {
			t.Skipf("EvalsBench is not available (tests read it from ../shared): %v", err)
		}
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		for i, rec := range recs[1:] {
			value := map[string]string{"pass": "yes", "fail": "no"}[rec[col[f.label]]]
			if value == "" {
				t.Fatalf("%s row %d: bad label", f.file, i+1)
			}
			response := rec[col["response"]]
			labels[response] = value
			line, _ := json.Marshal(map[string]any{
				"trace_id":     fmt.Sprintf("%s-%03d", strings.TrimSuffix(f.file, "_df.csv"), i),
				"inputs":       rec[col["question"]],
				"outputs":      response,
				"expectations": map[string]any{"grading_notes": rec[col["grading_notes"]]},
				"feedback":     map[string]any{"coverage": map[string]any{"value": value, "rationale": rec[col[f.rationale]]}},
			})
			lines = append(lines, string(line))
		}
	}
	records, err := trace.Read(strings.NewReader(strings.Join(lines, "\n")), "evalsbench.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	traces := make([]*trace.Trace, len(records))
	for i, r := range records {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		traces[i] = r.Trace
	}
	return traces, labels
}

// stubborn says whether the scripted aligned judge still gets a response
// wrong: a fixed, content-derived fifth of them.
func stubborn(response string) bool { return len(response)%5 == 0 }

// scripted is the fake model: the base judge (no guidelines in its prompt)
// passes everything; the aligned judge (guidelines present) gives the human
// label except on stubborn responses, where it gives the other value.
// Distillation gets one guideline from the first record of each batch.
func scripted(labels map[string]string) llmtest.Responder {
	return func(req openai.ChatCompletionRequest) llmtest.Reply {
		if req.ResponseFormat == nil || req.ResponseFormat.JSONSchema == nil || req.ResponseFormat.JSONSchema.Name != judge.SchemaName {
			return llmtest.Content(`{"guidelines": [{"guideline_text": "Every critical grading note must be covered.", "source_trace_ids": [0]}]}`)
		}
		system, user := req.Messages[0].Content, req.Messages[1].Content
		if !strings.Contains(system, "# Guidelines") {
			return llmtest.Content(`{"rationale": "Looks complete.", "result": "yes"}`)
		}
		for response, label := range labels {
			if strings.Contains(user, response) {
				if stubborn(response) {
					label = map[string]string{"yes": "no", "no": "yes"}[label]
				}
				return llmtest.Content(`{"rationale": "Checked each grading note.", "result": "` + label + `"}`)
			}
		}
		return llmtest.Error(400, "unknown response")
	}
}

// TestEvalsbenchAlignAndCompare aligns a coverage judge with MemAlign on 70%
// of EvalsBench through the fake model server, compares it with the base on
// the held-out 30%, and checks every headline figure by hand.
func TestEvalsbenchAlignAndCompare(t *testing.T) {
	traces, labels := evalsbench(t)
	srv := llmtest.NewServer(t, llmtest.WithResponder(scripted(labels)))
	client, err := llm.New(llm.WithGetenv(srv.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.New(ctx, host.NewConfig().WithCacheDir("").WithModels(client,
		host.Role{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1-mini"},
		host.Role{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 64}))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	runner, err := h.LoadNative(memalign.Optimizer{}, host.Manifest{Name: "memalign"})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := eval.New(client, eval.WithExampleRetriever(retrieval.New(client)))
	if err != nil {
		t.Fatal(err)
	}
	base, err := judge.New("coverage", "Does {{ outputs }} answer {{ inputs }} covering every critical point of {{ expectations }}?",
		judge.WithModel("openai:/gpt-4.1-mini"), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	out, err := align.Run(ctx, align.Spec{
		Judge: &store.RegisteredJudge{Name: "coverage", Version: 1, Judge: base}, Traces: traces, Runner: runner,
		Seed: 11, Holdout: 0.3, Evaluator: ev,
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.Examples != 184 || len(out.Holdout.Train)+len(out.Holdout.Test) != 184 {
		t.Fatalf("examples %d, split %d + %d", out.Examples, len(out.Holdout.Train), len(out.Holdout.Test))
	}
	if got := len(out.Judge.Memory.Examples); got != len(out.Holdout.Train) {
		t.Errorf("aligned memory holds %d examples, trained on %d", got, len(out.Holdout.Train))
	}

	// By hand: confusion counts of both judges on the held-out traces.
	byID := map[string]string{}
	for _, tr := range traces {
		out, _ := tr.Outputs()
		byID[tr.Info.TraceID] = out.(string)
	}
	var n, humanNo, alignedRight, alignedNoOnNo, alignedNoOnYes, baseRight, onlyA, onlyB int
	for _, id := range out.Holdout.Test {
		resp := byID[id]
		human := labels[resp]
		aligned := human
		if stubborn(resp) {
			aligned = map[string]string{"yes": "no", "no": "yes"}[human]
		}
		n++
		aRight, bRight := human == "yes", aligned == human // the base says yes
		if human == "no" {
			humanNo++
			if aligned == "no" {
				alignedNoOnNo++
			}
		} else if aligned == "no" {
			alignedNoOnYes++
		}
		if aRight {
			baseRight++
		}
		if bRight {
			alignedRight++
		}
		if aRight && !bRight {
			onlyA++
		}
		if bRight && !aRight {
			onlyB++
		}
	}
	humanYes := n - humanNo
	fn := float64(n)
	// Cohen's kappa of the aligned judge: p_o - p_e over 1 - p_e, with p_e
	// from the marginals (human yes/no × judge yes/no).
	judgeNo := alignedNoOnNo + alignedNoOnYes
	po := float64(alignedRight) / fn
	pe := (float64(humanYes)/fn)*(float64(n-judgeNo)/fn) + (float64(humanNo)/fn)*(float64(judgeNo)/fn)
	wantKappa := (po - pe) / (1 - pe)
	// McNemar's exact p: 2 × P(X ≤ min(b, c)), X ~ Bin(b + c, 1/2).
	k, m := min(onlyA, onlyB), onlyA+onlyB
	tail := new(big.Int)
	for i := 0; i <= k; i++ {
		tail.Add(tail, new(big.Int).Binomial(int64(m), int64(i)))
	}
	pf, _ := new(big.Rat).SetFrac(new(big.Int).Mul(tail, big.NewInt(2)), new(big.Int).Lsh(big.NewInt(1), uint(m))).Float64()
	wantP := math.Min(1, pf)

	cmp := out.Holdout.Comparison
	check := func(name string, r *agreement.Report, f agreement.Figure, want float64) {
		t.Helper()
		got, ok := r.Figure(f)
		if !ok || math.Abs(got.Value-want) > 1e-9 {
			t.Errorf("%s %s = %v (ok %v), by hand %v", name, f, got.Value, ok, want)
		}
	}
	check("base", cmp.A, agreement.Accuracy, float64(baseRight)/fn)
	check("base", cmp.A, agreement.Kappa, 0) // a judge that always says yes agrees by chance only
	check("base", cmp.A, agreement.FailRecall, 0)
	check("aligned", cmp.B, agreement.Accuracy, po)
	check("aligned", cmp.B, agreement.Kappa, wantKappa)
	check("aligned", cmp.B, agreement.FailRecall, float64(alignedNoOnNo)/float64(humanNo))
	check("aligned", cmp.B, agreement.FalseFailureRate, float64(alignedNoOnYes)/float64(humanYes))
	if cmp.McNemar.OnlyA != onlyA || cmp.McNemar.OnlyB != onlyB || math.Abs(cmp.McNemar.PValue-wantP) > 1e-12 {
		t.Errorf("McNemar = %+v; by hand only A %d, only B %d, p %v", cmp.McNemar, onlyA, onlyB, wantP)
	}
	if diff, _, _, ok := out.Improvement(); !ok || math.Abs(diff-wantKappa) > 1e-9 {
		t.Errorf("Improvement = %v (ok %v), want kappa gain %v", diff, ok, wantKappa)
	}
	t.Logf("held out %d: base accuracy %.3f kappa 0; aligned accuracy %.3f kappa %.3f; McNemar %d/%d p=%.3g",
		n, float64(baseRight)/fn, po, wantKappa, onlyA, onlyB, wantP)
}
