package llm_test

import (
	"context"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

func TestCacheHitsAndMisses(t *testing.T) {
	srv := llmtest.NewServer(t)
	cache := &memCache{}
	c := newClient(t, srv, llm.WithCache(cache))
	ctx := context.Background()
	base := llm.ChatRequest{Model: "openai:/gpt-4.1-mini", Messages: user("q"), Schema: judgeSchema, Params: map[string]any{"temperature": 0}}

	first, err := c.Chat(ctx, base)
	if err != nil || first.Cached {
		t.Fatalf("first call = %+v, %v; want a fresh answer", first, err)
	}
	second, err := c.Chat(ctx, base)
	if err != nil || !second.Cached || second.Content != first.Content || second.Usage != (llm.Usage{}) ||
		second.StructuredOutput != first.StructuredOutput {
		t.Fatalf("second call = %+v, %v; want the cached answer at zero usage", second, err)
	}
	if srv.Calls() != 1 {
		t.Fatalf("server got %d calls, want 1", srv.Calls())
	}

	// Spelling a parameter differently but equally keeps the key.
	same := base
	same.Params = map[string]any{"temperature": 0.0}
	same.Model = " openai:/gpt-4.1-mini"
	if r, err := c.Chat(ctx, same); err != nil || !r.Cached {
		t.Fatalf("equal request = %+v, %v; want a cache hit", r, err)
	}

	changes := map[string]func(r *llm.ChatRequest){
		"parameter": func(r *llm.ChatRequest) { r.Params = map[string]any{"temperature": 0.7} },
		"message":   func(r *llm.ChatRequest) { r.Messages = user("q2") },
		"schema":    func(r *llm.ChatRequest) { r.Schema = map[string]any{"type": "object"} },
		"model":     func(r *llm.ChatRequest) { r.Model = "openai:/gpt-4.1" },
	}
	for _, name := range slices.Sorted(maps.Keys(changes)) {
		req := base
		changes[name](&req)
		before := srv.Calls()
		r, err := c.Chat(ctx, req)
		if err != nil || r.Cached || srv.Calls() != before+1 {
			t.Fatalf("changed %s: cached=%v err=%v calls %d→%d; want a miss", name, r != nil && r.Cached, err, before, srv.Calls())
		}
	}

	before := srv.Calls()
	bypass := base
	bypass.NoCache = true
	if r, err := c.Chat(ctx, bypass); err != nil || r.Cached || srv.Calls() != before+1 {
		t.Fatalf("NoCache call = %+v, %v; want it sent", r, err)
	}

	for key := range cache.snapshot() {
		if _, err := hex.DecodeString(key); err != nil || len(key) != 64 {
			t.Fatalf("cache key %q is not a hex sha256", key)
		}
	}
	u := c.Meter().Snapshot()["openai:/gpt-4.1-mini"]
	if u.Calls != 7 || u.Cached != 2 {
		t.Fatalf("meter = %+v, want 7 calls of which 2 cached", u)
	}
}

// TestCacheKeyIgnoresEndpoint: the same request through two servers with
// different keys and URLs has the same cache key.
func TestCacheKeyIgnoresEndpoint(t *testing.T) {
	keys := make([][]string, 2)
	for i, key := range []string{"sk-first-0000", "sk-second-1111"} {
		srv := llmtest.NewServer(t, llmtest.WithAPIKey(key))
		cache := &memCache{}
		c := newClient(t, srv, llm.WithCache(cache))
		if _, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Embed(context.Background(), llm.EmbedRequest{Model: "openai:/e", Inputs: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		keys[i] = slices.Sorted(maps.Keys(cache.snapshot()))
	}
	if len(keys[0]) != 2 || !slices.Equal(keys[0], keys[1]) {
		t.Fatalf("cache keys differ between endpoints: %v vs %v", keys[0], keys[1])
	}
}

func TestRecordThenReplay(t *testing.T) {
	srv := llmtest.NewServer(t)
	path := filepath.Join(t.TempDir(), "run.jsonl")
	rec, err := llm.CreateRecording(path)
	if err != nil {
		t.Fatal(err)
	}
	cache := &memCache{}
	c := newClient(t, srv, llm.WithRecorder(rec), llm.WithCache(cache))
	ctx := context.Background()
	reqA := llm.ChatRequest{Model: "openai:/gpt-4.1-mini", Messages: user("a"), Schema: judgeSchema, Params: map[string]any{"seed": 1}}
	reqB := llm.ChatRequest{Model: "azure:/judge", Messages: user("b")}
	embed := llm.EmbedRequest{Model: "openai:/text-embedding-3-small", Inputs: []string{"x", "y"}, Dimensions: 8}

	a, err := c.Chat(ctx, reqA)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Chat(ctx, reqA); err != nil || !again.Cached {
		t.Fatalf("repeat = %+v, %v; want a cache hit", again, err)
	}
	b, err := c.Chat(ctx, reqB)
	if err != nil {
		t.Fatal(err)
	}
	e, err := c.Embed(ctx, embed)
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.Len() != 4 {
		t.Fatalf("recorded %d exchanges, want 4 (2 chats, 2 embedding inputs)", rec.Len())
	}
	calls := srv.Calls()
	srv.Close()

	replay, err := llm.OpenReplay(path)
	if err != nil {
		t.Fatal(err)
	}
	if replay.Len() != 4 || !replay.Replaying() {
		t.Fatalf("replay holds %d exchanges, want 4", replay.Len())
	}
	// An empty cache: answers must come from the replay, not the cache.
	r := newClient(t, srv, llm.WithRecorder(replay), llm.WithCache(&memCache{}))
	for _, tc := range []struct {
		req  llm.ChatRequest
		want *llm.ChatResponse
	}{{reqA, a}, {reqB, b}} {
		got, err := r.Chat(ctx, tc.req)
		if err != nil {
			t.Fatalf("replay chat %s: %v", tc.req.Model, err)
		}
		if got.Content != tc.want.Content || got.StructuredOutput != tc.want.StructuredOutput || !got.Replayed || !got.Cached {
			t.Fatalf("replayed %+v, want the content of %+v marked replayed", got, tc.want)
		}
	}
	got, err := r.Embed(ctx, embed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range embed.Inputs {
		if !slices.Equal(got.Vectors[i], e.Vectors[i]) {
			t.Fatalf("replayed vector %d differs", i)
		}
	}
	if srv.Calls() != calls {
		t.Fatal("replay reached the server")
	}

	// A request the recording lacks fails loudly.
	_, err = r.Chat(ctx, llm.ChatRequest{Model: "openai:/gpt-4.1-mini", Messages: user("never asked")})
	var miss *llm.ReplayMissError
	if !errors.As(err, &miss) || miss.Model != "openai:/gpt-4.1-mini" || len(miss.Digest) != 12 || miss.File != path {
		t.Fatalf("chat = %v, want *ReplayMissError naming the model, a 12-char digest and the file", err)
	}
	if !strings.Contains(err.Error(), "holds no answer for model openai:/gpt-4.1-mini request "+miss.Digest) {
		t.Fatalf("error = %q", err)
	}
	_, err = r.Embed(ctx, llm.EmbedRequest{Model: "openai:/text-embedding-3-small", Inputs: []string{"x", "z"}, Dimensions: 8})
	if !errors.As(err, &miss) {
		t.Fatalf("embed of an unrecorded input = %v, want *ReplayMissError", err)
	}
}

func TestOpenReplayRejectsCorruptLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.jsonl")
	content := `{"key":"k1","kind":"chat","model":"openai:/m","request":{},"response":{"content":"x"}}` + "\n{not json\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := llm.OpenReplay(path); err == nil || !strings.Contains(err.Error(), "bad.jsonl line 2") {
		t.Fatalf("OpenReplay = %v, want an error naming line 2", err)
	}
}
