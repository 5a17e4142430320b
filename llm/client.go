package llm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// DefaultTimeout is how long one attempt may take when neither the
// endpoint's [Provider] nor [WithTimeout] says.
const DefaultTimeout = 2 * time.Minute

// DefaultDeadline is how long one call, its retries and waits included, may
// take when neither the endpoint's [Provider] nor [WithDeadline] says: a
// hanging endpoint costs a call at most this, not MaxAttempts ×
// [DefaultTimeout].
const DefaultDeadline = 5 * time.Minute

// Client calls models named by URI. It is safe for concurrent use; build one
// per process (or per run) and share it, so that endpoints' concurrency and
// rate limits and the structured-output memory are shared too.
type Client struct {
	declared       []Provider
	providers      map[string]Provider
	known          []string
	getenv         func(string) string
	httpClient     *http.Client
	cache          Cache
	recorder       *Recorder
	log            *slog.Logger
	retry          RetryPolicy
	timeout        time.Duration
	deadline       time.Duration
	clock          Clock
	meter          *Meter
	defaultModel   string
	maxConcurrency int

	mu        sync.Mutex
	endpoints map[string]*endpoint

	// noSchema holds the model URIs that rejected structured output.
	noSchema sync.Map
}

// Option configures a [Client].
type Option func(*Client)

// WithProviders declares OpenAI-compatible providers and tunes built-in ones;
// see [Provider]. Declaring a name twice is an error.
func WithProviders(providers ...Provider) Option {
	return func(c *Client) { c.declared = append(c.declared, providers...) }
}

// WithGetenv sets how environment variables are read (default os.Getenv).
// Tests pass a map lookup so they never depend on the real environment.
func WithGetenv(getenv func(string) string) Option { return func(c *Client) { c.getenv = getenv } }

// WithHTTPClient sets the HTTP client. The default pools enough idle
// connections per host for high concurrency. Its Timeout should be zero:
// attempts are bounded by [WithTimeout].
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.httpClient = hc } }

// WithCache answers repeated requests from cache; see [Cache].
func WithCache(cache Cache) Option { return func(c *Client) { c.cache = cache } }

// WithRecorder records every exchange to, or answers only from, a JSONL
// file; see [Recorder].
func WithRecorder(r *Recorder) Option { return func(c *Client) { c.recorder = r } }

// WithLogger sets the logger; calls are logged at debug level (model,
// attempt, status, latency). Nil discards.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithRetry sets the retry policy; zero fields take their defaults.
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// WithTimeout bounds each attempt of endpoints whose [Provider] sets no
// Timeout; an attempt that times out is retried. Default [DefaultTimeout].
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithDeadline bounds each whole call (every attempt and every wait between
// them) of endpoints whose [Provider] sets no Deadline. Default
// [DefaultDeadline], or the attempt timeout when that is longer, so that a
// call always gets one whole attempt. The context may end a call sooner.
func WithDeadline(d time.Duration) Option { return func(c *Client) { c.deadline = d } }

// WithClock replaces the clock that retries and rate limits wait on.
func WithClock(clock Clock) Option { return func(c *Client) { c.clock = clock } }

// WithMeter totals usage into m instead of the client's own meter, for
// example one Meter per evaluation run.
func WithMeter(m *Meter) Option { return func(c *Client) { c.meter = m } }

// WithDefaultModel sets the model URI used when a request names none
// (default [DefaultModel]).
func WithDefaultModel(uri string) Option { return func(c *Client) { c.defaultModel = uri } }

// WithMaxConcurrency sets the in-flight limit of endpoints whose Provider
// does not set one (default [DefaultMaxConcurrency]).
func WithMaxConcurrency(n int) Option { return func(c *Client) { c.maxConcurrency = n } }

// New returns a client. Endpoints are built, and their environment read, on
// first use; [Client.Resolve] checks a model up front.
//
// # Errors
//
// New reports an invalid or duplicate Provider, an invalid default model, a
// negative timeout or concurrency.
func New(opts ...Option) (*Client, error) {
	c := &Client{
		providers:      map[string]Provider{},
		getenv:         os.Getenv,
		retry:          DefaultRetryPolicy(),
		timeout:        DefaultTimeout,
		clock:          systemClock{},
		defaultModel:   DefaultModel,
		maxConcurrency: DefaultMaxConcurrency,
		endpoints:      map[string]*endpoint{},
	}
	for _, o := range opts {
		o(c)
	}
	for _, p := range c.declared {
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("new client: %w", err)
		}
		if _, dup := c.providers[p.Name]; dup {
			return nil, fmt.Errorf("new client: provider %s declared twice", p.Name)
		}
		c.providers[p.Name] = p
	}
	if _, err := ParseModelURI(c.defaultModel); err != nil {
		return nil, fmt.Errorf("new client: default model: %w", err)
	}
	if c.timeout < 0 || c.deadline < 0 || c.maxConcurrency < 0 {
		return nil, errors.New("new client: timeout, deadline and max concurrency must not be negative")
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}

	if c.maxConcurrency == 0 {
		c.maxConcurrency = DefaultMaxConcurrency
	}
	c.retry = c.retry.withDefaults()
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.meter == nil {
		c.meter = &Meter{}
	}
	if c.getenv == nil {
		c.getenv = os.Getenv
	}
	if c.httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 1024
		tr.MaxIdleConnsPerHost = 256
		c.httpClient = &http.Client{Transport: tr}
	}
	c.known = knownProviders(c.providers)
	return c, nil
}

