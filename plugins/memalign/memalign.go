package memalign

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/vector"
)

// Name and Version identify the optimizer.
const (
	Name    = "memalign"
	Version = "1.0.0"
)

// Errors a caller may branch on; the error returned wraps one with the
// details.
var (
	// ErrSessionJudge: the judge judges conversations, which MemAlign does
	// not align.
	ErrSessionJudge = errors.New("memalign aligns trace-level judges only")
	// ErrNoExamples: no example in the request is usable.
	ErrNoExamples = errors.New("no usable examples")
)

// Optimizer is MemAlign. The zero value is ready to use and safe for
// concurrent use: it holds no state.
type Optimizer struct{}

var _ pluginapi.Optimizer = Optimizer{}

// Describe says what MemAlign is and which configuration it accepts.
func (Optimizer) Describe() pluginapi.Description {
	return pluginapi.Description{
		Name:    Name,
		Version: Version,
		Description: "MemAlign (MLflow's memory-based judge alignment): distils guidelines from the human values and " +
			"rationales with the reflection model (semantic memory) and stores every example with the embedding of " +
			"its query field for retrieval at judgement time (episodic memory). Incremental: unchanged feedback is " +
			"skipped, changed feedback replaces the old. The judge's instructions are never modified.",
		Capabilities: []pluginapi.Capability{pluginapi.Chat, pluginapi.Embed},
		Config:       configKeys(),
	}
}

// Align adds the request's examples to the judge's memory; see the package
// documentation for the algorithm.
func (Optimizer) Align(ctx context.Context, h pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
	if req == nil || req.Judge == nil {
		return nil, errors.New("memalign: the request has no judge")
	}
	cfg, err := ParseConfig(req.Config)
	if err != nil {
		return nil, fmt.Errorf("memalign: %w", err)
	}
	r := &run{h: h, req: req, cfg: cfg, counts: map[string]int{}}
	return r.align(ctx)
}

// run is one alignment.
type run struct {
	h   pluginapi.Host
	req *pluginapi.AlignRequest
	cfg Config

	out   *judge.Judge
	mem   *judge.Memory
	query judge.Variable

	counts   map[string]int
	warnings []string
}

func (r *run) warn(msg string) {
	r.warnings = append(r.warnings, msg)
	r.h.Log(pluginapi.LevelWarn, msg)
}

func (r *run) debugf(format string, args ...any) {
	r.h.Log(pluginapi.LevelDebug, fmt.Sprintf(format, args...))
}

func (r *run) align(ctx context.Context) (*pluginapi.AlignResponse, error) {
	base := r.req.Judge
	if base.SessionLevel() {
		return nil, fmt.Errorf("judge %q uses {{ conversation }}: %w, as MLflow's MemAlign does", base.Name, ErrSessionJudge)
	}
	query, err := base.QueryVariable()
	if err != nil {
		return nil, fmt.Errorf("memalign: %w", err)
	}
	r.query = query
	r.out = base.Clone()
	r.out.Provenance = nil
	if r.out.Memory == nil {
		r.out.Memory = &judge.Memory{}
	}
	r.mem = r.out.Memory
	for i := range r.mem.Examples {
		ex := &r.mem.Examples[i]
		if v, err := r.out.ValueType.Normalize(ex.Value); err == nil {
			ex.Value = v
		}
	}
	r.debugf("memory before: %d guidelines, %d examples, space %q", len(r.mem.Guidelines), len(r.mem.Examples), r.mem.Retrieval.Embedder)

	examples := r.usable()
	if len(examples) == 0 {
		return nil, r.noExamples()
	}

	// Classify the examples against the memory by their feedback.
	stored := r.mem.Fingerprints()
	var fresh []*judge.Example
	var changed []string
	for i := range examples {
		ex := &examples[i]
		old, ok := stored[ex.TraceID]
		switch {
		case !ok:
			r.counts["examples_new"]++
			fresh = append(fresh, ex)
		case old != ex.FeedbackFingerprint():
			r.counts["examples_changed"]++
			changed = append(changed, ex.TraceID)
			fresh = append(fresh, ex)
		default:
			r.counts["examples_unchanged"]++
		}
	}
	_, forgotten := r.mem.Forget(changed...)
	r.counts["guidelines_forgotten"] = forgotten

	// Semantic memory: distil candidates from the fresh examples.
	var cands []candidate
	failed := map[string]bool{}
	if !r.cfg.DisableSemanticMemory && len(fresh) > 0 {
		cands, failed, err = r.distill(ctx, fresh)
		if err != nil {
			return nil, err
		}
	}

	// Episodic memory: the fresh examples, except those of failed batches.
	for _, ex := range fresh {
		if failed[ex.TraceID] {
			r.counts["examples_not_stored"]++
			continue
		}
		r.mem.Examples = append(r.mem.Examples, *ex)
	}

	// Fold the candidates into the guidelines, then embed what needs it.
	m := newMerger(r.mem.Guidelines)
	m.byText(cands)
	var dedupTexts []string
	if r.cfg.DedupSimilarity > 0 && len(m.pending) > 0 {
		dedupTexts = append(m.existingTexts(), m.pendingTexts()...)
	}
	emb, err := r.embed(ctx, dedupTexts)
	if err != nil {
		return nil, err
	}
	var vecs [][]float32
	if dedupTexts != nil {
		vecs = emb.guidelines
	}
	m.byVector(vecs, r.cfg.DedupSimilarity)
	list, keep := capGuidelines(m.list, r.cfg.MaxGuidelines)
	added, dropped := 0, len(m.list)-len(list)
	for i := m.existing; i < len(m.list); i++ {
		if keep[i] {
			added++
		}
	}
	if dropped > 0 {
		msg := fmt.Sprintf("max_guidelines %d: dropped %d guidelines learnt from the fewest examples", r.cfg.MaxGuidelines, dropped)
		if people := len(list) - countSourced(list); people > r.cfg.MaxGuidelines {
			msg += fmt.Sprintf("; the %d guidelines written by people are always kept, more than the limit", people)
		}
		r.warn(msg)
	}
	r.mem.Guidelines = list
	if len(r.mem.Guidelines) == 0 {
		r.mem.Guidelines = nil
	}
	r.counts["guidelines_added"] = added
	r.counts["guidelines_merged"] = m.merged
	r.counts["guidelines_dropped"] = dropped

	r.setRetrieval(emb)
	return r.finish(len(examples)), nil
}

