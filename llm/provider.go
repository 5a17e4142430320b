package llm

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// APIType is the flavour of an OpenAI-compatible API: where requests go and
// which header carries the key.
type APIType string

// The API types.
const (
	// APITypeOpenAI: POST {base}/chat/completions and {base}/embeddings,
	// the model in the body, "Authorization: Bearer <key>".
	APITypeOpenAI APIType = "openai"
	// APITypeAzure: POST {base}/openai/deployments/{model}/chat/completions
	// ?api-version={version}, "api-key: <key>".
	APITypeAzure APIType = "azure"
)

// Defaults of the built-in providers.
const (
	// OpenAIBaseURL is the openai provider's base URL when OPENAI_BASE_URL is
	// not set.
	OpenAIBaseURL = "https://api.openai.com/v1"
	// OllamaBaseURL is the ollama provider's base URL when OLLAMA_HOST is
	// not set.
	OllamaBaseURL = "http://localhost:11434/v1"
	// DefaultAzureAPIVersion is the Azure api-version when neither the
	// provider nor OPENAI_API_VERSION sets one. It is the first GA version
	// with structured outputs.
	DefaultAzureAPIVersion = "2024-10-21"
	// DefaultMaxConcurrency is an endpoint's limit on requests in flight
	// when neither its Provider nor [WithMaxConcurrency] sets one.
	DefaultMaxConcurrency = 16
)

// Embedding batch sizes: the most inputs sent in one request.
const (
	embedBatch           = 200
	databricksEmbedBatch = 150
)

// Provider declares an OpenAI-compatible endpoint (vLLM, a LiteLLM proxy,
// Together, …) reachable as "<Name>:/<model>", or tunes a built-in one: a
// Provider named like a built-in provider overrides the fields it sets and
// keeps the built-in defaults for the others.
//
// It is plain configuration (alignhost.toml's [[providers]] tables) and
// holds no secret: the key is read from the environment variable APIKeyEnv
// names when the endpoint is first used.
type Provider struct {
	// Name is the URI scheme: lower-case letters, digits, '-', '_', '.'.
	Name string `json:"name" toml:"name"`
	// BaseURL is the API root, such as "http://localhost:8000/v1" (for Azure
	// the resource endpoint, without /openai). Required for a provider that
	// is not built in; for a built-in one it wins over the environment.
	BaseURL string `json:"base_url,omitempty" toml:"base_url,omitempty"`
	// APIKeyEnv names the environment variable holding the key. Empty means
	// the endpoint needs no key (or, for a built-in provider, its usual
	// variable). When it is set, the variable must not be empty.
	APIKeyEnv string `json:"api_key_env,omitempty" toml:"api_key_env,omitempty"`
	// APIType is "openai" (the default) or "azure". A built-in provider's
	// type cannot be changed.
	APIType APIType `json:"api_type,omitempty" toml:"api_type,omitempty"`
	// APIVersion is the Azure api-version query parameter; empty means
	// [DefaultAzureAPIVersion]. Ignored for the openai type.
	APIVersion string `json:"api_version,omitempty" toml:"api_version,omitempty"`
	// MaxConcurrency caps the requests in flight to this endpoint; 0 means
	// the client's default ([WithMaxConcurrency], else
	// [DefaultMaxConcurrency]).
	MaxConcurrency int `json:"max_concurrency,omitempty" toml:"max_concurrency,omitempty"`
	// RequestsPerMinute and TokensPerMinute, when positive, pace requests
	// with token buckets that hold one minute's allowance. 0 means
	// unlimited.
	RequestsPerMinute int `json:"requests_per_minute,omitempty" toml:"requests_per_minute,omitempty"`
	TokensPerMinute   int `json:"tokens_per_minute,omitempty" toml:"tokens_per_minute,omitempty"`
	// Headers are sent with every request (routing, tenant, …). They must
	// not carry credentials: Authorization, api-key and x-api-key are
	// refused.
	Headers map[string]string `json:"headers,omitempty" toml:"headers,omitempty"`

	// Timeout bounds each attempt; 0 means the client's ([WithTimeout],
	// else [DefaultTimeout]). An attempt that times out is retried.
	Timeout time.Duration `json:"timeout,omitempty" toml:"timeout,omitempty"`
	// Deadline bounds a whole call, every attempt and wait included; 0
	// means the client's ([WithDeadline], else [DefaultDeadline]). A call
	// that reaches it fails as a timeout (an [*APIError] wrapping
	// context.DeadlineExceeded), so one request cannot hold a worker for
	// MaxAttempts × Timeout.
	Deadline time.Duration `json:"deadline,omitempty" toml:"deadline,omitempty"`
	// MaxAttempts, BaseDelay and MaxDelay override the fields of the
	// client's [RetryPolicy] for this endpoint when positive.
	MaxAttempts int           `json:"max_attempts,omitempty" toml:"max_attempts,omitempty"`
	BaseDelay   time.Duration `json:"base_delay,omitempty" toml:"base_delay,omitempty"`
	MaxDelay    time.Duration `json:"max_delay,omitempty" toml:"max_delay,omitempty"`
	// MaxPromptTokens is the prompt budget of every model of this endpoint:
	// a chat request whose estimated prompt is larger fails with
	// [*PromptTooLargeError] before anything is sent. 0 means the model's
	// context window when [ContextWindow] knows its family, else
	// [DefaultMaxPromptTokens].
	MaxPromptTokens int `json:"max_prompt_tokens,omitempty" toml:"max_prompt_tokens,omitempty"`
	// Hedge sends a second, identical attempt when the first is still
	// unanswered after 3 times the endpoint's 95th-percentile latency
	// (measured over its last 128 successes, from the 20th on); the first
	// answer wins and the other attempt is cancelled. A hanging request
	// then costs about 3 × p95 instead of a whole Timeout, for at most one
	// extra request per slow one (a cancelled request may still be billed).
	// Hedges have their own allowance of max(1, MaxConcurrency/8) in
	// flight on top of MaxConcurrency, so that a busy endpoint still
	// hedges. Ignored for an endpoint with a requests or tokens per minute
	// limit.
	Hedge bool `json:"hedge,omitempty" toml:"hedge,omitempty"`
}

