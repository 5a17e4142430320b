package agreement

import (
	"encoding/json"
	"math"
)

// JSON has no NaN: an undefined figure is written as null and read back as
// NaN, so a report survives `compare --json` and a round trip.

// nullable returns nil for NaN or an infinity, and &f otherwise.
func nullable(f float64) *float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}

// orNaN returns *p, or NaN when p is nil.
func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

type estimateJSON struct {
	Value *float64 `json:"value"`
	Low   *float64 `json:"low"`
	High  *float64 `json:"high"`
}

func (e Estimate) toJSON() estimateJSON {
	return estimateJSON{Value: nullable(e.Value), Low: nullable(e.Low), High: nullable(e.High)}
}

func (j estimateJSON) estimate() Estimate {
	return Estimate{Value: orNaN(j.Value), Low: orNaN(j.Low), High: orNaN(j.High)}
}

// MarshalJSON writes the estimate with NaN as null.
func (e Estimate) MarshalJSON() ([]byte, error) {
	return json.Marshal(e.toJSON())
}

// UnmarshalJSON reads an estimate, null or absent being NaN.
func (e *Estimate) UnmarshalJSON(b []byte) error {
	var j estimateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = j.estimate()
	return nil
}

type metricJSON struct {
	Figure Figure `json:"figure"`
	estimateJSON
	Note string `json:"note,omitempty"`
}

// MarshalJSON writes the metric flat, {"figure", "value", "low", "high",
// "note"}, with NaN as null.
func (m Metric) MarshalJSON() ([]byte, error) {
	return json.Marshal(metricJSON{Figure: m.Figure, estimateJSON: m.Estimate.toJSON(), Note: m.Note})
}

// UnmarshalJSON reads a metric, null or absent numbers being NaN.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var j metricJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Metric{Figure: j.Figure, Estimate: j.estimateJSON.estimate(), Note: j.Note}
	return nil
}

type summaryJSON struct {
	Figure Figure   `json:"figure"`
	Folds  int      `json:"folds"`
	Mean   *float64 `json:"mean"`
	SD     *float64 `json:"sd"`
}

// MarshalJSON writes the summary with NaN as null.
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{Figure: s.Figure, Folds: s.Folds, Mean: nullable(s.Mean), SD: nullable(s.SD)})
}

// UnmarshalJSON reads a summary, null or absent numbers being NaN.
func (s *Summary) UnmarshalJSON(b []byte) error {
	var j summaryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = Summary{Figure: j.Figure, Folds: j.Folds, Mean: orNaN(j.Mean), SD: orNaN(j.SD)}
	return nil
}
