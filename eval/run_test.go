package eval_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
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

// storeTraces iterates over every trace of s, for RunSpec.Traces.
func storeTraces(ctx context.Context, s *store.Store) eval.RunSpec {
	return eval.RunSpec{Traces: s.Traces(ctx, store.TraceQuery{})}
}

// lastUser returns the last message of a chat request.
func lastUser(req openai.ChatCompletionRequest) string {
	return req.Messages[len(req.Messages)-1].Content
}

func TestRunStoresFeedbackAndGoesOnPastGarbage(t *testing.T) {
	ctx := context.Background()
	// Outputs "answer 3", "answer 13", … get garbage, repair included.
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		for _, m := range req.Messages {
			if m.Role == "user" && strings.Contains(m.Content, "3\n</outputs>") {
				return llmtest.Content("this is not JSON")
			}
		}
		return llmtest.Content(`{"rationale":"fine","result":"yes"}`)
	}))
	st := newStore(t)
	importTraces(t, st, qaTraces(t, 30))
	// A human already labelled t-000 under the judge's name.
	human := trace.Assessment{Name: "helpful", TraceID: "t-000", Source: trace.Source{Type: trace.SourceHuman, ID: "ann"},
		Feedback: &trace.Feedback{Value: []byte(`"no"`)}}
	if _, err := st.LogAssessments(ctx, []store.AssessmentRow{{Assessment: human}}, store.LogOptions{}); err != nil {
		t.Fatal(err)
	}
	r := register(t, st, boolJudge(t))
	var reports atomic.Int64
	e, err := eval.New(newClient(t, srv, st.ResponseCache()), eval.WithStore(st), eval.WithConcurrency(4),
		eval.WithPrices(llm.PriceTable{"gpt-4.1-mini": {InputPerMTok: 1, OutputPerMTok: 2}}),
		eval.WithProgress(func(eval.Progress) { reports.Add(1) }))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge, spec.Total = r, 30
	sum, err := e.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	// 3, 13, 23 fail.
	if sum.Status != store.RunDone || sum.Judged != 27 || sum.Failed != 3 || sum.Skipped != 0 || sum.Remaining != 0 ||
		sum.Errors[eval.CodeParseError] != 3 || sum.Values["yes"] != 27 || len(sum.ErrorSamples) != 3 {
		t.Errorf("summary = %+v, want done, 27 judged, 3 PARSE_ERROR", sum)
	}
	if sum.Usage.Calls != 33 || srv.Calls() != 33 || sum.Usage.PromptTokens == 0 || sum.CostUSD == nil || *sum.CostUSD <= 0 {
		t.Errorf("usage %+v, cost %v, server calls %d; want 33 calls (30 + 3 repairs) with tokens and a cost", sum.Usage, sum.CostUSD, srv.Calls())
	}
	if reports.Load() == 0 {
		t.Error("the progress callback was never called")
	}

	fb := judgeFeedback(t, st, "helpful")
	if len(fb) != 30 {
		t.Fatalf("%d traces have judge feedback, want 30", len(fb))
	}
	for id, list := range fb {
		if len(list) != 1 {
			t.Errorf("trace %s has %d judge feedbacks, want 1", id, len(list))
			continue
		}
		a := list[0]
		bad := strings.HasSuffix(id, "3")
		if bad != (a.Feedback.Error != nil && a.Feedback.Error.Code == eval.CodeParseError) {
			t.Errorf("trace %s: feedback %+v", id, a.Feedback)
		}
		if a.Metadata[eval.MetaRunID] != fmt.Sprint(sum.ID) || a.Metadata[eval.MetaJudgeVersion] != "1" {
			t.Errorf("trace %s: metadata %v, want run %d and version 1", id, a.Metadata, sum.ID)
		}
	}
	// The human label is untouched and still the label.
	tr, err := st.Trace(ctx, "t-000")
	if err != nil {
		t.Fatal(err)
	}
	label, _, ok := tr.HumanFeedback("helpful")
	if !ok || label.Value != "no" {
		t.Errorf("human label after the run = %+v, %v; want the human's no", label, ok)
	}
	for _, a := range tr.Info.Assessments {
		if a.Source.Type == trace.SourceHuman && a.Valid != nil && !*a.Valid {
			t.Errorf("human feedback was invalidated: %+v", a)
		}
	}

	runs, err := st.EvalRuns(ctx, store.EvalRunQuery{Judge: "helpful"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].ID != sum.ID || runs[0].Status != store.RunDone || runs[0].Judged != 27 ||
		runs[0].Failed != 3 || runs[0].PromptTokens != sum.Usage.PromptTokens || runs[0].CostUSD == nil ||
		runs[0].Fingerprint != sum.Fingerprint || runs[0].Model != model {
		t.Errorf("eval_runs = %+v, want the run's counts", runs)
	}

	// A second run retries only the failures, asked afresh: the unusable
	// answers were not cached, so each failure costs its question and its
	// repair again.
	srv.Reset()
	spec = storeTraces(ctx, st)
	spec.Judge = r
	sum2, err := e.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Skipped != 27 || sum2.Failed != 3 || sum2.Judged != 0 || srv.Calls() != 6 {
		t.Errorf("second run: %+v with %d server calls; want 27 skipped, 3 failed again with 3 questions and 3 repairs", sum2, srv.Calls())
	}
	if got := judgeFeedback(t, st, "helpful"); len(got["t-003"]) != 1 {
		t.Errorf("t-003 has %d judge feedbacks after the retry, want 1 (replaced)", len(got["t-003"]))
	}
}

