package eval

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/store"
)

// EvaluateExamples judges labelled examples with a candidate judge, through
// the same path as every judgement (request, structured output, repair,
// retrieval for aligned candidates), in parallel, and returns one judgement
// per example in order. It answers the evaluate capability of optimizer
// plugins (wrap it in host.EvaluatorFunc), so that an optimizer searching
// over instructions sees exactly what production will. Nothing is stored.
//
// An example that cannot be judged gets Error; an error return means the
// candidate cannot judge at all (invalid, session-level, unknown model) or
// ctx ended.
func (e *Evaluator) EvaluateExamples(ctx context.Context, j *judge.Judge, examples []judge.Example) (*pluginapi.EvaluateResponse, error) {
	p, err := e.prepare(&store.RegisteredJudge{Name: j.Name, Judge: j}, true)
	if err != nil {
		return nil, err
	}
	resp := &pluginapi.EvaluateResponse{Results: make([]pluginapi.Judgement, len(examples))}
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		sem      = make(chan struct{}, e.concurrency)
	)
	for i := range examples {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ex := &examples[i]
			in, missing := exampleInput(p.vars, ex)
			o, err := e.judgeInput(ctx, p, ex.TraceID, in, missing)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			resp.Usage.PromptTokens += int(o.usage.PromptTokens)
			resp.Usage.CompletionTokens += int(o.usage.CompletionTokens)
			r := &resp.Results[i]
			r.TraceID = ex.TraceID
			r.Rationale = o.assessment.Rationale
			if fb := o.assessment.Feedback; fb != nil && fb.Error != nil {
				r.Error = fb.Error.Code + ": " + fb.Error.Message
				return
			}
			var v any
			if err := json.Unmarshal(o.assessment.Feedback.Value, &v); err != nil {
				r.Error = CodeParseError + ": " + err.Error()
				return
			}
			r.Value = v
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	return resp, nil
}

// exampleInput is the judge input of a stored example: its fields as the
// text they were extracted to.
func exampleInput(vars []judge.Variable, ex *judge.Example) (judge.Input, string) {
	var in judge.Input
	for _, v := range vars {
		switch v {
		case judge.Inputs:
			if ex.Inputs == "" {
				return in, "missing inputs"
			}
			in.Inputs = ex.Inputs
		case judge.Outputs:
			if ex.Outputs == "" {
				return in, "missing outputs"
			}
			in.Outputs = ex.Outputs
		case judge.Expectations:
			if len(ex.Expectations) == 0 {
				return in, "missing expectations"
			}
			in.Expectations = ex.Expectations
		case judge.Trace:
			if ex.Trace == "" {
				return in, "missing trace"
			}
			in.Trace = ex.Trace
		}
	}
	return in, ""
}
