package validate_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/validate"
)

// evalsbenchDir is the EvalsBench pass/fail set shared with the repository
// (see its SOURCE.md): 24 annotation rows and 160 benchmark rows, half pass
// and half fail.
var evalsbenchDir = filepath.Join("..", "..", "shared", "datasets", "evalsbench")

// evalsbenchRow is one EvalsBench row as a labelled trace.
type evalsbenchRow struct {
	id, question, notes, response string
	pass                          bool
	rationale                     string
}

// readEvalsbench reads both files: annotation rows (label in verdict,
// rationale in reason) as ann-NN and benchmark rows (label in target,
// rationale in notes) as bench-NNN.
func readEvalsbench(t *testing.T) []evalsbenchRow {
	t.Helper()
	var rows []evalsbenchRow
	for _, f := range []struct {
		file, prefix, label, rationale string
	}{
		{"annotation_df.csv", "ann-%02d", "verdict", "reason"},
		{"benchmark_df.csv", "bench-%03d", "target", "notes"},
	} {
		fh, err := os.Open(filepath.Join(evalsbenchDir, f.file))
		if err != nil {
			t.Skipf("EvalsBench is not available (tests read it from ../shared): %v", err)
		}
		recs, err := csv.NewReader(fh).ReadAll()
		fh.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.file, err)
		}
		col := map[string]int{}
		for i, h := range recs[0] {
			col[h] = i
		}
		for i, rec := range recs[1:] {
			var pass bool
			switch v := rec[col[f.label]]; v {
			case "pass":
				pass = true
			case "fail":
			default:
				t.Fatalf("%s row %d: label %q is neither pass nor fail", f.file, i+1, v)
			}
			rows = append(rows, evalsbenchRow{
				id:        fmt.Sprintf(f.prefix, i),
				question:  rec[col["question"]],
				notes:     rec[col["grading_notes"]],
				response:  rec[col["response"]],
				pass:      pass,
				rationale: rec[col[f.rationale]],
			})
		}
	}
	return rows
}

// alignedMisses are the traces on which the scripted aligned judge still
// disagrees with the humans: four passes it fails and four fails it passes.
var alignedMisses = map[string]bool{
	"bench-000": true, "bench-002": true, "bench-100": true, "ann-04": true, // pass
	"bench-051": true, "bench-133": true, "bench-159": true, "ann-07": true, // fail
}

