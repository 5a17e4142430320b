package agreement_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

// labelled repeats a pass/fail confusion matrix times times.
func labelled(times int, counts [][]int) []agreement.Pair {
	scaled := make([][]int, len(counts))
	for h, row := range counts {
		scaled[h] = make([]int, len(row))
		for j, c := range row {
			scaled[h][j] = c * times
		}
	}
	return pairsFromMatrix([]string{"yes", "no"}, scaled)
}

// judged is an imperfect pass/fail judge on 20 traces: accuracy 0.75.
var judged = [][]int{{10, 3}, {2, 5}}

func TestBootstrapContainsPoint(t *testing.T) {
	r, err := agreement.Evaluate(labelled(5, judged), agreement.PassFailScale("yes", "no"), agreement.Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if r.Resamples != agreement.DefaultResamples || r.Level != agreement.DefaultLevel || r.Seed != 7 {
		t.Errorf("resamples/level/seed = %d/%v/%d, want defaults and seed 7", r.Resamples, r.Level, r.Seed)
	}
	estimates := map[string]agreement.Estimate{}
	for _, m := range r.Figures {
		estimates[string(m.Figure)] = m.Estimate
		if m.Note != "" {
			t.Errorf("%s note %q on well-defined data", m.Figure, m.Note)
		}
	}
	for _, c := range r.Classes {
		estimates[c.Label+" precision"] = c.Precision
		estimates[c.Label+" recall"] = c.Recall
		estimates[c.Label+" f1"] = c.F1
	}
	for name, e := range estimates {
		if !(e.Low <= e.Value && e.Value <= e.High) || !(e.Low < e.High) {
			t.Errorf("%s: interval [%v, %v] does not contain %v or is empty", name, e.Low, e.High, e.Value)
		}
		if e.Low < -1 || e.High > 1 {
			t.Errorf("%s: interval [%v, %v] leaves [-1, 1]", name, e.Low, e.High)
		}
	}
}

func TestBootstrapDeterministic(t *testing.T) {
	pairs := labelled(3, judged)
	run := func(seed uint64) []byte {
		t.Helper()
		r, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), agreement.Options{Seed: seed, Resamples: 300})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first, again, other := run(1), run(1), run(2)
	if !bytes.Equal(first, again) {
		t.Errorf("same seed, different reports:\n%s\n%s", first, again)
	}
	if bytes.Equal(first, other) {
		t.Error("seeds 1 and 2 gave identical intervals")
	}
}

// TestBootstrapNarrows checks that ten times the data (same proportions)
// gives intervals about √10 times narrower.
func TestBootstrapNarrows(t *testing.T) {
	width := func(times int) map[agreement.Figure]float64 {
		t.Helper()
		r, err := agreement.Evaluate(labelled(times, judged), agreement.PassFailScale("yes", "no"), agreement.Options{Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		w := make(map[agreement.Figure]float64)
		for _, m := range r.Figures {
			w[m.Figure] = m.High - m.Low
		}
		return w
	}
	small, large := width(2), width(20)
	for f, ws := range small {
		wl := large[f]
		if ratio := wl / ws; !(ratio > 0.2 && ratio < 0.45) {
			t.Errorf("%s: width %v at n=40, %v at n=400: ratio %v, want about 1/√10 ≈ 0.32", f, ws, wl, ratio)
		}
	}
}

// TestBootstrapCoverage checks the width of the accuracy interval against
// the normal approximation: √(p(1-p)/n) · 1.96 on each side.
func TestBootstrapCoverage(t *testing.T) {
	r, err := agreement.Evaluate(labelled(20, judged), agreement.PassFailScale("yes", "no"), agreement.Options{Seed: 11})
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := r.Figure(agreement.Accuracy)
	want := 2 * 1.96 * math.Sqrt(0.75*0.25/400)
	if got := acc.High - acc.Low; math.Abs(got-want) > 0.1*want {
		t.Errorf("accuracy interval width %v, want within 10%% of %v", got, want)
	}
}

func TestBootstrapOptions(t *testing.T) {
	pairs := labelled(2, judged)
	r, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), agreement.Options{Resamples: agreement.NoBootstrap})
	if err != nil {
		t.Fatal(err)
	}
	if r.Resamples != 0 {
		t.Errorf("resamples = %d, want 0", r.Resamples)
	}
	for _, m := range r.Figures {
		if math.IsNaN(m.Value) || !math.IsNaN(m.Low) || !math.IsNaN(m.High) {
			t.Errorf("%s = %+v, want a value and no interval", m.Figure, m.Estimate)
		}
	}

	wide, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), agreement.Options{Level: 0.99, Resamples: 500})
	if err != nil {
		t.Fatal(err)
	}
	narrow, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), agreement.Options{Level: 0.5, Resamples: 500})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := wide.Figure(agreement.Kappa)
	n, _ := narrow.Figure(agreement.Kappa)
	if !(w.High-w.Low > n.High-n.Low) {
		t.Errorf("99%% interval %v-%v is not wider than 50%% interval %v-%v", w.Low, w.High, n.Low, n.High)
	}
}

// TestBootstrapPartlyUndefined checks that resamples in which a figure is
// undefined are left out of its interval and said so: with one human fail
// in 30 pairs, about e⁻¹ of the resamples have none.
func TestBootstrapPartlyUndefined(t *testing.T) {
	pairs := pairsFromMatrix([]string{"yes", "no"}, [][]int{{25, 4}, {0, 1}})
	r, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), agreement.Options{Resamples: 400})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range r.Figures {
		if m.Figure != agreement.FailRecall {
			continue
		}
		if m.Value != 1 || m.Low != 1 || m.High != 1 {
			t.Errorf("fail recall = %+v, want 1 [1, 1]", m.Estimate)
		}
		if !strings.Contains(m.Note, "of 400 resamples in which the figure is defined") {
			t.Errorf("fail recall note = %q, want the count of defined resamples", m.Note)
		}
	}
}
