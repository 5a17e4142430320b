package agreement_test

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

var quality = agreement.OrdinalScale("excellent", "good", "fair", "poor")

func answer(v string) agreement.Answer {
	return agreement.Answer{Value: v, Rationale: "because " + v}
}

// qualityCases is a hand-made comparison on an ordinal scale.
//
//	trace  human      A          B          outcome
//	t1     good       good       good       both right
//	t2     poor       good       poor       fixed       (A 2 off)
//	t3     fair       fair       poor       regressed   (B 1 off)
//	t4     excellent  poor       good       unresolved  (B 1 off, A 3 off)
//	t5     good       fair       error      unresolved  (B gave no value)
//	t6     fair       excellent  fair       fixed       (A 2 off)
//	t7     excellent  excellent  fair       regressed   (B 2 off)
func qualityCases() []agreement.Case {
	row := func(id, h, a, b string) agreement.Case {
		c := agreement.Case{TraceID: id, Human: answer(h), A: answer(a), B: answer(b)}
		if b == "" {
			c.B = agreement.Answer{Error: "judge answer was not JSON"}
		}
		return c
	}
	return []agreement.Case{
		row("t1", "good", "good", "good"),
		row("t2", "poor", "good", "poor"),
		row("t3", "fair", "fair", "poor"),
		row("t4", "excellent", "poor", "good"),
		row("t5", "good", "fair", ""),
		row("t6", "fair", "excellent", "fair"),
		row("t7", "excellent", "excellent", "fair"),
	}
}

func TestCompare(t *testing.T) {
	c, err := agreement.Compare(qualityCases(), quality, agreement.Options{Resamples: 200})
	if err != nil {
		t.Fatal(err)
	}
	wantMcNemar := agreement.McNemar{Pairs: 6, BothRight: 1, OnlyA: 2, OnlyB: 2, BothWrong: 1, PValue: 1}
	if c.McNemar != wantMcNemar {
		t.Errorf("mcnemar = %+v, want %+v", c.McNemar, wantMcNemar)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "6 pairs both judges answered; 1 pairs") {
		t.Errorf("notes = %q, want one about the pair B did not answer", c.Notes)
	}
	// Accuracy: A right on t1, t3, t7 of 7; B right on t1, t2, t6 of the 6
	// it answered. Delta = 1/2 - 3/7 = 1/14.
	d, ok := c.Delta(agreement.Accuracy)
	if !ok {
		t.Fatal("no accuracy delta")
	}
	if !near(d.A.Value, 3.0/7, 1e-12) || !near(d.B.Value, 0.5, 1e-12) || !near(d.Diff.Value, 1.0/14, 1e-12) {
		t.Errorf("accuracy delta = %+v, want A 3/7, B 1/2, diff 1/14", d)
	}
	if d.Gain() != d.Diff.Value {
		t.Errorf("gain %v of accuracy is not its diff %v", d.Gain(), d.Diff.Value)
	}
	if !(d.Diff.Low <= d.Diff.Value && d.Diff.Value <= d.Diff.High) {
		t.Errorf("accuracy diff interval [%v, %v] does not contain %v", d.Diff.Low, d.Diff.High, d.Diff.Value)
	}
	if len(c.Deltas) != len(c.A.Figures) {
		t.Errorf("%d deltas for %d figures", len(c.Deltas), len(c.A.Figures))
	}
	for k, d := range c.Deltas {
		a, b := c.A.Figures[k], c.B.Figures[k]
		if d.Figure != a.Figure || d.A != a.Estimate || d.B != b.Estimate {
			t.Errorf("delta %d = %+v, does not match reports %+v and %+v", k, d, a, b)
		}
		if !near(d.Diff.Value, b.Value-a.Value, 1e-12) {
			t.Errorf("%s diff = %v, want %v", d.Figure, d.Diff.Value, b.Value-a.Value)
		}
	}
	if c.B.Errors != 1 || !reflect.DeepEqual(c.B.ErrorTraceIDs, []string{"t5"}) || c.A.Errors != 0 {
		t.Errorf("errors A %d, B %d %v; want 0 and 1 [t5]", c.A.Errors, c.B.Errors, c.B.ErrorTraceIDs)
	}

	type row struct {
		id      string
		outcome agreement.Outcome
	}
	var got []row
	for _, d := range c.Disagreements {
		got = append(got, row{d.TraceID, d.Outcome})
	}
	want := []row{
		{"t7", agreement.Regressed}, // B 2 off
		{"t3", agreement.Regressed}, // B 1 off
		{"t5", agreement.Unresolved},
		{"t4", agreement.Unresolved},
		{"t2", agreement.Fixed}, // tie on distances: by trace ID
		{"t6", agreement.Fixed},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("disagreements = %v, want %v", got, want)
	}
	first := c.Disagreements[0]
	if first.Human != answer("excellent") || first.A != answer("excellent") || first.B != answer("fair") {
		t.Errorf("disagreement t7 = %+v, want the human's and judges' values and rationales", first)
	}
	if c.Disagreements[2].B.Error == "" {
		t.Errorf("disagreement t5 lost B's error: %+v", c.Disagreements[2])
	}
}

