package agreement_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

// pairsFromMatrix makes one pair per count of a confusion matrix, rows being
// the human label and columns the judge's.
func pairsFromMatrix(labels []string, counts [][]int) []agreement.Pair {
	var pairs []agreement.Pair
	for h, row := range counts {
		for j, c := range row {
			for range c {
				pairs = append(pairs, agreement.Pair{
					TraceID: fmt.Sprintf("t%d", len(pairs)),
					Human:   agreement.Answer{Value: labels[h]},
					Judge:   agreement.Answer{Value: labels[j]},
				})
			}
		}
	}
	return pairs
}

// numericPairs makes pairs of numbers.
func numericPairs(human, judge []float64) []agreement.Pair {
	pairs := make([]agreement.Pair, len(human))
	for i := range human {
		pairs[i] = agreement.Pair{
			TraceID: fmt.Sprintf("t%d", i),
			Human:   agreement.Answer{Value: human[i]},
			Judge:   agreement.Answer{Value: judge[i]},
		}
	}
	return pairs
}

var noBootstrap = agreement.Options{Resamples: agreement.NoBootstrap}

// figures returns the point values of a report's headline figures.
func figures(r *agreement.Report) map[agreement.Figure]float64 {
	out := make(map[agreement.Figure]float64)
	for _, m := range r.Figures {
		out[m.Figure] = m.Value
	}
	return out
}

func checkFigures(t *testing.T, r *agreement.Report, want map[agreement.Figure]float64) {
	t.Helper()
	got := figures(r)
	if len(got) != len(want) {
		t.Errorf("figures %v, want exactly %v", got, want)
	}
	for f, w := range want {
		g, ok := got[f]
		if !ok {
			t.Errorf("%s missing", f)
			continue
		}
		if !near(g, w, 1e-12) {
			t.Errorf("%s = %.15g, want %.15g", f, g, w)
		}
	}
}

// TestEvaluatePassFail checks every figure of a yes/no judge against a hand
// computation, including a judge error.
func TestEvaluatePassFail(t *testing.T) {
	// human yes/judge yes 6, yes/no 2, no/yes 1, no/no 3, and one trace
	// (human no) the judge failed on.
	pairs := pairsFromMatrix([]string{"yes", "no"}, [][]int{{6, 2}, {1, 3}})
	pairs = append(pairs, agreement.Pair{
		TraceID: "err",
		Human:   agreement.Answer{Value: "no"},
		Judge:   agreement.Answer{Error: "model unreachable"},
	})
	r, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), noBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if r.Pairs != 13 || r.Answered != 12 || r.Errors != 1 || !reflect.DeepEqual(r.ErrorTraceIDs, []string{"err"}) {
		t.Errorf("pairs/answered/errors = %d/%d/%d %v, want 13/12/1 [err]", r.Pairs, r.Answered, r.Errors, r.ErrorTraceIDs)
	}
	if r.Weighting != agreement.Unweighted {
		t.Errorf("weighting = %q, want unweighted", r.Weighting)
	}
	// n = 12, accuracy 9/12. Human marginals yes 8, no 4; judge yes 7,
	// no 5. pe = (8·7 + 4·5)/144 = 76/144; kappa = (108-76)/(144-76) = 8/17.
	// F1 yes = 2·6/(8+7) = 0.8, F1 no = 2·3/(4+5) = 2/3, macro 11/15.
	// Fail recall = 3/4; false failures = 2 of 8 human passes.
	checkFigures(t, r, map[agreement.Figure]float64{
		agreement.Accuracy:         0.75,
		agreement.Kappa:            8.0 / 17,
		agreement.MacroF1:          11.0 / 15,
		agreement.FailRecall:       0.75,
		agreement.FalseFailureRate: 0.25,
	})
	wantMatrix := &agreement.Matrix{
		Labels: []string{"yes", "no"},
		Counts: [][]int{{6, 2}, {1, 3}},
		Errors: []int{0, 1},
	}
	if !reflect.DeepEqual(r.Confusion, wantMatrix) {
		t.Errorf("confusion = %+v, want %+v", r.Confusion, wantMatrix)
	}
	wantClasses := []struct {
		label              string
		support, predicted int
		p, r, f1           float64
	}{
		{"yes", 8, 7, 6.0 / 7, 0.75, 0.8},
		{"no", 4, 5, 0.6, 0.75, 2.0 / 3},
	}
	if len(r.Classes) != len(wantClasses) {
		t.Fatalf("%d classes, want %d", len(r.Classes), len(wantClasses))
	}
	for i, w := range wantClasses {
		c := r.Classes[i]
		if c.Label != w.label || c.Support != w.support || c.Predicted != w.predicted ||
			!near(c.Precision.Value, w.p, 1e-12) || !near(c.Recall.Value, w.r, 1e-12) || !near(c.F1.Value, w.f1, 1e-12) {
			t.Errorf("class %d = %+v, want %+v", i, c, w)
		}
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "no value for 1 of 13") {
		t.Errorf("notes = %q, want one about the judge error", r.Notes)
	}
}

