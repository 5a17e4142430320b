package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// Error codes of a failed judgement, recorded as the feedback's
// error_code.
const (
	// CodeMissingInput: the trace lacks a field the judge's instructions
	// use (no outputs on the root span, no expectations, …); the model was
	// not called.
	CodeMissingInput = "MISSING_INPUT"
	// CodeParseError: the answer held no usable judgement, even after the
	// repair attempt.
	CodeParseError = "PARSE_ERROR"
	// CodeRateLimited: the provider still answered 429 after every retry.
	CodeRateLimited = "RATE_LIMITED"
	// CodeTimeout: no answer came within the attempt timeout, after every
	// retry.
	CodeTimeout = "TIMEOUT"
	// CodeConnectionError: the endpoint could not be reached, after every
	// retry.
	CodeConnectionError = "CONNECTION_ERROR"
	// CodeModelError: the provider refused the request or failed (an error
	// status other than 429, a refusal).
	CodeModelError = "MODEL_ERROR"
	// CodeInvalidInput: the trace's input fields cannot be put in a prompt.
	CodeInvalidInput = "INVALID_INPUT"
	// CodeRetrievalError: the [ExampleRetriever] failed for this trace.
	CodeRetrievalError = "RETRIEVAL_ERROR"
	// CodeInputTooLarge: the prompt for this trace is over the model's
	// prompt budget (llm.Provider.MaxPromptTokens, max_prompt_tokens in
	// alignhost.toml); the model was not called.
	CodeInputTooLarge = "INPUT_TOO_LARGE"
)

// Metadata keys of a judge feedback.
const (
	// MetaJudgeVersion is the registered version of the judge, in decimal.
	MetaJudgeVersion = "judge_version"
	// MetaJudgeFingerprint is judge.Judge.Fingerprint of the judge with its
	// model resolved.
	MetaJudgeFingerprint = "judge_fingerprint"
	// MetaModel is the model URI that was asked, also the source_id.
	MetaModel = "model"
	// MetaRunID is the eval_runs ID of the run that made the feedback (Run
	// only).
	MetaRunID = "eval_run_id"
	// MetaRetrievedExamples lists, as a JSON array, the trace IDs of the
	// stored examples an aligned judge was shown (MLflow's
	// retrieved_example_trace_ids).
	MetaRetrievedExamples = "retrieved_example_trace_ids"
)

// Errors a caller may branch on with errors.Is.
var (
	// ErrSessionJudge: the judge uses {{ conversation }}; it judges whole
	// sessions, not single traces.
	ErrSessionJudge = errors.New("session-level judges ({{ conversation }}) judge whole sessions, not single traces")
	// ErrNoRetriever: the judge's memory holds examples to retrieve, and the
	// evaluator has no [ExampleRetriever].
	ErrNoRetriever = errors.New("the judge is aligned with stored examples, and the evaluator has no example retriever")
)

// ExampleRetriever chooses, for one judgement of an aligned judge, the
// stored examples to show the model (see judge.WithExamples): typically the
// judge.Memory.Retrieval.K examples of j.Memory most similar to the input.
// It is called once per judgement, concurrently, for judges whose memory
// holds examples and whose Retrieval.K is positive.
//
// An error fails that judgement with [CodeRetrievalError], unless ctx is
// done.
type ExampleRetriever interface {
	Examples(ctx context.Context, j *judge.Judge, in judge.Input) ([]judge.Example, error)
}

// DefaultConcurrency is how many judgements a run makes at once when
// neither [WithConcurrency] nor RunSpec.Concurrency says.
const DefaultConcurrency = llm.DefaultMaxConcurrency

// DefaultGracePeriod is how long requests in flight may finish after a run
// is cancelled, when [WithGracePeriod] does not say.
const DefaultGracePeriod = 10 * time.Second

// Evaluator judges traces. It is safe for concurrent use.
type Evaluator struct {
	client      *llm.Client
	store       *store.Store
	log         *slog.Logger
	concurrency int
	grace       time.Duration
	progress    func(Progress)
	retriever   ExampleRetriever
	noCache     bool
	prices      llm.PriceTable
	now         func() time.Time

	// prepared memoises Evaluate's preparation of recent judges, so that
	// judging many traces one call at a time resolves, fingerprints and
	// clones a judge once, and its retrieval index is built once.
	prepMu   sync.Mutex
	prepared []preparedEntry
}

