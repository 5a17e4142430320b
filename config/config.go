// Package config reads alignhost.toml, the project-level configuration of
// the alignhost CLI: where the store lives, which model a judge uses when it
// names none, the default experiment, and the OpenAI-compatible providers
// (vLLM, LiteLLM, Together, …) that model URIs may name.
//
// Configuration holds no secrets: a provider names the environment variable
// that holds its key, never the key itself. A key written into the file is
// refused.
//
// Precedence, highest first: command-line flags, environment variables
// (ALIGNHOST_STORE), the configuration file, built-in defaults.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// FileName is the configuration file looked for in the working directory.
const FileName = "alignhost.toml"

// Config is the content of alignhost.toml.
type Config struct {
	// Store is the path of the SQLite store.
	Store string `toml:"store"`
	// StoreLockTimeout is how long a write waits for another process's
	// write lock on the store before it fails, as a duration string ("2m").
	// Zero: the store's default (one minute). ALIGNHOST_LOCK_TIMEOUT
	// overrides it.
	StoreLockTimeout time.Duration `toml:"store_lock_timeout"`
	// DefaultModel is the model URI of judges that name none.
	DefaultModel string `toml:"default_model"`
	// Experiment is the experiment that commands use when --experiment is
	// not given.
	Experiment string `toml:"experiment"`
	// Providers are OpenAI-compatible endpoints, by scheme name: a judge
	// model "vllm:/llama-3.1-70b" uses Providers["vllm"].
	Providers map[string]Provider `toml:"providers"`
	// Prices are what models cost, by model URI, used to estimate the cost
	// of a run from its token usage.
	Prices map[string]Price `toml:"prices"`
	// Align holds the defaults of alignhost align.
	Align Align `toml:"align"`
	// Plugins holds per-optimizer settings, by plugin name, passed to the
	// optimizer as its configuration.
	Plugins map[string]map[string]any `toml:"plugins"`
}

// Align holds the defaults of alignhost align.
type Align struct {
	// ReflectionModel is the model URI optimizers think with (distil
	// guidelines, propose instructions). Empty: the default model.
	ReflectionModel string `toml:"reflection_model"`
	// EmbeddingModel is the model URI that embeds texts, and
	// EmbeddingDimensions its vector length. Empty: OpenAI's
	// text-embedding-3-small at 512 dimensions when its key is set,
	// otherwise the optimizer's local embedder.
	EmbeddingModel      string `toml:"embedding_model"`
	EmbeddingDimensions int    `toml:"embedding_dimensions"`
	// RequireImprovement refuses to register an aligned judge whose
	// held-out kappa is not better than its base's.
	RequireImprovement bool `toml:"require_improvement"`
	// TrustedSHA256 pins optimizer modules by SHA-256: a module whose hash
	// is listed here is trusted, which means only that its bytes are the
	// ones pinned. Every module, trusted or not, is metered and stopped at
	// its limits (see docs/abi.md). The bundled MemAlign is trusted without
	// being listed.
	TrustedSHA256 []string `toml:"trusted_sha256"`
	// AllowedInferenceParams are the inference parameters an optimizer may
	// change in the judge it returns (say "temperature"); any other change
	// to inference_params is refused. Default: none.
	AllowedInferenceParams []string `toml:"allowed_inference_params"`
	// Limits are what an optimizer plugin may use in one alignment; zero
	// fields keep the host's defaults. Flags of align and plugin verify
	// override them.
	Limits PluginLimits `toml:"limits"`
}