// countSourced counts the distilled guidelines: those with sources.
func countSourced(list []judge.Guideline) int {
	n := 0
	for _, g := range list {
		if len(g.SourceTraceIDs) > 0 {
			n++
		}
	}
	return n
}

// usable returns copies of the request's examples that can be learnt from:
// with a trace ID and a value that fits the judge's value type (normalised),
// one per trace (the most recent feedback wins), without embeddings.
func (r *run) usable() []judge.Example {
	var out []judge.Example
	at := map[string]int{}
	for i, ex := range r.req.Examples {
		if strings.TrimSpace(ex.TraceID) == "" {
			r.counts["examples_unusable"]++
			r.warn(fmt.Sprintf("example %d has no trace ID; skipped", i))
			continue
		}
		v, err := r.out.ValueType.Normalize(ex.Value)
		if err != nil {
			r.counts["examples_unusable"]++
			r.warn(fmt.Sprintf("trace %s: the human %s; skipped", ex.TraceID, err))
			continue
		}
		ex.Value = v
		ex.Embedding = nil
		if j, ok := at[ex.TraceID]; ok {
			r.counts["examples_unusable"]++
			kept := &out[j]
			if !ex.FeedbackTime.Before(kept.FeedbackTime) {
				*kept = ex
			}
			r.warn(fmt.Sprintf("trace %s has more than one example; the most recent feedback is used", ex.TraceID))
			continue
		}
		at[ex.TraceID] = len(out)
		out = append(out, ex)
	}
	return out
}

// noExamples explains why no example was usable.
func (r *run) noExamples() error {
	var b strings.Builder
	fmt.Fprintf(&b, "judge %q: looked for human feedback (source HUMAN) named %q: ", r.out.Name, r.out.Name)
	if n := len(r.req.Examples); n > 0 {
		fmt.Fprintf(&b, "none of the %d examples was usable (%s)", n, strings.Join(r.warnings, "; "))
	} else {
		b.WriteString("the request has no examples")
	}
	if len(r.req.Skipped) > 0 {
		fmt.Fprintf(&b, "; %d traces were skipped: ", len(r.req.Skipped))
		const show = 5
		for i, s := range r.req.Skipped[:min(show, len(r.req.Skipped))] {
			if i > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "%s: %s", s.TraceID, s.Reason)
		}
		if len(r.req.Skipped) > show {
			fmt.Fprintf(&b, "; and %d more", len(r.req.Skipped)-show)
		}
	}
	return fmt.Errorf("%w: %s", ErrNoExamples, b.String())
}

