package llm_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

func TestConcurrencyLimit(t *testing.T) {
	tests := []struct {
		name  string
		opts  []llm.Option
		limit int
	}{
		{"provider limit", []llm.Option{llm.WithProviders(llm.Provider{Name: "openai", MaxConcurrency: 3})}, 3},
		{"client default", []llm.Option{llm.WithMaxConcurrency(5)}, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithLatency(20*time.Millisecond))
			c := newClient(t, srv, tc.opts...)
			var wg sync.WaitGroup
			for i := range 30 {
				wg.Go(func() {
					if _, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user(strings.Repeat("x", i))}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if got := srv.MaxInFlight(); got != tc.limit {
				t.Fatalf("server saw %d requests in flight at most, want exactly the limit %d", got, tc.limit)
			}
		})
	}
}

func TestRequestsPerMinute(t *testing.T) {
	srv := llmtest.NewServer(t)
	clock := newFakeClock()
	c := newClient(t, srv, llm.WithClock(clock), llm.WithProviders(llm.Provider{Name: "openai", RequestsPerMinute: 2}))
	for i := range 3 {
		if _, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user(strings.Repeat("q", i+1))}); err != nil {
			t.Fatal(err)
		}
	}
	// The bucket holds 2 requests and refills one every 30s.
	if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{30 * time.Second}) {
		t.Fatalf("waits = %v, want one 30s wait before the third request", got)
	}
}

func TestTokensPerMinuteCorrectedByUsage(t *testing.T) {
	// Each request is estimated at 200/4 = 50 tokens but bills 100.
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openaiRequest) llmtest.Reply {
		return llmtest.Reply{Content: "ok", PromptTokens: 60, CompletionTokens: 40}
	}))
	clock := newFakeClock()
	c := newClient(t, srv, llm.WithClock(clock), llm.WithProviders(llm.Provider{Name: "openai", TokensPerMinute: 100}))
	for i := range 2 {
		msg := strings.Repeat("abcd", 50)[i:] + strings.Repeat("z", i)
		if _, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	// After the first call the bucket is 100 - 100 = 0 (not 100 - 50), so
	// the second waits 50 tokens at 100/min = 30s.
	if got := clock.Sleeps(); !slices.Equal(got, []time.Duration{30 * time.Second}) {
		t.Fatalf("waits = %v, want [30s]", got)
	}
}
