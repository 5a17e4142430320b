package agreement

import (
	"fmt"
	"math"
	"slices"
)

// Figure names a headline figure of a report.
type Figure string

// The headline figures, in the order reports list them. Every report has
// Accuracy and Kappa; MacroF1 when it has per-class figures; FailRecall and
// FalseFailureRate when the scale has a fail label; MAE, Spearman and CCC on
// a numeric scale.
const (
	// Accuracy is the share of pairs on which judge and human give exactly
	// the same value.
	Accuracy Figure = "accuracy"
	// Kappa is Cohen's kappa with the report's weighting.
	Kappa Figure = "kappa"
	// MacroF1 is the unweighted mean of the per-class F1 scores.
	MacroF1 Figure = "macro_f1"
	// FailRecall is the share of human fails the judge also fails: how many
	// defects the judge catches.
	FailRecall Figure = "fail_recall"
	// FalseFailureRate is the share of human passes the judge fails: how
	// often it raises a false alarm. Lower is better.
	FalseFailureRate Figure = "false_failure_rate"
	// MAE is the mean absolute difference between judge and human values.
	// Lower is better.
	MAE Figure = "mae"
	// Spearman is Spearman's rank correlation, with tied values given their
	// average rank.
	Spearman Figure = "spearman"
	// CCC is Lin's concordance correlation coefficient.
	CCC Figure = "ccc"
)

// HigherIsBetter reports whether a larger value of the figure means a judge
// that agrees better with the humans. It is false for MAE and
// FalseFailureRate.
func (f Figure) HigherIsBetter() bool {
	return f != MAE && f != FalseFailureRate
}

// rank orders figures as reports list them.
func (f Figure) rank() int {
	switch f {
	case Accuracy:
		return 0
	case Kappa:
		return 1
	case MacroF1:
		return 2
	case FailRecall:
		return 3
	case FalseFailureRate:
		return 4
	case MAE:
		return 5
	case Spearman:
		return 6
	case CCC:
		return 7
	}
	return 8
}

// figuresFor lists the headline figures of a report on sp.
func figuresFor(sp *space) []Figure {
	figs := []Figure{Accuracy, Kappa}
	if sp.classes {
		figs = append(figs, MacroF1)
	}
	if sp.fail >= 0 {
		figs = append(figs, FailRecall, FalseFailureRate)
	}
	if sp.scale.Kind == Numeric {
		figs = append(figs, MAE, Spearman, CCC)
	}
	return figs
}

// tally holds the weighted counts every figure is computed from.
type tally struct {
	n      float64   // pairs with a judge value
	agree  float64   // pairs on which judge and human agree exactly
	dis    float64   // sum of kappa disagreement weights over the pairs
	absErr float64   // sum of |human - judge| positions
	ph, pj []float64 // human and judge counts per category
	tp     []float64 // agreements per category
}

func newTally(k int) *tally {
	return &tally{ph: make([]float64, k), pj: make([]float64, k), tp: make([]float64, k)}
}

func (t *tally) reset() {
	t.n, t.agree, t.dis, t.absErr = 0, 0, 0, 0
	clear(t.ph)
	clear(t.pj)
	clear(t.tp)
}

// weight is the kappa disagreement weight of two values d apart.
func weight(w Weighting, d float64) float64 {
	switch w {
	case Linear:
		return math.Abs(d)
	case Quadratic:
		return d * d
	}
	if d != 0 {
		return 1
	}
	return 0
}

// kappa returns 1 - Do/De, where Do is the observed mean disagreement weight
// and De the one expected if judge and human chose independently with their
// observed frequencies; NaN when De is 0 (both gave one and the same value
// throughout). pos must be increasing.
func kappa(t *tally, pos []float64, w Weighting) float64 {
	if t.n == 0 {
		return math.NaN()
	}
	observed := t.dis / t.n
	var expected float64
	switch w {
	case Linear:
		// E|X-Y| for independent X and Y with distribution functions F and
		// G is the integral of F(1-G) + G(1-F), which is constant between
		// consecutive positions.
		var f, g float64
		for k := 0; k+1 < len(pos); k++ {
			f += t.ph[k] / t.n
			g += t.pj[k] / t.n
			expected += (pos[k+1] - pos[k]) * (f*(1-g) + g*(1-f))
		}
	case Quadratic:
		// E(X-Y)² = Var X + Var Y + (E X - E Y)².
		mx, vx := moments(t.ph, pos, t.n)
		my, vy := moments(t.pj, pos, t.n)
		expected = vx + vy + (mx-my)*(mx-my)
	default:
		chance := 0.0
		for k := range t.ph {
			chance += (t.ph[k] / t.n) * (t.pj[k] / t.n)
		}
		expected = 1 - chance
	}
	if expected <= 0 {
		return math.NaN()
	}
	return 1 - observed/expected
}

// moments returns the mean and population variance of the distribution that
// puts count[k] at pos[k], with n the total count.
func moments(count, pos []float64, n float64) (mean, variance float64) {
	for k, c := range count {
		mean += c / n * pos[k]
	}
	for k, c := range count {
		d := pos[k] - mean
		variance += c / n * d * d
	}
	return mean, variance
}