// preparedEntry is one memoised preparation: valid while the caller keeps
// the same RegisteredJudge and Judge values unchanged.
type preparedEntry struct {
	r *store.RegisteredJudge
	j *judge.Judge
	p *prepared
}

// maxPrepared bounds the judges Evaluate memoises.
const maxPrepared = 8

// Option configures an [Evaluator].
type Option func(*Evaluator)

// WithStore sets the store [Evaluator.Run] writes feedback and run records
// to.
func WithStore(s *store.Store) Option { return func(e *Evaluator) { e.store = s } }

// WithLogger sets the logger: each judgement at debug level, storage
// problems as warnings. Nil discards.
func WithLogger(l *slog.Logger) Option { return func(e *Evaluator) { e.log = l } }

// WithConcurrency sets how many judgements a run makes at once (default
// [DefaultConcurrency]). The client's per-endpoint limits still apply: set
// them at least as high.
func WithConcurrency(n int) Option { return func(e *Evaluator) { e.concurrency = n } }

// WithGracePeriod sets how long requests in flight may finish after a run
// is cancelled (default [DefaultGracePeriod]); answers that arrive in time
// are stored. Zero abandons them at once.
func WithGracePeriod(d time.Duration) Option { return func(e *Evaluator) { e.grace = d } }

// WithProgress makes [Evaluator.Run] report its progress to f, from one
// goroutine, whenever feedback is stored and at least four times a second.
func WithProgress(f func(Progress)) Option { return func(e *Evaluator) { e.progress = f } }

// WithExampleRetriever sets how the examples of aligned judges are chosen;
// see [ExampleRetriever].
func WithExampleRetriever(r ExampleRetriever) Option { return func(e *Evaluator) { e.retriever = r } }

// WithNoCache makes every request bypass the cache lookup; the fresh
// answers still refresh the cache.
func WithNoCache() Option { return func(e *Evaluator) { e.noCache = true } }

// WithPrices sets the price table that turns a run's token usage into an
// estimated cost.
func WithPrices(p llm.PriceTable) Option { return func(e *Evaluator) { e.prices = p } }