// TestCompareMatchesEvaluate checks that each side of a comparison is the
// report Evaluate gives for that judge alone: same figures, same resamples.
func TestCompareMatchesEvaluate(t *testing.T) {
	cases := qualityCases()
	opts := agreement.Options{Seed: 5, Resamples: 300}
	c, err := agreement.Compare(cases, quality, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, side := range []struct {
		name string
		pick func(agreement.Case) agreement.Answer
		got  *agreement.Report
	}{
		{"a", func(c agreement.Case) agreement.Answer { return c.A }, c.A},
		{"b", func(c agreement.Case) agreement.Answer { return c.B }, c.B},
	} {
		var pairs []agreement.Pair
		for _, cs := range cases {
			pairs = append(pairs, agreement.Pair{TraceID: cs.TraceID, Human: cs.Human, Judge: side.pick(cs)})
		}
		alone, err := agreement.Evaluate(pairs, quality, opts)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(alone)
		got, _ := json.Marshal(side.got)
		if !bytes.Equal(got, want) {
			t.Errorf("judge %s in a comparison:\n%s\nalone:\n%s", side.name, got, want)
		}
	}
}

// TestComparePaired checks that deltas come from paired resamples: a judge
// compared with itself differs by exactly 0 in every resample, and a judge
// that is right on exactly one more trace gains 1/n in accuracy in every
// resample that draws that trace once.
func TestComparePaired(t *testing.T) {
	var cases []agreement.Case
	for _, p := range labelled(3, judged) {
		cases = append(cases, agreement.Case{TraceID: p.TraceID, Human: p.Human, A: p.Judge, B: p.Judge})
	}
	c, err := agreement.Compare(cases, agreement.PassFailScale("yes", "no"), agreement.Options{Resamples: 300})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range c.Deltas {
		if d.Diff != (agreement.Estimate{}) {
			t.Errorf("%s: self-comparison diff = %+v, want exactly 0 [0, 0]", d.Figure, d.Diff)
		}
	}
	if c.McNemar.PValue != 1 || len(c.Disagreements) != c.McNemar.BothWrong {
		t.Errorf("self-comparison: mcnemar %+v, %d disagreements", c.McNemar, len(c.Disagreements))
	}

	// B fixes one of A's mistakes: accuracy 45/60 → 46/60.
	for i := range cases {
		if cases[i].A.Value != cases[i].Human.Value {
			cases[i].B = cases[i].Human
			break
		}
	}
	c, err = agreement.Compare(cases, agreement.PassFailScale("yes", "no"), agreement.Options{Resamples: 300})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := c.Delta(agreement.Accuracy)
	if !near(d.Diff.Value, 1.0/60, 1e-12) || d.Diff.Low != 0 || d.Diff.High > 3.0/60+1e-12 {
		t.Errorf("accuracy diff = %+v, want 1/60 in [0, ≤3/60]: never negative when B is never worse", d.Diff)
	}
	if c.McNemar.OnlyB != 1 || c.McNemar.OnlyA != 0 || c.McNemar.PValue != 1 {
		t.Errorf("mcnemar = %+v, want only B right once, p = 1", c.McNemar)
	}
	if len(c.Disagreements) == 0 || c.Disagreements[len(c.Disagreements)-1].Outcome != agreement.Fixed {
		t.Errorf("the fixed case is not listed last: %+v", c.Disagreements)
	}
}

func TestDeltaGain(t *testing.T) {
	tests := []struct {
		f    agreement.Figure
		diff float64
		want float64
	}{
		{agreement.Kappa, 0.1, 0.1},
		{agreement.MAE, 0.5, -0.5},
		{agreement.FalseFailureRate, -0.2, 0.2},
		{agreement.FailRecall, -0.2, -0.2},
	}
	for _, tt := range tests {
		d := agreement.Delta{Figure: tt.f, Diff: agreement.Estimate{Value: tt.diff}}
		if got := d.Gain(); got != tt.want {
			t.Errorf("%s diff %v: gain %v, want %v", tt.f, tt.diff, got, tt.want)
		}
	}
}

func TestCompareNumeric(t *testing.T) {
	// A is off by one everywhere, B is exact except one trace it fails.
	human := []float64{1, 2, 3, 4, 5}
	var cases []agreement.Case
	for i, h := range human {
		c := agreement.Case{
			TraceID: string(rune('a' + i)),
			Human:   agreement.Answer{Value: h},
			A:       agreement.Answer{Value: h + 1},
			B:       agreement.Answer{Value: int64(h)},
		}
		if i == 4 {
			c.B = agreement.Answer{Error: "timeout"}
		}
		cases = append(cases, c)
	}
	c, err := agreement.Compare(cases, agreement.NumericScale(), agreement.Options{Resamples: 100})
	if err != nil {
		t.Fatal(err)
	}
	mae, _ := c.Delta(agreement.MAE)
	if mae.A.Value != 1 || mae.B.Value != 0 || mae.Diff.Value != -1 || mae.Gain() != 1 {
		t.Errorf("mae delta = %+v, want 1 → 0", mae)
	}
	// The matrix spans the values of both judges so the two line up.
	want := []string{"1", "2", "3", "4", "5", "6"}
	if !reflect.DeepEqual(c.A.Confusion.Labels, want) || !reflect.DeepEqual(c.B.Confusion.Labels, want) {
		t.Errorf("labels %v and %v, want %v", c.A.Confusion.Labels, c.B.Confusion.Labels, want)
	}
	// Disagreements: all five; B errs on e (furthest), is right elsewhere.
	if len(c.Disagreements) != 5 || c.Disagreements[0].TraceID != "e" || c.Disagreements[0].Outcome != agreement.Unresolved {
		t.Errorf("disagreements = %+v, want e (unresolved) first of 5", c.Disagreements)
	}
	if ccc, _ := c.Delta(agreement.CCC); math.IsNaN(ccc.Diff.Value) {
		t.Errorf("ccc delta undefined: %+v", ccc)
	}
}

func TestCompareInvalid(t *testing.T) {
	cases := qualityCases()
	cases[3].A = agreement.Answer{Value: "superb"}
	_, err := agreement.Compare(cases, quality, agreement.Options{})
	want := `pair[3] trace[t4]: judge a value "superb" is not one of excellent, good, fair, poor`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}
