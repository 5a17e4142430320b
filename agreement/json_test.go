package agreement_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

// TestJSON checks that reports and comparisons marshal with snake_case keys
// and NaN as null (encoding/json refuses NaN), and read back.
func TestJSON(t *testing.T) {
	cases := qualityCases()
	c, err := agreement.Compare(cases, quality, agreement.Options{Resamples: 50})
	if err != nil {
		t.Fatal(err)
	}
	// A report with undefined figures: one class only.
	one, err := agreement.Evaluate(pairsFromMatrix([]string{"yes", "no"}, [][]int{{3, 0}, {0, 0}}),
		agreement.PassFailScale("yes", "no"), agreement.Options{Resamples: 50})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"comparison": c, "report": one} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s := string(b)
		for _, key := range []string{`"figures":`, `"error_trace_ids":`, `"trace_id":`, `"only_a_right":`,
			`"p_value":`, `"deltas":`, `"disagreements":`, `"confusion":`, `"weighting":"linear"`,
			`"outcome":"regressed"`} {
			if name == "comparison" && !strings.Contains(s, key) {
				t.Errorf("%s JSON lacks %s: %s", name, key, s)
			}
		}
		if name == "report" {
			for _, key := range []string{`{"figure":"kappa","value":null,"low":null,"high":null,"note":"undefined:`,
				`"figure":"fail_recall","value":null`, `"figure":"false_failure_rate","value":0`} {
				if !strings.Contains(s, key) {
					t.Errorf("report JSON lacks %s: %s", key, s)
				}
			}
		}
	}

	b, _ := json.Marshal(one)
	var back agreement.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	k, ok := back.Figure(agreement.Kappa)
	if !ok || !math.IsNaN(k.Value) || !math.IsNaN(k.Low) {
		t.Errorf("kappa read back as %+v, want NaN", k)
	}
	acc, _ := back.Figure(agreement.Accuracy)
	if want, _ := one.Figure(agreement.Accuracy); acc != want {
		t.Errorf("accuracy read back as %+v, want %+v", acc, want)
	}
	again, _ := json.Marshal(&back)
	if string(again) != string(b) {
		t.Errorf("round trip changed the report:\n%s\n%s", b, again)
	}

	var s agreement.Summary
	if err := json.Unmarshal([]byte(`{"figure":"mae","folds":1,"mean":0.5,"sd":null}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.Figure != agreement.MAE || s.Folds != 1 || s.Mean != 0.5 || !math.IsNaN(s.SD) {
		t.Errorf("summary = %+v", s)
	}
	if out, _ := json.Marshal(s); string(out) != `{"figure":"mae","folds":1,"mean":0.5,"sd":null}` {
		t.Errorf("summary JSON = %s", out)
	}
}