// Meter returns the meter the client totals usage into.
func (c *Client) Meter() *Meter { return c.meter }

// Resolve parses model (the default model when empty), checks that its
// provider exists and that the credentials it needs are set, and returns
// the URI in canonical form, as recorded for the feedback's source. It does
// not call the network.
func (c *Client) Resolve(model string) (ModelURI, error) {
	uri, _, err := c.resolve(model)
	return uri, err
}

func (c *Client) resolve(model string) (ModelURI, *endpoint, error) {
	if strings.TrimSpace(model) == "" {
		model = c.defaultModel
	}
	uri, err := ParseModelURI(model)
	if err != nil {
		return ModelURI{}, nil, err
	}
	ep, err := c.endpoint(uri.Provider)
	if err != nil {
		return ModelURI{}, nil, fmt.Errorf("model %s: %w", uri, err)
	}
	return uri, ep, nil
}

// endpoint is one provider's client and limits.
type endpoint struct {
	settings
	client  *openai.Client
	secrets []string // redacted from every message
	retry   RetryPolicy
	// timeout bounds an attempt, deadline a call.
	timeout, deadline time.Duration
	sem               semaphore
	rpm               *bucket // nil when unlimited
	tpm               *bucket // nil when unlimited
	// gate holds every request back after a 429, for the whole endpoint.
	gate gate
	// hedge enables hedged attempts; latencies are the recent successful
	// ones that set the hedge delay.
	hedge     bool
	latencies latencies
	// hedges caps the hedges in flight, on top of sem: max(1, sem/8).
	hedges semaphore
}

func (c *Client) endpoint(name string) (*endpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ep, ok := c.endpoints[name]; ok {
		return ep, nil
	}
	cfg, declared := c.providers[name]
	s, err := resolveProvider(name, cfg, declared, c.getenv, c.known)
	if err != nil {
		return nil, err
	}
	ep := &endpoint{settings: s, secrets: s.secrets(), retry: c.retry, timeout: c.timeout, deadline: c.deadline}
	if cfg.Timeout > 0 {
		ep.timeout = cfg.Timeout
	}
	if cfg.Deadline > 0 {
		ep.deadline = cfg.Deadline
	}
	if ep.deadline == 0 {
		ep.deadline = max(DefaultDeadline, ep.timeout)
	}
	// A hedge is sent outside the rate limits' accounting: none where they
	// apply.
	ep.hedge = cfg.Hedge && cfg.RequestsPerMinute == 0 && cfg.TokensPerMinute == 0
	if cfg.MaxAttempts > 0 {
		ep.retry.MaxAttempts = cfg.MaxAttempts
	}
	if cfg.BaseDelay > 0 {
		ep.retry.BaseDelay = cfg.BaseDelay
	}
	if cfg.MaxDelay > 0 {
		ep.retry.MaxDelay = cfg.MaxDelay
	}
	ep.client = openai.NewClientWithConfig(s.openaiConfig(&transport{next: c.httpClient, headers: cfg.Headers, query: s.query}))
	n := cfg.MaxConcurrency
	if n == 0 {
		n = c.maxConcurrency
	}
	ep.sem = make(semaphore, n)
	ep.hedges = make(semaphore, max(1, n/8))
	if cfg.RequestsPerMinute > 0 {
		ep.rpm = newBucket(cfg.RequestsPerMinute, c.clock)
	}
	if cfg.TokensPerMinute > 0 {
		ep.tpm = newBucket(cfg.TokensPerMinute, c.clock)
	}
	c.endpoints[name] = ep
	return ep, nil
}

// redact removes the endpoint's secrets (the key, the base URL's query
// values) from s, hides the query values and passwords of every URL in it,
// and makes it one line of at most 300 bytes.
func (ep *endpoint) redact(s string) string {
	for _, secret := range ep.secrets {
		s = strings.ReplaceAll(s, secret, "[REDACTED]")
	}
	s = redactURLs(s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:297], "") + "..."
	}
	return s
}

