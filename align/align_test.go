package align_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/align"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// keepJudge is an optimizer that returns the judge unchanged.
type keepJudge struct{}

func (keepJudge) Describe() pluginapi.Description {
	return pluginapi.Description{Name: "keep", Version: "1", Description: "returns the judge unchanged"}
}

func (keepJudge) Align(_ context.Context, _ pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	return &pluginapi.AlignResponse{Judge: req.Judge, Report: pluginapi.Report{Summary: "kept"}}, nil
}

func flatTraces(t *testing.T, lines ...string) []*trace.Trace {
	t.Helper()
	recs, err := trace.Read(strings.NewReader(strings.Join(lines, "\n")), "t.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	out := make([]*trace.Trace, len(recs))
	for i, r := range recs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		out[i] = r.Trace
	}
	return out
}

func setup(t *testing.T) (*store.RegisteredJudge, host.Runner) {
	t.Helper()
	j, err := judge.New("helpful", "Is {{ outputs }} helpful for {{ inputs }}?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	h, err := host.New(context.Background(), host.NewConfig().WithCacheDir(""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	r, err := h.LoadNative(keepJudge{}, host.Manifest{Name: "keep"})
	if err != nil {
		t.Fatal(err)
	}
	return &store.RegisteredJudge{Name: "helpful", Version: 3, Judge: j}, r
}

func TestRunRefusesWhatCannotWork(t *testing.T) {
	r, runner := setup(t)
	unlabelled := flatTraces(t,
		`{"trace_id": "a", "inputs": "q", "outputs": "x", "feedback": {"tone": "yes"}}`,
		`{"trace_id": "b", "inputs": "q", "outputs": "x"}`,
		`{"trace_id": "c", "inputs": "q", "feedback": {"helpful": "yes"}}`)
	_, err := align.Run(context.Background(), align.Spec{Judge: r, Traces: unlabelled, Runner: runner})
	var nex *align.NoExamplesError
	if !errors.As(err, &nex) {
		t.Fatalf("err = %v, want a NoExamplesError", err)
	}
	msg := err.Error()
	for _, want := range []string{`judge "helpful"`, "HUMAN feedback", "3 traces", "missing outputs"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q lacks %q", msg, want)
		}
	}

	session := &store.RegisteredJudge{Name: "conv", Version: 1, Judge: &judge.Judge{Name: "conv", Instructions: "Rate {{ conversation }}"}}
	if _, err := align.Run(context.Background(), align.Spec{Judge: session, Traces: unlabelled, Runner: runner}); !errors.Is(err, align.ErrSessionJudge) {
		t.Errorf("session judge: %v", err)
	}
	for _, spec := range []align.Spec{
		{Judge: r, Traces: unlabelled, Runner: runner, Holdout: 0.3},           // no evaluator
		{Judge: r, Traces: unlabelled, Runner: runner, Folds: 1},               // one fold
		{Judge: r, Traces: unlabelled, Runner: runner, Holdout: 1.5, Folds: 0}, // share out of range
	} {
		if _, err := align.Run(context.Background(), spec); err == nil || errors.As(err, &nex) {
			t.Errorf("spec %+v: err = %v, want a refusal before extraction", spec, err)
		}
	}
}

func TestRunWarnsAboutFewExamplesAndDuplicateLabels(t *testing.T) {
	r, runner := setup(t)
	traces := flatTraces(t,
		`{"trace_id": "a", "inputs": "q1", "outputs": "x", "feedback": {"helpful": "yes"}}`,
		`{"trace_id": "b", "inputs": "q2", "outputs": "y", "feedback": {"helpful": "no"}}`)
	// A second, later human label on trace b.
	later := traces[1].Info.Assessments[0]
	later.ID = "a-second"
	later.CreateTime = trace.NewTimestamp(later.CreateTime.Add(3600e9))
	later.Feedback = &trace.Feedback{Value: []byte(`"yes"`)}
	traces[1].Info.Assessments = append(traces[1].Info.Assessments, later)

	out, err := align.Run(context.Background(), align.Spec{Judge: r, Traces: traces, Runner: runner})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(out.Warnings, "\n")
	if !strings.Contains(joined, "only 2 usable examples") {
		t.Errorf("no few-examples warning in %q", joined)
	}
	if !strings.Contains(joined, "trace b:") {
		t.Errorf("no duplicate-label warning for trace b in %q", joined)
	}
	if out.Judge.Provenance == nil || out.Judge.Provenance.BaseVersion != 3 || out.Judge.Provenance.NumTraces != 2 || out.Judge.Provenance.Optimizer != "keep" {
		t.Errorf("provenance = %+v", out.Judge.Provenance)
	}
}
