package llm_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

func ExampleClient_Chat() {
	// A fake OpenAI API; in a test, llmtest.NewServer(t) does this and
	// srv.Getenv provides the environment.
	h := llmtest.NewHandler(llmtest.WithResponder(llmtest.Always(`{"result":"yes","rationale":"grounded"}`)))
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	environment := map[string]string{"OPENAI_API_KEY": llmtest.DefaultAPIKey, "OPENAI_BASE_URL": srv.URL + "/v1"}

	client, err := llm.New(llm.WithGetenv(func(k string) string { return environment[k] }))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := client.Chat(context.Background(), llm.ChatRequest{
		Model: "openai:/gpt-4.1-mini",
		Messages: []llm.Message{
			{Role: "system", Content: "Judge whether the answer is grounded in the context."},
			{Role: "user", Content: "context: …\nanswer: …"},
		},
		Schema: map[string]any{
			"type": "object",
			"properties": map[string]any{
				"result":    map[string]any{"type": "string", "enum": []any{"yes", "no"}},
				"rationale": map[string]any{"type": "string"},
			},
			"required":             []any{"result", "rationale"},
			"additionalProperties": false,
		},
		Params: map[string]any{"temperature": 0},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Model, resp.StructuredOutput, resp.Content)
	// Output: openai:/gpt-4.1-mini true {"result":"yes","rationale":"grounded"}
}

func ExampleAPIError() {
	h := llmtest.NewHandler()
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()
	environment := map[string]string{"OPENAI_API_KEY": "sk-wrong", "OPENAI_BASE_URL": srv.URL + "/v1"}

	client, _ := llm.New(llm.WithGetenv(func(k string) string { return environment[k] }))
	_, err := client.Chat(context.Background(), llm.ChatRequest{
		Model:    "openai:/gpt-4.1-mini",
		Messages: []llm.Message{{Role: "user", Content: "hi"}},
	})
	var apiErr *llm.APIError
	if errors.As(err, &apiErr) {
		fmt.Println(apiErr.Status, apiErr.Attempts, apiErr.Temporary())
		fmt.Println(err)
	}
	// Output:
	// 401 1 false
	// model openai:/gpt-4.1-mini: status 401: Incorrect API key provided (the endpoint refused the credentials in OPENAI_API_KEY)
}
