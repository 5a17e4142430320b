package eval_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// TestRunAsksAgainAfterUnusableAnswers: garbage and out-of-set answers are
// not cached, so a re-run against a fixed endpoint asks the original
// question again (not only the repair) and stores the good value.
func TestRunAsksAgainAfterUnusableAnswers(t *testing.T) {
	ctx := context.Background()
	broken := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		if mentions(req, "answer 0") {
			return llmtest.Content("this is not JSON")
		}
		return llmtest.Content(`{"rationale":"hmm","result":"maybe"}`) // not a boolean
	}))
	st := newStore(t)
	importTraces(t, st, qaTraces(t, 2))
	r := register(t, st, boolJudge(t))
	run := func(srv *llmtest.Server) *eval.RunSummary {
		t.Helper()
		e, err := eval.New(newClient(t, srv, st.ResponseCache()), eval.WithStore(st))
		if err != nil {
			t.Fatal(err)
		}
		spec := storeTraces(ctx, st)
		spec.Judge = r
		sum, err := e.Run(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if sum := run(broken); sum.Failed != 2 || sum.Errors[eval.CodeParseError] != 2 || broken.Calls() != 4 {
		t.Fatalf("first run: %+v with %d calls; want 2 PARSE_ERRORs after 2 questions and 2 repairs", sum, broken.Calls())
	}

	fixed := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Always(`{"rationale":"fine","result":"yes"}`)))
	sum := run(fixed)
	if sum.Judged != 2 || sum.Failed != 0 || sum.Values["yes"] != 2 {
		t.Fatalf("second run: %+v, want both judged yes", sum)
	}
	reqs := fixed.ChatRequests()
	if len(reqs) != 2 {
		t.Fatalf("second run made %d calls, want 2 (the questions, asked afresh)", len(reqs))
	}
	for _, req := range reqs {
		for _, m := range req.Chat.Messages {
			if m.Role == "assistant" {
				t.Fatalf("second run sent a repair of a cached unusable answer (%q) instead of asking afresh", m.Content)
			}
		}
	}
	for id, list := range judgeFeedback(t, st, "helpful") {
		if len(list) != 1 || list[0].Feedback.Error != nil || string(list[0].Feedback.Value) != "true" && string(list[0].Feedback.Value) != `"yes"` {
			t.Errorf("trace %s: feedback %+v, want the good value", id, list)
		}
	}
	// The good answers are cached now: a forced third run pays nothing.
	fixed.Reset()
	e, err := eval.New(newClient(t, fixed, st.ResponseCache()), eval.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge, spec.Force = r, true
	if sum, err := e.Run(ctx, spec); err != nil || sum.Judged != 2 || fixed.Calls() != 0 {
		t.Fatalf("forced run: %+v, %v with %d calls; want both judged from the cache", sum, err, fixed.Calls())
	}
}

// TestRunStopsAtFirstUnauthorized: a rejected key ends the run at once
// with one clear line, instead of a 401 paid for every trace.
func TestRunStopsAtFirstUnauthorized(t *testing.T) {
	const traces, workers = 4500, 8
	ctx := context.Background()
	srv := llmtest.NewServer(t, llmtest.WithAPIKey("the-right-key"))
	st := newStore(t)
	importTraces(t, st, qaTraces(t, traces))
	r := register(t, st, boolJudge(t))
	wrongKey := func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "sk-revoked"
		}
		return srv.Getenv(k)
	}
	e, err := eval.New(newClient(t, srv, st.ResponseCache(), llm.WithGetenv(wrongKey)), eval.WithStore(st), eval.WithConcurrency(workers))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge, spec.Total = r, traces
	sum, err := e.Run(ctx, spec)
	if !errors.Is(err, llm.ErrUnauthorized) {
		t.Fatalf("run = %v, want an error matching llm.ErrUnauthorized", err)
	}
	if srv.Calls() > workers {
		t.Fatalf("%d calls to an endpoint that refuses the key, want at most %d (the requests in flight)", srv.Calls(), workers)
	}
	if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "status 401") || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Errorf("error %q: want one line naming the status and the variable", err)
	}
	if sum == nil || sum.Status != store.RunFailed {
		t.Fatalf("summary = %+v, want a failed run", sum)
	}
	runs, err := st.EvalRuns(ctx, store.EvalRunQuery{Judge: "helpful"})
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunFailed || !strings.Contains(runs[0].Error, "status 401") {
		t.Fatalf("eval_runs = %+v, %v; want the failed run and its reason", runs, err)
	}
	// Evaluate, one trace at a time, fails the same way.
	j := boolJudge(t)
	if _, err := e.Evaluate(ctx, &store.RegisteredJudge{Name: j.Name, Version: 1, Judge: j}, qaTraces(t, 1)[0]); !errors.Is(err, llm.ErrUnauthorized) {
		t.Fatalf("evaluate = %v, want llm.ErrUnauthorized", err)
	}
}

