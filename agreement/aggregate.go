package agreement

import (
	"cmp"
	"math"
	"slices"
)

// Summary is the spread of one figure over the folds of a cross-validation.
type Summary struct {
	Figure Figure `json:"figure"`
	// Folds is the number of folds in which the figure is defined; the
	// others are left out of Mean and SD.
	Folds int `json:"folds"`
	// Mean is the mean over those folds, NaN when there are none.
	Mean float64 `json:"mean"`
	// SD is the sample standard deviation (n-1 denominator) over those
	// folds, NaN with fewer than two.
	SD float64 `json:"sd"`
}

// Aggregate summarises each headline figure over reports, one per fold, in
// the order of the Figure constants. Nil reports are skipped.
func Aggregate(reports []*Report) []Summary {
	values := make(map[Figure][]float64)
	for _, r := range reports {
		if r == nil {
			continue
		}
		for _, m := range r.Figures {
			values[m.Figure] = append(values[m.Figure], m.Value)
		}
	}
	return summarise(values)
}

// ComparisonSummary summarises comparisons over the folds of a
// cross-validation.
type ComparisonSummary struct {
	// Folds is the number of comparisons summarised.
	Folds int `json:"folds"`
	// A and B summarise each judge's figures and Diff the deltas (B - A).
	A    []Summary `json:"a"`
	B    []Summary `json:"b"`
	Diff []Summary `json:"diff"`
	// McNemar pools the folds: its counts are the sums over the folds and
	// its p-value is the exact test on the pooled discordant pairs. Test
	// folds are disjoint, so each trace counts once.
	McNemar McNemar `json:"mcnemar"`
}

// AggregateComparisons summarises comparisons, one per fold. Nil
// comparisons are skipped.
func AggregateComparisons(cs []*Comparison) ComparisonSummary {
	var s ComparisonSummary
	var as, bs []*Report
	diffs := make(map[Figure][]float64)
	for _, c := range cs {
		if c == nil {
			continue
		}
		s.Folds++
		as, bs = append(as, c.A), append(bs, c.B)
		for _, d := range c.Deltas {
			diffs[d.Figure] = append(diffs[d.Figure], d.Diff.Value)
		}
		s.McNemar.Pairs += c.McNemar.Pairs
		s.McNemar.BothRight += c.McNemar.BothRight
		s.McNemar.OnlyA += c.McNemar.OnlyA
		s.McNemar.OnlyB += c.McNemar.OnlyB
		s.McNemar.BothWrong += c.McNemar.BothWrong
	}
	s.McNemar.PValue = McNemarExact(s.McNemar.OnlyA, s.McNemar.OnlyB)
	s.A, s.B, s.Diff = Aggregate(as), Aggregate(bs), summarise(diffs)
	return s
}

// summarise computes the summary of each figure's values, NaN values
// excluded.
func summarise(values map[Figure][]float64) []Summary {
	out := make([]Summary, 0, len(values))
	for f, vs := range values {
		s := Summary{Figure: f, Mean: math.NaN(), SD: math.NaN()}
		var sum float64
		for _, v := range vs {
			if !math.IsNaN(v) {
				sum += v
				s.Folds++
			}
		}
		if s.Folds > 0 {
			s.Mean = sum / float64(s.Folds)
		}
		if s.Folds > 1 {
			var ss float64
			for _, v := range vs {
				if !math.IsNaN(v) {
					ss += (v - s.Mean) * (v - s.Mean)
				}
			}
			s.SD = math.Sqrt(ss / float64(s.Folds-1))
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y Summary) int {
		return cmp.Or(cmp.Compare(x.Figure.rank(), y.Figure.rank()), cmp.Compare(x.Figure, y.Figure))
	})
	return out
}