// TestEvalsbenchComparison compares, on all 184 EvalsBench traces, a base
// judge scripted to pass everything (the lenient judge of the Ragas guide)
// with an "aligned" judge that agrees with the humans except on
// alignedMisses, and checks the figures against a hand computation.
func TestEvalsbenchComparison(t *testing.T) {
	rows := readEvalsbench(t)
	const label = "covers_grading_notes"

	var lines []string
	table := answers{}
	var pass, fail, missedPass, missedFail int
	for _, r := range rows {
		human, aligned := "no", "no"
		if r.pass {
			human, aligned = "yes", "yes"
			pass++
		} else {
			fail++
		}
		if alignedMisses[r.id] {
			if r.pass {
				aligned = "no"
				missedPass++
			} else {
				aligned = "yes"
				missedFail++
			}
		}
		b, err := json.Marshal(map[string]any{
			"trace_id":     r.id,
			"inputs":       r.question,
			"outputs":      r.response,
			"expectations": map[string]any{"grading_notes": r.notes},
			"feedback":     map[string]any{label: map[string]any{"value": human, "rationale": r.rationale}},
		})
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
		if _, dup := table[r.response]; dup {
			t.Fatalf("two rows share the response of %s; the script cannot tell them apart", r.id)
		}
		table[r.response] = [2]string{`"yes"`, `"` + aligned + `"`}
	}
	if len(rows) != 184 || pass != 92 || fail != 92 || missedPass != 4 || missedFail != 4 {
		t.Fatalf("read %d rows, %d pass, %d fail, misses %d pass %d fail; want 184, 92, 92, 4, 4",
			len(rows), pass, fail, missedPass, missedFail)
	}
	traces := readTraces(t, lines...)

	e := newEnv(t, table.responder())
	vt := judge.ValueType{Type: judge.Boolean}
	instructions := "Does {{ outputs }} answer {{ inputs }} covering every point of the grading notes in {{ expectations }}?"
	base, err := judge.New(label, instructions, judge.WithModel(model), judge.WithValueType(vt))
	if err != nil {
		t.Fatal(err)
	}
	aligned, err := judge.New(label, instructions+" "+candidateMark, judge.WithModel(model), judge.WithValueType(vt))
	if err != nil {
		t.Fatal(err)
	}
	c, err := validate.Compare(context.Background(), e.ev,
		registeredAs(label, 1, base), registeredAs(label, 2, aligned), traces,
		validate.Options{Concurrency: 8, Agreement: agreement.Options{Resamples: 1000, Seed: 42}})
	if err != nil {
		t.Fatal(err)
	}
	if e.srv.Calls() != 2*184 {
		t.Errorf("%d model calls, want one per trace and judge (368)", e.srv.Calls())
	}

	// By hand. N = 184, P = F = 92. The base judge says yes to all: it is
	// right on the 92 passes, so accuracy 1/2; its chance agreement is
	// P/N · 1 = 1/2, so kappa 0; it fails nothing, so fail recall and
	// false-failure rate are 0. Macro F1: yes 2·92/(92+184), no 0.
	//
	// The aligned judge misses 4 passes and 4 fails: accuracy 176/184. It
	// says yes 92 - 4 + 4 = 92 times, so chance agreement is
	// 1/2·92/184 + 1/2·92/184 = 1/2 and kappa = (176/184 - 1/2)/(1/2). It
	// fails 88 of the 92 fails and 4 of the 92 passes. Both classes have
	// F1 2·88/(92+92).
	n, p, f := 184.0, 92.0, 92.0
	for _, tc := range []struct {
		who  string
		r    *agreement.Report
		fig  agreement.Figure
		want float64
	}{
		{"base", c.A, agreement.Accuracy, p / n},
		{"base", c.A, agreement.Kappa, 0},
		{"base", c.A, agreement.MacroF1, (2 * p / (p + n)) / 2},
		{"base", c.A, agreement.FailRecall, 0},
		{"base", c.A, agreement.FalseFailureRate, 0},
		{"aligned", c.B, agreement.Accuracy, 176 / n},
		{"aligned", c.B, agreement.Kappa, (176/n - 0.5) / 0.5},
		{"aligned", c.B, agreement.MacroF1, 2 * 88 / (p + f)},
		{"aligned", c.B, agreement.FailRecall, 88 / f},
		{"aligned", c.B, agreement.FalseFailureRate, 4 / p},
	} {
		if got := figure(t, tc.r, tc.fig); !near(got, tc.want) {
			t.Errorf("%s %s = %v, want %v", tc.who, tc.fig, got, tc.want)
		}
	}
	if d, ok := c.Delta(agreement.Kappa); !ok || !near(d.Diff.Value, (176/n-0.5)/0.5) || !(d.Diff.Low > 0.8) {
		t.Errorf("kappa delta = %+v, want +0.913 with an interval well above 0", d)
	}
	cm := c.B.Confusion
	if cm == nil || fmt.Sprint(cm.Labels, cm.Counts) != "[yes no] [[88 4] [4 88]]" {
		t.Errorf("aligned confusion matrix = %+v, want yes/no [[88 4] [4 88]]", cm)
	}

	// McNemar: only the base is right on the 4 passes the aligned judge
	// fails; only the aligned judge is right on the 88 fails it catches.
	// p = 2·P(X ≤ 4), X ~ Binomial(92, 1/2), summed exactly.
	m := c.McNemar
	if m.Pairs != 184 || m.BothRight != 88 || m.OnlyA != 4 || m.OnlyB != 88 || m.BothWrong != 4 {
		t.Errorf("McNemar = %+v, want 88 both right, 4 only base, 88 only aligned, 4 both wrong", m)
	}
	tail := new(big.Int)
	for i := int64(0); i <= 4; i++ {
		tail.Add(tail, new(big.Int).Binomial(92, i))
	}
	wantP, _ := new(big.Rat).SetFrac(new(big.Int).Mul(tail, big.NewInt(2)), new(big.Int).Lsh(big.NewInt(1), 92)).Float64()
	if rel := (m.PValue - wantP) / wantP; rel > 1e-9 || rel < -1e-9 {
		t.Errorf("McNemar p = %g, want %g", m.PValue, wantP)
	}

	// The disagreements: the aligned judge's 8 misses first, then the 88
	// fails it fixed.
	if len(c.Disagreements) != 96 {
		t.Fatalf("%d disagreements, want 96", len(c.Disagreements))
	}
	for i, d := range c.Disagreements {
		if stillWrong := i < 8; stillWrong != alignedMisses[d.TraceID] {
			t.Errorf("disagreement %d is %s (%s); want the 8 misses first", i, d.TraceID, d.Outcome)
		}
	}
	if d := c.Disagreements[len(c.Disagreements)-1]; d.Outcome != agreement.Fixed || d.Human.Value != "no" || d.Human.Rationale == "" {
		t.Errorf("last disagreement = %+v, want a fixed fail with its rationale", d)
	}
}

func registeredAs(name string, version int, j *judge.Judge) *store.RegisteredJudge {
	return &store.RegisteredJudge{Name: name, Version: version, Judge: j}
}