// validate checks what can be checked without the environment.
func (p Provider) validate() error {
	if !validName(p.Name) {
		return fmt.Errorf("provider %q: name must be lower-case letters, digits, '-', '_' or '.', starting with a letter", p.Name)
	}
	builtin := isBuiltin(p.Name)
	switch {
	case p.APIType != "" && p.APIType != APITypeOpenAI && p.APIType != APITypeAzure:
		return fmt.Errorf("provider %s: api_type %q: want %q or %q", p.Name, p.APIType, APITypeOpenAI, APITypeAzure)
	case builtin && p.APIType != "" && p.APIType != builtinType(p.Name):
		return fmt.Errorf("provider %s: api_type of a built-in provider cannot be changed to %q", p.Name, p.APIType)
	case !builtin && p.BaseURL == "":
		return fmt.Errorf("provider %s: base_url is required", p.Name)
	case p.MaxConcurrency < 0 || p.RequestsPerMinute < 0 || p.TokensPerMinute < 0 || p.MaxPromptTokens < 0:
		return fmt.Errorf("provider %s: limits must not be negative", p.Name)
	case p.Timeout < 0 || p.Deadline < 0 || p.MaxAttempts < 0 || p.BaseDelay < 0 || p.MaxDelay < 0:
		return fmt.Errorf("provider %s: timeout, deadline, max_attempts and delays must not be negative", p.Name)
	}
	if p.BaseURL != "" {
		if _, _, err := parseBaseURL(p.BaseURL); err != nil {
			return fmt.Errorf("provider %s: %w", p.Name, err)
		}
	}
	for k := range p.Headers {
		switch http.CanonicalHeaderKey(k) {
		case "Authorization", "Api-Key", "X-Api-Key":
			return fmt.Errorf("provider %s: header %s would carry a credential; name its variable in api_key_env instead", p.Name, k)
		}
		if k == "" || strings.ContainsAny(k, " :\r\n\t") {
			return fmt.Errorf("provider %s: invalid header name %q", p.Name, k)
		}
	}
	return nil
}

func builtinType(name string) APIType {
	if name == ProviderAzure {
		return APITypeAzure
	}
	return APITypeOpenAI
}

// parseBaseURL checks an http(s) URL and splits it into the API root,
// without query, fragment or trailing slash, and its query. Requests go to
// the root joined with the API path (url.JoinPath semantics), with the
// query kept: "http://host/v1?api-key=K" sends chats to
// "http://host/v1/chat/completions?api-key=K". Query values may be
// credentials (some gateways want the key there); they are redacted from
// every message.
func parseBaseURL(s string) (string, url.Values, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("base url %q: want http(s)://host[:port][/path][?query]", redactURL(s))
	}
	if u.User != nil {
		return "", nil, fmt.Errorf("base url %q: credentials in the URL are not allowed; use api_key_env", redactURL(s))
	}
	query, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("base url %q: query: %w", redactURL(s), err)
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = "", false, "", ""
	return strings.TrimRight(u.String(), "/"), query, nil
}

// redactURL hides the user info password and the query values of a URL
// for messages; the query keys stay, to say what was there.
func redactURL(s string) string {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil {
		return "<unparsable url>"
	}
	return redactedURL(u)
}

func redactedURL(u *url.URL) string {
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
	}
	if u.RawQuery != "" {
		var b strings.Builder
		for i, kv := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			k, _, _ := strings.Cut(kv, "=")
			b.WriteString(k)
			b.WriteString("=REDACTED")
		}
		u.RawQuery = b.String()
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String()
}

// settings is a provider resolved against the environment.
type settings struct {
	name       string
	baseURL    string
	apiType    APIType
	apiVersion string
	// query is the base URL's query, added to every request.
	query    url.Values
	key      string
	keyEnv   string
	batch    int
	provider Provider
}

