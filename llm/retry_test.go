package llm_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

func TestRetryHonoursRetryAfter(t *testing.T) {
	clock := newFakeClock()
	tests := []struct {
		name  string
		first llmtest.Reply
		want  time.Duration
	}{
		{"seconds", llmtest.RateLimited(7 * time.Second), 7 * time.Second},
		{"retry-after-ms", llmtest.RateLimited(1500 * time.Millisecond), 1500 * time.Millisecond},
		{"http date", llmtest.Error(429, "slow down").WithHeader("Retry-After", clock.Now().Add(15*time.Second).Format(http.TimeFormat)), 15 * time.Second},
		{"on a 503 too", llmtest.Error(503, "overloaded").WithHeader("Retry-After", "4"), 4 * time.Second},
		{"capped at MaxDelay", llmtest.RateLimited(10 * time.Minute), 20 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(tc.first, llmtest.Content("ok"))))
			clock := newFakeClock()
			c := newClient(t, srv, llm.WithClock(clock), llm.WithRetry(llm.RetryPolicy{MaxAttempts: 3, MaxDelay: 20 * time.Second}))
			resp, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
			if err != nil || resp.Content != "ok" {
				t.Fatalf("chat = %v, %v; want ok after a retry", resp, err)
			}
			if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{tc.want}) {
				t.Fatalf("waits = %v, want [%v]", got, tc.want)
			}
			if srv.Calls() != 2 {
				t.Fatalf("server got %d calls, want 2", srv.Calls())
			}
			if u := c.Meter().Snapshot()["openai:/m"]; u.Retries != 1 || u.Calls != 1 || u.Failures != 0 {
				t.Fatalf("meter = %+v, want 1 call with 1 retry", u)
			}
		})
	}
}

func TestRetryGivesUpAfterMaxAttempts(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(req openaiRequest) llmtest.Reply { return llmtest.ServerError() }))
	clock := newFakeClock()
	policy := llm.RetryPolicy{MaxAttempts: 4, BaseDelay: time.Second, MaxDelay: 3 * time.Second}
	c := newClient(t, srv, llm.WithClock(clock), llm.WithRetry(policy))
	_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("chat = %v, want *APIError", err)
	}
	if apiErr.Status != 500 || apiErr.Attempts != 4 || apiErr.Model != "openai:/m" || !apiErr.Temporary() {
		t.Fatalf("APIError = %+v, want status 500 after 4 attempts", apiErr)
	}
	want := "model openai:/m: status 500 after 4 attempts: The server had an error while processing your request"
	if err.Error() != want {
		t.Fatalf("error = %q, want %q", err, want)
	}
	if srv.Calls() != 4 {
		t.Fatalf("server got %d calls, want 4", srv.Calls())
	}
	sleeps := clock.Sleeps()
	if len(sleeps) != 3 {
		t.Fatalf("waited %d times, want 3", len(sleeps))
	}
	for i, d := range sleeps {
		ceiling := min(policy.MaxDelay, policy.BaseDelay<<i)
		if d < 0 || d > ceiling {
			t.Errorf("wait %d = %v, want within [0, %v] (full jitter)", i+1, d, ceiling)
		}
	}
	if u := c.Meter().Snapshot()["openai:/m"]; u.Failures != 1 || u.Retries != 3 {
		t.Fatalf("meter = %+v, want 1 failure, 3 retries", u)
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 422} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.Error(status, "nope"), llmtest.Content("ok"))))
			clock := newFakeClock()
			c := newClient(t, srv, llm.WithClock(clock))
			_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
			var apiErr *llm.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != status || apiErr.Attempts != 1 || apiErr.Temporary() {
				t.Fatalf("chat = %v, want one attempt ending in %d", err, status)
			}
			if srv.Calls() != 1 || len(clock.Sleeps()) != 0 {
				t.Fatalf("server got %d calls after %d waits, want 1 and 0", srv.Calls(), len(clock.Sleeps()))
			}
		})
	}
}