// TestQueryCredentialNeverStored: a key in the base URL's query reaches the
// endpoint, and appears in no stored assessment, run record, summary or log
// line, whether the provider echoes it, the connection fails or the key is
// refused.
func TestQueryCredentialNeverStored(t *testing.T) {
	const secret = "gw-SECRET-in-the-query-8d41e2"
	ctx := context.Background()
	echo := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		if mentions(req, "answer 1") {
			return llmtest.Error(500, "upstream http://gw.internal/v1?api-key="+secret+" failed")
		}
		return llmtest.Content(`{"rationale":"fine","result":"yes"}`)
	}))
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st := newStore(t)
	importTraces(t, st, qaTraces(t, 4))
	r := register(t, st, boolJudge(t))
	var produced []string
	run := func(srv *llmtest.Server) (*eval.RunSummary, error) {
		t.Helper()
		getenv := func(k string) string {
			if k == "OPENAI_BASE_URL" {
				return srv.BaseURL() + "?api-key=" + secret
			}
			return srv.Getenv(k)
		}
		e, err := eval.New(newClient(t, srv, st.ResponseCache(), llm.WithGetenv(getenv), llm.WithLogger(logger)),
			eval.WithStore(st), eval.WithLogger(logger))
		if err != nil {
			t.Fatal(err)
		}
		spec := storeTraces(ctx, st)
		spec.Judge = r
		sum, err := e.Run(ctx, spec)
		if err != nil {
			produced = append(produced, err.Error())
		}
		b, _ := json.Marshal(sum)
		produced = append(produced, string(b))
		return sum, err
	}
	// 1. Answers and a provider echoing the URL.
	if sum, err := run(echo); err != nil || sum.Judged != 3 || sum.Failed != 1 {
		t.Fatalf("first run = %+v, %v; want 3 judged, 1 failed", sum, err)
	}
	for _, req := range echo.ChatRequests() {
		if req.Path != "/v1/chat/completions" || req.Query.Get("api-key") != secret {
			t.Fatalf("request went to %s?%s, want /v1/chat/completions with the query", req.Path, req.Query.Encode())
		}
	}
	// 2. The endpoint is gone: connection errors quote the request URL.
	echo.Close()
	if sum, err := run(echo); err != nil || sum.Errors[eval.CodeConnectionError] != 1 {
		t.Fatalf("second run = %+v, %v; want a CONNECTION_ERROR", sum, err)
	}
	// 3. The key is refused, and the refusal quotes it.
	refusing := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(
		llmtest.Error(401, "api-key "+secret+" is not valid for http://gw.internal/v1?api-key="+secret))))
	if _, err := run(refusing); !errors.Is(err, llm.ErrUnauthorized) {
		t.Fatalf("third run = %v, want ErrUnauthorized", err)
	}

	for tr, err := range st.Traces(ctx, store.TraceQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(tr.Info.Assessments)
		produced = append(produced, string(b))
	}
	runs, err := st.EvalRuns(ctx, store.EvalRunQuery{})
	if err != nil || len(runs) != 3 {
		t.Fatalf("eval runs = %d, %v; want 3", len(runs), err)
	}
	b, _ := json.Marshal(runs)
	produced = append(produced, string(b), logs.String())
	if !strings.Contains(string(b), "status 401") || !strings.Contains(logs.String(), "REDACTED") {
		t.Fatalf("the test did not reach the paths it checks:\nruns %s\nlogs %s", b, logs.String())
	}
	for _, s := range produced {
		if strings.Contains(s, secret) || strings.Contains(s, secret[:10]) {
			t.Errorf("the query credential leaked into:\n%s", s)
		}
	}
}