// ratio returns a/b, NaN when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// measurer computes every figure of one judge for one weighting of the
// pairs. It reuses its buffers and is not safe for concurrent use.
type measurer struct {
	d         *dataset
	weighting Weighting
	figs      []Figure
	width     int // len(figs) + 3 per class when the space has classes
	t         *tally
	rh, rj    []float64 // average rank of each category, human and judge
}

func newMeasurer(d *dataset, weighting Weighting) *measurer {
	k := len(d.sp.labels)
	m := &measurer{d: d, weighting: weighting, figs: figuresFor(d.sp), t: newTally(k)}
	m.width = len(m.figs)
	if d.sp.classes {
		m.width += 3 * k
	}
	if d.sp.scale.Kind == Numeric {
		m.rh, m.rj = make([]float64, k), make([]float64, k)
	}
	return m
}

// measure writes the figures of judge to out (length m.width): the headline
// figures in m.figs order, then precision, recall and F1 of each class. Pair
// i counts w[i] times; a nil w counts every pair once.
func (m *measurer) measure(judge []int32, w []int32, out []float64) {
	t, pos := m.t, m.d.sp.pos
	t.reset()
	for i, h := range m.d.h {
		j := judge[i]
		wi, counted := pairWeight(j, w, i)
		if !counted {
			continue
		}
		t.n += wi
		t.ph[h] += wi
		t.pj[j] += wi
		if h == j {
			t.agree += wi
			t.tp[h] += wi
		}
		dp := pos[h] - pos[j]
		t.dis += wi * weight(m.weighting, dp)
		t.absErr += wi * math.Abs(dp)
	}
	var spearman, ccc float64
	if m.d.sp.scale.Kind == Numeric {
		spearman, ccc = m.correlations(judge, w)
	}
	for k, f := range m.figs {
		var v float64
		switch f {
		case Accuracy:
			v = ratio(t.agree, t.n)
		case Kappa:
			v = kappa(t, pos, m.weighting)
		case MacroF1:
			v = macroF1(t)
		case FailRecall:
			v = ratio(t.tp[m.d.sp.fail], t.ph[m.d.sp.fail])
		case FalseFailureRate:
			fail := m.d.sp.fail
			v = ratio(t.pj[fail]-t.tp[fail], t.n-t.ph[fail])
		case MAE:
			v = ratio(t.absErr, t.n)
		case Spearman:
			v = spearman
		case CCC:
			v = ccc
		}
		out[k] = v
	}
	if m.d.sp.classes {
		c := out[len(m.figs):]
		for k := range t.ph {
			c[3*k] = ratio(t.tp[k], t.pj[k])
			c[3*k+1] = ratio(t.tp[k], t.ph[k])
			c[3*k+2] = ratio(2*t.tp[k], t.ph[k]+t.pj[k])
		}
	}
}

// macroF1 is the mean F1 over the classes that occur in the human or the
// judge values; F1 = 2TP / (2TP + FP + FN).
func macroF1(t *tally) float64 {
	sum, n := 0.0, 0
	for k := range t.ph {
		if t.ph[k]+t.pj[k] > 0 {
			sum += 2 * t.tp[k] / (t.ph[k] + t.pj[k])
			n++
		}
	}
	return ratio(sum, float64(n))
}

// correlations returns Spearman's rho and Lin's CCC of the numeric pairs
// tallied in m.t. Ranks come from the category counts, so a resample needs
// no sorting: the items of category k occupy ranks c+1 … c+count[k], where
// c counts the items below, and share their average.
func (m *measurer) correlations(judge []int32, w []int32) (spearman, ccc float64) {
	t, pos := m.t, m.d.sp.pos
	if t.n == 0 {
		return math.NaN(), math.NaN()
	}
	averageRanks(t.ph, m.rh)
	averageRanks(t.pj, m.rj)
	meanRank := (t.n + 1) / 2
	mx, vx := moments(t.ph, pos, t.n)
	my, vy := moments(t.pj, pos, t.n)
	var rxx, ryy float64
	for k := range t.ph {
		rxx += t.ph[k] * (m.rh[k] - meanRank) * (m.rh[k] - meanRank)
		ryy += t.pj[k] * (m.rj[k] - meanRank) * (m.rj[k] - meanRank)
	}
	var rxy, sxy float64
	for i, h := range m.d.h {
		j := judge[i]
		wi, counted := pairWeight(j, w, i)
		if !counted {
			continue
		}
		rxy += wi * (m.rh[h] - meanRank) * (m.rj[j] - meanRank)
		sxy += wi * (pos[h] - mx) * (pos[j] - my)
	}
	spearman = math.NaN()
	if rxx > 0 && ryy > 0 {
		spearman = clamp(rxy / math.Sqrt(rxx*ryy))
	}
	ccc = clamp(ratio(2*sxy/t.n, vx+vy+(mx-my)*(mx-my)))
	return spearman, ccc
}