// urlInText finds URLs in messages (go-openai's transport errors quote the
// request URL).
var urlInText = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>\x60]+`)

// redactURLs hides the query values and passwords of the URLs in s.
func redactURLs(s string) string {
	return urlInText.ReplaceAllStringFunc(s, func(m string) string {
		u, err := url.Parse(m)
		if err != nil {
			return "<url>"
		}
		if u.RawQuery == "" && u.User == nil && u.Fragment == "" {
			return m
		}
		return redactedURL(u)
	})
}

// transport adds the base URL's query and configured headers, and notes
// each response's status and headers (go-openai drops them from errors) in
// the attempt's context.
type transport struct {
	next    *http.Client
	headers map[string]string
	// query is the base URL's query: go-openai builds request URLs by
	// concatenating the base URL and the API path, so the base URL it is
	// given has none, and the query is added here. Parameters the request
	// sets itself (Azure's api-version) win.
	query url.Values
}

type attemptKey struct{}

// attemptState is what the transport saw of one attempt.
type attemptState struct {
	status int
	header http.Header
}

func (t *transport) Do(req *http.Request) (*http.Response, error) {
	for k, v := range t.headers {
		req.Header.Set(k, v)
	}
	if len(t.query) > 0 {
		q := req.URL.Query()
		for k, vs := range t.query {
			if !q.Has(k) {
				q[k] = vs
			}
		}
		req.URL.RawQuery = q.Encode()
	}
	resp, err := t.next.Do(req)
	if st, ok := req.Context().Value(attemptKey{}).(*attemptState); ok && resp != nil {
		st.status = resp.StatusCode
		st.header = resp.Header
	}
	return resp, err
}

// failure is a classified failed attempt.
type failure struct {
	status        int
	retryable     bool
	message       string
	cause         error
	retryAfter    time.Duration
	hasRetryAfter bool
}

// classify decides what a failed attempt means.
func (c *Client) classify(ep *endpoint, err error, st *attemptState, timedOut bool) failure {
	if timedOut {
		return failure{retryable: true, message: fmt.Sprintf("no answer within %s", ep.timeout), cause: context.DeadlineExceeded}
	}
	var bad *badAnswer
	if errors.As(err, &bad) {
		return failure{status: st.status, message: ep.redact(bad.msg)}
	}
	if st.status != 0 && (st.status < 200 || st.status >= 300) {
		f := failure{status: st.status, retryable: retryableStatus(st.status), message: ep.redact(providerMessage(err))}
		f.retryAfter, f.hasRetryAfter = parseRetryAfter(st.header, c.clock.Now())
		if unauthorized(st.status) {
			f.message += " (the endpoint refused the credentials"
			if ep.keyEnv != "" {
				f.message += " in " + ep.keyEnv
			}
			f.message += ")"
		}
		return f
	}
	if st.status != 0 {
		// A 2xx whose body could not be read or decoded: cut short.
		return failure{status: st.status, retryable: true, message: ep.redact("malformed response: " + err.Error())}
	}
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return failure{retryable: true, message: ep.redact(err.Error()), cause: err}
	}
	return failure{message: ep.redact(err.Error()), cause: err}
}

// providerMessage extracts the provider's own words from a go-openai error.
func providerMessage(err error) string {
	var apiErr *openai.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Message
	}
	var reqErr *openai.RequestError
	if errors.As(err, &reqErr) {
		if len(reqErr.Body) > 0 {
			return string(reqErr.Body)
		}
		return reqErr.HTTPStatus
	}
	return err.Error()
}

// call is one attempt of a request; it returns the tokens the provider
// billed and commit, which publishes the attempt's answer to the caller.
// Attempts may run concurrently (a hedge); send commits the one answer it
// uses, after every other attempt ended or was abandoned.
type call func(ctx context.Context) (tokens int, commit func(), err error)

// attemptResult is what one attempt came to.
type attemptResult struct {
	tokens   int
	commit   func()
	err      error
	st       *attemptState
	timedOut bool
	latency  time.Duration
}

// attempt sends one attempt, holding a slot of ep's semaphore that the
// caller acquired; with hedging on and enough latencies observed, an
// attempt still unanswered after the hedge delay gets a twin (when one of
// the endpoint's hedge slots is free), and the first success wins. Latencies of successes feed the
// hedge delay.
func (c *Client) attempt(ctx context.Context, ep *endpoint, model string, do call) attemptResult {
	results := make(chan attemptResult, 2)
	run := func(ctx context.Context, slot semaphore) {
		st := &attemptState{}
		actx, cancel := context.WithTimeout(context.WithValue(ctx, attemptKey{}, st), ep.timeout)
		start := time.Now()
		tokens, commit, err := do(actx)
		timedOut := err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded)
		cancel()
		slot.release()
		r := attemptResult{tokens: tokens, commit: commit, err: err, st: st, timedOut: timedOut, latency: time.Since(start)}
		if err == nil {
			ep.latencies.add(r.latency)
		}
		results <- r
	}
	after, hedge := ep.hedgeDelay()
	if !hedge {
		run(ctx, ep.sem)
		return <-results
	}
	hctx, abandon := context.WithCancel(ctx)
	defer abandon() // the loser, if any, ends and sends into the buffer
	go run(hctx, ep.sem)
	timer := time.NewTimer(after)
	defer timer.Stop()
	pending := 1
	for {
		select {
		case r := <-results:
			pending--
			if r.err == nil || pending == 0 {
				return r
			}
			// One failed while its twin still runs: wait for the twin.
		case <-timer.C:
			if pending == 1 && ep.hedges.tryAcquire() {
				c.log.LogAttrs(ctx, slog.LevelDebug, "llm call hedged", slog.String("model", model), slog.Duration("after", after))
				pending++
				go run(hctx, ep.hedges)
			}
		}
	}
}

// send runs a request under the endpoint's limits with retries, within the
// endpoint's call deadline. estimate is the token estimate for the
// tokens-per-minute limit. It returns the context's error as is when ctx
// ends, and an *APIError when the request fails or the deadline passes.
func (c *Client) send(ctx context.Context, ep *endpoint, model, kind string, estimate int, do call) error {
	callCtx, cancelCall := context.WithTimeout(ctx, ep.deadline)
	defer cancelCall()
	var last failure
	// stopped is the error of a call whose context ended between or during
	// attempts: the caller's, or the deadline as an *APIError.
	stopped := func(attempts int, err error) error {
		if ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		msg := fmt.Sprintf("no answer within the call deadline of %s", ep.deadline)
		if last.message != "" {
			msg += "; last attempt: " + last.message
		}
		return &APIError{Model: model, Attempts: attempts, Message: msg, cause: context.DeadlineExceeded}
	}
	for attempt := 1; ; attempt++ {
		if err := ep.gate.wait(callCtx, c.clock); err != nil {
			return stopped(attempt-1, err)
		}
		if err := c.admit(callCtx, ep, estimate); err != nil {
			return stopped(attempt-1, err)
		}
		if err := ep.sem.acquire(callCtx); err != nil {
			ep.refund(estimate)
			return stopped(attempt-1, err)
		}
		res := c.attempt(callCtx, ep, model, do)
		st, err, latency := res.st, res.err, res.latency
		if err == nil {
			res.commit()
			if ep.tpm != nil {
				ep.tpm.adjust(float64(estimate - res.tokens))
			}
			c.log.LogAttrs(ctx, slog.LevelDebug, "llm call", slog.String("model", model), slog.String("kind", kind),
				slog.Int("attempt", attempt), slog.Int("status", st.status), slog.Duration("latency", latency))
			return nil
		}
		ep.refund(estimate)
		if callCtx.Err() != nil {
			return stopped(attempt, callCtx.Err())
		}
		f := c.classify(ep, err, st, res.timedOut)
		last = f
		c.log.LogAttrs(ctx, slog.LevelDebug, "llm call failed", slog.String("model", model), slog.String("kind", kind),
			slog.Int("attempt", attempt), slog.Int("status", f.status), slog.Duration("latency", latency),
			slog.Bool("retryable", f.retryable), slog.String("error", f.message))
		if !f.retryable || attempt >= ep.retry.MaxAttempts {
			return &APIError{Model: model, Status: f.status, Attempts: attempt, Message: f.message, cause: f.cause}
		}
		c.meter.addRetry(model)
		wait := ep.retry.delay(attempt, f.retryAfter, f.hasRetryAfter)
		if f.status == http.StatusTooManyRequests {
			// The endpoint is over its limit for everyone: hold every
			// request to it back, this one included, instead of letting
			// each find out with a 429 of its own.
			ep.gate.hold(c.clock.Now().Add(wait))
			continue
		}
		if err := c.clock.Sleep(callCtx, wait); err != nil {
			return stopped(attempt, err)
		}
	}
}

// admit waits for the endpoint's rate limits.
func (c *Client) admit(ctx context.Context, ep *endpoint, estimate int) error {
	if ep.rpm != nil {
		if err := ep.rpm.wait(ctx, 1); err != nil {
			return err
		}
	}
	if ep.tpm != nil {
		if err := ep.tpm.wait(ctx, float64(estimate)); err != nil {
			return err
		}
	}
	return nil
}

// refund returns an attempt's token estimate when nothing was billed.
func (ep *endpoint) refund(estimate int) {
	if ep.tpm != nil {
		ep.tpm.adjust(float64(estimate))
	}
}
