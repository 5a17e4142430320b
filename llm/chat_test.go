package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	openai "github.com/sashabaranov/go-openai"
)

func TestChatStructuredOutput(t *testing.T) {
	srv := llmtest.NewServer(t)
	c := newClient(t, srv)
	resp, err := c.Chat(context.Background(), llm.ChatRequest{
		Model: "openai:/gpt-4.1-mini", Messages: user("is the sky blue?"), Schema: judgeSchema, SchemaName: "judgement",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.StructuredOutput || resp.Cached || resp.Model != "openai:/gpt-4.1-mini" {
		t.Errorf("response flags = %+v, want structured, not cached, canonical model", resp)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(resp.Content), &got); err != nil || got["result"] != "yes" {
		t.Errorf("content %q does not satisfy the schema (%v)", resp.Content, err)
	}
	if resp.Usage.PromptTokens == 0 || resp.Usage.CompletionTokens == 0 {
		t.Errorf("usage = %+v, want the server's counts", resp.Usage)
	}
	rf := srv.ChatRequests()[0].Chat.ResponseFormat
	if rf == nil || rf.Type != openai.ChatCompletionResponseFormatTypeJSONSchema || rf.JSONSchema == nil ||
		rf.JSONSchema.Name != "judgement" || !rf.JSONSchema.Strict {
		t.Fatalf("response_format = %+v, want strict json_schema named judgement", rf)
	}
	raw, _ := rf.JSONSchema.Schema.MarshalJSON()
	var sent map[string]any
	want, _ := json.Marshal(judgeSchema)
	var wantMap map[string]any
	json.Unmarshal(want, &wantMap)
	if err := json.Unmarshal(raw, &sent); err != nil || !reflect.DeepEqual(sent, wantMap) {
		t.Fatalf("schema sent = %s, want %s", raw, want)
	}
}

func TestStructuredOutputFallbackRemembered(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithoutStructuredOutput(), llmtest.WithResponder(llmtest.Always(`{"result":"no","rationale":"r"}`)))
	c := newClient(t, srv)
	ctx := context.Background()
	ask := func(model, question string) *llm.ChatResponse {
		t.Helper()
		resp, err := c.Chat(ctx, llm.ChatRequest{Model: model, Messages: user(question), Schema: judgeSchema})
		if err != nil {
			t.Fatalf("chat %s: %v", model, err)
		}
		return resp
	}

	first := ask("openai:/small-model", "q1")
	reqs := srv.ChatRequests()
	if len(reqs) != 2 {
		t.Fatalf("first call sent %d requests, want 2 (rejected, then prompt-only)", len(reqs))
	}
	if reqs[0].Chat.ResponseFormat == nil || reqs[1].Chat.ResponseFormat != nil {
		t.Fatalf("response_format per request = %v, %v; want set then absent", reqs[0].Chat.ResponseFormat, reqs[1].Chat.ResponseFormat)
	}
	last := reqs[1].Chat.Messages[len(reqs[1].Chat.Messages)-1].Content
	if !strings.HasPrefix(last, "q1\n\n") || !strings.Contains(last, "JSON schema") || !strings.Contains(last, `"enum":["yes","no"]`) {
		t.Fatalf("prompt-only message = %q, want the question followed by the schema instruction", last)
	}
	if first.StructuredOutput || first.Content != `{"result":"no","rationale":"r"}` {
		t.Fatalf("fallback response = %+v", first)
	}

	srv.Reset()
	if second := ask("openai:/small-model", "q2"); second.StructuredOutput {
		t.Fatal("second response claims structured output")
	}
	if reqs := srv.ChatRequests(); len(reqs) != 1 || reqs[0].Chat.ResponseFormat != nil {
		t.Fatalf("second call sent %d requests (first with response_format %v), want 1 prompt-only", len(reqs), reqs[0].Chat.ResponseFormat)
	}

	// The memory is per model: another model is still asked with a schema.
	srv.Reset()
	ask("openai:/other-model", "q3")
	if reqs := srv.ChatRequests(); len(reqs) != 2 || reqs[0].Chat.ResponseFormat == nil {
		t.Fatalf("other model sent %d requests, want 2 starting with response_format", len(reqs))
	}
}

func TestStructuredOutputFallbackNotRememberedWhenItFails(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithoutStructuredOutput(),
		llmtest.WithResponder(llmtest.Sequence(llmtest.Error(400, "maximum context length exceeded"), llmtest.Content(`{"result":"yes"}`))))
	c := newClient(t, srv)
	ctx := context.Background()
	req := llm.ChatRequest{Model: "openai:/m", Messages: user("q"), Schema: judgeSchema}
	var apiErr *llm.APIError
	if _, err := c.Chat(ctx, req); !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("chat = %v, want the prompt-only attempt's 400", err)
	}
	srv.Reset()
	if _, err := c.Chat(ctx, req); err != nil {
		t.Fatal(err)
	}
	if reqs := srv.ChatRequests(); len(reqs) != 2 || reqs[0].Chat.ResponseFormat == nil {
		t.Fatalf("after a failed fallback, sent %d requests; want structured output tried again first", len(reqs))
	}
}