func TestRunResumeAfterInterrupt(t *testing.T) {
	const n = 40
	// The 10th request interrupts the run, as Ctrl-C would.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var requests atomic.Int64
	srv := llmtest.NewServer(t, llmtest.WithLatency(20*time.Millisecond),
		llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
			if requests.Add(1) == 10 {
				cancel()
			}
			return llmtest.Content(`{"rationale":"ok","result":"yes"}`)
		}))
	st := newStore(t)
	importTraces(t, st, qaTraces(t, n))
	r := register(t, st, boolJudge(t))

	// No response cache: only resuming can spare the calls.
	e, err := eval.New(newClient(t, srv, nil), eval.WithStore(st), eval.WithConcurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge, spec.Total = r, n
	sum, err := e.Run(ctx, spec)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: error %v, want context.Canceled; summary %+v", err, sum)
	}
	if sum == nil || sum.Status != store.RunInterrupted || sum.Judged < 10 || sum.Judged >= n {
		t.Fatalf("interrupted run summary = %+v", sum)
	}
	if sum.Remaining != n-sum.Judged {
		t.Errorf("remaining = %d, want %d", sum.Remaining, n-sum.Judged)
	}
	// Requests in flight finished within the grace period and were kept:
	// every call made was stored.
	first := srv.Calls()
	if first != sum.Judged || len(judgeFeedback(t, st, "helpful")) != sum.Judged {
		t.Errorf("first run: %d calls, %d judged, %d stored; want all equal", first, sum.Judged, len(judgeFeedback(t, st, "helpful")))
	}
	if rec, err := st.EvalRun(context.Background(), sum.ID); err != nil || rec.Status != store.RunInterrupted || rec.Judged != sum.Judged {
		t.Errorf("run record = %+v, %v", rec, err)
	}

	// Resume: only the rest is asked for.
	e2, err := eval.New(newClient(t, srv, nil), eval.WithStore(st), eval.WithConcurrency(4))
	if err != nil {
		t.Fatal(err)
	}
	spec = storeTraces(context.Background(), st)
	spec.Judge, spec.Total = r, n
	sum2, err := e2.Run(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if sum2.Status != store.RunDone || sum2.Skipped != sum.Judged || sum2.Judged != n-sum.Judged || sum2.Remaining != 0 {
		t.Errorf("resumed run = %+v, want %d skipped and %d judged", sum2, sum.Judged, n-sum.Judged)
	}
	if got := srv.Calls() - first; got != n-sum.Judged {
		t.Errorf("resumed run made %d calls, want %d", got, n-sum.Judged)
	}
	if got := len(judgeFeedback(t, st, "helpful")); got != n {
		t.Errorf("%d traces judged after resuming, want %d", got, n)
	}
}

