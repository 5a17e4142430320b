package llm_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

// querySecret is a credential carried in the base URL's query, as some
// gateways want it.
const querySecret = "gw-QUERY-SECRET-51c0ffee9d"

// TestBaseURLQueryKeptAndRedacted: a base URL with a query sends requests
// to the base path joined with the API path, the query kept, and the query
// values appear in no log line or error, whatever path produced it.
func TestBaseURLQueryKeptAndRedacted(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(
		llmtest.Content("ok"),
		llmtest.Error(500, "upstream failed for "+"http://gw.example/v1?api-key="+querySecret),
		llmtest.Error(401, "key "+querySecret+" is not valid"),
	)))
	base := srv.URL + "/v1/?api-key=" + querySecret + "&tenant=t1"
	getenv := env{"OPENAI_BASE_URL": base, "OPENAI_API_KEY": srv.APIKey(),
		"AZURE_OPENAI_ENDPOINT": srv.URL + "?api-key=" + querySecret, "AZURE_OPENAI_API_KEY": srv.APIKey()}.Getenv
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := llm.New(llm.WithGetenv(getenv), llm.WithClock(newFakeClock()), llm.WithLogger(logger),
		llm.WithRetry(llm.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("q1")}); err != nil {
		t.Fatal(err)
	}
	got := srv.ChatRequests()[0]
	if got.Path != "/v1/chat/completions" || got.Query.Get("api-key") != querySecret || got.Query.Get("tenant") != "t1" {
		t.Fatalf("request went to %s?%s, want /v1/chat/completions with the base URL's query", got.Path, got.Query.Encode())
	}
	var produced []string
	for _, q := range []string{"q2", "q3"} { // a provider echoing the URL, then the secret
		_, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user(q)})
		if err == nil {
			t.Fatalf("%s: want an error", q)
		}
		produced = append(produced, err.Error())
	}
	// Azure: the request's own api-version and the base URL's query.
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "azure:/dep", Messages: user("q4")}); err != nil {
		produced = append(produced, err.Error())
	}
	az := srv.ChatRequests()[3]
	if az.Path != "/openai/deployments/dep/chat/completions" || az.Query.Get("api-version") == "" || az.Query.Get("api-key") != querySecret {
		t.Errorf("azure request went to %s?%s, want the deployment path with api-version and the base query", az.Path, az.Query.Encode())
	}
	// A connection failure: go-openai's error quotes the request URL.
	srv.Close()
	_, err = c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("q5")})
	if err == nil {
		t.Fatal("want a connection error")
	}
	produced = append(produced, err.Error())
	if !strings.Contains(err.Error(), "api-key=REDACTED") {
		t.Errorf("connection error %q: want the URL shown with its query redacted", err)
	}
	// An invalid base URL is reported redacted too.
	bad, _ := llm.New(llm.WithGetenv(env{"OPENAI_BASE_URL": "ftp://h/v1?api-key=" + querySecret}.Getenv))
	if _, err := bad.Resolve("openai:/m"); err == nil {
		t.Fatal("want an invalid base URL")
	} else {
		produced = append(produced, err.Error())
	}
	produced = append(produced, logs.String())
	if !strings.Contains(logs.String(), `"status":500`) {
		t.Fatalf("debug log lacks the failures:\n%s", logs.String())
	}
	for _, s := range produced {
		if strings.Contains(s, querySecret) || strings.Contains(s, querySecret[:12]) {
			t.Errorf("the query secret leaked into:\n%s", s)
		}
	}
}

// heldClock holds every Sleep until released, and signals each one.
type heldClock struct {
	mu      sync.Mutex
	now     time.Time
	slept   chan time.Duration
	release chan struct{}
}

func newHeldClock() *heldClock {
	return &heldClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), slept: make(chan time.Duration, 1000), release: make(chan struct{})}
}

func (c *heldClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *heldClock) Sleep(ctx context.Context, d time.Duration) error {
	start := c.Now()
	c.slept <- d
	select {
	case <-c.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if end := start.Add(d); end.After(c.now) {
		c.now = end
	}
	return nil
}

// TestRateLimitHoldsTheWholeEndpoint: after one 429 with Retry-After, the
// requests that follow wait for the endpoint's time, without each being
// sent to collect a 429 of its own.
func TestRateLimitHoldsTheWholeEndpoint(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.RateLimited(30*time.Second), llmtest.Content("ok"))))
	clock := newHeldClock()
	c := newClient(t, srv, llm.WithClock(clock))
	ctx := context.Background()
	const n = 6
	errs := make(chan error, n)
	go func() {
		_, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("first")})
		errs <- err
	}()
	waitSleep := func() time.Duration {
		t.Helper()
		select {
		case d := <-clock.slept:
			return d
		case <-time.After(time.Minute):
			t.Fatalf("no request waited; server calls = %d", srv.Calls())
			return 0
		}
	}
	if d := waitSleep(); d != 30*time.Second {
		t.Fatalf("the refused request waits %v, want the Retry-After of 30s", d)
	}
	for i := 1; i < n; i++ {
		go func() {
			_, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user(fmt.Sprint("q", i))})
			errs <- err
		}()
		if d := waitSleep(); d <= 0 || d > 30*time.Second {
			t.Fatalf("request %d waits %v, want the rest of the endpoint's 30s", i, d)
		}
	}
	if got := srv.Calls(); got != 1 {
		t.Fatalf("server calls while the endpoint is held = %d, want 1 (the 429)", got)
	}
	close(clock.release)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Calls(); got != n+1 {
		t.Errorf("server calls = %d, want %d (one 429, then each request once)", got, n+1)
	}
}

