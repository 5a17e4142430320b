package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/pluginapi"
)

// chatParallelism bounds the chat requests of one batch in flight at once;
// the model client applies each endpoint's own limits on top.
const chatParallelism = 16

// session is the capability side of one align call: what the plugin may
// use, what it has spent, and the first fatal error. The WebAssembly
// imports and the native Host both go through it, so a plugin meets the
// same rules either way.
//
// A method returns a *pluginapi.Error when it refuses the request as a
// whole (the plugin carries on) and any other error when the call must end
// (a limit, a cancelled run); the latter is also recorded as the session's
// fatal error.
type session struct {
	plugin      string
	desc        *pluginapi.Description
	limits      Limits
	models      ModelClient
	noCache     bool // skip the response cache (align --no-cache)
	roles       map[string]Role
	evaluator   Evaluator
	log         *slog.Logger
	judge       *judge.Judge
	examples    []judge.Example
	judgeModels []string
	judgeParams []string
	progress    func(Progress)
	// wallLimit is the cause of the call context's deadline.
	wallLimit *LimitError

	mu         sync.Mutex
	calls      int
	prompt     int64
	completion int64
	reserved   int64 // tokens booked for chat batches in flight
	fatal      error
}

func refuse(code, format string, args ...any) error {
	return &pluginapi.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// fail records err as the session's fatal error, unless one is recorded,
// and returns the recorded one.
func (s *session) fail(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal == nil {
		s.fatal = err
	}
	return s.fatal
}

// fatalErr returns the session's fatal error, or nil.
func (s *session) fatalErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

func (s *session) limitError(l Limit, value string) *LimitError {
	return &LimitError{Plugin: s.plugin, Op: "align", Limit: l, Value: value}
}

// stopped turns the end of ctx into the call's fatal error: the wall-time
// limit when the call's own deadline passed, the caller's error otherwise.
func (s *session) stopped(ctx context.Context) error {
	if s.wallLimit != nil && context.Cause(ctx) == s.wallLimit {
		return s.fail(s.wallLimit)
	}
	return s.fail(fmt.Errorf("plugin %s: align: %w", s.plugin, ctx.Err()))
}

// check returns the fatal error, if any, and makes ctx's end fatal.
func (s *session) check(ctx context.Context) error {
	if err := s.fatalErr(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return s.stopped(ctx)
	}
	return nil
}

// reserve books n model calls, or fails when they would exceed the budget.
// Nothing is sent for a batch that does not fit.
func (s *session) reserve(n int) error { return s.reserveTokens(n, 0) }

// reserveTokens books n model calls and an estimate of the tokens they
// will bill, or fails when either would exceed the budget: a batch is
// refused before anything of it is sent, so a budget is overshot only by
// what the estimates missed. [session.spend] releases the booking.
func (s *session) reserveTokens(n int, tokens int64) error {
	s.mu.Lock()
	over := s.calls+n > s.limits.ModelCalls
	spent := s.prompt + s.completion + s.reserved
	overTokens := !over && (spent >= s.limits.Tokens || tokens > 0 && spent+tokens > s.limits.Tokens)
	if !over && !overTokens {
		s.calls += n
		s.reserved += tokens
	}
	s.mu.Unlock()
	if over {
		return s.fail(s.limitError(LimitModelCalls, fmt.Sprint(s.limits.ModelCalls)))
	}
	if overTokens {
		return s.fail(s.limitError(LimitTokens, fmt.Sprint(s.limits.Tokens)))
	}
	return nil
}

// chatEstimate is what a chat request is booked at before it is sent: its
// prompt at 4 bytes a token plus 4 a message (the rule of the model
// layer's prompt budget), and its max_tokens or max_completion_tokens, else
// [defaultCompletionEstimate].
func chatEstimate(r pluginapi.ChatRequest) int64 {
	var bytes int
	for _, m := range r.Messages {
		bytes += len(m.Content) + len(m.Role)
	}
	est := int64((bytes+3)/4 + 4*len(r.Messages))
	if r.Schema != nil {
		if b, err := json.Marshal(r.Schema); err == nil {
			est += int64((len(b) + 3) / 4)
		}
	}
	completion := int64(defaultCompletionEstimate)
	for _, k := range []string{"max_completion_tokens", "max_tokens"} {
		if v, ok := r.Params[k]; ok {
			if f, ok := judge.Number(v); ok && f > 0 {
				completion = int64(f)
			}
		}
	}
	return est + completion
}

// defaultCompletionEstimate is the completion booked for a chat request
// that sets no max_tokens.
const defaultCompletionEstimate = 1024

// spend adds what models billed, releases the booking of the calls (what
// [session.reserveTokens] booked for them), and fails when the token
// budget is crossed.
func (s *session) spend(prompt, completion int) error { return s.spendBooked(prompt, completion, 0) }

func (s *session) spendBooked(prompt, completion int, booked int64) error {
	s.mu.Lock()
	s.prompt += int64(prompt)
	s.completion += int64(completion)
	s.reserved -= booked
	over := s.prompt+s.completion > s.limits.Tokens
	s.mu.Unlock()
	if over {
		return s.fail(s.limitError(LimitTokens, fmt.Sprint(s.limits.Tokens)))
	}
	return nil
}

func (s *session) usage() Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Usage{ModelCalls: s.calls, PromptTokens: s.prompt, CompletionTokens: s.completion}
}

