package llm

import (
	"slices"
	"strings"
	"sync"
)

// Meter totals model usage per model URI. It is safe for concurrent use;
// the zero value is ready.
type Meter struct {
	mu      sync.Mutex
	byModel map[string]*ModelUsage
}

// ModelUsage is what one model was asked and what it billed.
type ModelUsage struct {
	// Calls counts Chat and Embed calls, answered or failed.
	Calls int
	// Cached counts calls answered from the cache or a replay, at no cost.
	Cached int
	// Retries counts attempts beyond the first.
	Retries int
	// Failures counts calls that returned an error.
	Failures int
	// PromptTokens and CompletionTokens are the tokens billed.
	PromptTokens     int64
	CompletionTokens int64
}

func (m *Meter) update(model string, f func(u *ModelUsage)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byModel == nil {
		m.byModel = map[string]*ModelUsage{}
	}
	u := m.byModel[model]
	if u == nil {
		u = &ModelUsage{}
		m.byModel[model] = u
	}
	f(u)
}

func (m *Meter) addRetry(model string) { m.update(model, func(u *ModelUsage) { u.Retries++ }) }

// addCall records a finished call.
func (m *Meter) addCall(model string, cached, failed bool, usage Usage) {
	m.update(model, func(u *ModelUsage) {
		u.Calls++
		if cached {
			u.Cached++
		}
		if failed {
			u.Failures++
		}
		u.PromptTokens += int64(usage.PromptTokens)
		u.CompletionTokens += int64(usage.CompletionTokens)
	})
}

// Snapshot returns the usage so far, by model URI.
func (m *Meter) Snapshot() map[string]ModelUsage {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]ModelUsage, len(m.byModel))
	for k, v := range m.byModel {
		out[k] = *v
	}
	return out
}

// Total returns the usage of all models together.
func (m *Meter) Total() ModelUsage {
	var t ModelUsage
	for _, u := range m.Snapshot() {
		t.Calls += u.Calls
		t.Cached += u.Cached
		t.Retries += u.Retries
		t.Failures += u.Failures
		t.PromptTokens += u.PromptTokens
		t.CompletionTokens += u.CompletionTokens
	}
	return t
}

// Price is what a model costs, in US dollars per million tokens.
type Price struct {
	InputPerMTok  float64 `json:"input_per_mtok" toml:"input_per_mtok"`
	OutputPerMTok float64 `json:"output_per_mtok" toml:"output_per_mtok"`
}

// PriceTable prices models, keyed by model URI ("openai:/gpt-4.1-mini") or
// by bare model name ("gpt-4.1-mini", matching that model at any provider).
// The URI wins when both are present.
type PriceTable map[string]Price

// Cost estimates the cost in US dollars of usage (a [Meter.Snapshot]). It
// also returns, sorted, the models that billed tokens but have no price.
func (p PriceTable) Cost(usage map[string]ModelUsage) (usd float64, unpriced []string) {
	for model, u := range usage {
		if u.PromptTokens == 0 && u.CompletionTokens == 0 {
			continue
		}
		price, ok := p[model]
		if !ok {
			if _, name, found := strings.Cut(model, ":/"); found {
				price, ok = p[name]
			}
		}
		if !ok {
			unpriced = append(unpriced, model)
			continue
		}
		usd += (float64(u.PromptTokens)*price.InputPerMTok + float64(u.CompletionTokens)*price.OutputPerMTok) / 1e6
	}
	slices.Sort(unpriced)
	return usd, unpriced
}