// distill sends the fresh examples to the reflection model in batches and
// returns the candidate guidelines in batch order, and the trace IDs of
// failed batches. It fails when every batch failed.
func (r *run) distill(ctx context.Context, fresh []*judge.Example) ([]candidate, map[string]bool, error) {
	if m, ok := r.req.Model(r.cfg.ReflectionModel); !ok || m.Kind != pluginapi.ChatModel {
		return nil, nil, fmt.Errorf("memalign: reflection model %q is not a chat model the host offers (%s); set %s, or %s to skip guidelines",
			r.cfg.ReflectionModel, r.offered(pluginapi.ChatModel), KeyReflectionModel, KeyDisableSemanticMemory)
	}
	existing := make([]string, len(r.mem.Guidelines))
	for i, g := range r.mem.Guidelines {
		existing[i] = g.Text
	}
	instructions := r.out.Instructions
	base := tokens(systemPrompt) + tokens(userPrompt(instructions, existing, nil))
	batches, err := planBatches(fresh, base, r.cfg.MaxInputTokens-FlexTokens, r.cfg.BatchSize)
	if err != nil {
		return nil, nil, fmt.Errorf("memalign: plan distillation: %w", err)
	}
	calls := (len(batches) + r.cfg.Parallelism - 1) / r.cfg.Parallelism
	r.counts["batches"] = len(batches)
	r.h.Log(pluginapi.LevelInfo, fmt.Sprintf("distilling guidelines from %d examples in %d batches (%d chat calls)", len(fresh), len(batches), calls))
	r.h.Progress(0, len(batches), "Distilling guidelines")

	var cands []candidate
	failed := map[string]bool{}
	var firstErr error
	for start := 0; start < len(batches); start += r.cfg.Parallelism {
		group := batches[start:min(start+r.cfg.Parallelism, len(batches))]
		reqs := make([]pluginapi.ChatRequest, len(group))
		for i, b := range group {
			reqs[i] = pluginapi.ChatRequest{
				Model: r.cfg.ReflectionModel,
				Messages: []pluginapi.Message{
					{Role: "system", Content: systemPrompt},
					{Role: "user", Content: userPrompt(instructions, existing, b.records)},
				},
				Schema:     guidelinesSchema(),
				SchemaName: schemaName,
				Params:     map[string]any{"temperature": r.cfg.Temperature},
			}
		}
		r.counts["chat_calls"]++
		results, err := r.h.Chat(ctx, reqs)
		if err == nil && len(results) != len(reqs) {
			err = fmt.Errorf("the host answered %d results for %d requests", len(results), len(reqs))
		}
		if err != nil && ctx.Err() != nil {
			return nil, nil, fmt.Errorf("memalign: distil guidelines: %w", context.Cause(ctx))
		}
		for i := range group {
			b := &group[i]
			n := start + i + 1
			var o batchOutcome
			if err != nil {
				o.err = err
			} else {
				o = readAnswer(results[i], b)
			}
			r.counts["guidelines_rejected"] += o.rejected
			if o.err != nil {
				if firstErr == nil {
					firstErr = o.err
				}
				r.counts["batches_failed"]++
				ids := b.traceIDs()
				for _, id := range ids {
					failed[id] = true
				}
				for _, w := range idWarnings(fmt.Sprintf("distillation batch %d/%d failed (%s): its %d examples were not learnt; align again to learn them",
					n, len(batches), shorten(o.err.Error(), 300), len(ids)), ids) {
					r.warn(w)
				}
				continue
			}
			r.debugf("batch %d/%d: %d examples, %d guidelines proposed, %d rejected", n, len(batches), len(b.examples), len(o.candidates), o.rejected)
			cands = append(cands, o.candidates...)
		}
		r.h.Progress(start+len(group), len(batches), "Distilling guidelines")
	}
	if len(batches) > 0 && r.counts["batches_failed"] == len(batches) {
		return nil, nil, fmt.Errorf("memalign: every distillation batch failed (%d of %d), the first with: %w", len(batches), len(batches), firstErr)
	}
	return cands, failed, nil
}

// maxWarningBytes keeps a warning within the host's limit of 1 KiB.
const maxWarningBytes = 1000

// idWarnings returns head followed by the trace IDs, split into warnings
// of at most maxWarningBytes so that no ID is cut off by the host.
func idWarnings(head string, ids []string) []string {
	var out []string
	cur := head + ": traces"
	sep := " "
	for _, id := range ids {
		if len(cur)+len(sep)+len(id) > maxWarningBytes && !strings.HasSuffix(cur, ":") {
			out = append(out, cur)
			cur, sep = "(continued) traces", " "
		}
		cur += sep + id
		sep = ", "
	}
	return append(out, cur)
}