// TestPromptOverBudgetIsNeverSent: a 100k-span trace under {{ trace }} and
// a 10 MB judge get INPUT_TOO_LARGE without a request.
func TestPromptOverBudgetIsNeverSent(t *testing.T) {
	srv := llmtest.NewServer(t)
	e, err := eval.New(newClient(t, srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	huge := qaTraces(t, 1)[0]
	root := huge.Data.Spans[0].SpanID
	for i := range 100_000 {
		huge.Data.Spans = append(huge.Data.Spans, trace.Span{
			Name: fmt.Sprintf("tool-call-%d", i), SpanID: fmt.Sprintf("%016x", i+1), ParentSpanID: &root,
			TraceID: huge.Data.Spans[0].TraceID, StartTimeUnixNano: 1, EndTimeUnixNano: 2,
			Attributes: map[string]json.RawMessage{trace.AttrSpanInputs: json.RawMessage(`{"query":"what is the weather in Paris today?"}`)},
		})
	}
	traceJudge, err := judge.New("thorough", "Is the work in {{ trace }} thorough?",
		judge.WithModel(model), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	bigJudge, err := judge.New("big", "Is {{ outputs }} good? "+strings.Repeat("Consider every detail. ", 10<<20/23),
		judge.WithModel(model), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		j *judge.Judge
		t *trace.Trace
	}{{traceJudge, huge}, {bigJudge, qaTraces(t, 1)[0]}} {
		a, err := e.Evaluate(ctx, &store.RegisteredJudge{Name: tc.j.Name, Version: 1, Judge: tc.j}, tc.t)
		if err != nil {
			t.Fatal(err)
		}
		if a.Feedback.Error == nil || a.Feedback.Error.Code != eval.CodeInputTooLarge ||
			!strings.Contains(a.Feedback.Error.Message, "budget") {
			t.Errorf("judge %s: feedback %+v, want INPUT_TOO_LARGE", tc.j.Name, a.Feedback)
		}
	}
	if srv.Calls() != 0 {
		t.Fatalf("%d requests reached the endpoint, want none", srv.Calls())
	}
}

// TestHangingEndpointCostsOneDeadline: a judgement against an endpoint
// that never answers ends at the call deadline as TIMEOUT, however many
// attempts the policy would allow.
func TestHangingEndpointCostsOneDeadline(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply { return llmtest.Hang() }))
	c := newClient(t, srv, nil, llm.WithProviders(llm.Provider{Name: "openai", Timeout: 10 * time.Millisecond,
		MaxAttempts: 1_000_000, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, Deadline: 150 * time.Millisecond}))
	e, err := eval.New(c)
	if err != nil {
		t.Fatal(err)
	}
	j := boolJudge(t)
	a, err := e.Evaluate(context.Background(), &store.RegisteredJudge{Name: j.Name, Version: 1, Judge: j}, qaTraces(t, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if a.Feedback.Error == nil || a.Feedback.Error.Code != eval.CodeTimeout || !strings.Contains(a.Feedback.Error.Message, "call deadline") {
		t.Fatalf("feedback = %+v, want TIMEOUT at the call deadline", a.Feedback)
	}
}

// mentions reports whether a message of req contains s.
func mentions(req openai.ChatCompletionRequest, s string) bool {
	for _, m := range req.Messages {
		if strings.Contains(m.Content, s) {
			return true
		}
	}
	return false
}