// declared refuses a capability the plugin did not declare, or one the
// host cannot offer.
func (s *session) declared(c pluginapi.Capability, available bool) error {
	if !s.desc.Declares(c) {
		return refuse(pluginapi.CodeNotDeclared, "capability %s is not declared in the plugin's describe", c)
	}
	if !available {
		return refuse(pluginapi.CodeUnavailable, "this host offers no %s capability", c)
	}
	return nil
}

// role resolves a model name of the given kind.
func (s *session) role(name string, kind pluginapi.ModelKind) (Role, error) {
	if name == "" {
		name = pluginapi.RoleReflection
		if kind == pluginapi.EmbedModel {
			name = pluginapi.RoleEmbedding
		}
	}
	r, ok := s.roles[name]
	if !ok {
		return Role{}, refuse(pluginapi.CodeUnknownModel, "no model named %q; the request's models list those available", name)
	}
	if r.Kind != kind {
		return Role{}, refuse(pluginapi.CodeUnknownModel, "model %q is %s model, not %s model", name, kindText(r.Kind), kindText(kind))
	}
	return r, nil
}

// kindText names a model kind with its article: "a chat", "an embed".
func kindText(k pluginapi.ModelKind) string {
	if k == pluginapi.EmbedModel {
		return "an embed"
	}
	return "a " + string(k)
}

