package agreement

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Kind is the level of measurement of the values being compared. It decides
// which figures a report holds and how far apart two values are.
type Kind string

// The kinds of scale.
const (
	// Nominal values are unordered labels: any two different labels are
	// equally far apart. Boolean and unordered categorical judges.
	Nominal Kind = "nominal"
	// Ordinal values are labels in a meaningful order (excellent, good,
	// fair, poor); two labels are as far apart as their positions in
	// Scale.Labels.
	Ordinal Kind = "ordinal"
	// Numeric values are numbers (integer and float judges); two values are
	// as far apart as their difference.
	Numeric Kind = "numeric"
)

// MaxInferredLabels is the largest number of distinct values for which a
// report holds per-class figures and a confusion matrix when the labels are
// not declared: a numeric scale, or a nominal scale without Labels. A
// 0-10 or 1-20 integer scale gets them; a float score or free text does not.
const MaxInferredLabels = 20

// Scale describes the values a judge and the humans give. Build one with
// [NominalScale], [OrdinalScale], [PassFailScale] or [NumericScale].
type Scale struct {
	// Kind is the level of measurement.
	Kind Kind `json:"kind"`
	// Labels lists every value of a nominal or ordinal scale. For an ordinal
	// scale the order is the order of the values (best to worst or worst to
	// best; only the order matters) and is required. For a nominal scale it
	// is the display order of the confusion matrix and the classes; when
	// empty, the labels are the values found in the data, sorted. A numeric
	// scale has no labels.
	Labels []string `json:"labels,omitempty"`
	// Fail is the label that means "fail" when the judge is used as a defect
	// detector, usually "no" for a yes/no judge. When set, reports add the
	// recall on the human fail class and the false-failure rate. It must be
	// one of Labels; a numeric scale has none.
	Fail string `json:"fail,omitempty"`
}

// NominalScale returns a scale of unordered labels, in display order. With no
// labels, the values found in the data are used.
func NominalScale(labels ...string) Scale {
	return Scale{Kind: Nominal, Labels: labels}
}

// OrdinalScale returns a scale of ordered labels, such as
// OrdinalScale("excellent", "good", "fair", "poor").
func OrdinalScale(labels ...string) Scale {
	return Scale{Kind: Ordinal, Labels: labels}
}

// PassFailScale returns the nominal scale of a two-valued judge whose fail
// value is fail, such as PassFailScale("yes", "no") for a boolean judge.
func PassFailScale(pass, fail string) Scale {
	return Scale{Kind: Nominal, Labels: []string{pass, fail}, Fail: fail}
}

// NumericScale returns the scale of integer and float judges.
func NumericScale() Scale {
	return Scale{Kind: Numeric}
}

// Validate reports whether the scale is well formed.
func (s Scale) Validate() error {
	switch s.Kind {
	case Nominal, Ordinal:
	case Numeric:
		if len(s.Labels) > 0 {
			return errors.New("scale: a numeric scale has no labels")
		}
		if s.Fail != "" {
			return errors.New("scale: a numeric scale has no fail label")
		}
		return nil
	default:
		return fmt.Errorf("scale: unknown kind %q (want %s, %s or %s)", s.Kind, Nominal, Ordinal, Numeric)
	}
	if s.Kind == Ordinal && len(s.Labels) < 2 {
		return errors.New("scale: an ordinal scale needs at least two labels, in order")
	}
	seen := make(map[string]bool, len(s.Labels))
	for _, l := range s.Labels {
		if seen[l] {
			return fmt.Errorf("scale: label %q is listed twice", l)
		}
		seen[l] = true
	}
	if s.Fail != "" && !seen[s.Fail] {
		return fmt.Errorf("scale: fail label %q is not one of the labels [%s]", s.Fail, strings.Join(s.Labels, ", "))
	}
	return nil
}

// Weighting says how much a disagreement counts in Cohen's kappa, by the
// distance d between the two values' positions.
type Weighting string

// The kappa weightings. The zero value means the default for the scale:
// Unweighted for nominal, Linear for ordinal and numeric.
const (
	// Unweighted counts every disagreement the same (Cohen 1960).
	Unweighted Weighting = "unweighted"
	// Linear counts a disagreement in proportion to d (Cicchetti-Allison).
	Linear Weighting = "linear"
	// Quadratic counts a disagreement in proportion to d² (Fleiss-Cohen);
	// it approaches the intraclass correlation.
	Quadratic Weighting = "quadratic"
)

