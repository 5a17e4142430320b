package llm

import (
	"fmt"
	"slices"
	"strings"
)

// DefaultModel is the model a request uses when it names none, unless the
// client is given another with [WithDefaultModel].
const DefaultModel = "openai:/gpt-4.1-mini"

// The built-in providers, by URI scheme.
const (
	ProviderOpenAI     = "openai"     // api.openai.com or OPENAI_BASE_URL
	ProviderAzure      = "azure"      // Azure OpenAI; the model is a deployment
	ProviderDatabricks = "databricks" // Databricks serving endpoints
	ProviderEndpoints  = "endpoints"  // the same, as MLflow's endpoints:/ scheme
	ProviderOllama     = "ollama"     // a local Ollama's OpenAI API
)

// builtinProviders lists the built-in schemes, sorted.
var builtinProviders = []string{ProviderAzure, ProviderDatabricks, ProviderEndpoints, ProviderOllama, ProviderOpenAI}

// ModelURI names a model as MLflow does: "<provider>:/<model>".
type ModelURI struct {
	// Provider is the URI scheme: a built-in provider or a configured one.
	Provider string
	// Model is the model, Azure deployment or serving endpoint. It may
	// contain slashes (meta-llama/Llama-3.1-8B-Instruct).
	Model string
}

// String returns the URI in its canonical form, "<provider>:/<model>".
func (u ModelURI) String() string { return u.Provider + ":/" + u.Model }

// ParseModelURI parses a model URI such as "openai:/gpt-4.1-mini". It checks
// the syntax only; whether the provider exists is known to a [Client] (see
// [Client.Resolve]). Surrounding spaces are ignored.
//
// # Errors
//
// The error wraps [ErrInvalidModelURI] and shows the expected form and the
// built-in providers.
func ParseModelURI(s string) (ModelURI, error) {
	in := strings.TrimSpace(s)
	provider, model, ok := strings.Cut(in, ":/")
	switch {
	case in == ProviderDatabricks:
		return ModelURI{}, fmt.Errorf("%w %q: the managed Databricks judge model is not supported; name a serving endpoint, as in databricks:/<endpoint>", ErrInvalidModelURI, s)
	case !ok:
		return ModelURI{}, fmt.Errorf("%w %q: want <provider>:/<model>, as in %s (built-in providers: %s)", ErrInvalidModelURI, s, DefaultModel, strings.Join(builtinProviders, ", "))
	case !validName(provider):
		return ModelURI{}, fmt.Errorf("%w %q: provider %q must be lower-case letters, digits, '-', '_' or '.', starting with a letter (built-in providers: %s)", ErrInvalidModelURI, s, provider, strings.Join(builtinProviders, ", "))
	case model == "" || strings.HasPrefix(model, "/"):
		return ModelURI{}, fmt.Errorf("%w %q: want <provider>:/<model> with a model name after %q", ErrInvalidModelURI, s, provider+":/")
	case strings.ContainsFunc(model, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return ModelURI{}, fmt.Errorf("%w %q: model name contains a space or control character", ErrInvalidModelURI, s)
	}
	return ModelURI{Provider: provider, Model: model}, nil
}

// validName reports whether s can be a provider name (a URI scheme).
func validName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func isBuiltin(name string) bool {
	_, found := slices.BinarySearch(builtinProviders, name)
	return found
}