// PluginLimits are the sandbox limits of an optimizer plugin, the table
// [align.limits].
type PluginLimits struct {
	// MemoryMB caps each instance's linear memory (default 1024).
	MemoryMB int `toml:"memory_mb"`
	// WallTime bounds one alignment (default "15m").
	WallTime time.Duration `toml:"wall_time"`
	// Fuel bounds the instructions one alignment runs, as the meter counts
	// them (default 10^15).
	Fuel int64 `toml:"fuel"`
	// ModelCalls and Tokens bound what the plugin's model calls may spend.
	ModelCalls int   `toml:"model_calls"`
	Tokens     int64 `toml:"tokens"`
	// MessageMB caps one message between plugin and host.
	MessageMB int `toml:"message_mb"`
	// Instances caps the plugin's instances alive at once.
	Instances int `toml:"instances"`
}

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMTok  float64 `toml:"input_per_mtok"`
	OutputPerMTok float64 `toml:"output_per_mtok"`
}

// isBuiltinProvider reports whether name is a URI scheme alignhost knows
// without configuration; a provider table of that name only tunes it, so it
// needs no base_url.
func isBuiltinProvider(name string) bool {
	switch name {
	case "openai", "azure", "databricks", "endpoints", "ollama":
		return true
	}
	return false
}

// Provider is an OpenAI-compatible endpoint.
type Provider struct {
	// BaseURL is the API root, e.g. "http://localhost:8000/v1".
	BaseURL string `toml:"base_url"`
	// APIKeyEnv names the environment variable holding the key; empty for
	// servers that need none.
	APIKeyEnv string `toml:"api_key_env"`
	// APIType is "openai" (default) or "azure".
	APIType string `toml:"api_type"`
	// APIVersion is the Azure API version.
	APIVersion string `toml:"api_version"`
	// MaxConcurrency caps requests in flight to this endpoint (0: default).
	MaxConcurrency int `toml:"max_concurrency"`
	// RequestsPerMinute and TokensPerMinute rate-limit the endpoint (0: no
	// limit).
	RequestsPerMinute int `toml:"requests_per_minute"`
	TokensPerMinute   int `toml:"tokens_per_minute"`
	// Headers are extra HTTP headers sent with every request. They must not
	// hold credentials; use APIKeyEnv.
	Headers map[string]string `toml:"headers"`

	// Timeout bounds each attempt, as a duration string ("30s", "2m");
	// 0: 2 minutes. A --timeout flag overrides it.
	Timeout time.Duration `toml:"timeout"`
	// Deadline bounds a whole call, retries and waits included (0: 5
	// minutes), so that a hanging endpoint costs a judgement at most this.
	Deadline time.Duration `toml:"deadline"`
	// MaxAttempts is how many times a request is sent at most (0: 6; 1: no
	// retry). BaseDelay and MaxDelay cap the backoff between attempts (0:
	// 500ms and 60s); MaxDelay caps a server's Retry-After too.
	MaxAttempts int           `toml:"max_attempts"`
	BaseDelay   time.Duration `toml:"base_delay"`
	MaxDelay    time.Duration `toml:"max_delay"`
	// MaxPromptTokens is the prompt budget of this endpoint's models, in
	// estimated tokens (bytes / 4): a larger prompt is not sent and its
	// trace gets an INPUT_TOO_LARGE error. 0: the model's context window
	// when its family is known, else 32,768.
	MaxPromptTokens int `toml:"max_prompt_tokens"`
	// Hedge sends a twin of an attempt still unanswered after 3 times the
	// endpoint's 95th-percentile latency; the first answer wins. It bounds
	// what a hanging request costs without a short timeout, for at most
	// one extra request per slow one.
	Hedge bool `toml:"hedge"`
}

// Default returns the configuration used when no file exists.
func Default() Config {
	return Config{
		Store:        "alignhost.db",
		DefaultModel: "openai:/gpt-4.1-mini",
		Experiment:   "Default",
	}
}

// Load reads the configuration at path. When path is empty, Load reads
// alignhost.toml from the working directory if it exists and returns the
// defaults otherwise; a path given explicitly must exist. Unknown keys are an
// error naming them, so a misspelt key does not pass silently.
func Load(path string) (Config, error) {
	cfg := Default()
	explicit := path != ""
	if !explicit {
		path = FileName
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return cfg, nil
		}
		return cfg, fmt.Errorf("read config: %w", err)
	}
	return parse(path, data)
}

