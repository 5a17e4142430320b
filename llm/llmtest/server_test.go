package llmtest_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm/llmtest"
	openai "github.com/sashabaranov/go-openai"
)

// post sends body to path with the default key and returns status, headers
// and body.
func post(t *testing.T, srv *llmtest.Server, path, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+llmtest.DefaultAPIKey)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hello there"}]}`

func TestServerAnswersGoOpenAI(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Always("pong")))
	cfg := openai.DefaultConfig(srv.APIKey())
	cfg.BaseURL = srv.BaseURL()
	resp, err := openai.NewClientWithConfig(cfg).CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model: "m", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "ping"}},
	})
	if err != nil || resp.Choices[0].Message.Content != "pong" || resp.Usage.TotalTokens == 0 {
		t.Fatalf("chat = %+v, %v", resp, err)
	}
	r := srv.ChatRequests()[0]
	if r.Path != "/v1/chat/completions" || r.Chat.Messages[0].Content != "ping" || r.Header.Get("Authorization") == "" {
		t.Fatalf("recorded %+v", r)
	}
}

func TestServerAuthAndRouting(t *testing.T) {
	srv := llmtest.NewServer(t)
	tests := []struct {
		name       string
		path       string
		header     map[string]string
		wantStatus int
	}{
		{"bearer", "/v1/chat/completions", nil, 200},
		{"wrong key", "/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-other"}, 401},
		{"azure api-key", "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21", map[string]string{"Authorization": "", "api-key": llmtest.DefaultAPIKey}, 200},
		{"databricks", "/serving-endpoints/chat/completions", nil, 200},
		{"unknown path", "/v1/completions", nil, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, body := post(t, srv, tc.path, chatBody, tc.header); status != tc.wantStatus {
				t.Fatalf("status %d (%s), want %d", status, body, tc.wantStatus)
			}
		})
	}
	reqs := srv.Requests()
	if reqs[2].Deployment != "dep-1" || reqs[2].Query.Get("api-version") != "2024-10-21" {
		t.Fatalf("azure request recorded as %+v", reqs[2])
	}
	if srv.Calls() != len(tests) {
		t.Fatalf("Calls = %d, want %d", srv.Calls(), len(tests))
	}
}

func TestReplies(t *testing.T) {
	tests := []struct {
		name       string
		reply      llmtest.Reply
		wantStatus int
		wantHeader map[string]string
		check      func(t *testing.T, body string)
	}{
		{name: "content", reply: llmtest.Content("hi"), wantStatus: 200, check: func(t *testing.T, body string) {
			var r openai.ChatCompletionResponse
			if err := json.Unmarshal([]byte(body), &r); err != nil || r.Choices[0].Message.Content != "hi" {
				t.Fatalf("body %s", body)
			}
		}},
		{name: "429 seconds", reply: llmtest.RateLimited(2 * time.Second), wantStatus: 429, wantHeader: map[string]string{"Retry-After": "2"}},
		{name: "429 ms", reply: llmtest.RateLimited(250 * time.Millisecond), wantStatus: 429, wantHeader: map[string]string{"Retry-After-Ms": "250"}},
		{name: "500 is an OpenAI error object", reply: llmtest.ServerError(), wantStatus: 500, check: func(t *testing.T, body string) {
			var e openai.ErrorResponse
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == nil || e.Error.Message == "" {
				t.Fatalf("body %s", body)
			}
		}},
		{name: "truncated", reply: llmtest.Truncated("x"), wantStatus: 200, check: func(t *testing.T, body string) {
			if json.Valid([]byte(body)) || !strings.HasPrefix(body, "{") {
				t.Fatalf("body %q is not truncated JSON", body)
			}
		}},
		{name: "refusal", reply: llmtest.Refuse("no"), wantStatus: 200, check: func(t *testing.T, body string) {
			if !strings.Contains(body, `"refusal":"no"`) {
				t.Fatalf("body %s", body)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply { return tc.reply }))
			status, header, body := post(t, srv, "/v1/chat/completions", chatBody, nil)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d", status, tc.wantStatus)
			}
			for k, v := range tc.wantHeader {
				if header.Get(k) != v {
					t.Fatalf("header %s = %q, want %q", k, header.Get(k), v)
				}
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		})
	}
}