// offered lists the models of kind the request offers.
func (r *run) offered(kind pluginapi.ModelKind) string {
	var names []string
	for _, m := range r.req.Models {
		if m.Kind == kind {
			names = append(names, fmt.Sprintf("%q", m.Name))
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// embed runs the embedding stage over the memory's examples (none when
// episodic memory is disabled) and the guideline texts.
func (r *run) embed(ctx context.Context, guidelines []string) (embedded, error) {
	local, err := vector.NewHashEmbedder(r.cfg.EmbeddingDim)
	if err != nil {
		return embedded{}, fmt.Errorf("memalign: %w", err)
	}
	e := &embedding{h: r.h, dims: r.cfg.EmbeddingDim, local: local, log: r.h.Log}
	if m, ok := r.req.Model(r.cfg.EmbeddingModel); ok && m.Kind == pluginapi.EmbedModel {
		e.model = r.cfg.EmbeddingModel
	}
	var examples []*judge.Example
	if r.cfg.DisableEpisodicMemory {
		for i := range r.mem.Examples {
			r.mem.Examples[i].Embedding = nil
		}
	} else {
		examples = make([]*judge.Example, len(r.mem.Examples))
		for i := range r.mem.Examples {
			examples[i] = &r.mem.Examples[i]
		}
	}
	wantsVectors := len(guidelines) > 0
	for _, ex := range examples {
		if len(ex.Embedding) == 0 && strings.TrimSpace(ex.Field(r.query)) != "" {
			wantsVectors = true
		}
	}
	if e.model == "" && wantsVectors {
		e.warn(fmt.Sprintf("no embedding model %q is offered (%s): vectors are made by the built-in local embedder %s",
			r.cfg.EmbeddingModel, r.offered(pluginapi.EmbedModel), local.ID()))
	}
	res, err := e.run(ctx, examples, r.query, r.mem.Retrieval.Embedder, r.mem.Retrieval.Dimensions, guidelines)
	r.warnings = append(r.warnings, e.warnings...)
	r.counts["embed_calls"] = e.calls
	r.counts["embedded"] = e.embedded
	return res, err
}

// setRetrieval records the space of the memory's vectors and how many
// examples the judge retrieves.
func (r *run) setRetrieval(emb embedded) {
	ret := &r.mem.Retrieval
	if r.cfg.DisableEpisodicMemory {
		*ret = judge.Retrieval{}
		return
	}
	vectors := 0
	for _, ex := range r.mem.Examples {
		if len(ex.Embedding) > 0 {
			vectors++
		}
	}
	if vectors == 0 {
		*ret = judge.Retrieval{}
		if len(r.mem.Examples) > 0 {
			r.warn(fmt.Sprintf("no stored example has %s text to embed: retrieval is off", r.query))
		}
		return
	}
	*ret = judge.Retrieval{K: r.cfg.RetrievalK, Embedder: emb.space, Dimensions: emb.dims}
}

// finish builds the response.
func (r *run) finish(usable int) *pluginapi.AlignResponse {
	c := r.counts
	c["examples_total"] = len(r.mem.Examples)
	c["guidelines_total"] = len(r.mem.Guidelines)
	for _, k := range []string{"examples_new", "examples_changed", "examples_unchanged", "guidelines_added",
		"guidelines_merged", "batches", "batches_failed", "embedded"} {
		if _, ok := c[k]; !ok {
			c[k] = 0 // the main counts are always reported
		}
	}
	summary := fmt.Sprintf("%d examples (%d new, %d changed, %d unchanged): %d guidelines added, %d merged; memory holds %d guidelines and %d examples",
		usable, c["examples_new"], c["examples_changed"], c["examples_unchanged"], c["guidelines_added"], c["guidelines_merged"],
		c["guidelines_total"], c["examples_total"])
	if c["batches_failed"] > 0 {
		summary += fmt.Sprintf("; %d of %d distillation batches failed", c["batches_failed"], c["batches"])
	}
	r.debugf("memory after: %d guidelines, %d examples, space %q, k %d", len(r.mem.Guidelines), len(r.mem.Examples), r.mem.Retrieval.Embedder, r.mem.Retrieval.K)
	if len(r.mem.Guidelines) == 0 && len(r.mem.Examples) == 0 {
		r.out.Memory = nil
	}
	return &pluginapi.AlignResponse{
		Judge:  r.out,
		Report: pluginapi.Report{Summary: summary, Counts: c, Warnings: r.warnings},
	}
}
