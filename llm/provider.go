package llm

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

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
	case p.MaxConcurrency < 0 || p.RequestsPerMinute < 0 || p.TokensPerMinute < 0:
		return fmt.Errorf("provider %s: limits must not be negative", p.Name)
	}
	if p.BaseURL != "" {
		if _, err := parseBaseURL(p.BaseURL); err != nil {
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

// parseBaseURL checks an http(s) URL and returns it without a trailing
// slash.
func parseBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("base url %q: want http(s)://host[:port][/path]", redactURL(s))
	}
	if u.User != nil {
		return "", fmt.Errorf("base url %q: credentials in the URL are not allowed; use api_key_env", redactURL(s))
	}
	return strings.TrimRight(s, "/"), nil
}

// redactURL hides user info and the query of a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable url>"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	return u.String()
}

// settings is a provider resolved against the environment.
type settings struct {
	name       string
	baseURL    string
	apiType    APIType
	apiVersion string
	key        string
	batch      int
	provider   Provider
}

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
	if s.baseURL, err = parseBaseURL(s.baseURL); err != nil {
		return settings{}, fmt.Errorf("provider %s: %w", name, err)
	}
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
