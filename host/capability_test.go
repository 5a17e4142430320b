package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/examples/fewshot"
	"github.com/alignhost/alignhost/trace"
)

// condenser answers fewshot's condense requests with a rule derived from
// the request, and anything else with a judgement.
func condenser(req openai.ChatCompletionRequest) llmtest.Reply {
	if req.ResponseFormat != nil && req.ResponseFormat.JSONSchema != nil && req.ResponseFormat.JSONSchema.Name == "guideline" {
		user := req.Messages[len(req.Messages)-1].Content
		b, _ := json.Marshal(map[string]string{"guideline": "Rule drawn from: " + clip(user, 40)})
		return llmtest.Content(string(b))
	}
	return llmtest.Content(`{"result":"yes","rationale":"fake"}`)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// agreeingEvaluator judges "yes" for a judge without guidelines and, for a
// judge with guidelines, the human's value when agree is true and the
// opposite otherwise. It counts the examples it judged.
type agreeingEvaluator struct {
	agree bool
	mu    sync.Mutex
	seen  int
}

func (e *agreeingEvaluator) Evaluate(_ context.Context, j *judge.Judge, examples []judge.Example) (*pluginapi.EvaluateResponse, error) {
	e.mu.Lock()
	e.seen += len(examples)
	e.mu.Unlock()
	resp := &pluginapi.EvaluateResponse{Usage: pluginapi.Usage{PromptTokens: 10 * len(examples), CompletionTokens: len(examples)}}
	for _, ex := range examples {
		v := "yes"
		if j.Memory != nil && len(j.Memory.Guidelines) > 0 {
			v = fmt.Sprint(ex.Value)
			if !e.agree {
				v = map[string]string{"yes": "no", "no": "yes"}[v]
			}
		}
		resp.Results = append(resp.Results, pluginapi.Judgement{Value: v, Rationale: "because"})
	}
	return resp, nil
}

func TestFewshotAsWebAssembly(t *testing.T) {
	eval := &agreeingEvaluator{agree: true}
	h, srv := modelHost(t, host.NewConfig().WithEvaluator(eval), llmtest.WithResponder(condenser))
	p := load(t, h, "fewshot", host.Manifest{})
	if d := p.Description(); d.Name != "fewshot" || !d.Declares(pluginapi.Embed) || len(d.Config) != 3 {
		t.Fatalf("description = %+v", d)
	}
	var progress []host.Progress
	var mu sync.Mutex
	j := testJudge(t)
	examples := testExamples(8)
	res, err := p.Align(context.Background(), host.Input{
		Judge: j, Examples: examples,
		Config:   map[string]any{"k": 3, "condense": true, "verify": true},
		Progress: func(pr host.Progress) { mu.Lock(); progress = append(progress, pr); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Judge.Memory
	if m == nil || len(m.Guidelines) != 3 {
		t.Fatalf("memory = %+v, want 3 guidelines", m)
	}
	for i, g := range m.Guidelines {
		if !strings.HasPrefix(g.Text, "Rule drawn from: In a case like") || len(g.SourceTraceIDs) != 1 {
			t.Errorf("guideline %d = %+v", i, g)
		}
	}
	if got := res.Report.Counts; got["picked"] != 3 || got["guidelines_added"] != 3 || got["agreement_before"] != 6 || got["agreement_after"] != 8 {
		t.Errorf("counts = %v", got)
	}
	// One embed call for the 8 examples, one chat per picked example and
	// one evaluation per example before and after.
	embeds, chats := srv.EmbedRequests(), srv.ChatRequests()
	if len(embeds) != 1 || len(embeds[0].Inputs) != 8 || embeds[0].Dimensions != 64 || embeds[0].Model != "text-embedding-3-small" {
		t.Errorf("embed requests = %+v", embeds)
	}
	if len(chats) != 3 || chats[0].Model != "gpt-4.1" {
		t.Errorf("%d chat requests", len(chats))
	}
	if eval.seen != 16 {
		t.Errorf("the evaluator judged %d examples, want 16", eval.seen)
	}
	if res.Usage.ModelCalls != 1+3+16 || res.Usage.PromptTokens == 0 {
		t.Errorf("usage = %+v", res.Usage)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(progress) != 4 || progress[3].Done != 3 || progress[3].Total != 3 || progress[3].Plugin != "fewshot" {
		t.Errorf("progress = %+v", progress)
	}

	// Aligning the aligned judge adds only examples not yet used.
	again, err := p.Align(context.Background(), host.Input{Judge: res.Judge, Examples: examples, Config: map[string]any{"k": 10}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(again.Judge.Memory.Guidelines); n != 8 {
		t.Errorf("re-alignment holds %d guidelines, want 8", n)
	}
}

func TestFewshotKeepsTheJudgeWhenAgreementDrops(t *testing.T) {
	h, _ := modelHost(t, host.NewConfig().WithEvaluator(&agreeingEvaluator{agree: false}))
	n, err := h.LoadNative(fewshot.Optimizer{}, host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	j := testJudge(t)
	res, err := n.Align(context.Background(), host.Input{Judge: j, Examples: testExamples(6), Config: map[string]any{"verify": true}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Judge.Memory != nil {
		t.Errorf("the judge gained memory %+v although agreement dropped", res.Judge.Memory)
	}
	if len(res.Report.Warnings) != 1 || !strings.Contains(res.Report.Summary, "kept the judge unchanged") {
		t.Errorf("report = %+v", res.Report)
	}
}

// TestNativeMatchesWebAssembly runs one optimizer both ways on the same
// input: the judges must be identical.
func TestNativeMatchesWebAssembly(t *testing.T) {
	h, _ := modelHost(t, host.NewConfig().WithEvaluator(&agreeingEvaluator{agree: true}), llmtest.WithResponder(condenser))
	wasm := load(t, h, "fewshot", host.Manifest{})
	native, err := h.LoadNative(fewshot.Optimizer{}, host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(wasm.Description(), native.Description()) {
		t.Errorf("descriptions differ:\nwasm   %+v\nnative %+v", wasm.Description(), native.Description())
	}
	in := host.Input{Judge: testJudge(t), Examples: testExamples(12), Config: map[string]any{"k": 4, "condense": true, "verify": true}}
	var judges [2][]byte
	var reports [2]pluginapi.Report
	for i, r := range []host.Runner{wasm, native} {
		res, err := r.Align(context.Background(), in)
		if err != nil {
			t.Fatalf("%T: %v", r, err)
		}
		res.Judge.Provenance = nil
		judges[i], _ = json.Marshal(res.Judge)
		reports[i] = res.Report
	}
	if string(judges[0]) != string(judges[1]) {
		t.Errorf("judges differ:\nwasm   %s\nnative %s", judges[0], judges[1])
	}
	if !reflect.DeepEqual(reports[0], reports[1]) {
		t.Errorf("reports differ:\nwasm   %+v\nnative %+v", reports[0], reports[1])
	}
}

// script is an optimizer whose Align is a test's function.
type script struct {
	desc  pluginapi.Description
	align func(context.Context, pluginapi.Host, *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error)
}

func (s script) Describe() pluginapi.Description { return s.desc }
func (s script) Align(ctx context.Context, h pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	return s.align(ctx, h, req)
}

func scripted(caps []pluginapi.Capability, align func(context.Context, pluginapi.Host, *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error)) script {
	return script{desc: pluginapi.Description{Name: "script", Version: "0", Capabilities: caps}, align: align}
}

// TestCapabilityRefusals checks what the host refuses as a whole request:
// the plugin gets a *pluginapi.Error with a code and carries on.
func TestCapabilityRefusals(t *testing.T) {
	all := []pluginapi.Capability{pluginapi.Chat, pluginapi.Embed, pluginapi.Evaluate}
	user := []pluginapi.Message{{Role: "user", Content: "hi"}}
	cases := []struct {
		name  string
		caps  []pluginapi.Capability
		noEva bool
		call  func(context.Context, pluginapi.Host, *pluginapi.AlignRequest) error
		code  string
		want  string
	}{
		{"chat not declared", []pluginapi.Capability{pluginapi.Embed}, false,
			func(ctx context.Context, h pluginapi.Host, _ *pluginapi.AlignRequest) error {
				_, err := h.Chat(ctx, []pluginapi.ChatRequest{{Messages: user}})
				return err
			}, pluginapi.CodeNotDeclared, "capability chat is not declared"},
		{"unknown model", all, false,
			func(ctx context.Context, h pluginapi.Host, _ *pluginapi.AlignRequest) error {
				_, err := h.Chat(ctx, []pluginapi.ChatRequest{{Model: "openai:/gpt-5", Messages: user}})
				return err
			}, pluginapi.CodeUnknownModel, `no model named "openai:/gpt-5"`},
		{"chat with an embed model", all, false,
			func(ctx context.Context, h pluginapi.Host, _ *pluginapi.AlignRequest) error {
				_, err := h.Chat(ctx, []pluginapi.ChatRequest{{Model: "embedding", Messages: user}})
				return err
			}, pluginapi.CodeUnknownModel, `model "embedding" is an embed model, not a chat model`},
		{"empty chat batch", all, false,
			func(ctx context.Context, h pluginapi.Host, _ *pluginapi.AlignRequest) error {
				_, err := h.Chat(ctx, nil)
				return err
			}, pluginapi.CodeInvalidRequest, "a chat batch holds 1 to 256 requests, got 0"},
		{"empty embed input", all, false,
			func(ctx context.Context, h pluginapi.Host, _ *pluginapi.AlignRequest) error {
				_, err := h.Embed(ctx, pluginapi.EmbedRequest{Inputs: []string{"a", " "}})
				return err
			}, pluginapi.CodeInvalidRequest, "input 1 is empty"},
		{"no evaluator", all, true,
			func(ctx context.Context, h pluginapi.Host, req *pluginapi.AlignRequest) error {
				_, err := h.Evaluate(ctx, pluginapi.EvaluateRequest{Judge: req.Judge, Indices: []int{0}})
				return err
			}, pluginapi.CodeUnavailable, "this host offers no evaluate capability"},
		{"candidate changes the model", all, false,
			func(ctx context.Context, h pluginapi.Host, req *pluginapi.AlignRequest) error {
				c := req.Judge.Clone()
				c.Model = "openai:/gpt-5"
				_, err := h.Evaluate(ctx, pluginapi.EvaluateRequest{Judge: c, Indices: []int{0}})
				return err
			}, pluginapi.CodeNotAllowed, `model changed from "openai:/gpt-4.1-mini" to "openai:/gpt-5"`},
		{"index out of range", all, false,
			func(ctx context.Context, h pluginapi.Host, req *pluginapi.AlignRequest) error {
				_, err := h.Evaluate(ctx, pluginapi.EvaluateRequest{Judge: req.Judge, Indices: []int{2}})
				return err
			}, pluginapi.CodeInvalidRequest, "index 2 is outside the request's 2 examples"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := host.NewConfig()
			if !tc.noEva {
				cfg = cfg.WithEvaluator(&agreeingEvaluator{agree: true})
			}
			h, srv := modelHost(t, cfg)
			var callErr error
			n, err := h.LoadNative(scripted(tc.caps, func(ctx context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
				callErr = tc.call(ctx, hh, req)
				return &pluginapi.AlignResponse{Judge: req.Judge}, nil
			}), host.Manifest{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(2)}); err != nil {
				t.Fatalf("align failed although the plugin carried on: %v", err)
			}
			var pe *pluginapi.Error
			if !errors.As(callErr, &pe) || pe.Code != tc.code || !strings.Contains(pe.Message, tc.want) {
				t.Errorf("capability error = %v, want code %s containing %q", callErr, tc.code, tc.want)
			}
			if len(srv.Requests()) != 0 {
				t.Errorf("a refused request reached the model")
			}
		})
	}
}

// TestModelFailuresHideEndpoints checks that what a plugin learns of a
// failed model call names the role, never the model URI, the endpoint or
// the key.
func TestModelFailuresHideEndpoints(t *testing.T) {
	h, srv := modelHost(t, host.NewConfig(), llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply { return llmtest.ServerError() }))
	var results []pluginapi.ChatResult
	var embedErr error
	n, err := h.LoadNative(scripted([]pluginapi.Capability{pluginapi.Chat, pluginapi.Embed}, func(ctx context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
		var err error
		results, err = hh.Chat(ctx, []pluginapi.ChatRequest{{Messages: []pluginapi.Message{{Role: "user", Content: "hi"}}}})
		if err != nil {
			return nil, err
		}
		srv.Close() // the embed call cannot connect
		_, embedErr = hh.Embed(ctx, pluginapi.EmbedRequest{Inputs: []string{"hi"}})
		return &pluginapi.AlignResponse{Judge: req.Judge}, nil
	}), host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1)}); err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Error != "model reflection: status 500: The server had an error while processing your request" {
		t.Errorf("chat results = %+v", results)
	}
	var pe *pluginapi.Error
	if !errors.As(embedErr, &pe) || pe.Code != pluginapi.CodeModelError || pe.Message != "model embedding: no answer" {
		t.Errorf("embed error = %v", embedErr)
	}
	for _, text := range []string{results[0].Error, fmt.Sprint(embedErr)} {
		for _, secret := range []string{"openai:/", "127.0.0.1", srv.URL, srv.APIKey()} {
			if strings.Contains(text, secret) {
				t.Errorf("%q reveals %q", text, secret)
			}
		}
	}
}

// TestNativeLimits checks that limits end a native run as they end a
// WebAssembly one, whatever the optimizer does with the error.
func TestNativeLimits(t *testing.T) {
	chat := func(ctx context.Context, h pluginapi.Host) error {
		_, err := h.Chat(ctx, []pluginapi.ChatRequest{{Messages: []pluginapi.Message{{Role: "user", Content: strings.Repeat("word ", 200)}}}})
		return err
	}
	cases := []struct {
		name   string
		limits host.Limits
		reply  llmtest.Reply
		align  func(ctx context.Context, h pluginapi.Host) error
		limit  host.Limit
	}{
		{"tokens", host.Limits{Tokens: 100}, llmtest.Content("fine"), func(ctx context.Context, h pluginapi.Host) error {
			for range 3 {
				_ = chat(ctx, h) // ignores the error and carries on
			}
			return nil
		}, host.LimitTokens},
		{"model calls", host.Limits{ModelCalls: 2}, llmtest.Content("fine"), func(ctx context.Context, h pluginapi.Host) error {
			req := pluginapi.ChatRequest{Messages: []pluginapi.Message{{Role: "user", Content: "hi"}}}
			_, err := h.Chat(ctx, []pluginapi.ChatRequest{req, req, req})
			return err
		}, host.LimitModelCalls},
		{"wall time while waiting on a model", host.Limits{WallTimeMS: 200}, llmtest.Hang(), chat, host.LimitWallTime},
		{"wall time in the optimizer", host.Limits{WallTimeMS: 200}, llmtest.Content("fine"), func(ctx context.Context, _ pluginapi.Host) error {
			<-ctx.Done()
			return ctx.Err()
		}, host.LimitWallTime},
		{"message size", host.Limits{MessageBytes: 4 << 10}, llmtest.Content(strings.Repeat("x", 8<<10)), chat, host.LimitMessageSize},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reply := tc.reply
			h, _ := modelHost(t, host.NewConfig(), llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply { return reply }))
			n, err := h.LoadNative(scripted([]pluginapi.Capability{pluginapi.Chat}, func(ctx context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
				_ = tc.align(ctx, hh)
				return &pluginapi.AlignResponse{Judge: req.Judge}, nil
			}), host.Manifest{Limits: tc.limits})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = n.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1)})
			var le *host.LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Fatalf("align = %v, want the %s limit", err, tc.limit)
			}
			t.Logf("stopped after %v", time.Since(start))
		})
	}
}