func (w Weighting) forScale(k Kind) (Weighting, error) {
	switch w {
	case "":
		if k == Nominal {
			return Unweighted, nil
		}
		return Linear, nil
	case Unweighted:
		return w, nil
	case Linear, Quadratic:
		if k == Nominal {
			return "", fmt.Errorf("%s kappa needs ordered values; a nominal scale has none", w)
		}
		return w, nil
	}
	return "", fmt.Errorf("unknown kappa weighting %q (want %s, %s or %s)", w, Unweighted, Linear, Quadratic)
}

// space is the set of values a report compares: category k has the name
// labels[k] and sits at pos[k], its index for nominal and ordinal scales and
// its value for numeric ones, in increasing order.
type space struct {
	scale    Scale
	labels   []string
	pos      []float64
	byLabel  map[string]int
	byNumber map[float64]int
	fail     int  // category of Scale.Fail, -1 when none
	classes  bool // per-class figures and confusion matrix are reported
}

// newSpace builds the space of s for the given values, which are only read
// when the labels are not declared. A value that does not fit the scale is
// reported by encode, not here.
func newSpace(s Scale, values []any) *space {
	sp := &space{scale: s, fail: -1}
	switch {
	case s.Kind == Numeric:
		seen := make(map[float64]bool)
		for _, v := range values {
			if f, err := numberOf(v); err == nil && !seen[f] {
				seen[f] = true
				sp.pos = append(sp.pos, f)
			}
		}
		slices.Sort(sp.pos)
		sp.byNumber = make(map[float64]int, len(sp.pos))
		sp.labels = make([]string, len(sp.pos))
		for k, f := range sp.pos {
			sp.byNumber[f] = k
			sp.labels[k] = strconv.FormatFloat(f, 'g', -1, 64)
		}
		sp.classes = len(sp.pos) <= MaxInferredLabels
		return sp
	case len(s.Labels) > 0:
		sp.labels = slices.Clone(s.Labels)
		sp.classes = true
	default:
		seen := make(map[string]bool)
		for _, v := range values {
			if l, ok := v.(string); ok && !seen[l] {
				seen[l] = true
				sp.labels = append(sp.labels, l)
			}
		}
		slices.Sort(sp.labels)
		sp.classes = len(sp.labels) <= MaxInferredLabels
	}
	sp.byLabel = make(map[string]int, len(sp.labels))
	sp.pos = make([]float64, len(sp.labels))
	for k, l := range sp.labels {
		sp.byLabel[l] = k
		sp.pos[k] = float64(k)
	}
	if s.Fail != "" {
		if k, ok := sp.byLabel[s.Fail]; ok {
			sp.fail = k
		}
	}
	return sp
}

// encode returns the category of v.
func (sp *space) encode(v any) (int, error) {
	if v == nil {
		return 0, errors.New("no value")
	}
	if sp.scale.Kind == Numeric {
		f, err := numberOf(v)
		if err != nil {
			return 0, err
		}
		k, ok := sp.byNumber[f]
		if !ok {
			return 0, fmt.Errorf("value %s is outside the values compared", describe(v))
		}
		return k, nil
	}
	l, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("value %s is not a label (a string)", describe(v))
	}
	k, ok := sp.byLabel[l]
	if !ok {
		return 0, fmt.Errorf("value %q is not one of %s", l, strings.Join(sp.labels, ", "))
	}
	return k, nil
}

// numberOf converts a numeric value decoded from JSON or produced by Go code
// to a finite float64. Numeric strings are accepted.
func numberOf(v any) (float64, error) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case int:
		f = float64(n)
	case int8:
		f = float64(n)
	case int16:
		f = float64(n)
	case int32:
		f = float64(n)
	case int64:
		f = float64(n)
	case uint:
		f = float64(n)
	case uint8:
		f = float64(n)
	case uint16:
		f = float64(n)
	case uint32:
		f = float64(n)
	case uint64:
		f = float64(n)
	case json.Number:
		g, err := strconv.ParseFloat(n.String(), 64)
		if err != nil {
			return 0, fmt.Errorf("value %s is not a number", n)
		}
		f = g
	case string:
		g, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		if err != nil {
			return 0, fmt.Errorf("value %q is not a number", n)
		}
		f = g
	default:
		return 0, fmt.Errorf("value %s is not a number", describe(v))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("value %s is not a finite number", describe(v))
	}
	return f, nil
}

// describe formats a value for an error message.
func describe(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if b, err := json.Marshal(v); err == nil {
		return string(b)
	}
	return fmt.Sprintf("%v", v)
}
