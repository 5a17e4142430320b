package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadMissingDefaultFileGivesDefaults(t *testing.T) {
	t.Chdir(t.TempDir())
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Store != "alignhost.db" || cfg.DefaultModel != "openai:/gpt-4.1-mini" || cfg.Experiment != "Default" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestLoadExplicitMissingFileFails(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || !strings.Contains(err.Error(), "nope.toml") {
		t.Fatalf("err = %v, want it to name the file", err)
	}
}

func TestLoadReadsProvidersAndKeepsDefaults(t *testing.T) {
	path := writeConfig(t, `
default_model = "vllm:/llama-3.1-70b"

[providers.vllm]
base_url = "http://localhost:8000/v1"
api_key_env = "VLLM_KEY"
max_concurrency = 32

[providers.openai]
max_concurrency = 64

[prices."openai:/gpt-4.1-mini"]
input_per_mtok = 0.4
output_per_mtok = 1.6

[plugins.memalign]
retrieval_k = 7
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DefaultModel != "vllm:/llama-3.1-70b" {
		t.Errorf("DefaultModel = %q", cfg.DefaultModel)
	}
	if cfg.Store != "alignhost.db" {
		t.Errorf("Store = %q, want the default kept", cfg.Store)
	}
	p := cfg.Providers["vllm"]
	if p.BaseURL != "http://localhost:8000/v1" || p.APIKeyEnv != "VLLM_KEY" || p.MaxConcurrency != 32 {
		t.Errorf("provider = %+v", p)
	}
	if cfg.Providers["openai"].MaxConcurrency != 64 {
		t.Errorf("built-in provider tuning = %+v", cfg.Providers["openai"])
	}
	if p := cfg.Prices["openai:/gpt-4.1-mini"]; p.InputPerMTok != 0.4 || p.OutputPerMTok != 1.6 {
		t.Errorf("price = %+v", p)
	}
	if got := cfg.Plugins["memalign"]["retrieval_k"]; got != int64(7) {
		t.Errorf("plugin setting = %#v", got)
	}
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"unknown key", "defalt_model = \"x\"\n", "unknown key defalt_model"},
		{"syntax", "store = \n", "line 1"},
		{"provider without url", "[providers.x]\napi_key_env = \"K\"\n", `provider "x": base_url is required`},
		{"bad api type", "[providers.x]\nbase_url = \"http://h\"\napi_type = \"grpc\"\n", `api_type "grpc"`},
		{"credential header", "[providers.x]\nbase_url = \"http://h\"\nheaders = { Authorization = \"Bearer sk\" }\n", "api_key_env instead"},
		{"bad trusted hash", "[align]\ntrusted_sha256 = [\"abc\"]\n", "not a hex SHA-256"},
		{"negative price", "[prices.\"openai:/x\"]\ninput_per_mtok = -1\n", "must not be negative"},
		{"negative limit", "[providers.x]\nbase_url = \"http://h\"\nrequests_per_minute = -1\n", "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, tt.content))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadProviderTimeoutsAndBudget(t *testing.T) {
	path := writeConfig(t, `
[providers.vllm]
base_url = "http://localhost:8000/v1"
timeout = "30s"
deadline = "3m"
max_attempts = 3
base_delay = "250ms"
max_delay = "10s"
max_prompt_tokens = 100000
hedge = true
`)
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Providers["vllm"]
	if p.Timeout != 30*time.Second || p.Deadline != 3*time.Minute || p.MaxAttempts != 3 ||
		p.BaseDelay != 250*time.Millisecond || p.MaxDelay != 10*time.Second || p.MaxPromptTokens != 100000 || !p.Hedge {
		t.Fatalf("provider = %+v", p)
	}
	for _, bad := range []struct{ body, want string }{
		{"timeout = 30", "write durations as strings"},
		{`timeout = "-1s"`, "must not be negative"},
		{`deadline = "soon"`, "soon"},
		{"max_attempts = -1", "must not be negative"},
		{"max_prompt_tokens = -5", "must not be negative"},
	} {
		_, err := Load(writeConfig(t, "[providers.vllm]\nbase_url = \"http://h/v1\"\n"+bad.body+"\n"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err = %v, want it to say %q", bad.body, err, bad.want)
		}
	}
}