// await runs f and returns its error, or the end of ctx if that comes
// first: a model client or evaluator that ignores ctx cannot hold a call
// past its deadline.
func await(ctx context.Context, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// modelFailure describes a failed model call for the plugin: the role, the
// status and the provider's words, never the model URI, an endpoint or a
// transport error that could name one.
func modelFailure(r Role, err error) string {
	var apiErr *llm.APIError
	switch {
	case errors.As(err, &apiErr):
		msg := "model " + r.Name + ": "
		if apiErr.Status != 0 {
			msg += fmt.Sprintf("status %d", apiErr.Status)
		} else {
			msg += "no answer"
		}
		if apiErr.Attempts > 1 {
			msg += fmt.Sprintf(" after %d attempts", apiErr.Attempts)
		}
		if apiErr.Status != 0 && apiErr.Message != "" {
			msg += ": " + apiErr.Message
		}
		return scrubURLs(strings.ReplaceAll(oneLine(msg), r.Model, r.Name))
	case errors.Is(err, llm.ErrInvalidRequest):
		text := err.Error()
		if i := strings.Index(text, llm.ErrInvalidRequest.Error()); i >= 0 {
			text = text[i:]
		}
		return strings.ReplaceAll(oneLine("model "+r.Name+": "+text), r.Model, r.Name)
	}
	return "model " + r.Name + ": call failed"
}

// urlPattern matches a URL in an error message.
var urlPattern = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"']*[^\s"':,.;)]`)

// scrubURLs replaces every URL in s, so that no endpoint reaches a plugin
// through an error message.
func scrubURLs(s string) string { return urlPattern.ReplaceAllString(s, "[endpoint]") }

// chat answers a chat batch.
func (s *session) chat(ctx context.Context, req *pluginapi.ChatBatchRequest) (*pluginapi.ChatBatchResponse, error) {
	if err := s.declared(pluginapi.Chat, s.models != nil); err != nil {
		return nil, err
	}
	n := len(req.Requests)
	if n == 0 || n > pluginapi.MaxChatBatch {
		return nil, refuse(pluginapi.CodeInvalidRequest, "a chat batch holds 1 to %d requests, got %d", pluginapi.MaxChatBatch, n)
	}
	roles := make([]Role, n)
	for i, r := range req.Requests {
		role, err := s.role(r.Model, pluginapi.ChatModel)
		if err != nil {
			return nil, err
		}
		if len(r.Messages) == 0 {
			return nil, refuse(pluginapi.CodeInvalidRequest, "request %d has no messages", i)
		}
		roles[i] = role
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	var booked int64
	for _, r := range req.Requests {
		booked += chatEstimate(r)
	}
	if err := s.reserveTokens(n, booked); err != nil {
		return nil, err
	}
	results := make([]pluginapi.ChatResult, n)
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, chatParallelism)
	)
	work := func() error {
		for i, r := range req.Requests {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				msgs := make([]llm.Message, len(r.Messages))
				for k, m := range r.Messages {
					msgs[k] = llm.Message{Role: m.Role, Content: m.Content}
				}
				resp, err := s.models.Chat(ctx, llm.ChatRequest{
					Model: roles[i].Model, Messages: msgs, Schema: r.Schema, SchemaName: r.SchemaName, Params: r.Params,
					NoCache: s.noCache,
				})
				if err != nil {
					if ctx.Err() == nil {
						s.log.LogAttrs(ctx, slog.LevelDebug, "plugin chat request failed",
							slog.String("model", roles[i].Name), slog.String("error", err.Error()))
					}
					results[i] = pluginapi.ChatResult{Error: modelFailure(roles[i], err)}
					return
				}
				results[i] = pluginapi.ChatResult{Content: resp.Content, Usage: pluginapi.Usage{
					PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens,
				}}
			}()
		}
		wg.Wait()
		return nil
	}
	if err := await(ctx, work); err != nil {
		s.spendBooked(0, 0, booked)
		return nil, s.stopped(ctx)
	}
	var prompt, completion int
	for _, r := range results {
		prompt += r.Usage.PromptTokens
		completion += r.Usage.CompletionTokens
	}
	if ctx.Err() != nil {
		s.spendBooked(prompt, completion, booked)
		return nil, s.stopped(ctx)
	}
	if err := s.spendBooked(prompt, completion, booked); err != nil {
		return nil, err
	}
	return &pluginapi.ChatBatchResponse{Results: results}, nil
}

// embed answers an embed request.
func (s *session) embed(ctx context.Context, req *pluginapi.EmbedRequest) (*pluginapi.EmbedResponse, error) {
	if err := s.declared(pluginapi.Embed, s.models != nil); err != nil {
		return nil, err
	}
	role, err := s.role(req.Model, pluginapi.EmbedModel)
	if err != nil {
		return nil, err
	}
	if n := len(req.Inputs); n == 0 || n > pluginapi.MaxEmbedInputs {
		return nil, refuse(pluginapi.CodeInvalidRequest, "an embed call holds 1 to %d inputs, got %d", pluginapi.MaxEmbedInputs, n)
	}
	for i, in := range req.Inputs {
		if strings.TrimSpace(in) == "" {
			return nil, refuse(pluginapi.CodeInvalidRequest, "input %d is empty", i)
		}
	}
	if req.Dimensions < 0 {
		return nil, refuse(pluginapi.CodeInvalidRequest, "dimensions %d is negative", req.Dimensions)
	}
	dims := req.Dimensions
	if dims == 0 {
		dims = role.Dimensions
	}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := s.reserve(1); err != nil {
		return nil, err
	}
	var resp *llm.EmbedResponse
	callErr := await(ctx, func() error {
		var err error
		resp, err = s.models.Embed(ctx, llm.EmbedRequest{Model: role.Model, Inputs: req.Inputs, Dimensions: dims, NoCache: s.noCache})
		return err
	})
	if ctx.Err() != nil {
		return nil, s.stopped(ctx)
	}
	if callErr != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "plugin embed call failed",
			slog.String("model", role.Name), slog.String("error", callErr.Error()))
		return nil, refuse(pluginapi.CodeModelError, "%s", modelFailure(role, callErr))
	}
	if err := s.spend(resp.Usage.PromptTokens, resp.Usage.CompletionTokens); err != nil {
		return nil, err
	}
	got := dims
	if got == 0 && len(resp.Vectors) > 0 {
		got = len(resp.Vectors[0])
	}
	return &pluginapi.EmbedResponse{
		Vectors:  resp.Vectors,
		Embedder: fmt.Sprintf("%s@%d", resp.Model, got),
		Usage:    pluginapi.Usage{PromptTokens: resp.Usage.PromptTokens, CompletionTokens: resp.Usage.CompletionTokens},
	}, nil
}

