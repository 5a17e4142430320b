package agreement

import (
	"fmt"
	"math"
)

// Estimate is a figure with its bootstrap confidence interval. Any of the
// three may be NaN: Value when the figure is undefined on the data, Low and
// High when there was no bootstrap or no resample gave a defined value. In
// JSON a NaN is null.
type Estimate struct {
	Value float64 `json:"value"`
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
}

// Metric is one headline figure of a report.
type Metric struct {
	Figure Figure `json:"figure"`
	Estimate
	// Note says why Value or the interval is undefined or partial; empty
	// when both are complete.
	Note string `json:"note,omitempty"`
}

// Class holds the figures of one label, the judge's answers being the
// predictions and the human's the truth.
type Class struct {
	Label string `json:"label"`
	// Support is the number of answered pairs the human put in this class;
	// Predicted the number the judge put in it.
	Support   int `json:"support"`
	Predicted int `json:"predicted"`
	// Precision is the share of the judge's answers of this class that the
	// human agrees with (NaN when Predicted is 0); Recall the share of the
	// human's that the judge agrees with (NaN when Support is 0); F1 their
	// harmonic mean, 2TP/(Support+Predicted), 0 when both are 0 but the
	// class occurs.
	Precision Estimate `json:"precision"`
	Recall    Estimate `json:"recall"`
	F1        Estimate `json:"f1"`
}

// Matrix is a confusion matrix: Counts[h][j] is the number of pairs the
// human labelled Labels[h] and the judge Labels[j]. Errors[h] is the number
// of pairs the human labelled Labels[h] on which the judge gave no value.
type Matrix struct {
	Labels []string `json:"labels"`
	Counts [][]int  `json:"counts"`
	Errors []int    `json:"errors"`
}

// Report is the agreement of one judge with the humans on a set of pairs.
type Report struct {
	// Scale is the scale the values were compared on.
	Scale Scale `json:"scale"`
	// Weighting is the kappa weighting used.
	Weighting Weighting `json:"weighting"`
	// Pairs is the number of pairs given, Answered the number with a judge
	// value and Errors the number without; the figures are computed on the
	// answered pairs.
	Pairs    int `json:"pairs"`
	Answered int `json:"answered"`
	Errors   int `json:"errors"`
	// ErrorTraceIDs lists the traces the judge gave no value for.
	ErrorTraceIDs []string `json:"error_trace_ids,omitempty"`
	// Figures holds the headline figures, in the order of the Figure
	// constants.
	Figures []Metric `json:"figures"`
	// Classes holds the per-class figures in label order, and Confusion the
	// confusion matrix; both are absent for a scale with more than
	// MaxInferredLabels undeclared values.
	Classes   []Class `json:"classes,omitempty"`
	Confusion *Matrix `json:"confusion,omitempty"`
	// Resamples, Seed and Level describe the bootstrap behind the
	// intervals; Resamples is 0 when there was none.
	Resamples int     `json:"resamples"`
	Seed      uint64  `json:"seed"`
	Level     float64 `json:"level"`
	// Notes says what the figures leave out and why.
	Notes []string `json:"notes,omitempty"`
}

// Figure returns the estimate of headline figure f, and false when the
// report does not have it.
func (r *Report) Figure(f Figure) (Estimate, bool) {
	for _, m := range r.Figures {
		if m.Figure == f {
			return m.Estimate, true
		}
	}
	return Estimate{Value: math.NaN(), Low: math.NaN(), High: math.NaN()}, false
}

// Evaluate measures how well a judge agrees with the humans on pairs.
//
// Every human value must be on the scale; a judge value must be on it or be
// missing (Answer.Missing), and missing ones are counted in Errors and left
// out of the figures. Trace IDs must be unique. Invalid input is reported
// as an *InputError. Degenerate data (no answered pair, one class only, no
// variation) gives NaN figures with a Note saying why, never an error.
func Evaluate(pairs []Pair, scale Scale, opts Options) (*Report, error) {
	if err := scale.Validate(); err != nil {
		return nil, err
	}
	opts, err := opts.resolve(scale.Kind)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(pairs))
	human := make([]Answer, len(pairs))
	judge := make([]Answer, len(pairs))
	for i, p := range pairs {
		ids[i], human[i], judge[i] = p.TraceID, p.Human, p.Judge
	}
	d, err := encode(scale, ids, human, [][]Answer{judge}, []string{"judge"})
	if err != nil {
		return nil, err
	}
	return estimate(d, opts).report(d, 0, scale, opts), nil
}

// report builds the report of judge j.
func (e *estimates) report(d *dataset, j int, scale Scale, opts Options) *Report {
	m, sp, judge := e.m, d.sp, d.judges[j]
	r := &Report{
		Scale:     scale,
		Weighting: opts.Weighting,
		Pairs:     len(d.h),
		Errors:    d.errs[j],
		Resamples: opts.Resamples,
		Seed:      opts.Seed,
		Level:     opts.Level,
	}
	r.Answered = r.Pairs - r.Errors
	if e.draws == nil {
		r.Resamples = 0 // no bootstrap, or no pair to resample
	}
	for i, c := range judge {
		if c < 0 {
			r.ErrorTraceIDs = append(r.ErrorTraceIDs, d.ids[i])
		}
	}
	buf := make([]float64, 0, r.Resamples)
	series := func(s int) []float64 {
		if e.draws == nil {
			return nil
		}
		return e.draws[j][s]
	}
	for k, f := range m.figs {
		est, note := interval(e.point[j][k], series(k), opts.Level, buf)
		if e.notes[j][k] != "" {
			note = e.notes[j][k]
		}
		r.Figures = append(r.Figures, Metric{Figure: f, Estimate: est, Note: note})
	}
	if r.Errors > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf(
			"the judge gave no value for %d of %d pairs; the figures are computed on the other %d",
			r.Errors, r.Pairs, r.Answered))
	}
	if !sp.classes {
		r.Notes = append(r.Notes, fmt.Sprintf(
			"per-class figures and the confusion matrix are left out: %d distinct values (more than %d)",
			len(sp.labels), MaxInferredLabels))
		return r
	}
	k := len(sp.labels)
	mat := &Matrix{Labels: sp.labels, Counts: make([][]int, k), Errors: make([]int, k)}
	for h := range mat.Counts {
		mat.Counts[h] = make([]int, k)
	}
	for i, h := range d.h {
		if c := judge[i]; c >= 0 {
			mat.Counts[h][c]++
		} else {
			mat.Errors[h]++
		}
	}
	r.Confusion = mat
	base := len(m.figs)
	for c, label := range sp.labels {
		cl := Class{Label: label}
		for h := range k {
			cl.Support += mat.Counts[c][h]
			cl.Predicted += mat.Counts[h][c]
		}
		cl.Precision, _ = interval(e.point[j][base+3*c], series(base+3*c), opts.Level, buf)
		cl.Recall, _ = interval(e.point[j][base+3*c+1], series(base+3*c+1), opts.Level, buf)
		cl.F1, _ = interval(e.point[j][base+3*c+2], series(base+3*c+2), opts.Level, buf)
		r.Classes = append(r.Classes, cl)
	}
	return r
}
