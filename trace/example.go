package trace

import (
	"errors"
	"fmt"
	"strings"

	"github.com/alignhost/alignhost/judge"
)

// Skip says why a trace gave no example for a judge.
type Skip struct {
	TraceID string
	// Reason is readable: "no HUMAN feedback named \"helpfulness\"",
	// "missing outputs", …
	Reason string
}

// String returns "trace <id>: <reason>".
func (s Skip) String() string {
	return fmt.Sprintf("trace %s: %s", s.TraceID, s.Reason)
}

// ErrSessionJudge is returned by [Examples] for a judge that uses
// {{ conversation }}: it judges a whole session, and cannot learn from
// single traces.
var ErrSessionJudge = errors.New("session-level judges ({{ conversation }}) cannot be aligned from single traces")

// ExampleFor builds the example a judge learns from out of one trace, by
// the rules every optimizer shares (MLflow's trace-to-example extraction):
//
//   - the label is [Trace.HumanFeedback] for the judge's name; its value is
//     normalised with the judge's value type and kept with its rationale
//     and time;
//   - only the fields the judge's instructions use are filled:
//     {{ inputs }} with [InputsText] of the root span's inputs,
//     {{ outputs }} with [OutputsText] of its outputs, {{ expectations }}
//     with [Trace.Expectations], {{ trace }} with [Trace.Text].
//
// The trace is skipped, with a readable reason, when it has no label, the
// label does not fit the value type, or a field the judge uses is missing.
// Inputs or outputs that are absent, null or blank count as missing (MLflow
// would pass a single space to the judge). A session-level judge is refused.
func ExampleFor(j *judge.Judge, t *Trace) (judge.Example, *Skip) {
	if t == nil {
		return judge.Example{}, &Skip{Reason: "no trace"}
	}
	skip := func(format string, args ...any) (judge.Example, *Skip) {
		return judge.Example{}, &Skip{TraceID: t.Info.TraceID, Reason: fmt.Sprintf(format, args...)}
	}
	if j == nil {
		return skip("no judge")
	}
	vars, err := j.Variables()
	if err != nil {
		return skip("judge %q: %v", j.Name, err)
	}
	if j.SessionLevel() {
		return skip("judge %q: %v", j.Name, ErrSessionJudge)
	}
	label, _, ok := t.HumanFeedback(j.Name)
	if !ok {
		return skip("no HUMAN feedback named %q", strings.TrimSpace(j.Name))
	}
	ex := judge.Example{
		TraceID:      t.Info.TraceID,
		Rationale:    label.Rationale,
		FeedbackTime: label.Time,
	}
	for _, v := range vars {
		switch v {
		case judge.Inputs:
			text, err := t.rootText(AttrSpanInputs, InputsText)
			if err != nil {
				return skip("inputs: %v", err)
			}
			if strings.TrimSpace(text) == "" {
				return skip("missing inputs")
			}
			ex.Inputs = text
		case judge.Outputs:
			text, err := t.rootText(AttrSpanOutputs, OutputsText)
			if err != nil {
				return skip("outputs: %v", err)
			}
			if strings.TrimSpace(text) == "" {
				return skip("missing outputs")
			}
			ex.Outputs = text
		case judge.Expectations:
			exp := t.Expectations()
			if len(exp) == 0 {
				return skip("missing expectations")
			}
			ex.Expectations = exp
		case judge.Trace:
			ex.Trace = t.Text()
		}
	}
	value, err := j.ValueType.Normalize(label.Value)
	if err != nil {
		return skip("human %v", err)
	}
	ex.Value = value
	return ex, nil
}

// rootText renders the root span's attribute key with render, or "" when
// the trace has no root span or the attribute is absent.
func (t *Trace) rootText(key string, render func(any) string) (string, error) {
	root := t.Root()
	if root == nil {
		return "", nil
	}
	raw, ok, err := root.attrJSON(key)
	if err != nil || !ok {
		return "", err
	}
	return render(raw), nil
}

// Examples builds the examples for a judge from traces with [ExampleFor],
// in order, and says why each other trace was skipped. It fails only for a
// judge that cannot learn from traces at all: a nil judge, instructions
// with bad template variables, or a session-level judge ([ErrSessionJudge]).
// Whether too few examples remain is the caller's decision.
func Examples(j *judge.Judge, traces []*Trace) ([]judge.Example, []Skip, error) {
	if j == nil {
		return nil, nil, errors.New("build examples: no judge")
	}
	if _, err := j.Variables(); err != nil {
		return nil, nil, fmt.Errorf("build examples for judge %q: %w", j.Name, err)
	}
	if j.SessionLevel() {
		return nil, nil, fmt.Errorf("build examples for judge %q: %w", j.Name, ErrSessionJudge)
	}
	var (
		examples []judge.Example
		skips    []Skip
	)
	for _, t := range traces {
		ex, skip := ExampleFor(j, t)
		if skip != nil {
			skips = append(skips, *skip)
			continue
		}
		examples = append(examples, ex)
	}
	return examples, skips, nil
}