// secrets are the strings no message may show: the key and every value of
// the base URL's query, as written and as escaped in a URL.
func (s settings) secrets() []string {
	var out []string
	add := func(v string) {
		if v == "" {
			return
		}
		for _, form := range []string{v, url.QueryEscape(v), url.PathEscape(v)} {
			if !slices.Contains(out, form) {
				out = append(out, form)
			}
		}
	}
	add(s.key)
	for _, vs := range s.query {
		for _, v := range vs {
			if len(v) >= minSecretLen {
				add(v)
			}
		}
	}
	// Longest first, so that a secret containing another is hidden whole.
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return out
}

// minSecretLen is the shortest query value treated as a secret and
// replaced wherever it appears; shorter ones (api-version=1, flags) would
// garble messages, and URLs in messages have all their query values
// redacted anyway.
const minSecretLen = 4

// resolveProvider combines the built-in defaults, the configured Provider
// and the environment.
func resolveProvider(name string, cfg Provider, declared bool, getenv func(string) string, known []string) (settings, error) {
	if !declared && !isBuiltin(name) {
		return settings{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownProvider, name, strings.Join(known, ", "))
	}
	s := settings{name: name, apiType: builtinType(name), batch: embedBatch, provider: cfg}
	if !isBuiltin(name) && cfg.APIType != "" {
		s.apiType = cfg.APIType
	}
	keyEnv := cfg.APIKeyEnv
	need := func(env string) (string, error) {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", fmt.Errorf("provider %s: %w: %s is not set", name, ErrMissingCredentials, env)
		}
		return v, nil
	}
	var err error
	switch name {
	case ProviderOpenAI:
		s.baseURL = first(cfg.BaseURL, getenv("OPENAI_BASE_URL"), OpenAIBaseURL)
		keyEnv = first(keyEnv, "OPENAI_API_KEY")
	case ProviderAzure:
		s.baseURL = cfg.BaseURL
		if s.baseURL == "" {
			if s.baseURL, err = need("AZURE_OPENAI_ENDPOINT"); err != nil {
				return settings{}, err
			}
		}
		keyEnv = first(keyEnv, "AZURE_OPENAI_API_KEY")
		s.apiVersion = first(cfg.APIVersion, getenv("OPENAI_API_VERSION"), DefaultAzureAPIVersion)
	case ProviderDatabricks, ProviderEndpoints:
		s.baseURL = cfg.BaseURL
		if s.baseURL == "" {
			host, err := need("DATABRICKS_HOST")
			if err != nil {
				return settings{}, err
			}
			if !strings.Contains(host, "://") {
				host = "https://" + host
			}
			s.baseURL = strings.TrimRight(host, "/") + "/serving-endpoints"
		}
		keyEnv = first(keyEnv, "DATABRICKS_TOKEN")
		s.batch = databricksEmbedBatch
	case ProviderOllama:
		s.baseURL = first(cfg.BaseURL, ollamaURL(getenv("OLLAMA_HOST")))
	default:
		s.baseURL = cfg.BaseURL
		if s.apiType == APITypeAzure {
			s.apiVersion = first(cfg.APIVersion, DefaultAzureAPIVersion)
		}
	}
	if s.baseURL, s.query, err = parseBaseURL(s.baseURL); err != nil {
		return settings{}, fmt.Errorf("provider %s: %w", name, err)
	}
	s.keyEnv = keyEnv
	if keyEnv != "" {
		if s.key, err = need(keyEnv); err != nil {
			return settings{}, err
		}
	}
	return s, nil
}

// ollamaURL turns OLLAMA_HOST (host:port, or a URL) into the base URL of
// Ollama's OpenAI API.
func ollamaURL(host string) string {
	host = strings.TrimSpace(host)
	if host == "" {
		return OllamaBaseURL
	}
	if !strings.Contains(host, "://") {
		host = "http://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return host
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1"
	}
	return u.String()
}

func first(vals ...string) string {
	for _, v := range vals {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// openaiConfig is the go-openai configuration of an endpoint.
func (s settings) openaiConfig(doer openai.HTTPDoer) openai.ClientConfig {
	var cfg openai.ClientConfig
	if s.apiType == APITypeAzure {
		cfg = openai.DefaultAzureConfig(s.key, s.baseURL)
		cfg.APIVersion = s.apiVersion
		// The URI names the deployment exactly; go-openai's default mapper
		// would strip '.' and ':' from it.
		cfg.AzureModelMapperFunc = func(model string) string { return model }
	} else {
		cfg = openai.DefaultConfig(s.key)
		cfg.BaseURL = s.baseURL
	}
	cfg.HTTPClient = doer
	return cfg
}

// knownProviders lists built-in and declared provider names, sorted.
func knownProviders(declared map[string]Provider) []string {
	out := slices.Clone(builtinProviders)
	for name := range declared {
		if !isBuiltin(name) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