func TestDelayAndHang(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithLatency(30*time.Millisecond),
		llmtest.WithResponder(llmtest.Sequence(llmtest.Content("a").After(20*time.Millisecond), llmtest.Hang())))
	start := time.Now()
	if status, _, _ := post(t, srv, "/v1/chat/completions", chatBody, nil); status != 200 {
		t.Fatalf("status %d", status)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered after %v, want at least latency + delay = 50ms", d)
	}
	// A hanging request ends when its client gives up.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
	req.Header.Set("Authorization", "Bearer "+llmtest.DefaultAPIKey)
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("a hanging request answered")
	}
	// And Close releases hanging requests instead of blocking.
	done := make(chan struct{})
	go func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(chatBody))
		req.Header.Set("Authorization", "Bearer "+llmtest.DefaultAPIKey)
		http.DefaultClient.Do(req)
		close(done)
	}()
	for srv.Calls() < 3 {
		time.Sleep(time.Millisecond)
	}
	srv.Close()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Close did not release a hanging request")
	}
	if srv.MaxInFlight() < 1 {
		t.Fatal("MaxInFlight not tracked")
	}
}

func TestWithoutStructuredOutput(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithoutStructuredOutput())
	body := `{"model":"m","messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"},"strict":true}}}`
	status, _, resp := post(t, srv, "/v1/chat/completions", body, nil)
	if status != 400 || !strings.Contains(resp, "response_format") {
		t.Fatalf("status %d body %s, want a 400 about response_format", status, resp)
	}
	if status, _, _ := post(t, srv, "/v1/chat/completions", chatBody, nil); status != 200 {
		t.Fatalf("plain request got %d", status)
	}
}

func TestSchemaAnswer(t *testing.T) {
	schema := `{"type":"object","properties":{"result":{"type":"integer","minimum":1.5,"maximum":5},"ok":{"type":"boolean"},
		"label":{"type":"string","enum":["good","bad"]},"rationale":{"type":"string"}}}`
	body := `{"model":"m","messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"r","schema":` + schema + `,"strict":true}}}`
	srv := llmtest.NewServer(t)
	_, _, resp := post(t, srv, "/v1/chat/completions", body, nil)
	var r openai.ChatCompletionResponse
	if err := json.Unmarshal([]byte(resp), &r); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.Choices[0].Message.Content), &got); err != nil {
		t.Fatal(err)
	}
	if got["result"] != 2.0 || got["ok"] != true || got["label"] != "good" || got["rationale"] != "fake rationale" {
		t.Fatalf("answer %v does not satisfy the schema minimally", got)
	}
}

func TestSequence(t *testing.T) {
	r := llmtest.Sequence(llmtest.Content("a"), llmtest.ServerError(), llmtest.Content("c"))
	var got []string
	for range 5 {
		reply := r(openai.ChatCompletionRequest{})
		got = append(got, reply.Content+"/"+http.StatusText(reply.Status))
	}
	want := "a/,/Internal Server Error,c/,c/,c/"
	if strings.Join(got, ",") != want {
		t.Fatalf("sequence = %v, want %s", got, want)
	}
}