func TestUnauthorizedIsTyped(t *testing.T) {
	for _, tc := range []struct {
		status int
		want   bool
	}{{401, true}, {403, true}, {400, false}, {500, false}} {
		srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.Error(tc.status, "no"))))
		c := newClient(t, srv, llm.WithRetry(llm.RetryPolicy{MaxAttempts: 2}))
		_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
		if got := errors.Is(err, llm.ErrUnauthorized); got != tc.want {
			t.Errorf("status %d: errors.Is(%v, ErrUnauthorized) = %v, want %v", tc.status, err, got, tc.want)
		}
		if tc.want && (srv.Calls() != 1 || !strings.Contains(err.Error(), "OPENAI_API_KEY")) {
			t.Errorf("status %d: %d calls, error %q; want 1 call and the variable named", tc.status, srv.Calls(), err)
		}
	}
}

// TestProviderRetryAndTimeouts: a Provider's max_attempts, timeout and
// call deadline apply to its endpoint; the deadline ends a call whose
// attempts would otherwise go on, and says so.
func TestProviderRetryAndTimeouts(t *testing.T) {
	t.Run("max attempts", func(t *testing.T) {
		srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.ServerError())))
		c := newClient(t, srv, llm.WithProviders(llm.Provider{Name: "openai", MaxAttempts: 2, MaxDelay: time.Second}))
		_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
		var apiErr *llm.APIError
		if !errors.As(err, &apiErr) || apiErr.Attempts != 2 || srv.Calls() != 2 {
			t.Fatalf("chat = %v after %d calls, want a failure after the provider's 2 attempts", err, srv.Calls())
		}
	})
	t.Run("attempt timeout", func(t *testing.T) {
		srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.Hang(), llmtest.Content("ok"))))
		c := newClient(t, srv, llm.WithProviders(llm.Provider{Name: "openai", Timeout: 20 * time.Millisecond}))
		resp, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
		if err != nil || resp.Content != "ok" || srv.Calls() != 2 {
			t.Fatalf("chat = %v, %v after %d calls; want ok after the hanging attempt timed out", resp, err, srv.Calls())
		}
	})
	t.Run("call deadline", func(t *testing.T) {
		srv := llmtest.NewServer(t, llmtest.WithResponder(func(openaiRequest) llmtest.Reply { return llmtest.Hang() }))
		c := newClient(t, srv, llm.WithProviders(llm.Provider{Name: "openai", Timeout: 10 * time.Millisecond,
			MaxAttempts: 1_000_000, Deadline: 200 * time.Millisecond}))
		_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
		var apiErr *llm.APIError
		if !errors.As(err, &apiErr) || !errors.Is(err, context.DeadlineExceeded) || apiErr.Status != 0 ||
			!strings.Contains(err.Error(), "call deadline of 200ms") {
			t.Fatalf("chat = %v, want an *APIError for the call deadline", err)
		}
		if apiErr.Attempts >= 1_000_000 {
			t.Fatalf("%d attempts: the deadline did not end the call", apiErr.Attempts)
		}
	})
	t.Run("client deadline", func(t *testing.T) {
		srv := llmtest.NewServer(t, llmtest.WithResponder(func(openaiRequest) llmtest.Reply { return llmtest.Hang() }))
		c := newClient(t, srv, llm.WithTimeout(time.Hour), llm.WithDeadline(50*time.Millisecond))
		_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "call deadline") {
			t.Fatalf("chat = %v, want the client's call deadline to end an hour-long attempt", err)
		}
	})
	if _, err := llm.New(llm.WithProviders(llm.Provider{Name: "openai", Timeout: -1})); err == nil {
		t.Error("a negative provider timeout was accepted")
	}
}

