package llm

import (
	"fmt"
	"strings"
)

// DefaultMaxPromptTokens is the prompt budget of a model whose endpoint
// sets no [Provider.MaxPromptTokens] and whose family [ContextWindow] does
// not know: small enough that an unexpectedly large prompt costs cents, not
// dollars, and within the context of most models served today.
const DefaultMaxPromptTokens = 32_768

// contextWindows are the context windows, in tokens, of well-known model
// families, by prefix of the model name (lower case, without an
// organisation or "databricks-" prefix); longer prefixes first where they
// overlap.
var contextWindows = []struct {
	prefix string
	tokens int
}{
	{"gpt-4.1", 1_047_576},
	{"gpt-4o", 128_000},
	{"gpt-4-turbo", 128_000},
	{"gpt-4", 8_192},
	{"gpt-3.5-turbo", 16_385},
	{"gpt-5", 272_000}, // input limit of a 400k context
	{"o1", 200_000},
	{"o3", 200_000},
	{"o4-mini", 200_000},
	{"claude", 200_000},
	{"gemini", 1_048_576},
	{"meta-llama-3-1", 128_000},
	{"meta-llama-3-3", 128_000},
	{"meta-llama-3.1", 128_000},
	{"meta-llama-3.3", 128_000},
	{"llama-3.1", 128_000},
	{"llama-3.2", 128_000},
	{"llama-3.3", 128_000},
	{"llama-4", 128_000},
	{"mistral-large", 128_000},
	{"qwen2.5", 32_768},
}

// ContextWindow returns the context window, in tokens, of a model of a
// well-known family (gpt-4.1, gpt-4o, o3, claude, gemini, llama-3.x, …),
// matched by name prefix, and false for a model it does not know.
func ContextWindow(model string) (int, bool) {
	name := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimPrefix(name, "databricks-")
	for _, w := range contextWindows {
		if strings.HasPrefix(name, w.prefix) {
			return w.tokens, true
		}
	}
	return 0, false
}

// perMessageTokens is what a message costs on top of its content (role,
// separators).
const perMessageTokens = 4

// EstimatePromptTokens estimates, cheaply and without a tokenizer, the
// prompt tokens of messages and an optional JSON schema: one token per 4
// bytes of content (rounded up), plus 4 per message. English prose and JSON
// average about 4 bytes per token; text in other scripts has more tokens
// per byte, so budgets should keep a margin.
func EstimatePromptTokens(msgs []Message, schemaJSON []byte) int {
	bytes := len(schemaJSON)
	for _, m := range msgs {
		bytes += len(m.Content)
	}
	return (bytes+3)/4 + perMessageTokens*len(msgs)
}

// PromptTooLargeError is returned by [Client.Chat] for a prompt over the
// model's budget; no request was sent. It matches [ErrPromptTooLarge].
type PromptTooLargeError struct {
	// Model is the model URI of the request.
	Model string
	// Estimate is the prompt's estimated tokens ([EstimatePromptTokens]);
	// Budget is the model's prompt budget.
	Estimate, Budget int
}

func (e *PromptTooLargeError) Error() string {
	return fmt.Sprintf("model %s: prompt of about %d tokens is over the budget of %d (not sent; raise max_prompt_tokens of the provider to allow it)",
		e.Model, e.Estimate, e.Budget)
}

// Is makes a PromptTooLargeError match [ErrPromptTooLarge].
func (e *PromptTooLargeError) Is(target error) bool { return target == ErrPromptTooLarge }

// promptBudget is the prompt budget of model on ep.
func (ep *endpoint) promptBudget(model string) int {
	if n := ep.provider.MaxPromptTokens; n > 0 {
		return n
	}
	if n, ok := ContextWindow(model); ok {
		return n
	}
	return DefaultMaxPromptTokens
}
