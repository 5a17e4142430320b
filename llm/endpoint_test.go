package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

// TestSchemeRequests checks, for each kind of model URI, where the chat and
// embeddings requests go and how they authenticate.
func TestSchemeRequests(t *testing.T) {
	const key = llmtest.DefaultAPIKey
	tests := []struct {
		name       string
		model      string
		providers  []llm.Provider
		env        func(url string) env
		noAuth     bool   // server without key check (Ollama)
		wantPath   string // chat path; the embeddings path swaps the suffix
		wantQuery  string // raw query
		wantHeader map[string]string
		wantModel  string // model in the body
	}{
		{
			name:  "openai",
			model: "openai:/gpt-4.1-mini",
			env: func(url string) env {
				return env{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": url + "/v1"}
			},
			wantPath:   "/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer " + key, "Api-Key": ""},
			wantModel:  "gpt-4.1-mini",
		},
		{
			name:  "azure deployment kept verbatim, default api-version",
			model: "azure:/gpt-3.5-turbo.eu",
			env: func(url string) env {
				return env{"AZURE_OPENAI_API_KEY": key, "AZURE_OPENAI_ENDPOINT": url + "/"}
			},
			wantPath:   "/openai/deployments/gpt-3.5-turbo.eu/chat/completions",
			wantQuery:  "api-version=" + llm.DefaultAzureAPIVersion,
			wantHeader: map[string]string{"Api-Key": key, "Authorization": ""},
			wantModel:  "gpt-3.5-turbo.eu",
		},
		{
			name:  "azure api-version from OPENAI_API_VERSION",
			model: "azure:/judge",
			env: func(url string) env {
				return env{"AZURE_OPENAI_API_KEY": key, "AZURE_OPENAI_ENDPOINT": url, "OPENAI_API_VERSION": "2025-01-01-preview"}
			},
			wantPath:   "/openai/deployments/judge/chat/completions",
			wantQuery:  "api-version=2025-01-01-preview",
			wantHeader: map[string]string{"Api-Key": key},
			wantModel:  "judge",
		},
		{
			name:  "databricks serving endpoint",
			model: "databricks:/databricks-claude-sonnet-4",
			env: func(url string) env {
				return env{"DATABRICKS_HOST": url + "/", "DATABRICKS_TOKEN": key}
			},
			wantPath:   "/serving-endpoints/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer " + key},
			wantModel:  "databricks-claude-sonnet-4",
		},
		{
			name:  "endpoints scheme is databricks",
			model: "endpoints:/my-endpoint",
			env: func(url string) env {
				return env{"DATABRICKS_HOST": url, "DATABRICKS_TOKEN": key}
			},
			wantPath:   "/serving-endpoints/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer " + key},
			wantModel:  "my-endpoint",
		},
		{
			name:  "ollama host without scheme, no key",
			model: "ollama:/llama3.2",
			env: func(url string) env {
				return env{"OLLAMA_HOST": strings.TrimPrefix(url, "http://"), "OPENAI_API_KEY": key}
			},
			noAuth:     true,
			wantPath:   "/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "", "Api-Key": ""},
			wantModel:  "llama3.2",
		},
		{
			name:  "declared openai-compatible provider with headers",
			model: "vllm:/meta-llama/Llama-3.1-8B-Instruct",
			providers: []llm.Provider{{
				Name: "vllm", BaseURL: "/vllm/v1", APIKeyEnv: "VLLM_API_KEY", Headers: map[string]string{"X-Team": "judges"},
			}},
			env:        func(url string) env { return env{"VLLM_API_KEY": key} },
			wantPath:   "/vllm/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer " + key, "X-Team": "judges"},
			wantModel:  "meta-llama/Llama-3.1-8B-Instruct",
		},
		{
			name:       "declared azure provider",
			model:      "corp:/judge-deployment",
			providers:  []llm.Provider{{Name: "corp", BaseURL: "/", APIType: llm.APITypeAzure, APIKeyEnv: "CORP_KEY", APIVersion: "2024-06-01"}},
			env:        func(url string) env { return env{"CORP_KEY": key} },
			wantPath:   "/openai/deployments/judge-deployment/chat/completions",
			wantQuery:  "api-version=2024-06-01",
			wantHeader: map[string]string{"Api-Key": key, "Authorization": ""},
			wantModel:  "judge-deployment",
		},
		{
			name:      "configured base_url of a built-in wins over the environment",
			model:     "openai:/gpt-4.1",
			providers: []llm.Provider{{Name: "openai", BaseURL: "/proxy/v1"}},
			env: func(url string) env {
				return env{"OPENAI_API_KEY": key, "OPENAI_BASE_URL": "http://127.0.0.1:1/v1"}
			},
			wantPath:   "/proxy/v1/chat/completions",
			wantHeader: map[string]string{"Authorization": "Bearer " + key},
			wantModel:  "gpt-4.1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var opts []llmtest.Option
			if tc.noAuth {
				opts = append(opts, llmtest.WithAPIKey(""))
			}
			srv := llmtest.NewServer(t, opts...)
			var providers []llm.Provider
			for _, p := range tc.providers {
				// Base URLs in the table are paths on the server.
				p.BaseURL = srv.URL + p.BaseURL
				providers = append(providers, p)
			}
			c, err := llm.New(llm.WithGetenv(tc.env(srv.URL).Getenv), llm.WithProviders(providers...),
				llm.WithRetry(llm.RetryPolicy{MaxAttempts: 1}))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.Chat(ctx, llm.ChatRequest{Model: tc.model, Messages: user("hi")}); err != nil {
				t.Fatalf("chat: %v", err)
			}
			if _, err := c.Embed(ctx, llm.EmbedRequest{Model: tc.model, Inputs: []string{"hi"}}); err != nil {
				t.Fatalf("embed: %v", err)
			}
			reqs := srv.Requests()
			if len(reqs) != 2 {
				t.Fatalf("server got %d requests, want 2", len(reqs))
			}
			wantPaths := []string{tc.wantPath, strings.TrimSuffix(tc.wantPath, "/chat/completions") + "/embeddings"}
			for i, r := range reqs {
				if r.Method != "POST" || r.Path != wantPaths[i] {
					t.Errorf("request %d: %s %s, want POST %s", i, r.Method, r.Path, wantPaths[i])
				}
				if got := r.Query.Encode(); got != tc.wantQuery {
					t.Errorf("request %d query = %q, want %q", i, got, tc.wantQuery)
				}
				for h, want := range tc.wantHeader {
					if got := r.Header.Get(h); got != want {
						t.Errorf("request %d header %s = %q, want %q", i, h, got, want)
					}
				}
				if r.Model != tc.wantModel {
					t.Errorf("request %d model in body = %q, want %q", i, r.Model, tc.wantModel)
				}
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	providers := []llm.Provider{{Name: "vllm", BaseURL: "http://127.0.0.1:8000/v1", APIKeyEnv: "VLLM_API_KEY"}}
	tests := []struct {
		name    string
		model   string
		env     env
		wantIs  error
		wantMsg string
	}{
		{"openai without key", "openai:/gpt-4.1-mini", env{}, llm.ErrMissingCredentials, "OPENAI_API_KEY is not set"},
		{"azure without endpoint", "azure:/d", env{"AZURE_OPENAI_API_KEY": "k"}, llm.ErrMissingCredentials, "AZURE_OPENAI_ENDPOINT is not set"},
		{"azure without key", "azure:/d", env{"AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com"}, llm.ErrMissingCredentials, "AZURE_OPENAI_API_KEY is not set"},
		{"databricks without host", "databricks:/e", env{"DATABRICKS_TOKEN": "t"}, llm.ErrMissingCredentials, "DATABRICKS_HOST is not set"},
		{"endpoints without token", "endpoints:/e", env{"DATABRICKS_HOST": "adb-1.azuredatabricks.net"}, llm.ErrMissingCredentials, "DATABRICKS_TOKEN is not set"},
		{"declared provider without its key", "vllm:/m", env{}, llm.ErrMissingCredentials, "VLLM_API_KEY is not set"},
		{"unknown provider lists known ones", "anthropic:/claude", env{}, llm.ErrUnknownProvider, `unknown provider "anthropic" (known: azure, databricks, endpoints, ollama, openai, vllm)`},
		{"bad uri", "gpt-4", env{}, llm.ErrInvalidModelURI, "want <provider>:/<model>"},
		{"bad OPENAI_BASE_URL", "openai:/m", env{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "api.example.com"}, nil, `base url "api.example.com": want http(s)://`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := llm.New(llm.WithGetenv(tc.env.Getenv), llm.WithProviders(providers...))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Resolve(tc.model)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Resolve(%q) = %v, want error containing %q", tc.model, err, tc.wantMsg)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Fatalf("Resolve(%q) = %v, want errors.Is %v", tc.model, err, tc.wantIs)
			}
			// Chat reports the same problem without calling anything.
			if _, err := c.Chat(context.Background(), llm.ChatRequest{Model: tc.model, Messages: user("x")}); err == nil ||
				!strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("Chat error = %v, want it to contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestResolveDefaultModel(t *testing.T) {
	e := env{"OPENAI_API_KEY": "k", "OLLAMA_HOST": ""}
	for _, tc := range []struct {
		opts []llm.Option
		want string
	}{
		{nil, llm.DefaultModel},
		{[]llm.Option{llm.WithDefaultModel("ollama:/llama3.2")}, "ollama:/llama3.2"},
	} {
		c, err := llm.New(append(tc.opts, llm.WithGetenv(e.Getenv))...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Resolve("")
		if err != nil || got.String() != tc.want {
			t.Fatalf("Resolve(\"\") = %v, %v, want %s", got, err, tc.want)
		}
	}
}

func TestNewRejectsBadProviders(t *testing.T) {
	tests := []struct {
		name    string
		opts    []llm.Option
		wantMsg string
	}{
		{"custom without base_url", []llm.Option{llm.WithProviders(llm.Provider{Name: "vllm"})}, "provider vllm: base_url is required"},
		{"declared twice", []llm.Option{llm.WithProviders(llm.Provider{Name: "openai"}, llm.Provider{Name: "openai"})}, "provider openai declared twice"},
		{"bad name", []llm.Option{llm.WithProviders(llm.Provider{Name: "My Proxy", BaseURL: "http://x"})}, "name must be lower-case"},
		{"bad api type", []llm.Option{llm.WithProviders(llm.Provider{Name: "x", BaseURL: "http://x", APIType: "anthropic"})}, `api_type "anthropic"`},
		{"built-in type changed", []llm.Option{llm.WithProviders(llm.Provider{Name: "openai", APIType: llm.APITypeAzure})}, "cannot be changed"},
		{"credential header", []llm.Option{llm.WithProviders(llm.Provider{Name: "x", BaseURL: "http://x", Headers: map[string]string{"authorization": "Bearer k"}})}, "would carry a credential"},
		{"x-api-key header", []llm.Option{llm.WithProviders(llm.Provider{Name: "x", BaseURL: "http://x", Headers: map[string]string{"x-api-key": "k"}})}, "header x-api-key would carry a credential"},
		{"credentials in base url", []llm.Option{llm.WithProviders(llm.Provider{Name: "x", BaseURL: "https://user:pw@x/v1"})}, "credentials in the URL are not allowed"},
		{"negative limit", []llm.Option{llm.WithProviders(llm.Provider{Name: "openai", MaxConcurrency: -1})}, "must not be negative"},
		{"bad default model", []llm.Option{llm.WithDefaultModel("gpt-4")}, "default model"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := llm.New(tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("New = %v, want error containing %q", err, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "pw@") {
				t.Fatalf("error shows URL credentials: %v", err)
			}
		})
	}
}

// TestProviderDecodesFromJSON checks the configuration keys.
func TestProviderDecodesFromJSON(t *testing.T) {
	var p llm.Provider
	err := json.Unmarshal([]byte(`{"name":"together","base_url":"https://api.together.xyz/v1","api_key_env":"TOGETHER_API_KEY",
		"api_type":"openai","max_concurrency":8,"requests_per_minute":600,"tokens_per_minute":100000,"headers":{"X-A":"b"}}`), &p)
	if err != nil {
		t.Fatal(err)
	}
	want := llm.Provider{Name: "together", BaseURL: "https://api.together.xyz/v1", APIKeyEnv: "TOGETHER_API_KEY",
		APIType: llm.APITypeOpenAI, MaxConcurrency: 8, RequestsPerMinute: 600, TokensPerMinute: 100000, Headers: map[string]string{"X-A": "b"}}
	if p.Name != want.Name || p.BaseURL != want.BaseURL || p.APIKeyEnv != want.APIKeyEnv || p.APIType != want.APIType ||
		p.MaxConcurrency != want.MaxConcurrency || p.RequestsPerMinute != want.RequestsPerMinute ||
		p.TokensPerMinute != want.TokensPerMinute || p.Headers["X-A"] != "b" {
		t.Fatalf("decoded %+v, want %+v", p, want)
	}
}