// TestPromptBudget: a prompt over the model's budget is never sent.
func TestPromptBudget(t *testing.T) {
	srv := llmtest.NewServer(t)
	c := newClient(t, srv, llm.WithProviders(llm.Provider{Name: "vllm", BaseURL: srv.BaseURL(), APIKeyEnv: "OPENAI_API_KEY", MaxPromptTokens: 100}))
	ctx := context.Background()
	big := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		model  string
		prompt string
		budget int
	}{
		{"vllm:/anything", big, 100}, // configured
		{"openai:/some-unknown-model", strings.Repeat("y", 4*llm.DefaultMaxPromptTokens), llm.DefaultMaxPromptTokens}, // default
		{"openai:/gpt-4o-mini", strings.Repeat("z", 4*128_000), 128_000},                                              // known family
	} {
		_, err := c.Chat(ctx, llm.ChatRequest{Model: tc.model, Messages: user(tc.prompt)})
		var tooLarge *llm.PromptTooLargeError
		if !errors.As(err, &tooLarge) || !errors.Is(err, llm.ErrPromptTooLarge) || tooLarge.Budget != tc.budget {
			t.Errorf("%s: chat = %v, want a PromptTooLargeError with budget %d", tc.model, err, tc.budget)
		}
	}
	if srv.Calls() != 0 {
		t.Fatalf("%d requests reached the server, want none", srv.Calls())
	}
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "vllm:/anything", Messages: user("small")}); err != nil {
		t.Fatalf("a prompt within budget: %v", err)
	}
	for model, want := range map[string]int{"gpt-4.1-mini": 1_047_576, "meta-llama/Llama-3.1-8B-Instruct": 128_000,
		"databricks-claude-sonnet-4": 200_000, "o3-mini": 200_000} {
		if got, ok := llm.ContextWindow(model); !ok || got != want {
			t.Errorf("ContextWindow(%q) = %d, %v; want %d", model, got, ok, want)
		}
	}
	if _, ok := llm.ContextWindow("my-finetune"); ok {
		t.Error("an unknown model has a known context window")
	}
	if got := llm.EstimatePromptTokens(user(strings.Repeat("a", 400)), nil); got != 104 {
		t.Errorf("estimate of 400 bytes in one message = %d, want 100 + 4", got)
	}
}

// TestAcceptDecidesWhatIsCached: an answer the caller does not accept is
// returned but not cached, so the same request asks again; an accepted one
// is cached; a cached answer that is no longer accepted is asked afresh.
func TestAcceptDecidesWhatIsCached(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.Content("garbage"), llmtest.Content("good"))))
	cache := &memCache{}
	c := newClient(t, srv, llm.WithCache(cache))
	ctx := context.Background()
	accept := func(content string) error {
		if content != "good" {
			return errors.New("unusable")
		}
		return nil
	}
	req := llm.ChatRequest{Model: "openai:/m", Messages: user("q"), Accept: accept}
	resp, err := c.Chat(ctx, req)
	if err != nil || resp.Content != "garbage" {
		t.Fatalf("first chat = %v, %v; want the garbage answer returned", resp, err)
	}
	if len(cache.snapshot()) != 0 {
		t.Fatal("the unaccepted answer was cached")
	}
	for i, want := range []struct {
		cached bool
		calls  int
	}{{false, 2}, {true, 2}} {
		resp, err := c.Chat(ctx, req)
		if err != nil || resp.Content != "good" || resp.Cached != want.cached || srv.Calls() != want.calls {
			t.Fatalf("chat %d = %+v, %v with %d calls; want good, cached %v, %d calls", i+2, resp, err, srv.Calls(), want.cached, want.calls)
		}
	}
	// Without the hook, garbage is cached; with it, that entry is ignored.
	srv2 := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.Content("garbage"), llmtest.Content("good"))))
	c2 := newClient(t, srv2, llm.WithCache(cache))
	plain := llm.ChatRequest{Model: "openai:/m", Messages: user("q2")}
	if _, err := c2.Chat(ctx, plain); err != nil {
		t.Fatal(err)
	}
	plain.Accept = accept
	resp, err = c2.Chat(ctx, plain)
	if err != nil || resp.Content != "good" || resp.Cached || srv2.Calls() != 2 {
		t.Fatalf("chat over a cached unaccepted answer = %+v, %v with %d calls; want asked afresh", resp, err, srv2.Calls())
	}
}

// TestHedgeAnswersPastAHang: with hedging on, once the endpoint's latency
// is known, an attempt that hangs gets a twin that answers; no attempt
// timeout (an hour here) has to pass.
func TestHedgeAnswersPastAHang(t *testing.T) {
	replies := make([]llmtest.Reply, 0, 22)
	for range 20 {
		replies = append(replies, llmtest.Content("warm"))
	}
	replies = append(replies, llmtest.Hang(), llmtest.Content("hedged"))
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(replies...)))
	c := newClient(t, srv, llm.WithProviders(llm.Provider{Name: "openai", Hedge: true, Timeout: time.Hour}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // bounds the test if no hedge comes
	defer cancel()
	for i := range 20 {
		if _, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user(fmt.Sprint("warm ", i))}); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("the one that hangs")})
	if err != nil || resp.Content != "hedged" {
		t.Fatalf("chat = %v, %v; want the hedge's answer", resp, err)
	}
	if srv.Calls() != 22 {
		t.Errorf("server calls = %d, want 22 (20, the hanging one and its hedge)", srv.Calls())
	}
	if u := c.Meter().Snapshot()["openai:/m"]; u.Retries != 0 || u.Failures != 0 {
		t.Errorf("meter = %+v: the hedge is neither a retry nor a failure", u)
	}
}
