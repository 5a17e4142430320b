package llm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/llm"
)

func TestParseModelURI(t *testing.T) {
	tests := []struct {
		in      string
		want    llm.ModelURI
		wantErr string // substring; "" means success
	}{
		{in: "openai:/gpt-4.1-mini", want: llm.ModelURI{Provider: "openai", Model: "gpt-4.1-mini"}},
		{in: "  azure:/my-gpt4.1.mini ", want: llm.ModelURI{Provider: "azure", Model: "my-gpt4.1.mini"}},
		{in: "vllm:/meta-llama/Llama-3.1-8B-Instruct", want: llm.ModelURI{Provider: "vllm", Model: "meta-llama/Llama-3.1-8B-Instruct"}},
		{in: "endpoints:/databricks-claude-sonnet", want: llm.ModelURI{Provider: "endpoints", Model: "databricks-claude-sonnet"}},
		{in: "gpt-4.1-mini", wantErr: "want <provider>:/<model>, as in openai:/gpt-4.1-mini (built-in providers: azure, databricks, endpoints, ollama, openai)"},
		{in: "openai/gpt-4", wantErr: "built-in providers: azure, databricks, endpoints, ollama, openai"},
		{in: "openai:/", wantErr: `with a model name after "openai:/"`},
		{in: "openai://gpt-4", wantErr: "with a model name"},
		{in: "OpenAI:/gpt-4", wantErr: `provider "OpenAI" must be lower-case`},
		{in: "openai:/gpt 4", wantErr: "space or control character"},
		{in: "databricks", wantErr: "name a serving endpoint"},
		{in: "", wantErr: "want <provider>:/<model>"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := llm.ParseModelURI(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, llm.ErrInvalidModelURI) {
					t.Fatalf("ParseModelURI(%q) error = %v, want ErrInvalidModelURI containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseModelURI(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseModelURI(%q) = %+v, want %+v", tc.in, got, tc.want)
			}
			if round, err := llm.ParseModelURI(got.String()); err != nil || round != got {
				t.Fatalf("round trip of %q = %+v, %v", got.String(), round, err)
			}
		})
	}
}