// TestEvaluateImbalanced shows why accuracy misleads on data like HaluEval,
// where 18% of the answers fail: a judge that passes everything is 82%
// accurate, yet its kappa is 0 and it catches no failure.
func TestEvaluateImbalanced(t *testing.T) {
	pairs := pairsFromMatrix([]string{"yes", "no"}, [][]int{{82, 0}, {18, 0}})
	r, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), noBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	// Macro F1: yes 2·82/(82+100) = 164/182, no 0 (it occurs, never found).
	checkFigures(t, r, map[agreement.Figure]float64{
		agreement.Accuracy:         0.82,
		agreement.Kappa:            0,
		agreement.MacroF1:          164.0 / 182 / 2,
		agreement.FailRecall:       0,
		agreement.FalseFailureRate: 0,
	})
	if p := r.Classes[1].Precision.Value; !math.IsNaN(p) {
		t.Errorf("precision of a class never predicted = %v, want NaN", p)
	}
}

// TestEvaluateOrdinal checks that an ordinal report's kappa is the linearly
// weighted kappa of its confusion matrix, on Altman's table.
func TestEvaluateOrdinal(t *testing.T) {
	labels := []string{"normal", "benign", "suspected", "cancer"}
	pairs := pairsFromMatrix(labels, altman)
	tests := []struct {
		w    agreement.Weighting
		want agreement.Weighting
		k    float64
	}{
		{"", agreement.Linear, 3806.0 / 6696},
		{agreement.Unweighted, agreement.Unweighted, 2363.0 / 4998},
		{agreement.Quadratic, agreement.Quadratic, 6946.0 / 10346},
	}
	for _, tt := range tests {
		t.Run(string(tt.want), func(t *testing.T) {
			r, err := agreement.Evaluate(pairs, agreement.OrdinalScale(labels...),
				agreement.Options{Weighting: tt.w, Resamples: agreement.NoBootstrap})
			if err != nil {
				t.Fatal(err)
			}
			if r.Weighting != tt.want {
				t.Errorf("weighting = %q, want %q", r.Weighting, tt.want)
			}
			k, _ := r.Figure(agreement.Kappa)
			if !near(k.Value, tt.k, 1e-12) {
				t.Errorf("kappa = %.15g, want %.15g", k.Value, tt.k)
			}
			if acc, _ := r.Figure(agreement.Accuracy); !near(acc.Value, 54.0/85, 1e-12) {
				t.Errorf("accuracy = %v, want 54/85", acc.Value)
			}
			if !reflect.DeepEqual(r.Confusion.Counts, altman) {
				t.Errorf("confusion = %v, want %v", r.Confusion.Counts, altman)
			}
		})
	}
}

