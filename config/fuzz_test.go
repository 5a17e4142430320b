package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// FuzzParse: alignhost.toml of any content is decoded or refused with an
// error naming the file, never a panic; what is accepted validates.
func FuzzParse(f *testing.F) {
	if doc, err := os.ReadFile("../docs/config.md"); err == nil {
		// The documented example file, between its ```toml fences.
		if _, rest, ok := strings.Cut(string(doc), "```toml\n"); ok {
			if example, _, ok := strings.Cut(rest, "```"); ok {
				f.Add([]byte(example))
			}
		}
	}
	for _, seed := range []string{
		"",
		`store = "alignhost.db"` + "\n" + `default_model = "vllm:/llama-3.1-70b"`,
		"[providers.vllm]\nbase_url = \"http://localhost:8000/v1\"\ntimeout = \"30s\"\nmax_attempts = 3\nmax_prompt_tokens = 100000\n",
		"[providers.vllm]\nbase_url = \"http://h/v1\"\ntimeout = 30\n",
		"[providers.openai]\nheaders = { Authorization = \"Bearer x\" }\n",
		"[prices.\"openai:/gpt-4.1-mini\"]\ninput_per_mtok = -1\n",
		"[align]\ntrusted_sha256 = [\"abc\"]\n",
		"[plugins.memalign]\nretrieval_k = 5\n[plugins.memalign.nested]\nx = [1, 2]\n",
		"store = \n",
		"[providers]\nvllm = 3\n",
		"unknown_key = 1\n",
		"[[providers]]\nname = \"x\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse("fuzz.toml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config fuzz.toml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parse accepted a configuration that does not validate: %v", err)
		}
	})
}

// TestDocumentedExampleParses keeps docs/config.md true: its example file
// is a valid configuration, [align.limits] included.
func TestDocumentedExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(doc), "```toml\n")
	example, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("docs/config.md has no ```toml example")
	}
	c, err := parse("docs/config.md", []byte(example))
	if err != nil {
		t.Fatalf("the documented example does not parse: %v", err)
	}
	if c.Align.Limits.WallTime != 15*time.Minute || c.Align.Limits.MemoryMB != 512 || c.StoreLockTimeout != 2*time.Minute {
		t.Errorf("the documented example decoded to %+v, store lock timeout %v", c.Align.Limits, c.StoreLockTimeout)
	}
}