// parse decodes and validates the content of the configuration file at
// path.
func parse(path string, data []byte) (Config, error) {
	cfg := Default()
	md, err := toml.Decode(string(data), &cfg)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return cfg, fmt.Errorf("config %s line %d: %s", path, perr.Position.Line, perr.Message)
		}
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, 0, len(undecoded))
		for _, k := range undecoded {
			if len(k) > 0 && k[0] == "plugins" {
				continue // plugin settings are free-form; the plugin validates them
			}
			keys = append(keys, k.String())
		}
		if len(keys) > 0 {
			return cfg, fmt.Errorf("config %s: unknown key %s", path, strings.Join(keys, ", "))
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate checks the configuration for values that cannot work.
func (c Config) Validate() error {
	names := make([]string, 0, len(c.Providers))
	for name := range c.Providers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p := c.Providers[name]
		if p.BaseURL == "" && !isBuiltinProvider(name) {
			return fmt.Errorf("provider %q: base_url is required", name)
		}
		switch p.APIType {
		case "", "openai", "azure":
		default:
			return fmt.Errorf("provider %q: api_type %q is not openai or azure", name, p.APIType)
		}
		if p.MaxConcurrency < 0 || p.RequestsPerMinute < 0 || p.TokensPerMinute < 0 || p.MaxPromptTokens < 0 || p.MaxAttempts < 0 {
			return fmt.Errorf("provider %q: limits must not be negative", name)
		}
		for _, d := range []struct {
			key string
			v   time.Duration
		}{{"timeout", p.Timeout}, {"deadline", p.Deadline}, {"base_delay", p.BaseDelay}, {"max_delay", p.MaxDelay}} {
			switch {
			case d.v < 0:
				return fmt.Errorf("provider %q: %s must not be negative", name, d.key)
			case d.v > 0 && d.v < time.Millisecond:
				// A bare TOML integer decodes as nanoseconds.
				return fmt.Errorf("provider %q: %s of %s is below a millisecond; write durations as strings, such as %s = \"30s\"", name, d.key, d.v, d.key)
			}
		}
		for h := range p.Headers {
			switch strings.ToLower(h) {
			case "authorization", "api-key", "x-api-key":
				return fmt.Errorf("provider %q: header %q would put a credential in the config file; name the environment variable in api_key_env instead", name, h)
			}
		}
	}
	switch d := c.StoreLockTimeout; {
	case d < 0:
		return fmt.Errorf("store_lock_timeout must not be negative")
	case d > 0 && d < time.Millisecond:
		return fmt.Errorf("store_lock_timeout of %s is below a millisecond; write it as a string, such as store_lock_timeout = \"2m\"", d)
	}
	if l := c.Align.Limits; l.MemoryMB < 0 || l.Fuel < 0 || l.ModelCalls < 0 || l.Tokens < 0 || l.MessageMB < 0 || l.Instances < 0 || l.WallTime < 0 {
		return fmt.Errorf("align.limits must not be negative")
	} else if l.WallTime > 0 && l.WallTime < time.Millisecond {
		return fmt.Errorf("align.limits.wall_time of %s is below a millisecond; write it as a string, such as wall_time = \"10m\"", l.WallTime)
	}
	if c.Align.EmbeddingDimensions < 0 {
		return fmt.Errorf("align.embedding_dimensions must not be negative")
	}
	for _, h := range c.Align.TrustedSHA256 {
		if len(h) != 64 || strings.Trim(strings.ToLower(h), "0123456789abcdef") != "" {
			return fmt.Errorf("align.trusted_sha256: %q is not a hex SHA-256", h)
		}
	}
	for model, price := range c.Prices {
		if price.InputPerMTok < 0 || price.OutputPerMTok < 0 {
			return fmt.Errorf("price of %q: must not be negative", model)
		}
	}
	return nil
}