func TestNoFallbackOnUnrelated400(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(
		func(openai.ChatCompletionRequest) llmtest.Reply {
			return llmtest.Error(400, "Invalid value for 'temperature'")
		}))
	c := newClient(t, srv)
	_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q"), Schema: judgeSchema})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Attempts != 1 {
		t.Fatalf("chat = %v, want a single 400", err)
	}
	if n := len(srv.ChatRequests()); n != 1 {
		t.Fatalf("sent %d requests, want 1: an unrelated 400 must not trigger the fallback", n)
	}
}

func TestChatParams(t *testing.T) {
	tests := []struct {
		name    string
		params  map[string]any
		want    map[string]any // expected JSON body fields
		wantErr string
	}{
		{name: "zero temperature is sent", params: map[string]any{"temperature": 0}, want: map[string]any{"temperature": float64(math.SmallestNonzeroFloat32)}},
		{name: "toml numbers", params: map[string]any{"temperature": 0.5, "max_tokens": int64(256), "seed": json.Number("42")},
			want: map[string]any{"temperature": 0.5, "max_tokens": float64(256), "seed": float64(42)}},
		{name: "stop string", params: map[string]any{"stop": "END"}, want: map[string]any{"stop": []any{"END"}}},
		{name: "stop list", params: map[string]any{"stop": []any{"a", "b"}}, want: map[string]any{"stop": []any{"a", "b"}}},
		{name: "penalties and top_p", params: map[string]any{"top_p": 0.25, "presence_penalty": -1, "frequency_penalty": 1.5},
			want: map[string]any{"top_p": 0.25, "presence_penalty": float64(-1), "frequency_penalty": 1.5}},
		{name: "reasoning models", params: map[string]any{"max_completion_tokens": 1000, "reasoning_effort": "low"},
			want: map[string]any{"max_completion_tokens": float64(1000), "reasoning_effort": "low"}},
		{name: "unknown key", params: map[string]any{"temprature": 0.1}, wantErr: `parameter temprature: unknown (known: frequency_penalty, logit_bias, max_completion_tokens`},
		{name: "wrong type", params: map[string]any{"temperature": "hot"}, wantErr: "parameter temperature: want a number, got a string"},
		{name: "out of range", params: map[string]any{"top_p": 3}, wantErr: "parameter top_p: 3 is outside [0, 1]"},
		{name: "fractional integer", params: map[string]any{"max_tokens": 1.5}, wantErr: "parameter max_tokens: want an integer"},
		{name: "bad stop", params: map[string]any{"stop": []any{"a", 1}}, wantErr: "parameter stop: want a string or a list of strings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := llmtest.NewServer(t)
			c := newClient(t, srv)
			_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q"), Params: tc.params})
			if tc.wantErr != "" {
				var pe *llm.ParamError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &pe) || !errors.Is(err, llm.ErrInvalidRequest) {
					t.Fatalf("chat = %v, want *ParamError containing %q", err, tc.wantErr)
				}
				if srv.Calls() != 0 {
					t.Fatal("an invalid request reached the server")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			if err := json.Unmarshal(srv.ChatRequests()[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				got := body[k]
				if f, ok := want.(float64); ok {
					if g, ok := got.(float64); !ok || math.Abs(g-f) > 1e-6*math.Max(1, math.Abs(f)) {
						t.Errorf("body %s = %v, want %v", k, got, want)
					}
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("body %s = %#v, want %#v", k, got, want)
				}
			}
			if _, ok := body["temperature"]; ok && tc.params["temperature"] == 0 && body["temperature"].(float64) > 1e-30 {
				t.Errorf("temperature 0 sent as %v", body["temperature"])
			}
		})
	}
}

func TestChatInvalidRequests(t *testing.T) {
	srv := llmtest.NewServer(t)
	c := newClient(t, srv)
	for _, tc := range []struct {
		name string
		req  llm.ChatRequest
		want string
	}{
		{"no messages", llm.ChatRequest{Model: "openai:/m"}, "no messages"},
		{"no role", llm.ChatRequest{Model: "openai:/m", Messages: []llm.Message{{Content: "x"}}}, "message 0 has no role"},
		{"bad schema name", llm.ChatRequest{Model: "openai:/m", Messages: user("x"), Schema: judgeSchema, SchemaName: "my schema"}, `schema name "my schema"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Chat(context.Background(), tc.req)
			if !errors.Is(err, llm.ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("chat = %v, want ErrInvalidRequest containing %q", err, tc.want)
			}
		})
	}
	if srv.Calls() != 0 {
		t.Fatal("an invalid request reached the server")
	}
}

func TestChatRefusalIsNotRetried(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.Refuse("I can't help with that"), llmtest.Content("ok"))))
	c := newClient(t, srv)
	_, err := c.Chat(context.Background(), llm.ChatRequest{Model: "openai:/m", Messages: user("q")})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Attempts != 1 || !strings.Contains(apiErr.Message, "model refused: I can't help with that") {
		t.Fatalf("chat = %v, want one attempt ending in the refusal", err)
	}
	if srv.Calls() != 1 {
		t.Fatalf("server got %d calls, want 1", srv.Calls())
	}
}