func TestNoRetryOnWrongKey(t *testing.T) {
	srv := llmtest.NewServer(t)
	c, err := llm.New(llm.WithGetenv(env{"OPENAI_API_KEY": "sk-wrong", "OPENAI_BASE_URL": srv.BaseURL()}.Getenv), llm.WithClock(newFakeClock()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 || srv.Calls() != 1 {
		t.Fatalf("chat = %v after %d calls, want a single 401", err, srv.Calls())
	}
}

func TestRetryTransientFailures(t *testing.T) {
	tests := []struct {
		name  string
		first llmtest.Reply
	}{
		{"hang until timeout", llmtest.Hang()},
		{"slower than timeout", llmtest.Content("late").After(10 * time.Second)},
		{"truncated json", llmtest.Truncated("cut")},
		{"500", llmtest.ServerError()},
		{"502 with html body", llmtest.Reply{Status: 502, Body: "<html>Bad Gateway</html>"}},
		{"429 without retry-after", llmtest.RateLimited(0)},
		{"408", llmtest.Error(408, "timeout")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(tc.first, llmtest.Content("ok"))))
			c := newClient(t, srv, llm.WithTimeout(100*time.Millisecond))
			resp, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
			if err != nil || resp.Content != "ok" {
				t.Fatalf("chat = %v, %v; want ok on the second attempt", resp, err)
			}
			if srv.Calls() != 2 {
				t.Fatalf("server got %d calls, want 2", srv.Calls())
			}
		})
	}
}

func TestTimeoutGivesUpWithDeadlineExceeded(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openaiRequest) llmtest.Reply { return llmtest.Hang() }))
	c := newClient(t, srv, llm.WithTimeout(30*time.Millisecond), llm.WithRetry(llm.RetryPolicy{MaxAttempts: 2}))
	_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 0 || apiErr.Attempts != 2 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("chat = %v, want APIError after 2 timed-out attempts matching context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "request failed after 2 attempts: no answer within 30ms") {
		t.Fatalf("error = %q", err)
	}
}

func TestConnectionErrorsAreRetried(t *testing.T) {
	srv := llmtest.NewServer(t)
	c := newClient(t, srv, llm.WithRetry(llm.RetryPolicy{MaxAttempts: 3}))
	srv.Close()
	_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 0 || apiErr.Attempts != 3 || !apiErr.Temporary() {
		t.Fatalf("chat = %v, want APIError after 3 attempts without status", err)
	}
	if apiErr.Unwrap() == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("error = %v, want the transport cause", err)
	}
}

func TestContextCancelStopsWaiting(t *testing.T) {
	tests := []struct {
		name  string
		reply llmtest.Reply
		limit int
	}{
		{"in a retry-after wait", llmtest.RateLimited(time.Hour), 0},
		{"in flight", llmtest.Hang(), 0},
		{"for a concurrency slot", llmtest.Hang(), 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(func(openaiRequest) llmtest.Reply { return tc.reply }))
			opts := []llm.Option{llm.WithClock(realClock{}), llm.WithTimeout(time.Hour)}
			if tc.limit > 0 {
				opts = append(opts, llm.WithProviders(llm.Provider{Name: "openai", MaxConcurrency: tc.limit}))
				// Occupy the only slot.
				occupier, cancel := context.WithCancel(context.Background())
				defer cancel()
				c := newClient(t, srv, opts...)
				go c.Chat(occupier, llm.ChatRequest{Model: "openai:/m", Messages: user("occupy")})
				for srv.Calls() == 0 {
					time.Sleep(time.Millisecond)
				}
				testCancel(t, c)
				if srv.Calls() != 1 {
					t.Fatalf("server got %d calls, want only the occupier's", srv.Calls())
				}
				return
			}
			testCancel(t, newClient(t, srv, opts...))
		})
	}
}

// testCancel cancels a Chat after 50ms and checks it returns at once.
func testCancel(t *testing.T, c *llm.Client) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("chat = %v, want context.Canceled", err)
	}
	var apiErr *llm.APIError
	if errors.As(err, &apiErr) {
		t.Fatalf("a cancelled call must not be reported as an API failure: %v", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("chat returned %v after cancel", elapsed)
	}
}