func TestEvaluateNumeric(t *testing.T) {
	tests := []struct {
		name         string
		human, judge []float64
		opts         agreement.Options
		want         map[agreement.Figure]float64
	}{
		{
			// MAE (1+0+0+1+0)/5; Spearman and CCC as in their own tests.
			// Linear kappa with numeric distance: Do = MAE = 0.4. The human
			// is uniform on 1..5, the judge puts 0.4 on 2, 0.2 on 3, 0.4 on
			// 5; E|X-Y| = (2.4 + 1.4 + 1.2 + 1.4 + 1.6)/5 = 1.6, so kappa =
			// 1 - 0.4/1.6 = 0.75. Classes 1..5: F1 of 1 = 0 (1+0), of 2 =
			// 2/(1+2), of 3 = 1, of 4 = 0, of 5 = 2/(1+2); macro 2.333/5.
			name:  "integers",
			human: []float64{1, 2, 3, 4, 5},
			judge: []float64{2, 2, 3, 5, 5},
			opts:  noBootstrap,
			want: map[agreement.Figure]float64{
				agreement.Accuracy: 0.6,
				agreement.Kappa:    0.75,
				agreement.MacroF1:  (2.0/3 + 1 + 2.0/3) / 5,
				agreement.MAE:      0.4,
				agreement.Spearman: 9 / math.Sqrt(90),
				agreement.CCC:      0.9,
			},
		},
		{
			// Quadratic: Do = 0.4, De = var h + var j + (mean diff)² =
			// 2 + 1.84 + 0.16 = 4, kappa = 0.9.
			name:  "integers quadratic",
			human: []float64{1, 2, 3, 4, 5},
			judge: []float64{2, 2, 3, 5, 5},
			opts:  agreement.Options{Weighting: agreement.Quadratic, Resamples: agreement.NoBootstrap},
			want: map[agreement.Figure]float64{
				agreement.Accuracy: 0.6,
				agreement.Kappa:    0.9,
				agreement.MacroF1:  (2.0/3 + 1 + 2.0/3) / 5,
				agreement.MAE:      0.4,
				agreement.Spearman: 9 / math.Sqrt(90),
				agreement.CCC:      0.9,
			},
		},
		{
			// Numeric distance, not rank: values 0, 1, 10. Do = (1+0+0+10)/4
			// = 2.75. Human 0:¼ 1:¼ 10:½, judge 0:¼ 1:½ 10:¼.
			// E|X-Y| = ¼(½·1 + ¼·10) + ¼(¼·1 + ¼·9) + ½(¼·10 + ½·9)
			//        = 0.75 + 0.625 + 3.5 = 4.875; kappa = 1 - 2.75/4.875
			//        = 17/39. (With positions 0, 1, 2 it would be 1/7.)
			// Spearman: human ranks 1, 2, 3.5, 3.5; judge values 1, 1, 10, 0
			// rank 2.5, 2.5, 4, 1. Deviations from 2.5: h -1.5, -0.5, 1, 1;
			// j 0, 0, 1.5, -1.5; Σ = 0, so rho = 0.
			// CCC: means 5.25 and 3; var h = (27.5625 + 18.0625 + 2·22.5625)
			// /4 = 22.6875, var j = (4 + 4 + 49 + 9)/4 = 16.5; cov = (5.25·2 +
			// 4.25·2 + 4.75·7 - 4.75·3)/4 = 9.5; CCC = 19/(22.6875 + 16.5 +
			// 5.0625) = 19/44.25.
			name:  "floats",
			human: []float64{0, 1, 10, 10},
			judge: []float64{1, 1, 10, 0},
			opts:  noBootstrap,
			want: map[agreement.Figure]float64{
				agreement.Accuracy: 0.5,
				agreement.Kappa:    17.0 / 39,
				agreement.MacroF1:  (0 + 2.0/3 + 2.0/3) / 3,
				agreement.MAE:      2.75,
				agreement.Spearman: 0,
				agreement.CCC:      19 / 44.25,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := agreement.Evaluate(numericPairs(tt.human, tt.judge), agreement.NumericScale(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			checkFigures(t, r, tt.want)
		})
	}
}

// TestEvaluateNumericValues checks that every numeric representation is
// accepted and that many distinct values drop the matrix with a note.
func TestEvaluateNumericValues(t *testing.T) {
	values := []any{int64(3), 3, 3.0, float32(3), "3", " 3 ", uint8(3)}
	var pairs []agreement.Pair
	for i, v := range values {
		pairs = append(pairs, agreement.Pair{TraceID: fmt.Sprint(i),
			Human: agreement.Answer{Value: v}, Judge: agreement.Answer{Value: 3}})
	}
	r, err := agreement.Evaluate(pairs, agreement.NumericScale(), noBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if acc, _ := r.Figure(agreement.Accuracy); acc.Value != 1 {
		t.Errorf("accuracy = %v, want 1 (all values are 3)", acc.Value)
	}
	if r.Confusion == nil || !reflect.DeepEqual(r.Confusion.Labels, []string{"3"}) {
		t.Errorf("confusion = %+v, want labels [3]", r.Confusion)
	}

	var human, judge []float64
	for i := range agreement.MaxInferredLabels + 1 {
		human = append(human, float64(i)/10)
		judge = append(judge, float64(i)/10)
	}
	r, err = agreement.Evaluate(numericPairs(human, judge), agreement.NumericScale(), noBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if r.Confusion != nil || r.Classes != nil {
		t.Errorf("%d distinct values kept the matrix and classes", len(human))
	}
	if _, ok := r.Figure(agreement.MacroF1); ok {
		t.Error("macro F1 reported without classes")
	}
	if len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "21 distinct values") {
		t.Errorf("notes = %q, want one about the dropped matrix", r.Notes)
	}
	if ccc, _ := r.Figure(agreement.CCC); ccc.Value != 1 {
		t.Errorf("ccc = %v, want 1", ccc.Value)
	}
}

// TestEvaluateNominalInferred checks a nominal scale without declared
// labels: labels are the sorted values seen.
func TestEvaluateNominalInferred(t *testing.T) {
	pairs := []agreement.Pair{
		{TraceID: "1", Human: agreement.Answer{Value: "red"}, Judge: agreement.Answer{Value: "blue"}},
		{TraceID: "2", Human: agreement.Answer{Value: "green"}, Judge: agreement.Answer{Value: "green"}},
		{TraceID: "3", Human: agreement.Answer{Value: "blue"}, Judge: agreement.Answer{Value: "blue"}},
	}
	r, err := agreement.Evaluate(pairs, agreement.NominalScale(), noBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"blue", "green", "red"}; !reflect.DeepEqual(r.Confusion.Labels, want) {
		t.Errorf("labels = %v, want %v", r.Confusion.Labels, want)
	}
	// po = 2/3; human 1/3 each, judge blue 2/3 green 1/3:
	// pe = (2/3 + 1/3)/3 = 1/3; kappa = (2/3 - 1/3)/(2/3) = 0.5.
	if k, _ := r.Figure(agreement.Kappa); !near(k.Value, 0.5, 1e-12) {
		t.Errorf("kappa = %v, want 0.5", k.Value)
	}
}

// TestEvaluateDegenerate checks that odd data gives NaN with a reason,
// never a panic or an error.
func TestEvaluateDegenerate(t *testing.T) {
	yes := func(id string, judge agreement.Answer) agreement.Pair {
		return agreement.Pair{TraceID: id, Human: agreement.Answer{Value: "yes"}, Judge: judge}
	}
	tests := []struct {
		name  string
		pairs []agreement.Pair
		scale agreement.Scale
		// undefined maps each figure expected NaN to a word of its note.
		undefined map[agreement.Figure]string
		defined   map[agreement.Figure]float64
	}{
		{
			name:  "no pairs",
			scale: agreement.PassFailScale("yes", "no"),
			undefined: map[agreement.Figure]string{
				agreement.Accuracy: "no pair", agreement.Kappa: "no pair", agreement.MacroF1: "no pair",
				agreement.FailRecall: "no pair", agreement.FalseFailureRate: "no pair",
			},
		},
		{
			name:  "every judge answer failed",
			pairs: []agreement.Pair{yes("a", agreement.Answer{Error: "timeout"}), yes("b", agreement.Answer{})},
			scale: agreement.PassFailScale("yes", "no"),
			undefined: map[agreement.Figure]string{
				agreement.Accuracy: "no pair", agreement.Kappa: "no pair", agreement.MacroF1: "no pair",
				agreement.FailRecall: "no pair", agreement.FalseFailureRate: "no pair",
			},
		},
		{
			name: "one class only",
			pairs: []agreement.Pair{
				yes("a", agreement.Answer{Value: "yes"}), yes("b", agreement.Answer{Value: "yes"}),
			},
			scale: agreement.PassFailScale("yes", "no"),
			undefined: map[agreement.Figure]string{
				agreement.Kappa: "chance agreement", agreement.FailRecall: `no human label is "no"`,
			},
			defined: map[agreement.Figure]float64{
				agreement.Accuracy: 1, agreement.MacroF1: 1, agreement.FalseFailureRate: 0,
			},
		},
		{
			name:  "all human fails",
			pairs: pairsFromMatrix([]string{"yes", "no"}, [][]int{{0, 0}, {1, 2}}),
			scale: agreement.PassFailScale("yes", "no"),
			undefined: map[agreement.Figure]string{
				agreement.FalseFailureRate: `every human label is "no"`,
			},
			defined: map[agreement.Figure]float64{
				agreement.Accuracy: 2.0 / 3, agreement.Kappa: 0, agreement.MacroF1: (0 + 0.8) / 2,
				agreement.FailRecall: 2.0 / 3,
			},
		},
		{
			name:  "constant human numbers",
			pairs: numericPairs([]float64{2, 2, 2}, []float64{1, 2, 3}),
			scale: agreement.NumericScale(),
			undefined: map[agreement.Figure]string{
				agreement.Spearman: "human values are all equal",
			},
			// De = E|2-Y| = 2/3, Do = 2/3: kappa 0. CCC: cov 0.
			defined: map[agreement.Figure]float64{
				agreement.Accuracy: 1.0 / 3, agreement.Kappa: 0, agreement.MacroF1: (0 + 0.5 + 0) / 3,
				agreement.MAE: 2.0 / 3, agreement.CCC: 0,
			},
		},
		{
			name:  "same constant numbers",
			pairs: numericPairs([]float64{4, 4}, []float64{4, 4}),
			scale: agreement.NumericScale(),
			undefined: map[agreement.Figure]string{
				agreement.Kappa: "chance agreement", agreement.Spearman: "all equal", agreement.CCC: "same value",
			},
			defined: map[agreement.Figure]float64{
				agreement.Accuracy: 1, agreement.MacroF1: 1, agreement.MAE: 0,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := agreement.Evaluate(tt.pairs, tt.scale, agreement.Options{Resamples: 50})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Figures) != len(tt.undefined)+len(tt.defined) {
				t.Errorf("%d figures, want %d", len(r.Figures), len(tt.undefined)+len(tt.defined))
			}
			for _, m := range r.Figures {
				if word, ok := tt.undefined[m.Figure]; ok {
					if !math.IsNaN(m.Value) || !math.IsNaN(m.Low) || !math.IsNaN(m.High) {
						t.Errorf("%s = %+v, want NaN", m.Figure, m.Estimate)
					}
					if !strings.Contains(m.Note, word) {
						t.Errorf("%s note %q does not say %q", m.Figure, m.Note, word)
					}
					continue
				}
				if want := tt.defined[m.Figure]; !near(m.Value, want, 1e-12) {
					t.Errorf("%s = %v, want %v", m.Figure, m.Value, want)
				}
			}
		})
	}
}

func TestEvaluateInvalid(t *testing.T) {
	ok := agreement.Pair{TraceID: "a", Human: agreement.Answer{Value: "yes"}, Judge: agreement.Answer{Value: "no"}}
	tests := []struct {
		name  string
		pairs []agreement.Pair
		scale agreement.Scale
		opts  agreement.Options
		// input is true when the error must be an *InputError.
		input bool
		want  string
	}{
		{"unknown human label", []agreement.Pair{{TraceID: "x", Human: agreement.Answer{Value: "Yes"}, Judge: ok.Judge}},
			agreement.PassFailScale("yes", "no"), agreement.Options{}, true,
			`pair[0] trace[x]: human value "Yes" is not one of yes, no`},
		{"unknown judge label", []agreement.Pair{ok, {TraceID: "b", Human: ok.Human, Judge: agreement.Answer{Value: "maybe"}}},
			agreement.PassFailScale("yes", "no"), agreement.Options{}, true,
			`pair[1] trace[b]: judge value "maybe" is not one of yes, no`},
		{"label not a string", []agreement.Pair{{TraceID: "x", Human: agreement.Answer{Value: true}, Judge: ok.Judge}},
			agreement.PassFailScale("yes", "no"), agreement.Options{}, true, "human value true is not a label"},
		{"missing human", []agreement.Pair{{TraceID: "x", Judge: ok.Judge}},
			agreement.PassFailScale("yes", "no"), agreement.Options{}, true, "pair[0] trace[x]: human has no value"},
		{"not a number", []agreement.Pair{{TraceID: "x", Human: agreement.Answer{Value: "high"}, Judge: agreement.Answer{Value: 1}}},
			agreement.NumericScale(), agreement.Options{}, true, `human value "high" is not a number`},
		{"not finite", []agreement.Pair{{TraceID: "x", Human: agreement.Answer{Value: 1}, Judge: agreement.Answer{Value: math.NaN()}}},
			agreement.NumericScale(), agreement.Options{}, true, "judge value NaN is not a finite number"},
		{"duplicate trace", []agreement.Pair{ok, ok}, agreement.PassFailScale("yes", "no"), agreement.Options{}, true,
			"pair[1] trace[a]: trace listed twice (first at pair[0])"},
		{"ordinal without order", nil, agreement.OrdinalScale("good"), agreement.Options{}, false, "at least two labels"},
		{"duplicate label", nil, agreement.NominalScale("a", "a"), agreement.Options{}, false, `label "a" is listed twice`},
		{"fail not a label", nil, agreement.Scale{Kind: agreement.Nominal, Labels: []string{"a", "b"}, Fail: "c"},
			agreement.Options{}, false, `fail label "c" is not one of the labels [a, b]`},
		{"fail without labels", nil, agreement.Scale{Kind: agreement.Nominal, Fail: "no"},
			agreement.Options{}, false, `fail label "no" is not one of the labels []`},
		{"numeric with labels", nil, agreement.Scale{Kind: agreement.Numeric, Labels: []string{"1"}}, agreement.Options{}, false,
			"numeric scale has no labels"},
		{"unknown kind", nil, agreement.Scale{Kind: "interval"}, agreement.Options{}, false, `unknown kind "interval"`},
		{"weighted nominal", nil, agreement.NominalScale("a", "b"), agreement.Options{Weighting: agreement.Linear}, false,
			"linear kappa needs ordered values"},
		{"unknown weighting", nil, agreement.NumericScale(), agreement.Options{Weighting: "cubic"}, false,
			`unknown kappa weighting "cubic"`},
		{"bad level", nil, agreement.NumericScale(), agreement.Options{Level: 95}, false, "confidence level 95"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := agreement.Evaluate(tt.pairs, tt.scale, tt.opts)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			var ie *agreement.InputError
			if errors.As(err, &ie) != tt.input {
				t.Errorf("error %T is an *InputError: %v, want %v", err, !tt.input, tt.input)
			}
		})
	}
	_, err := agreement.Evaluate([]agreement.Pair{ok, ok}, agreement.PassFailScale("yes", "no"), agreement.Options{})
	if !errors.Is(err, agreement.ErrDuplicateTrace) {
		t.Errorf("duplicate trace error %v is not ErrDuplicateTrace", err)
	}
}
