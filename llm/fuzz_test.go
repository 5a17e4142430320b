package llm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
)

// bodyTransport answers every request with one status and body.
type bodyTransport struct {
	status int
	body   []byte
}

func (t bodyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: t.status, Status: http.StatusText(t.status), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(bytes.NewReader(t.body)),
		Request: req,
	}, nil
}

// fuzzStatuses are the statuses a fuzzed answer comes with, by the first
// input byte.
var fuzzStatuses = []int{200, 200, 200, 400, 401, 429, 500}

// fuzzJudges are judges of every value kind, whose ParseAnswer normalises
// what the model layer returns.
func fuzzJudges(f *testing.F) []*judge.Judge {
	lo, hi := 1.0, 5.0
	var out []*judge.Judge
	for _, vt := range []judge.ValueType{
		{Type: judge.Boolean},
		{Values: []string{"excellent", "good", "poor"}},
		{Type: judge.Integer, Min: &lo, Max: &hi},
		{Type: judge.Float},
		{Type: judge.String},
	} {
		j, err := judge.New("fuzz", "Judge {{ outputs }}.", judge.WithModel("openai:/m"), judge.WithValueType(vt))
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

// FuzzChatAnswer drives an HTTP body through the real client (go-openai's
// decoding, the refusal and empty-choice checks, error classification and
// redaction) and then through every judge kind's ParseAnswer and the JSON
// encoding eval stores. It must never panic; an error is one line without
// the key; a parsed value encodes as JSON.
func FuzzChatAnswer(f *testing.F) {
	const key = "sk-fuzz-SECRET-key-0123456789"
	choice := func(content string) string {
		b, _ := json.Marshal(content)
		return `{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":` +
			string(b) + `},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}`
	}
	for _, seed := range []struct {
		status byte
		body   string
	}{
		{0, choice(`{"rationale":"clear","result":"yes"}`)},
		{0, choice("```json\n{\"result\": \"good\", \"rationale\": \"ok\"}\n```")},
		{0, choice(`{"result": 4.0, "rationale": "four"}`)},
		{0, choice(`{"result": 1e400}`)},
		{0, choice(`{"result": "NaN"}`)},
		{0, choice(`I think the answer is {"result": true`)},
		{0, choice("")},
		{0, `{"choices":[]}`},
		{0, `{"choices":[{"message":{"role":"assistant","content":"","refusal":"I can't help with that."}}]}`},
		{0, `{"choices":[{"message":{"role":"assistant","content":[{"type":"text","text":"hi"}]}}]}`},
		{0, `{"choices":[{"message":{"role":"assistant","content":42}}]}`},
		{0, `{"choices":[{"message":null}]}`},
		{0, choice(`{"result":"yes"}`)[:60]},
		{0, ``},
		{0, `null`},
		{0, `[]`},
		{3, `{"error":{"message":"response_format json_schema is not supported","type":"invalid_request_error"}}`},
		{4, `{"error":{"message":"Incorrect API key provided: ` + key + `","type":"invalid_request_error"}}`},
		{5, `{"error":{"message":"Rate limit reached","type":"rate_limit_exceeded"}}`},
		{6, `<html>502 Bad Gateway</html>`},
	} {
		f.Add(seed.status, []byte(seed.body))
	}
	judges := fuzzJudges(f)
	schema := map[string]any{"type": "object", "properties": map[string]any{"result": map[string]any{"type": "string"}}}
	f.Fuzz(func(t *testing.T, status byte, body []byte) {
		c, err := llm.New(
			llm.WithHTTPClient(&http.Client{Transport: bodyTransport{status: fuzzStatuses[int(status)%len(fuzzStatuses)], body: body}}),
			llm.WithGetenv(env{"OPENAI_API_KEY": key}.Getenv),
			llm.WithRetry(llm.RetryPolicy{MaxAttempts: 1}),
			llm.WithClock(newFakeClock()),
		)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q"), Schema: schema})
		if err != nil {
			var apiErr *llm.APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("chat error %v (%T), want an *APIError", err, err)
			}
			if strings.Contains(err.Error(), key) || strings.Contains(apiErr.Message, "\n") || len(apiErr.Message) > 400 {
				t.Fatalf("APIError message %q: want one line of at most 300 bytes without the key", apiErr.Message)
			}
			return
		}
		for _, j := range judges {
			value, _, err := j.ParseAnswer(resp.Content)
			if err != nil {
				var ae *judge.AnswerError
				if !errors.As(err, &ae) {
					t.Fatalf("ParseAnswer error %v (%T), want an *AnswerError", err, err)
				}
				continue
			}
			if value == nil {
				t.Fatalf("%s judge: nil value without an error for %q", j.ValueType.Effective(), resp.Content)
			}
			if _, err := json.Marshal(value); err != nil {
				t.Fatalf("%s judge: value %#v does not encode: %v", j.ValueType.Effective(), value, err)
			}
		}
	})
}