// TestRequestReachesTheOptimizer checks what an optimizer receives: the
// examples, skipped traces, the configuration with defaults, the models by
// role (never a URI) and the budget; and that an allowed model change is
// accepted.
func TestRequestReachesTheOptimizer(t *testing.T) {
	rec := &recorder{}
	h, _ := modelHost(t, host.NewConfig().WithLogger(slog.New(rec)))
	var got pluginapi.AlignRequest
	desc := pluginapi.Description{Name: "probe", Version: "1", Config: []pluginapi.ConfigKey{
		{Key: "k", Type: pluginapi.ConfigInteger, Default: 5},
		{Key: "style", Type: pluginapi.ConfigString},
	}}
	n, err := h.LoadNative(script{desc: desc, align: func(_ context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
		got = *req
		hh.Log(pluginapi.LevelWarn, "probing")
		j := req.Judge.Clone()
		j.Model = "openai:/gpt-4.1"
		return &pluginapi.AlignResponse{Judge: j, Report: pluginapi.Report{Warnings: make([]string, 150)}}, nil
	}}, host.Manifest{Limits: host.Limits{ModelCalls: 7}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Align(context.Background(), host.Input{
		Judge: testJudge(t), Examples: testExamples(2),
		Skipped:     []trace.Skip{{TraceID: "tr-x", Reason: "no HUMAN feedback"}},
		Config:      map[string]any{"style": "terse"},
		JudgeModels: []string{"openai:/gpt-4.1"},
		Seed:        42,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Judge.Model != "openai:/gpt-4.1" {
		t.Errorf("model = %q, want the allowed change", res.Judge.Model)
	}
	if len(res.Report.Warnings) != 101 || !strings.Contains(res.Report.Warnings[100], "50 more warnings") {
		t.Errorf("report has %d warnings, want 100 and a note", len(res.Report.Warnings))
	}
	want := map[string]any{"k": float64(5), "style": "terse"}
	if !reflect.DeepEqual(got.Config, want) {
		t.Errorf("config = %#v, want %#v", got.Config, want)
	}
	if len(got.Examples) != 2 || len(got.Skipped) != 1 || got.Skipped[0].Reason != "no HUMAN feedback" || got.Seed != 42 {
		t.Errorf("request = %+v", got)
	}
	wantModels := []pluginapi.Model{{Name: "reflection", Kind: "chat"}, {Name: "embedding", Kind: "embed", Dimensions: 64}}
	if !reflect.DeepEqual(got.Models, wantModels) {
		t.Errorf("models = %+v, want %+v", got.Models, wantModels)
	}
	if got.Budget.ModelCalls != 7 || got.Budget.Tokens != 2_000_000 || got.Budget.WallTimeMS != 900_000 {
		t.Errorf("budget = %+v", got.Budget)
	}
	if logs := rec.find("probing"); len(logs) != 1 || attr(logs[0], "plugin") != "probe" {
		t.Errorf("log records = %v", logs)
	}
}

// TestEvaluatorErrorsHideEndpoints checks that an evaluator's failures
// reach the plugin without the URLs they may name.
func TestEvaluatorErrorsHideEndpoints(t *testing.T) {
	failing := host.EvaluatorFunc(func(_ context.Context, _ *judge.Judge, examples []judge.Example) (*pluginapi.EvaluateResponse, error) {
		if len(examples) == 2 {
			return nil, errors.New(`Post "https://10.1.2.3:8443/v1/chat/completions": dial tcp: connection refused`)
		}
		return &pluginapi.EvaluateResponse{Results: []pluginapi.Judgement{{Error: "model openai:/gpt-4.1-mini: Post http://10.1.2.3/v1: timeout"}}}, nil
	})
	h := newHost(t, host.NewConfig().WithEvaluator(failing))
	var one *pluginapi.EvaluateResponse
	var whole error
	n, err := h.LoadNative(scripted([]pluginapi.Capability{pluginapi.Evaluate}, func(ctx context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
		var err error
		if one, err = hh.Evaluate(ctx, pluginapi.EvaluateRequest{Judge: req.Judge, Indices: []int{0}}); err != nil {
			return nil, err
		}
		_, whole = hh.Evaluate(ctx, pluginapi.EvaluateRequest{Judge: req.Judge, Indices: []int{0, 1}})
		return &pluginapi.AlignResponse{Judge: req.Judge}, nil
	}), host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(2)}); err != nil {
		t.Fatal(err)
	}
	if got := one.Results[0].Error; got != "model openai:/gpt-4.1-mini: Post [endpoint]: timeout" || one.Results[0].TraceID != "tr-000" || one.Results[0].Agree {
		t.Errorf("judgement = %+v", one.Results[0])
	}
	if whole == nil || whole.Error() != `model_error: evaluate failed: Post "[endpoint]": dial tcp: connection refused` {
		t.Errorf("whole-call error = %v", whole)
	}
}

// memCache is an in-memory llm.Cache.
type memCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok, nil
}

func (c *memCache) Put(_ context.Context, key string, val []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = val
	return nil
}

// TestNoCacheReachesPluginChat: with WithNoCache (align --no-cache), a
// plugin's repeated question is asked again instead of answered from the
// client's cache.
func TestNoCacheReachesPluginChat(t *testing.T) {
	for _, noCache := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-cache=%v", noCache), func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Always("fine")))
			client, err := llm.New(llm.WithGetenv(srv.Getenv), llm.WithCache(&memCache{m: map[string][]byte{}}))
			if err != nil {
				t.Fatal(err)
			}
			cfg := host.NewConfig().WithModels(client, testRoles...)
			if noCache {
				cfg = cfg.WithNoCache()
			}
			h := newHost(t, cfg)
			n, err := h.LoadNative(scripted([]pluginapi.Capability{pluginapi.Chat}, func(ctx context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
				q := pluginapi.ChatRequest{Messages: []pluginapi.Message{{Role: "user", Content: "same question"}}}
				for range 2 {
					if _, err := hh.Chat(ctx, []pluginapi.ChatRequest{q}); err != nil {
						return nil, err
					}
				}
				return &pluginapi.AlignResponse{Judge: req.Judge}, nil
			}), host.Manifest{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := n.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1)}); err != nil {
				t.Fatal(err)
			}
			want := 1
			if noCache {
				want = 2
			}
			if got := srv.Calls(); got != want {
				t.Errorf("the model got %d calls for the same question twice, want %d", got, want)
			}
		})
	}
}