// New returns an evaluator that asks models through client.
func New(client *llm.Client, opts ...Option) (*Evaluator, error) {
	if client == nil {
		return nil, errors.New("new evaluator: nil client")
	}
	e := &Evaluator{client: client, concurrency: DefaultConcurrency, grace: DefaultGracePeriod, now: time.Now}
	for _, o := range opts {
		o(e)
	}
	if e.concurrency < 0 || e.grace < 0 {
		return nil, errors.New("new evaluator: concurrency and grace period must not be negative")
	}
	if e.concurrency == 0 {
		e.concurrency = DefaultConcurrency
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	return e, nil
}

// Evaluate judges one trace with the registered judge version r and
// returns the feedback, without storing it. Version 0 stands for a
// candidate that is not registered yet (say, an aligned judge validated
// before it is registered); its feedback carries no judge_version.
//
// Evaluate prepares a judge once and reuses the preparation while it is
// called with the same *store.RegisteredJudge holding the same *judge.Judge:
// do not modify them between calls.
//
// A judgement that fails for this trace alone — a missing input field, an
// unusable answer after the repair attempt, a model that cannot be reached
// after its retries — is not an error: the feedback records it in its
// error (see the Code constants) and has no value.
//
// # Errors
//
// Evaluate fails when ctx is done, and when the judge cannot judge any
// trace: its version is negative, invalid, session-level
// ([ErrSessionJudge]), aligned with examples and no retriever
// ([ErrNoRetriever]), its model cannot be resolved (unknown provider,
// missing credentials), its inference parameters are refused, or a replay
// lacks the request (*llm.ReplayMissError), or the endpoint refuses the
// credentials (llm.ErrUnauthorized: every trace would fail alike).
func (e *Evaluator) Evaluate(ctx context.Context, r *store.RegisteredJudge, t *trace.Trace) (trace.Assessment, error) {
	p, err := e.preparedFor(r)
	if err != nil {
		return trace.Assessment{}, err
	}
	if t == nil {
		return trace.Assessment{}, errors.New("evaluate: nil trace")
	}
	o, err := e.judge(ctx, p, t)
	if err != nil {
		return trace.Assessment{}, err
	}
	return o.assessment, nil
}

// preparedFor returns the memoised preparation of r, preparing it on first
// use. A judge is prepared anew if the caller passes other values.
func (e *Evaluator) preparedFor(r *store.RegisteredJudge) (*prepared, error) {
	e.prepMu.Lock()
	defer e.prepMu.Unlock()
	for _, entry := range e.prepared {
		if entry.r == r && r != nil && entry.j == r.Judge {
			return entry.p, nil
		}
	}
	p, err := e.prepare(r, true)
	if err != nil {
		return nil, err
	}
	if len(e.prepared) == maxPrepared {
		e.prepared = e.prepared[1:]
	}
	e.prepared = append(e.prepared, preparedEntry{r: r, j: r.Judge, p: p})
	return p, nil
}

// prepared is a judge version ready to judge: its model resolved and its
// fingerprint computed once.
type prepared struct {
	name        string
	version     int
	judge       *judge.Judge // with Model resolved
	model       string
	fingerprint string
	vars        []judge.Variable
	retrieve    bool
}

// prepare readies r for judging. unregistered allows version 0: a
// candidate judge that is evaluated but whose feedback is never stored.
func (e *Evaluator) prepare(r *store.RegisteredJudge, unregistered bool) (*prepared, error) {
	if r == nil || r.Judge == nil {
		return nil, errors.New("evaluate: no judge")
	}
	name := r.Name
	if name == "" {
		name = r.Judge.Name
	}
	fail := func(err error) (*prepared, error) {
		return nil, fmt.Errorf("judge %s@%d: %w", name, r.Version, err)
	}
	if r.Version < 0 || (r.Version == 0 && !unregistered) {
		return fail(errors.New("not a registered version: register the judge first"))
	}
	if err := r.Judge.Validate(); err != nil {
		return fail(err)
	}
	if r.Judge.SessionLevel() {
		return fail(ErrSessionJudge)
	}
	retrieve := r.Judge.Memory != nil && len(r.Judge.Memory.Examples) > 0 && r.Judge.Memory.Retrieval.K > 0
	if retrieve && e.retriever == nil {
		return fail(ErrNoRetriever)
	}
	uri, err := e.client.Resolve(r.Judge.Model)
	if err != nil {
		return fail(err)
	}
	j := r.Judge.Clone()
	j.Model = uri.String()
	vars, err := j.Variables()
	if err != nil {
		return fail(err)
	}
	return &prepared{
		name:        name,
		version:     r.Version,
		judge:       j,
		model:       j.Model,
		fingerprint: j.Fingerprint(),
		vars:        vars,
		retrieve:    retrieve,
	}, nil
}

// judged reports whether t already has a feedback (not an error) from this
// judge version and fingerprint.
func (p *prepared) judged(t *trace.Trace) bool {
	version := strconv.Itoa(p.version)
	for i := range t.Info.Assessments {
		a := &t.Info.Assessments[i]
		if a.Feedback != nil && a.Feedback.Error == nil && a.Source.Type == trace.SourceLLMJudge &&
			a.Metadata[MetaJudgeVersion] == version && a.Metadata[MetaJudgeFingerprint] == p.fingerprint &&
			strings.EqualFold(strings.TrimSpace(a.Name), strings.TrimSpace(p.name)) {
			return true
		}
	}
	return false
}

// outcome is one judgement and what it cost.
type outcome struct {
	assessment trace.Assessment
	// value is the value as text, for the distribution; empty on error.
	value string
	// code is the error code, empty on success.
	code string
	// cached reports that every call was answered from the cache or a
	// replay (and at least one call was made).
	cached bool
	usage  llm.ModelUsage
}

// failure is a call that failed for this trace alone.
type failure struct {
	code, message string
}

// judge makes one judgement. It returns an error only for failures that
// are not the trace's: ctx done, or a judge or client that cannot work.
func (e *Evaluator) judge(ctx context.Context, p *prepared, t *trace.Trace) (*outcome, error) {
	in, missing := p.input(t)
	return e.judgeInput(ctx, p, t.Info.TraceID, in, missing)
}

// judgeInput makes one judgement of the input fields in of trace traceID;
// missing, when set, says which field is absent.
func (e *Evaluator) judgeInput(ctx context.Context, p *prepared, traceID string, in judge.Input, missing string) (*outcome, error) {
	t := traceID
	o := &outcome{}
	if missing != "" {
		return e.failed(ctx, p, t, o, CodeMissingInput, missing), nil
	}
	var opts []judge.RequestOption
	var retrieved []string
	if p.retrieve {
		examples, err := e.retriever.Examples(ctx, p.judge, in)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return e.failed(ctx, p, t, o, CodeRetrievalError, err.Error()), nil
		}
		opts = append(opts, judge.WithExamples(examples...))
		for _, ex := range examples {
			retrieved = append(retrieved, ex.TraceID)
		}
	}
	req, err := p.judge.Request(in, opts...)
	if err != nil {
		var miss *judge.MissingInputError
		if errors.As(err, &miss) {
			return e.failed(ctx, p, t, o, CodeMissingInput, "missing "+string(miss.Variable)), nil
		}
		return e.failed(ctx, p, t, o, CodeInvalidInput, err.Error()), nil
	}
	chat := llm.ChatRequest{
		Model:      p.model,
		Messages:   make([]llm.Message, len(req.Messages)),
		Schema:     req.Schema,
		SchemaName: req.SchemaName,
		Params:     req.Params,
		NoCache:    e.noCache,
		// Only an answer that parses into a judgement of the judge's
		// value type is cached: a garbage or out-of-set answer is asked
		// afresh by the next run instead of replayed from the cache.
		Accept: p.accept,
	}
	for i, m := range req.Messages {
		chat.Messages[i] = llm.Message{Role: m.Role, Content: m.Content}
	}
	ctx = store.WithResponseModel(ctx, p.model)

	o.cached = true // until a call is not
	resp, fail, err := e.call(ctx, o, chat)
	if err != nil {
		return nil, err
	}
	if fail != nil {
		return e.failed(ctx, p, t, o, fail.code, fail.message), nil
	}
	value, rationale, perr := p.judge.ParseAnswer(resp.Content)
	if perr != nil {
		// One repair attempt: show the model its answer and what is wrong
		// with it, and ask again, fresh.
		var ae *judge.AnswerError
		reason := perr.Error()
		if errors.As(perr, &ae) {
			reason = ae.Reason
		}
		e.log.LogAttrs(ctx, slog.LevelDebug, "eval answer unusable; asking again",
			slog.String("judge", p.name), slog.String("trace", t), slog.String("reason", reason))
		repair := chat
		repair.NoCache = true
		repair.Messages = append(append([]llm.Message(nil), chat.Messages...),
			llm.Message{Role: "assistant", Content: resp.Content},
			llm.Message{Role: "user", Content: repairPrompt(reason)})
		resp, fail, err = e.call(ctx, o, repair)
		if err != nil {
			return nil, err
		}
		if fail != nil {
			return e.failed(ctx, p, t, o, fail.code, fail.message), nil
		}
		if value, rationale, perr = p.judge.ParseAnswer(resp.Content); perr != nil {
			return e.failed(ctx, p, t, o, CodeParseError, perr.Error()), nil
		}
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return e.failed(ctx, p, t, o, CodeParseError, fmt.Sprintf("encode value: %v", err)), nil
	}
	o.assessment = p.assessment(t, e.now())
	o.assessment.Rationale = rationale
	o.assessment.Feedback = &trace.Feedback{Value: raw}
	if len(retrieved) > 0 {
		ids, _ := json.Marshal(retrieved)
		o.assessment.Metadata[MetaRetrievedExamples] = string(ids)
	}
	o.value = valueText(value, raw)
	e.log.LogAttrs(ctx, slog.LevelDebug, "eval judged", slog.String("judge", p.name),
		slog.String("trace", t), slog.String("value", o.value), slog.Bool("cached", o.cached))
	return o, nil
}

