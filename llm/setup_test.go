package llm_test

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	openai "github.com/sashabaranov/go-openai"
)

// fakeClock records waits and advances instantly.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *fakeClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// memCache is an in-memory llm.Cache.
type memCache struct {
	mu   sync.Mutex
	data map[string][]byte
}

func (m *memCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.data[key]
	return v, ok, nil
}

func (m *memCache) Put(_ context.Context, key string, val []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		m.data = map[string][]byte{}
	}
	m.data[key] = val
	return nil
}

func (m *memCache) snapshot() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.data)
}

// env is a fake environment.
type env map[string]string

func (e env) Getenv(name string) string { return e[name] }

// newClient returns a client whose environment points every built-in
// provider at srv, with a fake clock, plus opts.
func newClient(t testing.TB, srv *llmtest.Server, opts ...llm.Option) *llm.Client {
	t.Helper()
	all := append([]llm.Option{llm.WithGetenv(srv.Getenv), llm.WithClock(newFakeClock())}, opts...)
	c, err := llm.New(all...)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	return c
}

// user is a one-message conversation.
func user(content string) []llm.Message {
	return []llm.Message{{Role: "user", Content: content}}
}

// judgeSchema is the {result, rationale} schema of a yes/no judge.
var judgeSchema = map[string]any{
	"type": "object",
	"properties": map[string]any{
		"result":    map[string]any{"type": "string", "enum": []any{"yes", "no"}},
		"rationale": map[string]any{"type": "string"},
	},
	"required":             []any{"result", "rationale"},
	"additionalProperties": false,
}

// openaiRequest is the request a Responder sees.
type openaiRequest = openai.ChatCompletionRequest

// realClock sleeps for real.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
