package eval_test

import (
	"context"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm/llmtest"
	openai "github.com/sashabaranov/go-openai"
)

// The evaluator answers the evaluate capability of optimizer plugins.
var _ host.Evaluator = host.EvaluatorFunc((*eval.Evaluator)(nil).EvaluateExamples)

func TestEvaluateExamples(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		user := req.Messages[1].Content // the judge's user message, also in a repair
		switch {
		case strings.Contains(user, "GARBAGE"):
			return llmtest.Content("I cannot decide")
		case strings.Contains(user, "refund"):
			return llmtest.Content(`{"rationale": "Promises a refund.", "result": "no"}`)
		}
		return llmtest.Content(`{"rationale": "Fine.", "result": "yes"}`)
	}))
	e, err := eval.New(newClient(t, srv, nil), eval.WithConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	candidate := boolJudge(t)
	examples := []judge.Example{
		{TraceID: "t1", Inputs: "How do I reset my password?", Outputs: "Use the link.", Value: "yes"},
		{TraceID: "t2", Inputs: "Monthly plan", Outputs: "I will refund you.", Value: "no"},
		{TraceID: "t3", Inputs: "Anything", Outputs: "", Value: "yes"},
		{TraceID: "t4", Inputs: "GARBAGE", Outputs: "GARBAGE", Value: "yes"},
	}
	resp, err := e.EvaluateExamples(context.Background(), candidate, examples)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 4 {
		t.Fatalf("%d results for 4 examples", len(resp.Results))
	}
	if r := resp.Results[0]; r.Value != "yes" || r.Error != "" || r.TraceID != "t1" {
		t.Errorf("t1: %+v", r)
	}
	if r := resp.Results[1]; r.Value != "no" || r.Rationale != "Promises a refund." {
		t.Errorf("t2: %+v", r)
	}
	if r := resp.Results[2]; !strings.HasPrefix(r.Error, eval.CodeMissingInput) || r.Value != nil {
		t.Errorf("t3 (no outputs): %+v", r)
	}
	if r := resp.Results[3]; !strings.HasPrefix(r.Error, eval.CodeParseError) {
		t.Errorf("t4 (garbage, then garbage again after the repair): %+v", r)
	}
	// t1, t2, and t4 twice (the repair): the example without outputs costs nothing.
	if srv.Calls() != 4 {
		t.Errorf("%d model calls, want 4", srv.Calls())
	}
	session := &judge.Judge{Name: "c", Instructions: "Rate {{ conversation }}"}
	if _, err := e.EvaluateExamples(context.Background(), session, examples); err == nil {
		t.Error("a session-level candidate was evaluated")
	}
}
