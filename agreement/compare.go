package agreement

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Comparison sets two judges side by side on the same pairs: A, the
// reference (the base judge), and B, the candidate (the aligned judge).
type Comparison struct {
	A *Report `json:"a"`
	B *Report `json:"b"`
	// Deltas holds, for each headline figure, B minus A with a paired
	// bootstrap interval: both judges are measured on the same resamples
	// and the interval is that of the differences.
	Deltas []Delta `json:"deltas"`
	// McNemar tests whether the two accuracies differ.
	McNemar McNemar `json:"mcnemar"`
	// Disagreements lists the pairs on which at least one judge disagrees
	// with the human or gave no value; see Disagreement for the order.
	Disagreements []Disagreement `json:"disagreements"`
	// Notes says what the comparison leaves out and why.
	Notes []string `json:"notes,omitempty"`
}

// Delta is the change of one headline figure from judge A to judge B.
type Delta struct {
	Figure Figure   `json:"figure"`
	A      Estimate `json:"a"`
	B      Estimate `json:"b"`
	// Diff is B minus A, with the percentile interval of the paired
	// bootstrap differences.
	Diff Estimate `json:"diff"`
	// Note says why Diff or its interval is undefined or partial.
	Note string `json:"note,omitempty"`
}

// Gain returns Diff.Value signed so that a positive gain means B agrees
// better with the humans than A (it negates MAE and FalseFailureRate).
func (d Delta) Gain() float64 {
	if d.Figure.HigherIsBetter() {
		return d.Diff.Value
	}
	return -d.Diff.Value
}

// Delta returns the delta of figure f, and false when the comparison does
// not have it.
func (c *Comparison) Delta(f Figure) (Delta, bool) {
	for _, d := range c.Deltas {
		if d.Figure == f {
			return d, true
		}
	}
	return Delta{}, false
}

// Outcome classifies a disagreement by which judges agree with the human.
type Outcome string

// The outcomes, in the order disagreements are listed.
const (
	// Regressed: A agrees with the human, B does not.
	Regressed Outcome = "regressed"
	// Unresolved: neither judge agrees with the human.
	Unresolved Outcome = "unresolved"
	// Fixed: B agrees with the human, A does not.
	Fixed Outcome = "fixed"
)

// Disagreement is a pair on which at least one judge does not agree with
// the human (a judge that gave no value does not agree).
//
// Disagreements are listed with the cases B still gets wrong first:
// Regressed (what alignment broke), then Unresolved, then Fixed. Within an
// outcome, the pairs on which B is furthest from the human come first (no
// value counts as furthest; on a nominal scale every disagreement is one
// step), then those on which A is furthest, then by trace ID.
type Disagreement struct {
	TraceID string  `json:"trace_id"`
	Outcome Outcome `json:"outcome"`
	Human   Answer  `json:"human"`
	A       Answer  `json:"a"`
	B       Answer  `json:"b"`
}

// Compare measures judges A and B against the humans on cases and compares
// them. Input rules and degenerate data are as for Evaluate.
//
// Both judges are measured on the same bootstrap resamples, the ones
// Evaluate draws for the same number of pairs and options, so each report's
// figures and intervals are what Evaluate gives for that judge alone. When
// the labels are not declared (numeric scales, nominal scales without
// Labels), the confusion matrices and classes of both reports span the
// values of both judges, so that they line up side by side (and are left
// out when together they exceed MaxInferredLabels).
func Compare(cases []Case, scale Scale, opts Options) (*Comparison, error) {
	if err := scale.Validate(); err != nil {
		return nil, err
	}
	opts, err := opts.resolve(scale.Kind)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(cases))
	human := make([]Answer, len(cases))
	a := make([]Answer, len(cases))
	b := make([]Answer, len(cases))
	for i, c := range cases {
		ids[i], human[i], a[i], b[i] = c.TraceID, c.Human, c.A, c.B
	}
	d, err := encode(scale, ids, human, [][]Answer{a, b}, []string{"judge a", "judge b"})
	if err != nil {
		return nil, err
	}
	e := estimate(d, opts)
	c := &Comparison{
		A:       e.report(d, 0, scale, opts),
		B:       e.report(d, 1, scale, opts),
		McNemar: mcnemar(d.h, d.judges[0], d.judges[1]),
	}
	buf := make([]float64, 0, opts.Resamples)
	var diffs []float64
	if e.draws != nil {
		diffs = make([]float64, opts.Resamples)
	}
	for k, f := range e.m.figs {
		delta := Delta{Figure: f, A: c.A.Figures[k].Estimate, B: c.B.Figures[k].Estimate}
		point := delta.B.Value - delta.A.Value
		if diffs != nil {
			for r := range diffs {
				diffs[r] = e.draws[1][k][r] - e.draws[0][k][r]
			}
		}
		delta.Diff, delta.Note = interval(point, diffs, opts.Level, buf)
		if math.IsNaN(point) {
			delta.Note = "undefined: the figure is undefined for at least one judge"
		}
		c.Deltas = append(c.Deltas, delta)
	}
	if skipped := len(cases) - c.McNemar.Pairs; skipped > 0 {
		c.Notes = append(c.Notes, fmt.Sprintf(
			"McNemar counts the %d pairs both judges answered; %d pairs lack a value from at least one judge",
			c.McNemar.Pairs, skipped))
	}
	c.Disagreements = disagreements(d, cases)
	return c, nil
}

// disagreements lists and orders the pairs on which a judge disagrees.
func disagreements(d *dataset, cases []Case) []Disagreement {
	pos := d.sp.pos
	distance := func(h, j int32) float64 {
		switch {
		case j < 0:
			return math.Inf(1)
		case d.sp.scale.Kind == Nominal && h != j:
			return 1
		}
		return math.Abs(pos[h] - pos[j])
	}
	type ranked struct {
		Disagreement
		distA, distB float64
	}
	var list []ranked
	for i, h := range d.h {
		a, b := d.judges[0][i], d.judges[1][i]
		aRight, bRight := a == h, b == h
		if aRight && bRight {
			continue
		}
		r := ranked{
			Disagreement: Disagreement{
				TraceID: cases[i].TraceID,
				Human:   cases[i].Human,
				A:       cases[i].A,
				B:       cases[i].B,
			},
			distA: distance(h, a),
			distB: distance(h, b),
		}
		switch {
		case aRight:
			r.Outcome = Regressed
		case bRight:
			r.Outcome = Fixed
		default:
			r.Outcome = Unresolved
		}
		list = append(list, r)
	}
	order := map[Outcome]int{Regressed: 0, Unresolved: 1, Fixed: 2}
	slices.SortFunc(list, func(x, y ranked) int {
		return cmp.Or(
			cmp.Compare(order[x.Outcome], order[y.Outcome]),
			cmp.Compare(y.distB, x.distB),
			cmp.Compare(y.distA, x.distA),
			cmp.Compare(x.TraceID, y.TraceID),
		)
	})
	out := make([]Disagreement, len(list))
	for i, r := range list {
		out[i] = r.Disagreement
	}
	return out
}