func TestFaultMix(t *testing.T) {
	count := func(seed uint64) map[string]int {
		r := llmtest.FaultMix{RateLimited: 0.1, ServerError: 0.1, Hang: 0.02, Truncated: 0.03, RetryAfter: time.Second, Seed: seed}.Wrap(llmtest.Always("ok"))
		n := map[string]int{}
		for range 10000 {
			reply := r(openai.ChatCompletionRequest{})
			switch {
			case reply.Hang:
				n["hang"]++
			case reply.Truncate:
				n["truncated"]++
			case reply.Status == 429:
				if reply.Header.Get("Retry-After") != "1" {
					panic("429 without Retry-After")
				}
				n["429"]++
			case reply.Status == 500:
				n["500"]++
			default:
				n["ok"]++
			}
		}
		return n
	}
	a, b := count(7), count(7)
	for k, want := range map[string]float64{"429": 1000, "500": 1000, "hang": 200, "truncated": 300, "ok": 7500} {
		if a[k] != b[k] {
			t.Fatalf("same seed gave %d then %d %s faults", a[k], b[k], k)
		}
		if math.Abs(float64(a[k])-want) > 4*math.Sqrt(want) {
			t.Fatalf("%s: %d of 10000, want about %v", k, a[k], want)
		}
	}
	if c := count(8); c["429"] == a["429"] && c["500"] == a["500"] && c["hang"] == a["hang"] {
		t.Fatal("a different seed gave identical fault counts")
	}
	f := llmtest.Faults(0.2, 1, llmtest.Always("ok"))
	faults := 0
	for range 1000 {
		if reply := f(openai.ChatCompletionRequest{}); reply.Status != 0 {
			faults++
		}
	}
	if faults < 150 || faults > 250 {
		t.Fatalf("Faults(0.2) faulted %d of 1000", faults)
	}
}

func TestVector(t *testing.T) {
	for _, dims := range []int{1, 8, 256} {
		v := llmtest.Vector("the cat sat on the mat", dims)
		if len(v) != dims {
			t.Fatalf("len = %d, want %d", len(v), dims)
		}
		var norm float64
		for _, x := range v {
			norm += float64(x) * float64(x)
		}
		if math.Abs(norm-1) > 1e-5 {
			t.Fatalf("dims %d: norm² = %v, want 1", dims, norm)
		}
	}
	cos := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	a := llmtest.Vector("the cat sat on the mat", 256)
	if !equal(a, llmtest.Vector("the cat sat on the mat", 256)) {
		t.Fatal("not deterministic")
	}
	near := cos(a, llmtest.Vector("a cat sat on a mat", 256))
	far := cos(a, llmtest.Vector("quarterly revenue grew strongly", 256))
	if near <= far || near < 0.4 {
		t.Fatalf("similarity: shared words %v, unrelated %v", near, far)
	}
	if e := llmtest.Vector("", 4); len(e) != 4 {
		t.Fatal("empty text has no vector")
	}
}

func equal(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEmbeddings(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithDimensions(16))
	_, _, body := post(t, srv, "/v1/embeddings", `{"model":"e","input":["a","b"]}`, nil)
	var r openai.EmbeddingResponse
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Data) != 2 || len(r.Data[1].Embedding) != 16 ||
		!equal(r.Data[1].Embedding, llmtest.Vector("b", 16)) || r.Data[1].Index != 1 {
		t.Fatalf("embeddings = %s", body)
	}
	_, _, body = post(t, srv, "/v1/embeddings", `{"model":"e","input":"single","dimensions":4}`, nil)
	if err := json.Unmarshal([]byte(body), &r); err != nil || len(r.Data) != 1 || len(r.Data[0].Embedding) != 4 {
		t.Fatalf("embeddings = %s", body)
	}
	if got := srv.EmbedRequests()[1]; got.Dimensions != 4 || got.Inputs[0] != "single" {
		t.Fatalf("recorded %+v", got)
	}
}

func TestGetenv(t *testing.T) {
	srv := llmtest.NewServer(t)
	for name, want := range map[string]string{
		"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": llmtest.DefaultAPIKey, "AZURE_OPENAI_ENDPOINT": srv.URL,
		"AZURE_OPENAI_API_KEY": llmtest.DefaultAPIKey, "DATABRICKS_HOST": srv.URL, "DATABRICKS_TOKEN": llmtest.DefaultAPIKey,
		"OLLAMA_HOST": srv.URL, "HOME": "",
	} {
		if got := srv.Getenv(name); got != want {
			t.Errorf("Getenv(%s) = %q, want %q", name, got, want)
		}
	}
}
