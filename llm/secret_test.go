package llm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

// TestSecretNeverLeaks drives every path that produces text — logs at debug
// level, errors (including a provider echoing the key), cache keys and
// values, the recording, the meter — and greps all of it for the key.
func TestSecretNeverLeaks(t *testing.T) {
	const key = llmtest.DefaultAPIKey
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(
		llmtest.Error(401, "Incorrect API key provided: "+key+". You can find your API key at …"),
		llmtest.RateLimited(time.Second),
		llmtest.Content(`{"result":"yes","rationale":"fine"}`),
		llmtest.ServerError(),
	)))
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cache := &memCache{}
	path := filepath.Join(t.TempDir(), "rec.jsonl")
	rec, err := llm.CreateRecording(path)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, srv, llm.WithLogger(logger), llm.WithCache(cache), llm.WithRecorder(rec),
		llm.WithRetry(llm.RetryPolicy{MaxAttempts: 2}),
		llm.WithProviders(llm.Provider{Name: "azure", Headers: map[string]string{"X-Tenant": "t1"}}))
	ctx := context.Background()
	var produced []string

	// 1. The provider echoes the key in a 401.
	_, err = c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("q1")})
	if err == nil {
		t.Fatal("want the 401")
	}
	produced = append(produced, err.Error(), fmt.Sprintf("%+v", err))
	if !strings.Contains(err.Error(), "Incorrect API key provided: [REDACTED]") {
		t.Fatalf("error = %q, want the key redacted from the provider's message", err)
	}
	// 2. A retried success, cached and recorded.
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("q2"), Schema: judgeSchema}); err != nil {
		t.Fatal(err)
	}
	// 3. A failure after retries.
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "azure:/judge", Messages: user("q3")}); err != nil {
		produced = append(produced, err.Error())
	}
	// 4. Embeddings.
	if _, err := c.Embed(ctx, llm.EmbedRequest{Model: "databricks:/gte", Inputs: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	// 5. Resolution errors and a connection failure.
	if _, err := c.Resolve("nope:/m"); err != nil {
		produced = append(produced, err.Error())
	}
	srv.Close()
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/m", Messages: user("q4")}); err != nil {
		produced = append(produced, err.Error())
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	recording, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	meter, _ := json.Marshal(c.Meter().Snapshot())
	produced = append(produced, logs.String(), string(recording), string(meter), fmt.Sprintf("%+v", c))
	for k, v := range cache.snapshot() {
		produced = append(produced, k, string(v))
	}

	// The test is only meaningful if the key was really used and the
	// interesting paths were logged.
	if got := srv.Requests()[0].Header.Get("Authorization"); got != "Bearer "+key {
		t.Fatalf("server saw Authorization %q; the key was not used", got)
	}
	for _, want := range []string{`"attempt":2`, `"status":429`, `"status":401`, `"latency"`, `"model":"openai:/m"`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("debug log lacks %s:\n%s", want, logs.String())
		}
	}
	if len(recording) == 0 || len(cache.snapshot()) == 0 {
		t.Fatal("nothing was recorded or cached")
	}
	for _, s := range produced {
		for _, secret := range []string{key, key[len(key)/2:]} {
			if strings.Contains(s, secret) {
				t.Fatalf("key material %q leaked into:\n%s", secret, s)
			}
		}
	}
}