// repairPrompt asks again for the JSON answer after an unusable one.
func repairPrompt(reason string) string {
	return "Your answer above could not be used: " + reason + ".\n\n" +
		"Answer again with a single JSON object only, without markdown or any other text, with exactly the keys " +
		`"rationale" and "result", the result as the answer format in the instructions requires.`
}

// accept is the ChatRequest.Accept of the judge's requests: the answer
// must parse.
func (p *prepared) accept(content string) error {
	_, _, err := p.judge.ParseAnswer(content)
	return err
}

// call sends one chat request and accounts for it in o. A failure of the
// call for this trace alone is returned as a *failure; an error is a
// failure that ends the judgement: ctx done, or one every trace would
// share — among them an endpoint refusing the key (llm.ErrUnauthorized),
// which ends a run at its first 401 or 403 instead of paying one per
// trace.
func (e *Evaluator) call(ctx context.Context, o *outcome, req llm.ChatRequest) (*llm.ChatResponse, *failure, error) {
	resp, err := e.client.Chat(ctx, req)
	o.usage.Calls++
	if err == nil {
		if resp.Cached {
			o.usage.Cached++
		} else {
			o.cached = false
		}
		o.usage.PromptTokens += int64(resp.Usage.PromptTokens)
		o.usage.CompletionTokens += int64(resp.Usage.CompletionTokens)
		return resp, nil, nil
	}
	o.usage.Failures++
	o.cached = false
	if ctx.Err() != nil {
		return nil, nil, ctx.Err()
	}
	var tooLarge *llm.PromptTooLargeError
	if errors.As(err, &tooLarge) {
		o.usage.Calls-- // nothing was sent
		o.usage.Failures--
		return nil, &failure{code: CodeInputTooLarge, message: tooLarge.Error()}, nil
	}
	if errors.Is(err, llm.ErrUnauthorized) {
		return nil, nil, err
	}
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) {
		// Invalid parameters, a replay without the answer, a recording that
		// cannot be written: every trace would fail alike.
		return nil, nil, err
	}
	f := &failure{code: CodeModelError, message: apiErr.Error()}
	switch {
	case apiErr.Status == http.StatusTooManyRequests:
		f.code = CodeRateLimited
	case apiErr.Status == 0 && errors.Is(apiErr, context.DeadlineExceeded):
		f.code = CodeTimeout
	case apiErr.Status == 0:
		f.code = CodeConnectionError
	}
	return nil, f, nil
}

