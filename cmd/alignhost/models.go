package main

import (
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/alignhost/alignhost/config"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/retrieval"
	"github.com/alignhost/alignhost/store"
)

// modelFlags are the flags of every command that calls models.
type modelFlags struct {
	noCache bool
	record  string
	replay  string
	timeout time.Duration
}

func (f *modelFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&f.noCache, "no-cache", false, "ask the model even when the store's response cache holds the answer (fresh answers still refresh it)")
	fs.StringVar(&f.record, "record", "", "save every model exchange to this JSON Lines file")
	fs.StringVar(&f.replay, "replay", "", "answer only from this recording (made with --record); never call a model")
	fs.DurationVar(&f.timeout, "timeout", 0, "bound each model request attempt (e.g. 30s), overriding every provider's timeout (default: the provider's, else 2m)")
}

// modelClient builds the model client of one command: the configured
// providers and default model, the environment as a.getenv reads it, the
// store's response cache, and the recording or replay the flags ask for.
// close finishes the recording.
func (a *app) modelClient(f *modelFlags, st *store.Store, extra ...llm.Option) (client *llm.Client, close func() error, err error) {
	if f.record != "" && f.replay != "" {
		return nil, nil, usagef("--record and --replay cannot be used together")
	}
	if f.timeout < 0 {
		return nil, nil, usagef("--timeout must not be negative")
	}
	providers := llmProviders(a.cfg.Providers)
	if f.timeout > 0 {
		for i := range providers {
			providers[i].Timeout = f.timeout
		}
	}
	opts := []llm.Option{
		llm.WithProviders(providers...),
		llm.WithGetenv(a.getenv),
		llm.WithLogger(a.logger),
		llm.WithCache(st.ResponseCache()),
	}
	if a.cfg.DefaultModel != "" {
		opts = append(opts, llm.WithDefaultModel(a.cfg.DefaultModel))
	}
	if f.timeout > 0 {
		opts = append(opts, llm.WithTimeout(f.timeout))
	}
	close = func() error { return nil }
	var rec *llm.Recorder
	switch {
	case f.record != "":
		rec, err = llm.CreateRecording(f.record)
	case f.replay != "":
		rec, err = llm.OpenReplay(f.replay)
	}
	if err != nil {
		return nil, nil, err
	}
	if rec != nil {
		opts = append(opts, llm.WithRecorder(rec))
		close = rec.Close
	}
	client, err = llm.New(append(opts, extra...)...)
	if err != nil {
		return nil, nil, errors.Join(err, close())
	}
	return client, close, nil
}

// llmProviders maps the configuration's providers onto the model layer's,
// in name order.
func llmProviders(providers map[string]config.Provider) []llm.Provider {
	out := make([]llm.Provider, 0, len(providers))
	for name, p := range providers {
		out = append(out, llm.Provider{
			Name:              name,
			BaseURL:           p.BaseURL,
			APIKeyEnv:         p.APIKeyEnv,
			APIType:           llm.APIType(p.APIType),
			APIVersion:        p.APIVersion,
			MaxConcurrency:    p.MaxConcurrency,
			RequestsPerMinute: p.RequestsPerMinute,
			TokensPerMinute:   p.TokensPerMinute,
			Headers:           p.Headers,
			Timeout:           p.Timeout,
			Deadline:          p.Deadline,
			MaxAttempts:       p.MaxAttempts,
			BaseDelay:         p.BaseDelay,
			MaxDelay:          p.MaxDelay,
			MaxPromptTokens:   p.MaxPromptTokens,
			Hedge:             p.Hedge,
		})
	}
	slices.SortFunc(out, func(x, y llm.Provider) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// priceTable maps the configuration's prices onto the model layer's.
func priceTable(prices map[string]config.Price) llm.PriceTable {
	if len(prices) == 0 {
		return nil
	}
	out := make(llm.PriceTable, len(prices))
	for model, p := range prices {
		out[model] = llm.Price{InputPerMTok: p.InputPerMTok, OutputPerMTok: p.OutputPerMTok}
	}
	return out
}

// newEvaluator is the evaluator of every command that judges: the app's
// logger, the concurrency, retrieval of stored examples for aligned judges,
// and --no-cache.
func (a *app) newEvaluator(client *llm.Client, concurrency int, noCache bool, extra ...eval.Option) (*eval.Evaluator, error) {
	opts := []eval.Option{
		eval.WithLogger(a.logger),
		eval.WithConcurrency(concurrency),
		eval.WithExampleRetriever(retrieval.New(client)),
	}
	if noCache {
		opts = append(opts, eval.WithNoCache())
	}
	return eval.New(client, append(opts, extra...)...)
}