// evaluate answers an evaluate request.
func (s *session) evaluate(ctx context.Context, req *pluginapi.EvaluateRequest) (*pluginapi.EvaluateResponse, error) {
	if err := s.declared(pluginapi.Evaluate, s.evaluator != nil); err != nil {
		return nil, err
	}
	cand := req.Judge
	if cand == nil {
		return nil, refuse(pluginapi.CodeInvalidRequest, "no candidate judge")
	}
	if err := cand.Validate(); err != nil {
		return nil, refuse(pluginapi.CodeInvalidRequest, "candidate judge: %v", err)
	}
	if err := sameContract(s.judge, cand, s.judgeModels, s.judgeParams); err != nil {
		return nil, refuse(pluginapi.CodeNotAllowed, "candidate judge: %v", err)
	}
	n := len(req.Indices) + len(req.Examples)
	if n == 0 || n > pluginapi.MaxEvaluateExamples {
		return nil, refuse(pluginapi.CodeInvalidRequest, "an evaluate call holds 1 to %d examples, got %d", pluginapi.MaxEvaluateExamples, n)
	}
	examples := make([]judge.Example, 0, n)
	for _, i := range req.Indices {
		if i < 0 || i >= len(s.examples) {
			return nil, refuse(pluginapi.CodeInvalidRequest, "index %d is outside the request's %d examples", i, len(s.examples))
		}
		examples = append(examples, s.examples[i])
	}
	examples = append(examples, req.Examples...)
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	if err := s.reserve(n); err != nil {
		return nil, err
	}
	var resp *pluginapi.EvaluateResponse
	callErr := await(ctx, func() error {
		var err error
		resp, err = s.evaluator.Evaluate(ctx, cand.Clone(), slices.Clone(examples))
		return err
	})
	if ctx.Err() != nil {
		return nil, s.stopped(ctx)
	}
	if callErr == nil && (resp == nil || len(resp.Results) != n) {
		callErr = fmt.Errorf("the evaluator returned %d results for %d examples", resultCount(resp), n)
	}
	if callErr != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "plugin evaluate call failed",
			slog.String("error", callErr.Error()))
		return nil, refuse(pluginapi.CodeModelError, "evaluate failed: %s", scrubURLs(oneLine(callErr.Error())))
	}
	if err := s.spend(resp.Usage.PromptTokens, resp.Usage.CompletionTokens); err != nil {
		return nil, err
	}
	out := &pluginapi.EvaluateResponse{Results: make([]pluginapi.Judgement, n), Usage: resp.Usage}
	for i, r := range resp.Results {
		r.TraceID = examples[i].TraceID
		r.Error = scrubURLs(r.Error)
		r.Agree = r.Error == "" && agrees(cand.ValueType, examples[i].Value, r.Value)
		out.Results[i] = r
	}
	return out, nil
}

func resultCount(r *pluginapi.EvaluateResponse) int {
	if r == nil {
		return 0
	}
	return len(r.Results)
}

// agrees reports whether a judge's value equals the human's, both
// normalised to the value type and compared as MLflow's agreement metric
// does: as lower-cased, trimmed text.
func agrees(vt judge.ValueType, human, got any) bool {
	h, err := vt.Normalize(human)
	if err != nil {
		return false
	}
	g, err := vt.Normalize(got)
	if err != nil {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(fmt.Sprint(h)), strings.TrimSpace(fmt.Sprint(g)))
}

// slogLevel maps an ABI log level onto slog's.
func slogLevel(l pluginapi.Level) slog.Level {
	switch {
	case l <= pluginapi.LevelDebug:
		return slog.LevelDebug
	case l < pluginapi.LevelWarn:
		return slog.LevelInfo
	case l < pluginapi.LevelError:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// report passes a progress report on.
func (s *session) report(ctx context.Context, log *slog.Logger, done, total int, msg string) {
	log.LogAttrs(ctx, slog.LevelDebug, "plugin progress", slog.Int("done", done), slog.Int("total", total), slog.String("message", msg))
	if s.progress != nil {
		s.progress(Progress{Plugin: s.plugin, Done: done, Total: total, Message: msg})
	}
}
