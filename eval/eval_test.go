package eval_test

import (
	"context"
	"fmt"
	"path/filepath"
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

const model = "openai:/gpt-4.1-mini"

// fastRetry keeps retry waits short in tests.
var fastRetry = llm.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// newClient returns a client that talks to srv, with cache as its cache
// when not nil.
func newClient(t testing.TB, srv *llmtest.Server, cache llm.Cache, opts ...llm.Option) *llm.Client {
	t.Helper()
	base := []llm.Option{llm.WithGetenv(srv.Getenv), llm.WithRetry(fastRetry), llm.WithTimeout(2 * time.Second)}
	if cache != nil {
		base = append(base, llm.WithCache(cache))
	}
	c, err := llm.New(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newStore(t testing.TB) *store.Store {
	t.Helper()
	return openStore(t, filepath.Join(t.TempDir(), "alignhost.db"))
}

// readTraces reads flat JSON Lines records.
func readTraces(t testing.TB, lines ...string) []*trace.Trace {
	t.Helper()
	recs, err := trace.Read(strings.NewReader(strings.Join(lines, "\n")), "test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out []*trace.Trace
	for _, r := range recs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		out = append(out, r.Trace)
	}
	return out
}

// qaTraces returns n question/answer traces t-000, t-001, … whose outputs
// are "answer i".
func qaTraces(t testing.TB, n int) []*trace.Trace {
	t.Helper()
	lines := make([]string, n)
	for i := range n {
		lines[i] = fmt.Sprintf(`{"trace_id": "t-%03d", "inputs": {"question": "question %d"}, "outputs": "answer %d"}`, i, i, i)
	}
	return readTraces(t, lines...)
}

// register stores j and returns its registered version.
func register(t testing.TB, s *store.Store, j *judge.Judge) *store.RegisteredJudge {
	t.Helper()
	ctx := context.Background()
	if _, err := s.RegisterJudge(ctx, j, nil); err != nil {
		t.Fatal(err)
	}
	r, err := s.Judge(ctx, j.Name, 0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func boolJudge(t testing.TB) *judge.Judge {
	t.Helper()
	j, err := judge.New("helpful", "Is {{ outputs }} a helpful answer to {{ inputs }}?",
		judge.WithModel(model), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func importTraces(t testing.TB, s *store.Store, traces []*trace.Trace) {
	t.Helper()
	if _, err := s.ImportTraces(context.Background(), "", traces); err != nil {
		t.Fatal(err)
	}
}

// judgeFeedback returns the LLM_JUDGE feedback named name of every stored
// trace, by trace ID.
func judgeFeedback(t testing.TB, s *store.Store, name string) map[string][]trace.Assessment {
	t.Helper()
	out := map[string][]trace.Assessment{}
	for tr, err := range s.Traces(context.Background(), store.TraceQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range tr.Info.Assessments {
			if a.Source.Type == trace.SourceLLMJudge && a.Name == name {
				out[tr.Info.TraceID] = append(out[tr.Info.TraceID], a)
			}
		}
	}
	return out
}

func float(f float64) *float64 { return &f }

func TestEvaluateValueKinds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vt     judge.ValueType
		answer string
		want   string // the feedback value's JSON
	}{
		{"boolean", judge.ValueType{Type: judge.Boolean}, `{"rationale":"r","result":"true"}`, `"yes"`},
		{"categorical", judge.ValueType{Values: []string{"excellent", "good", "poor"}}, `{"rationale":"r","result":" Good "}`, `"good"`},
		{"integer", judge.ValueType{Type: judge.Integer, Min: float(1), Max: float(5)}, `{"rationale":"r","result":"4"}`, `4`},
		{"float", judge.ValueType{Type: judge.Float, Min: float(0), Max: float(1)}, "```json\n{\"rationale\":\"r\",\"result\":0.25}\n```", `0.25`},
		{"string", judge.ValueType{Type: judge.String}, `Here you go: {"rationale":"r","result":"terse"}`, `"terse"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Always(tc.answer)))
			e, err := eval.New(newClient(t, srv, nil))
			if err != nil {
				t.Fatal(err)
			}
			j, err := judge.New("quality", "Rate {{ outputs }} as an answer to {{ inputs }}.",
				judge.WithValueType(tc.vt)) // no model: the client's default
			if err != nil {
				t.Fatal(err)
			}
			tr := qaTraces(t, 1)[0]
			a, err := e.Evaluate(context.Background(), &store.RegisteredJudge{Name: "quality", Version: 3, Judge: j}, tr)
			if err != nil {
				t.Fatal(err)
			}
			if a.Feedback == nil || a.Feedback.Error != nil || string(a.Feedback.Value) != tc.want {
				t.Fatalf("feedback = %+v, want value %s", a.Feedback, tc.want)
			}
			resolved := j.Clone()
			resolved.Model = model
			wantMeta := map[string]string{
				eval.MetaJudgeVersion: "3", eval.MetaJudgeFingerprint: resolved.Fingerprint(), eval.MetaModel: model,
			}
			if a.Name != "quality" || a.TraceID != "t-000" || a.Rationale != "r" ||
				a.Source.Type != trace.SourceLLMJudge || a.Source.ID != model || a.CreateTime.IsZero() ||
				!strings.HasPrefix(a.ID, "a-") || fmt.Sprint(a.Metadata) != fmt.Sprint(wantMeta) {
				t.Errorf("assessment = %+v, metadata %v; want name quality, source LLM_JUDGE %s, metadata %v",
					a, a.Metadata, model, wantMeta)
			}
			reqs := srv.ChatRequests()
			if len(reqs) != 1 {
				t.Fatalf("%d chat requests, want 1", len(reqs))
			}
			chat := reqs[0].Chat
			if chat.ResponseFormat == nil || chat.ResponseFormat.JSONSchema == nil || chat.ResponseFormat.JSONSchema.Name != judge.SchemaName {
				t.Errorf("request has no %s JSON schema: %+v", judge.SchemaName, chat.ResponseFormat)
			}
			user := chat.Messages[len(chat.Messages)-1].Content
			if !strings.Contains(user, "answer 0") || !strings.Contains(user, `"question": "question 0"`) {
				t.Errorf("user message lacks the raw root-span inputs and outputs:\n%s", user)
			}
		})
	}
}

func TestEvaluateMissingInputNoCall(t *testing.T) {
	srv := llmtest.NewServer(t)
	e, err := eval.New(newClient(t, srv, nil))
	if err != nil {
		t.Fatal(err)
	}
	withExp, err := judge.New("correct", "Does {{ outputs }} match {{ expectations }}?",
		judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	traces := readTraces(t,
		`{"trace_id": "no-out", "inputs": "q"}`,
		`{"trace_id": "blank-out", "inputs": "q", "outputs": "  "}`,
		`{"trace_id": "no-exp", "inputs": "q", "outputs": "a"}`,
	)
	for _, tc := range []struct {
		j    *judge.Judge
		tr   *trace.Trace
		want string
	}{
		{boolJudge(t), traces[0], "missing outputs"},
		{boolJudge(t), traces[1], "missing outputs"},
		{withExp, traces[2], "missing expectations"},
	} {
		a, err := e.Evaluate(context.Background(), &store.RegisteredJudge{Name: tc.j.Name, Version: 1, Judge: tc.j}, tc.tr)
		if err != nil {
			t.Fatal(err)
		}
		if a.Feedback == nil || a.Feedback.Value != nil || a.Feedback.Error == nil ||
			a.Feedback.Error.Code != eval.CodeMissingInput || a.Feedback.Error.Message != tc.want {
			t.Errorf("trace %s: feedback %+v, want error %s %q", tc.tr.Info.TraceID, a.Feedback, eval.CodeMissingInput, tc.want)
		}
		if a.Metadata[eval.MetaJudgeVersion] != "1" {
			t.Errorf("error feedback metadata = %v, want the judge version", a.Metadata)
		}
	}
	if n := srv.Calls(); n != 0 {
		t.Errorf("server got %d calls for traces missing a field, want 0", n)
	}
}

func TestEvaluateRepair(t *testing.T) {
	const good = `{"rationale":"fixed","result":"no"}`
	for _, tc := range []struct {
		name     string
		replies  []llmtest.Reply
		wantCode string
		wantMsg  string
	}{
		{"repaired", []llmtest.Reply{llmtest.Content("I think it is fine."), llmtest.Content(good)}, "", ""},
		{"out of set then repaired", []llmtest.Reply{llmtest.Content(`{"result":"maybe"}`), llmtest.Content(good)}, "", ""},
		{"still garbage", []llmtest.Reply{llmtest.Content("garbage"), llmtest.Content(`{"result":"perhaps"}`)}, eval.CodeParseError, `"perhaps"`},
		{"repair call refused", []llmtest.Reply{llmtest.Content("garbage"), llmtest.Error(400, "bad request")}, eval.CodeModelError, "status 400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(tc.replies...)))
			st := newStore(t)
			e, err := eval.New(newClient(t, srv, st.ResponseCache()))
			if err != nil {
				t.Fatal(err)
			}
			j := boolJudge(t)
			a, err := e.Evaluate(context.Background(), &store.RegisteredJudge{Name: j.Name, Version: 1, Judge: j}, qaTraces(t, 1)[0])
			if err != nil {
				t.Fatal(err)
			}
			reqs := srv.ChatRequests()
			if len(reqs) != 2 {
				t.Fatalf("%d chat requests, want the first and one repair", len(reqs))
			}
			first, repair := reqs[0].Chat.Messages, reqs[1].Chat.Messages
			if len(repair) != len(first)+2 || repair[len(first)].Role != "assistant" ||
				repair[len(first)].Content != tc.replies[0].Content ||
				!strings.Contains(repair[len(repair)-1].Content, "could not be used") {
				t.Errorf("repair request does not send back the bad answer and the problem: %+v", repair[len(first):])
			}
			switch tc.wantCode {
			case "":
				if a.Feedback.Error != nil || string(a.Feedback.Value) != `"no"` || a.Rationale != "fixed" {
					t.Errorf("feedback = %+v, rationale %q; want the repaired answer", a.Feedback, a.Rationale)
				}
			default:
				if a.Feedback.Error == nil || a.Feedback.Error.Code != tc.wantCode || !strings.Contains(a.Feedback.Error.Message, tc.wantMsg) {
					t.Errorf("feedback = %+v, want error %s mentioning %s", a.Feedback, tc.wantCode, tc.wantMsg)
				}
			}
		})
	}
}

func TestEvaluateModelFailures(t *testing.T) {
	const good = `{"rationale":"ok","result":"yes"}`
	for _, tc := range []struct {
		name      string
		respond   llmtest.Responder
		wantCode  string
		wantCalls int
	}{
		{"429 then success", llmtest.Sequence(llmtest.RateLimited(10*time.Millisecond), llmtest.Content(good)), "", 2},
		{"500 then success", llmtest.Sequence(llmtest.ServerError(), llmtest.Content(good)), "", 2},
		{"always 429", llmtest.Sequence(llmtest.RateLimited(0)), eval.CodeRateLimited, 3},
		{"hangs", func(openai.ChatCompletionRequest) llmtest.Reply { return llmtest.Hang() }, eval.CodeTimeout, 3},
		{"bad request", llmtest.Sequence(llmtest.Error(400, "bad")), eval.CodeModelError, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(tc.respond))
			e, err := eval.New(newClient(t, srv, nil, llm.WithTimeout(50*time.Millisecond)))
			if err != nil {
				t.Fatal(err)
			}
			j := boolJudge(t)
			a, err := e.Evaluate(context.Background(), &store.RegisteredJudge{Name: j.Name, Version: 1, Judge: j}, qaTraces(t, 1)[0])
			if err != nil {
				t.Fatal(err)
			}
			// An attempt that times out may never reach a loaded server, so
			// a hanging endpoint can see fewer calls than were attempted.
			if got := srv.Calls(); got != tc.wantCalls && !(tc.wantCode == eval.CodeTimeout && got >= 1 && got <= tc.wantCalls) {
				t.Errorf("server calls = %d, want %d", got, tc.wantCalls)
			}
			if tc.wantCode == "" {
				if a.Feedback.Error != nil || string(a.Feedback.Value) != `"yes"` {
					t.Errorf("feedback = %+v, want yes", a.Feedback)
				}
				return
			}
			if a.Feedback.Error == nil || a.Feedback.Error.Code != tc.wantCode || a.Feedback.Value != nil {
				t.Errorf("feedback = %+v, want error %s", a.Feedback, tc.wantCode)
			}
		})
	}
}
