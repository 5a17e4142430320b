package agreement

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// DefaultResamples is the number of bootstrap resamples when
// Options.Resamples is 0.
const DefaultResamples = 2000

// NoBootstrap, as Options.Resamples, skips the bootstrap: every interval is
// NaN.
const NoBootstrap = -1

// DefaultLevel is the confidence level of the intervals when Options.Level
// is 0.
const DefaultLevel = 0.95

// bootstrapStream is the second PCG seed word of the bootstrap, so that the
// same Options.Seed draws different numbers for resampling and for splits.
const bootstrapStream = 0x62_6f_6f_74 // "boot"

// Options configures how figures are computed. The zero value is ready to
// use: default kappa weighting, 2000 resamples, seed 0, 95% intervals.
type Options struct {
	// Weighting is the kappa weighting. Zero means Unweighted on a nominal
	// scale and Linear on ordinal and numeric ones; Linear and Quadratic
	// are refused on a nominal scale.
	Weighting Weighting `json:"weighting,omitempty"`
	// Resamples is the number of bootstrap resamples. Zero means
	// DefaultResamples; NoBootstrap (or any negative number) means none.
	Resamples int `json:"resamples,omitempty"`
	// Seed seeds the bootstrap's PCG generator: the same input, options and
	// seed give the same intervals.
	Seed uint64 `json:"seed,omitempty"`
	// Level is the confidence level of the intervals, in (0, 1). Zero means
	// DefaultLevel.
	Level float64 `json:"level,omitempty"`
}

// resolve returns the options with defaults filled in and the weighting for
// scale kind k.
func (o Options) resolve(k Kind) (Options, error) {
	w, err := o.Weighting.forScale(k)
	if err != nil {
		return o, fmt.Errorf("options: %w", err)
	}
	o.Weighting = w
	switch {
	case o.Resamples == 0:
		o.Resamples = DefaultResamples
	case o.Resamples < 0:
		o.Resamples = 0
	}
	if o.Level == 0 {
		o.Level = DefaultLevel
	}
	if !(o.Level > 0 && o.Level < 1) {
		return o, fmt.Errorf("options: confidence level %v is not between 0 and 1", o.Level)
	}
	return o, nil
}

// estimates holds, for each judge of a dataset, the point value of every
// series (headline figures, then per-class figures) and its bootstrap
// draws.
type estimates struct {
	m     *measurer
	point [][]float64   // [judge][series]
	notes [][]string    // [judge][headline figure]: why the point value is NaN
	draws [][][]float64 // [judge][series][resample]; nil without bootstrap
}

// estimate computes the point values, then draws opts.Resamples bootstrap
// resamples of the pairs and measures every judge on each, so that the
// judges of a comparison are measured on the same resamples.
func estimate(d *dataset, opts Options) *estimates {
	m := newMeasurer(d, opts.Weighting)
	e := &estimates{m: m}
	for _, judge := range d.judges {
		point := make([]float64, m.width)
		m.measure(judge, nil, point)
		notes := make([]string, len(m.figs))
		for k, f := range m.figs {
			notes[k] = m.why(f, point[k])
		}
		e.point = append(e.point, point)
		e.notes = append(e.notes, notes)
	}
	n := len(d.h)
	if opts.Resamples == 0 || n == 0 {
		return e
	}
	e.draws = make([][][]float64, len(d.judges))
	for j := range e.draws {
		e.draws[j] = make([][]float64, m.width)
		for s := range e.draws[j] {
			e.draws[j][s] = make([]float64, opts.Resamples)
		}
	}
	rng := rand.New(rand.NewPCG(opts.Seed, bootstrapStream))
	w := make([]int32, n)
	out := make([]float64, m.width)
	for r := range opts.Resamples {
		clear(w)
		for range n {
			w[rng.IntN(n)]++
		}
		for j, judge := range d.judges {
			m.measure(judge, w, out)
			for s, v := range out {
				e.draws[j][s][r] = v
			}
		}
	}
	return e
}

// errNoInterval explains an interval that could not be drawn.
var errNoInterval = errors.New("no resample gives a defined value")

// percentile returns the equal-tailed percentile interval at level of the
// defined (non-NaN) draws, with the quantiles interpolated linearly between
// order statistics (Hyndman and Fan's type 7, R's default), and how many
// draws were undefined. buf is scratch space.
func percentile(draws []float64, level float64, buf []float64) (low, high float64, undefined int, err error) {
	buf = buf[:0]
	for _, v := range draws {
		if math.IsNaN(v) {
			undefined++
			continue
		}
		buf = append(buf, v)
	}
	if len(buf) == 0 {
		return math.NaN(), math.NaN(), undefined, errNoInterval
	}
	slices.Sort(buf)
	alpha := (1 - level) / 2
	return quantile(buf, alpha), quantile(buf, 1-alpha), undefined, nil
}

// quantile returns the p-quantile of sorted, type 7.
func quantile(sorted []float64, p float64) float64 {
	h := p * float64(len(sorted)-1)
	lo := int(math.Floor(h))
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (h-float64(lo))*(sorted[lo+1]-sorted[lo])
}

// interval returns the estimate of a series with point value point and
// draws, and a note when some or all resamples are undefined.
func interval(point float64, draws []float64, level float64, buf []float64) (Estimate, string) {
	e := Estimate{Value: point, Low: math.NaN(), High: math.NaN()}
	if draws == nil || math.IsNaN(point) {
		return e, ""
	}
	low, high, undefined, err := percentile(draws, level, buf)
	if err != nil {
		return e, fmt.Sprintf("no interval: the figure is undefined in all %d resamples", len(draws))
	}
	e.Low, e.High = low, high
	if undefined > 0 {
		return e, fmt.Sprintf("interval from the %d of %d resamples in which the figure is defined",
			len(draws)-undefined, len(draws))
	}
	return e, ""
}