func TestRunCacheAcrossStoreHandles(t *testing.T) {
	const n = 12
	ctx := context.Background()
	srv := llmtest.NewServer(t)
	path := filepath.Join(t.TempDir(), "alignhost.db")

	st := openStore(t, path)
	importTraces(t, st, qaTraces(t, n))
	r := register(t, st, boolJudge(t))
	run := func(st *store.Store, opts ...eval.Option) *eval.RunSummary {
		t.Helper()
		e, err := eval.New(newClient(t, srv, st.ResponseCache()), append(opts, eval.WithStore(st))...)
		if err != nil {
			t.Fatal(err)
		}
		spec := storeTraces(ctx, st)
		spec.Judge, spec.Force = r, true
		sum, err := e.Run(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	if sum := run(st); sum.Judged != n || sum.Cached != 0 || srv.Calls() != n {
		t.Fatalf("first run: %+v, %d calls", sum, srv.Calls())
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// A new handle on the same file answers everything from the cache,
	// even when forced to judge again.
	st2 := openStore(t, path)
	sum := run(st2)
	if sum.Judged != n || sum.Cached != n || sum.Usage.PromptTokens != 0 || srv.Calls() != n {
		t.Errorf("second run: %+v with %d server calls in all; want %d cached judgements and no new call", sum, srv.Calls(), n)
	}
	if cs, err := st2.ResponseCache().Stats(ctx); err != nil || cs.Entries != n || cs.Hits != n {
		t.Errorf("cache stats = %+v, %v; want %d entries with one hit each", cs, err, n)
	}
	if got := judgeFeedback(t, st2, "helpful"); len(got) != n || len(got["t-000"]) != 1 {
		t.Errorf("forced re-judgement piled up feedback: %d traces, %d on t-000", len(got), len(got["t-000"]))
	}

	// --no-cache asks again, and refreshes the cache.
	sum = run(st2, eval.WithNoCache())
	if sum.Cached != 0 || srv.Calls() != 2*n {
		t.Errorf("no-cache run: %+v with %d server calls in all; want %d", sum, srv.Calls(), 2*n)
	}
}

func TestRunLimit(t *testing.T) {
	ctx := context.Background()
	srv := llmtest.NewServer(t)
	st := newStore(t)
	importTraces(t, st, qaTraces(t, 12))
	r := register(t, st, boolJudge(t))
	e, err := eval.New(newClient(t, srv, nil), eval.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ judged, skipped, remaining int }{{5, 0, 7}, {5, 5, 2}, {2, 10, 0}} {
		spec := storeTraces(ctx, st)
		spec.Judge, spec.Limit = r, 5
		sum, err := e.Run(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Status != store.RunDone || sum.Judged != want.judged || sum.Skipped != want.skipped || sum.Remaining != want.remaining {
			t.Errorf("run with limit 5: judged %d, skipped %d, remaining %d; want %+v", sum.Judged, sum.Skipped, sum.Remaining, want)
		}
	}
	if srv.Calls() != 12 {
		t.Errorf("%d calls for 12 traces", srv.Calls())
	}
}

func TestRunRecordThenReplay(t *testing.T) {
	const n = 8
	ctx := context.Background()
	srv := llmtest.NewServer(t)
	recPath := filepath.Join(t.TempDir(), "run.jsonl")
	traces := qaTraces(t, n+1)

	rec, err := llm.CreateRecording(recPath)
	if err != nil {
		t.Fatal(err)
	}
	st := newStore(t)
	importTraces(t, st, traces[:n])
	r := register(t, st, boolJudge(t))
	e, err := eval.New(newClient(t, srv, st.ResponseCache(), llm.WithRecorder(rec)), eval.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge = r
	if sum, err := e.Run(ctx, spec); err != nil || sum.Judged != n {
		t.Fatalf("recorded run: %+v, %v", sum, err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	srv.Close()

	// Replay into a fresh store with the server gone.
	replay, err := llm.OpenReplay(recPath)
	if err != nil {
		t.Fatal(err)
	}
	st2 := newStore(t)
	importTraces(t, st2, traces[:n])
	r2 := register(t, st2, boolJudge(t))
	e2, err := eval.New(newClient(t, srv, nil, llm.WithRecorder(replay)), eval.WithStore(st2))
	if err != nil {
		t.Fatal(err)
	}
	spec = storeTraces(ctx, st2)
	spec.Judge = r2
	sum, err := e2.Run(ctx, spec)
	if err != nil || sum.Judged != n || sum.Cached != n || sum.Failed != 0 {
		t.Fatalf("replayed run: %+v, %v; want %d judged from the recording", sum, err, n)
	}

	// A trace the recording lacks fails the run loudly.
	importTraces(t, st2, traces[n:])
	spec = storeTraces(ctx, st2)
	spec.Judge = r2
	sum, err = e2.Run(ctx, spec)
	var miss *llm.ReplayMissError
	if !errors.As(err, &miss) || sum == nil || sum.Status != store.RunFailed || sum.Skipped != n || sum.Remaining != 1 {
		t.Fatalf("replay of an unrecorded trace: %+v, %v; want a failed run with a ReplayMissError", sum, err)
	}
	if runs, _ := st2.EvalRuns(ctx, store.EvalRunQuery{Limit: 1}); len(runs) != 1 || runs[0].Status != store.RunFailed ||
		!strings.Contains(runs[0].Error, "replay") {
		t.Errorf("failed run record = %+v", runs)
	}
}

// retriever is a test ExampleRetriever returning fixed examples.
type retriever struct {
	examples []judge.Example
	calls    atomic.Int64
}

func (r *retriever) Examples(_ context.Context, _ *judge.Judge, in judge.Input) ([]judge.Example, error) {
	r.calls.Add(1)
	if in.Outputs == "RETRIEVAL FAILS" {
		return nil, errors.New("embedding endpoint down")
	}
	return r.examples, nil
}

func TestJudgesThatCannotBeEvaluated(t *testing.T) {
	ctx := context.Background()
	srv := llmtest.NewServer(t)
	tr := qaTraces(t, 1)[0]

	session, err := judge.New("coherent", "Is {{ conversation }} coherent?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	aligned := boolJudge(t)
	aligned.Memory = &judge.Memory{
		Examples:  []judge.Example{{TraceID: "x", Outputs: "REMEMBERED EXAMPLE", Value: "no"}},
		Retrieval: judge.Retrieval{K: 1},
	}
	unknown := boolJudge(t)
	unknown.Model = "nowhere:/model"
	badParams := boolJudge(t)
	badParams.InferenceParams = map[string]any{"temprature": 0.0}

	e, err := eval.New(newClient(t, srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		r       *store.RegisteredJudge
		wantErr error
	}{
		{"session-level", &store.RegisteredJudge{Name: "coherent", Version: 1, Judge: session}, eval.ErrSessionJudge},
		{"aligned without retriever", &store.RegisteredJudge{Name: "helpful", Version: 2, Judge: aligned}, eval.ErrNoRetriever},
		{"unknown provider", &store.RegisteredJudge{Name: "helpful", Version: 1, Judge: unknown}, llm.ErrUnknownProvider},
		{"negative version", &store.RegisteredJudge{Name: "helpful", Version: -1, Judge: boolJudge(t)}, nil},
		{"bad inference params", &store.RegisteredJudge{Name: "helpful", Version: 1, Judge: badParams}, llm.ErrInvalidRequest},
	} {
		_, err := e.Evaluate(ctx, tc.r, tr)
		if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	if srv.Calls() != 0 {
		t.Errorf("%d calls for judges that cannot judge", srv.Calls())
	}

	// Version 0 is an unregistered candidate: judged, without a version.
	cand, err := e.Evaluate(ctx, &store.RegisteredJudge{Name: "helpful", Judge: boolJudge(t)}, tr)
	if err != nil || cand.Feedback.Error != nil {
		t.Fatalf("candidate: %+v, %v", cand.Feedback, err)
	}
	if _, ok := cand.Metadata[eval.MetaJudgeVersion]; ok || cand.Metadata[eval.MetaJudgeFingerprint] == "" {
		t.Errorf("candidate metadata = %v; want a fingerprint and no version", cand.Metadata)
	}
	srv.Reset()

	// With a retriever, the aligned judge shows its examples.
	ret := &retriever{examples: aligned.Memory.Examples}
	e, err = eval.New(newClient(t, srv, nil), eval.WithExampleRetriever(ret))
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.Evaluate(ctx, &store.RegisteredJudge{Name: "helpful", Version: 2, Judge: aligned}, tr)
	if err != nil || a.Feedback.Error != nil {
		t.Fatalf("aligned judge: %+v, %v", a.Feedback, err)
	}
	if sys := srv.ChatRequests()[0].Chat.Messages[0].Content; ret.calls.Load() != 1 || !strings.Contains(sys, "REMEMBERED EXAMPLE") {
		t.Errorf("retriever called %d times; system message lacks the example:\n%s", ret.calls.Load(), sys)
	}
	// A retriever failure fails that judgement only.
	failing := readTraces(t, `{"trace_id": "r-1", "inputs": "q", "outputs": "RETRIEVAL FAILS"}`)[0]
	a, err = e.Evaluate(ctx, &store.RegisteredJudge{Name: "helpful", Version: 2, Judge: aligned}, failing)
	if err != nil || a.Feedback.Error == nil || a.Feedback.Error.Code != eval.CodeRetrievalError {
		t.Errorf("retriever failure: feedback %+v, error %v; want a %s feedback", a.Feedback, err, eval.CodeRetrievalError)
	}
	if srv.Calls() != 1 {
		t.Errorf("%d calls; the failed retrieval must not call the model", srv.Calls())
	}
}

func TestRunRefusals(t *testing.T) {
	ctx := context.Background()
	srv := llmtest.NewServer(t)
	st := newStore(t)
	r := register(t, st, boolJudge(t))
	noStore, err := eval.New(newClient(t, srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := noStore.Run(ctx, eval.RunSpec{Judge: r, Traces: eval.Slice(nil)}); err == nil {
		t.Error("Run without a store succeeded")
	}
	e, err := eval.New(newClient(t, srv, nil), eval.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	for _, spec := range []eval.RunSpec{
		{Judge: r},
		{Traces: eval.Slice(nil)},
		{Judge: r, Traces: eval.Slice(nil), Limit: -1},
	} {
		if sum, err := e.Run(ctx, spec); err == nil || sum != nil {
			t.Errorf("Run(%+v) = %+v, %v; want an error before starting", spec, sum, err)
		}
	}
	if runs, _ := st.EvalRuns(ctx, store.EvalRunQuery{}); len(runs) != 0 {
		t.Errorf("refused runs were recorded: %+v", runs)
	}
	if _, err := eval.New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}