// averageRanks writes to rank the average rank of each category, given the
// count of items in each, in increasing order.
func averageRanks(count, rank []float64) {
	below := 0.0
	for k, c := range count {
		rank[k] = below + (c+1)/2
		below += c
	}
}

// clamp bounds a correlation to [-1, 1] against rounding.
func clamp(r float64) float64 {
	return math.Max(-1, math.Min(1, r))
}

// why explains a NaN point estimate of figure f from the tally of the
// point estimate; it returns "" when f is defined.
func (m *measurer) why(f Figure, value float64) string {
	if !math.IsNaN(value) {
		return ""
	}
	t, sp := m.t, m.d.sp
	if t.n == 0 {
		return "undefined: no pair has a judge value"
	}
	distinct := func(count []float64) int {
		n := 0
		for _, c := range count {
			if c > 0 {
				n++
			}
		}
		return n
	}
	switch f {
	case Kappa:
		return "undefined: human and judge gave one and the same value to every pair, so chance agreement is certain"
	case FailRecall:
		return fmt.Sprintf("undefined: no human label is %q", sp.scale.Fail)
	case FalseFailureRate:
		return fmt.Sprintf("undefined: every human label is %q", sp.scale.Fail)
	case Spearman:
		switch {
		case distinct(t.ph) < 2:
			return "undefined: the human values are all equal"
		case distinct(t.pj) < 2:
			return "undefined: the judge values are all equal"
		}
	case CCC:
		return "undefined: human and judge gave one and the same value to every pair"
	}
	return "undefined"
}

// CohenKappa returns Cohen's kappa of a square confusion matrix, counts[h][j]
// being the number of items the first rater put in category h and the second
// in category j. Categories are ordered and one step apart, so Linear and
// Quadratic weightings use their index distance; the zero Weighting means
// Unweighted. It returns NaN for a matrix that is empty, not square, holds a
// negative count, or in which both raters used one and the same category
// throughout.
func CohenKappa(counts [][]int, w Weighting) float64 {
	k := len(counts)
	if w == "" {
		w = Unweighted
	}
	t := newTally(k)
	pos := make([]float64, k)
	for h, row := range counts {
		pos[h] = float64(h)
		if len(row) != k {
			return math.NaN()
		}
		for j, c := range row {
			if c < 0 {
				return math.NaN()
			}
			n := float64(c)
			t.n += n
			t.ph[h] += n
			t.pj[j] += n
			t.dis += n * weight(w, float64(h-j))
		}
	}
	return kappa(t, pos, w)
}

// SpearmanRho returns Spearman's rank correlation of x and y: the Pearson
// correlation of their ranks, tied values sharing their average rank. It
// returns NaN when the lengths differ, x is empty, any value is not finite,
// or either side has no variation.
func SpearmanRho(x, y []float64) float64 {
	d, ok := numericPairs(x, y)
	if !ok {
		return math.NaN()
	}
	m := newMeasurer(d, Linear)
	m.measure(d.judges[0], nil, make([]float64, m.width))
	rho, _ := m.correlations(d.judges[0], nil)
	return rho
}

// ConcordanceCorrelation returns Lin's concordance correlation coefficient
// of x and y, 2·cov(x,y) / (var x + var y + (mean x - mean y)²) with
// population (1/n) moments, as in Lin (1989). It is 1 only when y = x for
// every pair, and it falls with both scatter and bias. It returns NaN when
// the lengths differ, x is empty, any value is not finite, or x and y are
// one and the same constant.
func ConcordanceCorrelation(x, y []float64) float64 {
	d, ok := numericPairs(x, y)
	if !ok {
		return math.NaN()
	}
	m := newMeasurer(d, Linear)
	m.measure(d.judges[0], nil, make([]float64, m.width))
	_, ccc := m.correlations(d.judges[0], nil)
	return ccc
}

// numericPairs encodes x (as the human) and y (as a judge) on a numeric
// space.
func numericPairs(x, y []float64) (*dataset, bool) {
	if len(x) != len(y) || len(x) == 0 {
		return nil, false
	}
	for _, v := range slices.Concat(x, y) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, false
		}
	}
	values := make([]any, 0, 2*len(x))
	for _, v := range slices.Concat(x, y) {
		values = append(values, v)
	}
	sp := newSpace(NumericScale(), values)
	d := &dataset{sp: sp, h: make([]int32, len(x)), judges: [][]int32{make([]int32, len(y))}}
	for i := range x {
		d.h[i] = int32(sp.byNumber[x[i]])
		d.judges[0][i] = int32(sp.byNumber[y[i]])
	}
	return d, true
}

// pairWeight is how many times pair i counts in a resample: w[i], or once
// when w is nil. A pair the judge did not answer (j < 0) or that the
// resample left out does not count.
func pairWeight(j int32, w []int32, i int) (float64, bool) {
	if j < 0 {
		return 0, false
	}
	if w == nil {
		return 1, true
	}
	if w[i] == 0 {
		return 0, false
	}
	return float64(w[i]), true
}
