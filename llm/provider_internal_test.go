package llm

import (
	"net/http"
	"testing"
	"time"
)

// TestResolveProviderDefaults checks the documented defaults of the
// built-in providers, which the fake server cannot observe (they point at
// real hosts).
func TestResolveProviderDefaults(t *testing.T) {
	tests := []struct {
		name        string
		provider    string
		cfg         Provider
		env         map[string]string
		wantBase    string
		wantType    APIType
		wantVersion string
		wantKey     string
		wantBatch   int
	}{
		{name: "openai default", provider: "openai", env: map[string]string{"OPENAI_API_KEY": "k"},
			wantBase: "https://api.openai.com/v1", wantType: APITypeOpenAI, wantKey: "k", wantBatch: 200},
		{name: "openai base url from env, trailing slash", provider: "openai", env: map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://proxy:4000/v1/"},
			wantBase: "http://proxy:4000/v1", wantType: APITypeOpenAI, wantKey: "k", wantBatch: 200},
		{name: "openai key variable overridden", provider: "openai", cfg: Provider{Name: "openai", APIKeyEnv: "TEAM_KEY"}, env: map[string]string{"TEAM_KEY": "t", "OPENAI_API_KEY": "k"},
			wantBase: "https://api.openai.com/v1", wantType: APITypeOpenAI, wantKey: "t", wantBatch: 200},
		{name: "ollama default", provider: "ollama",
			wantBase: "http://localhost:11434/v1", wantType: APITypeOpenAI, wantBatch: 200},
		{name: "ollama host:port", provider: "ollama", env: map[string]string{"OLLAMA_HOST": "0.0.0.0:11434"},
			wantBase: "http://0.0.0.0:11434/v1", wantType: APITypeOpenAI, wantBatch: 200},
		{name: "ollama url with path kept", provider: "ollama", env: map[string]string{"OLLAMA_HOST": "https://gpu.example/ollama"},
			wantBase: "https://gpu.example/ollama", wantType: APITypeOpenAI, wantBatch: 200},
		{name: "azure default version", provider: "azure", env: map[string]string{"AZURE_OPENAI_API_KEY": "a", "AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com/"},
			wantBase: "https://r.openai.azure.com", wantType: APITypeAzure, wantVersion: "2024-10-21", wantKey: "a", wantBatch: 200},
		{name: "databricks host without scheme", provider: "databricks", env: map[string]string{"DATABRICKS_HOST": "adb-1.azuredatabricks.net", "DATABRICKS_TOKEN": "d"},
			wantBase: "https://adb-1.azuredatabricks.net/serving-endpoints", wantType: APITypeOpenAI, wantKey: "d", wantBatch: 150},
		{name: "declared azure default version", provider: "corp", cfg: Provider{Name: "corp", BaseURL: "https://corp.example", APIType: APITypeAzure},
			wantBase: "https://corp.example", wantType: APITypeAzure, wantVersion: "2024-10-21", wantBatch: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			declared := tc.cfg.Name != ""
			s, err := resolveProvider(tc.provider, tc.cfg, declared, getenv, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.baseURL != tc.wantBase || s.apiType != tc.wantType || s.apiVersion != tc.wantVersion || s.key != tc.wantKey || s.batch != tc.wantBatch {
				t.Fatalf("got base %q type %q version %q key %q batch %d; want %q %q %q %q %d",
					s.baseURL, s.apiType, s.apiVersion, s.key, s.batch, tc.wantBase, tc.wantType, tc.wantVersion, tc.wantKey, tc.wantBatch)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header map[string]string
		want   time.Duration
		wantOK bool
	}{
		{"none", nil, 0, false},
		{"seconds", map[string]string{"Retry-After": "3"}, 3 * time.Second, true},
		{"fractional seconds", map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond, true},
		{"ms wins", map[string]string{"Retry-After": "3", "retry-after-ms": "250"}, 250 * time.Millisecond, true},
		{"date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second, true},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0, true},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0, false},
		{"negative", map[string]string{"Retry-After": "-4"}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			got, ok := parseRetryAfter(h, now)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("parseRetryAfter = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
