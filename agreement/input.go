package agreement

import (
	"errors"
	"fmt"
)

// Answer is what a human or a judge said about one trace.
type Answer struct {
	// Value is the label (a string) on a nominal or ordinal scale, or a
	// number (any Go integer or float, json.Number or numeric string) on a
	// numeric scale. Values are compared exactly: normalise them first, for
	// example with judge.ValueType.Normalize.
	Value any `json:"value"`
	// Rationale is the explanation given with the value, if any.
	Rationale string `json:"rationale,omitempty"`
	// Error is set when a judge failed to give a value (the model could not
	// be reached, its answer could not be parsed, …). A judge answer with an
	// Error or a nil Value is missing: it is counted in Report.Errors and
	// left out of the figures. A human answer is never missing.
	Error string `json:"error,omitempty"`
}

// Missing reports whether the answer holds no value.
func (a Answer) Missing() bool {
	return a.Error != "" || a.Value == nil
}

// Pair is one trace labelled by a human and judged by a judge.
type Pair struct {
	TraceID string `json:"trace_id"`
	Human   Answer `json:"human"`
	Judge   Answer `json:"judge"`
}

// Case is one trace labelled by a human and judged by two judges: A, the
// reference (the base judge), and B, the candidate (the aligned judge).
type Case struct {
	TraceID string `json:"trace_id"`
	Human   Answer `json:"human"`
	A       Answer `json:"a"`
	B       Answer `json:"b"`
}

// ErrDuplicateTrace is the cause of an [InputError] for a trace listed
// twice: each trace must be scored once.
var ErrDuplicateTrace = errors.New("trace listed twice")

// InputError reports a pair or case that cannot be scored.
type InputError struct {
	// Index is the position of the pair or case in the input.
	Index int
	// TraceID is its trace.
	TraceID string
	// Who says whose value is wrong: "human", "judge", "judge a" or
	// "judge b"; empty when the pair as a whole is.
	Who string
	// Err is the cause.
	Err error
}

func (e *InputError) Error() string {
	who := ""
	if e.Who != "" {
		who = e.Who + " "
	}
	return fmt.Sprintf("pair[%d] trace[%s]: %s%v", e.Index, e.TraceID, who, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// dataset is the input encoded on a space: h[i] is the human's category of
// pair i and judges[j][i] judge j's, or -1 where judge j gave no value.
type dataset struct {
	sp     *space
	ids    []string
	h      []int32
	judges [][]int32
	errs   []int // per judge, the number of missing answers
}

// encode validates and encodes human and judge answers; who names each
// judge in errors.
func encode(scale Scale, ids []string, human []Answer, judges [][]Answer, who []string) (*dataset, error) {
	seen := make(map[string]int, len(ids))
	var values []any
	for i, id := range ids {
		if first, dup := seen[id]; dup {
			return nil, &InputError{Index: i, TraceID: id,
				Err: fmt.Errorf("%w (first at pair[%d])", ErrDuplicateTrace, first)}
		}
		seen[id] = i
		if human[i].Value == nil {
			return nil, &InputError{Index: i, TraceID: id, Who: "human", Err: errors.New("has no value")}
		}
		values = append(values, human[i].Value)
		for _, answers := range judges {
			if !answers[i].Missing() {
				values = append(values, answers[i].Value)
			}
		}
	}
	d := &dataset{
		sp:     newSpace(scale, values),
		ids:    ids,
		h:      make([]int32, len(ids)),
		judges: make([][]int32, len(judges)),
		errs:   make([]int, len(judges)),
	}
	for i := range ids {
		k, err := d.sp.encode(human[i].Value)
		if err != nil {
			return nil, &InputError{Index: i, TraceID: ids[i], Who: "human", Err: err}
		}
		d.h[i] = int32(k)
	}
	for j, answers := range judges {
		codes := make([]int32, len(ids))
		for i, a := range answers {
			if a.Missing() {
				codes[i] = -1
				d.errs[j]++
				continue
			}
			k, err := d.sp.encode(a.Value)
			if err != nil {
				return nil, &InputError{Index: i, TraceID: ids[i], Who: who[j], Err: err}
			}
			codes[i] = int32(k)
		}
		d.judges[j] = codes
	}
	return d, nil
}