// input extracts the judge's input fields from t, or says which is
// missing.
func (p *prepared) input(t *trace.Trace) (judge.Input, string) {
	var in judge.Input
	for _, v := range p.vars {
		switch v {
		case judge.Inputs, judge.Outputs:
			get := t.Inputs
			if v == judge.Outputs {
				get = t.Outputs
			}
			val, err := get()
			if err != nil {
				return in, fmt.Sprintf("unreadable %s: %v", v, err)
			}
			if blank(val) {
				return in, "missing " + string(v)
			}
			if v == judge.Inputs {
				in.Inputs = val
			} else {
				in.Outputs = val
			}
		case judge.Expectations:
			in.Expectations = t.Expectations()
			if len(in.Expectations) == 0 {
				return in, "missing expectations"
			}
		case judge.Trace:
			in.Trace = t.Text()
		}
	}
	return in, ""
}

// blank reports whether an input or output is absent: nil or a blank
// string (MLflow would pass the judge a single space).
func blank(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

// assessment is the feedback skeleton of a judgement of t made at now.
func (p *prepared) assessment(traceID string, now time.Time) trace.Assessment {
	ts := trace.NewTimestamp(now)
	return trace.Assessment{
		ID:             feedbackID(traceID, p.name, p.version, p.fingerprint),
		Name:           p.name,
		TraceID:        traceID,
		Source:         trace.Source{Type: trace.SourceLLMJudge, ID: p.model},
		CreateTime:     ts,
		LastUpdateTime: ts,
		Metadata:       p.metadata(),
	}
}

// metadata is the metadata of the judge's feedback; an unregistered
// candidate (version 0) has no version.
func (p *prepared) metadata() map[string]string {
	m := map[string]string{
		MetaJudgeFingerprint: p.fingerprint,
		MetaModel:            p.model,
	}
	if p.version > 0 {
		m[MetaJudgeVersion] = strconv.Itoa(p.version)
	}
	return m
}

// failed completes o as an error feedback.
func (e *Evaluator) failed(ctx context.Context, p *prepared, traceID string, o *outcome, code, message string) *outcome {
	o.assessment = p.assessment(traceID, e.now())
	o.assessment.Feedback = &trace.Feedback{Error: &trace.FeedbackError{Code: code, Message: message}}
	o.code = code
	o.cached = false
	e.log.LogAttrs(ctx, slog.LevelDebug, "eval judgement failed", slog.String("judge", p.name),
		slog.String("trace", traceID), slog.String("code", code), slog.String("error", message))
	return o
}

// feedbackID is the assessment ID of a judge version's judgement of a
// trace: the same for every re-judgement, so that it replaces the earlier
// one. It has the form of store.AssessmentID, from different content.
func feedbackID(traceID, name string, version int, fingerprint string) string {
	h := sha256.New()
	for _, part := range []string{"alignhost.eval.v1", traceID, strings.ToLower(strings.TrimSpace(name)),
		strconv.Itoa(version), fingerprint} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "a-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// valueText is a value as shown in a distribution: strings as they are,
// other values as JSON.
func valueText(v any, raw json.RawMessage) string {
	if s, ok := v.(string); ok {
		return s
	}
	return string(raw)
}