// TestTokenBudgetIsBookedBeforeABatch: a chat batch whose estimated tokens
// (prompt bytes / 4 + max_tokens) would cross the token budget is refused
// before any of it is sent; one that fits is sent.
func TestTokenBudgetIsBookedBeforeABatch(t *testing.T) {
	h, srv := modelHost(t, host.NewConfig(), llmtest.WithResponder(llmtest.Always("fine")))
	var small, big error
	n, err := h.LoadNative(scripted([]pluginapi.Capability{pluginapi.Chat}, func(ctx context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
		q := func(i int) pluginapi.ChatRequest {
			return pluginapi.ChatRequest{Messages: []pluginapi.Message{{Role: "user", Content: fmt.Sprint("question ", i, strings.Repeat(" x", 200))}},
				Params: map[string]any{"max_tokens": 1000}}
		}
		// About 1,110 tokens booked each: 8 fit in 10,000, 256 do not.
		batch := func(n int) []pluginapi.ChatRequest {
			out := make([]pluginapi.ChatRequest, n)
			for i := range out {
				out[i] = q(i)
			}
			return out
		}
		_, small = hh.Chat(ctx, batch(8))
		_, big = hh.Chat(ctx, batch(256))
		return &pluginapi.AlignResponse{Judge: req.Judge}, nil
	}), host.Manifest{Limits: host.Limits{Tokens: 10_000, ModelCalls: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = n.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1)})
	if small != nil {
		t.Fatalf("a batch within the budget failed: %v", small)
	}
	var le *host.LimitError
	if !errors.As(err, &le) || le.Limit != host.LimitTokens {
		t.Fatalf("align = %v (batch error %v), want the token limit", err, big)
	}
	if got := srv.Calls(); got != 8 {
		t.Errorf("the model got %d calls, want the 8 of the batch that fit and none of the one that did not", got)
	}
}
