package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/align"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/plugins/memalign/bundle"
	"github.com/alignhost/alignhost/report"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/termtext"
	"github.com/alignhost/alignhost/trace"
	"github.com/alignhost/alignhost/validate"
)

// defaultEmbeddingModel is offered to optimizers when no embedding model is
// configured and its key is set.
const (
	defaultEmbeddingModel      = "openai:/text-embedding-3-small"
	defaultEmbeddingDimensions = 512
)

// alignFlags are the flags of align.
type alignFlags struct {
	judgeRef, optimizer, experiment, registerAs, groupBy string
	sets, tags                                           []string
	noRegister, requireImprovement                       bool
	holdout                                              float64
	folds, concurrency                                   int
	seed                                                 int64
	reflectionModel, embeddingModel                      string
	embeddingDims                                        int
	wallTime                                             time.Duration
	limits                                               limitFlags
	cacheDir                                             string
	models                                               modelFlags

	// printComparison prints the held-out comparison after the summary
	// (the command sets it; the demo prints the comparison last).
	printComparison bool
}

func (a *app) alignCommand() *cobra.Command {
	f := &alignFlags{}
	cmd := &cobra.Command{
		Use:   "align --judge NAME[@VERSION]",
		Short: "Align a judge with the human feedback on its traces and register the result",
		Long: `Align a judge with human feedback. For every trace, the most recent valid HUMAN
feedback named like the judge (case-insensitive) becomes a labelled example; an
optimizer turns the examples into a new judge, which is registered as the next
version of the judge. The default optimizer is MemAlign, embedded in alignhost
as a WebAssembly module; --optimizer FILE.wasm runs another one in the sandbox.

--holdout 0.3 keeps 30% of the examples out of alignment (stratified by the
human value, grouped by --group-by) and compares the base and the aligned judge
on them; --folds K cross-validates. --require-improvement refuses to register
an aligned judge whose held-out kappa is not better than the base's.`,
		Example: `  alignhost align --judge support_quality
  alignhost align --judge support_quality@1 --holdout 0.3 --seed 7 --require-improvement
  alignhost align --judge support_quality --optimizer ./my_optimizer.wasm --set k=8`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("register") && f.noRegister {
				return usagef("--register and --no-register cannot be used together")
			}
			f.printComparison = true
			_, err := a.runAlign(cmd.Context(), f)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.judgeRef, "judge", "", "the judge to align, NAME or NAME@VERSION (required)")
	fl.StringVar(&f.optimizer, "optimizer", "memalign", "memalign (embedded) or the path of an optimizer .wasm")
	fl.StringArrayVar(&f.sets, "set", nil, "optimizer setting key=value (repeatable; values are JSON when they parse, text otherwise)")
	fl.StringVar(&f.experiment, "experiment", "", "only traces of this experiment")
	fl.StringVar(&f.registerAs, "register", "", "register the aligned judge under this name instead of the judge's")
	fl.BoolVar(&f.noRegister, "no-register", false, "do not register the aligned judge; print it")
	fl.StringArrayVar(&f.tags, "tag", nil, "tag the new version (key=value, repeatable)")
	fl.Float64Var(&f.holdout, "holdout", 0, "share of examples held out to compare base and aligned judge (e.g. 0.3)")
	fl.IntVar(&f.folds, "folds", 0, "cross-validate with this many folds instead of one held-out share")
	fl.Int64Var(&f.seed, "seed", 1, "seed of the split and of the optimizer")
	fl.StringVar(&f.groupBy, "group-by", "", "keep groups on one side of a split: session, or metadata:KEY / tag:KEY")
	fl.BoolVar(&f.requireImprovement, "require-improvement", false, "refuse to register unless held-out kappa improves (default from [align] require_improvement)")
	fl.StringVar(&f.reflectionModel, "reflection-model", "", "model URI the optimizer thinks with (default [align] reflection_model, else the default model)")
	fl.StringVar(&f.embeddingModel, "embedding-model", "", "model URI that embeds texts (default [align] embedding_model, else "+defaultEmbeddingModel+" when its key is set)")
	fl.IntVar(&f.embeddingDims, "embedding-dimensions", 0, fmt.Sprintf("vector length of the embedding model (default %d)", defaultEmbeddingDimensions))
	fl.IntVar(&f.concurrency, "concurrency", eval.DefaultConcurrency, "judgements at once when comparing on held-out traces")
	fl.DurationVar(&f.wallTime, "wall-time", 0, "wall-time limit of one alignment (default [align.limits] wall_time, else 15m)")
	f.limits.register(fl)
	fl.StringVar(&f.cacheDir, "cache-dir", "", "compilation cache of optimizer modules (default $"+pluginCacheEnv+" or the user cache directory)")
	f.models.register(fl)
	return cmd
}

// alignSummary is the --json output of align.
type alignSummary struct {
	Judge       string                       `json:"judge"`
	Registered  string                       `json:"registered,omitempty"`
	Optimizer   string                       `json:"optimizer"`
	Examples    int                          `json:"examples"`
	Skipped     []trace.Skip                 `json:"skipped,omitempty"`
	Report      pluginapi.Report             `json:"report"`
	Warnings    []string                     `json:"warnings,omitempty"`
	ModelCalls  int                          `json:"model_calls"`
	Tokens      int64                        `json:"tokens"`
	WallTime    string                       `json:"wall_time"`
	Holdout     *align.Holdout               `json:"holdout,omitempty"`
	FoldSummary *agreement.ComparisonSummary `json:"fold_summary,omitempty"`
	Aligned     *judge.Judge                 `json:"aligned_judge,omitempty"`
}

// runAlign aligns, prints, registers, and returns the outcome.
func (a *app) runAlign(ctx context.Context, f *alignFlags) (*align.Outcome, error) {
	if f.judgeRef == "" {
		return nil, usagef("--judge is required")
	}
	switch {
	case f.holdout != 0 && f.folds != 0:
		return nil, usagef("--holdout and --folds: choose one")
	case f.holdout < 0 || f.holdout >= 1:
		return nil, usagef("--holdout %v: want a share of the traces between 0 and 1, such as 0.3", f.holdout)
	case f.folds < 0 || f.folds == 1:
		return nil, usagef("--folds %d: cross-validation needs at least 2 folds", f.folds)
	}
	require := f.requireImprovement || a.cfg.Align.RequireImprovement
	if require && f.holdout == 0 && f.folds == 0 {
		return nil, usagef("--require-improvement needs --holdout or --folds: improvement is measured on held-out traces")
	}
	// A module file is read before any model is set up, so a wrong path
	// is reported as such rather than as a missing credential.
	module, err := readOptimizer(f.optimizer)
	if err != nil {
		return nil, err
	}
	group, err := groupFunc(f.groupBy)
	if err != nil {
		return nil, err
	}
	settings, err := parseSettings(f.sets)
	if err != nil {
		return nil, err
	}
	name, version, err := store.ParseJudgeRef(f.judgeRef)
	if err != nil {
		return nil, &usageError{err}
	}
	st, err := a.existingStore(ctx)
	if err != nil {
		return nil, err
	}
	base, err := st.Judge(ctx, name, version)
	if err != nil {
		return nil, err
	}
	if base.Judge.Model == "" {
		base.Judge.Model = a.cfg.DefaultModel
	}
	traces, total, err := a.alignTraces(ctx, st, base.Name, f.experiment)
	if err != nil {
		return nil, err
	}

	client, closeRecording, err := a.modelClient(&f.models, st, llm.WithMaxConcurrency(f.concurrency))
	if err != nil {
		return nil, err
	}
	defer closeRecording()
	roles, notes, err := a.alignRoles(client, f)
	if err != nil {
		return nil, err
	}
	ev, err := a.newEvaluator(client, f.concurrency, f.models.noCache, eval.WithStore(st))
	if err != nil {
		return nil, err
	}
	hcfg := host.NewConfig().
		WithModels(client, roles...).
		WithEvaluator(host.EvaluatorFunc(ev.EvaluateExamples))
	if f.models.noCache {
		hcfg = hcfg.WithNoCache() // the plugin's own chat and embed calls too
	}
	h, err := a.pluginHost(ctx, f.cacheDir, hcfg)
	if err != nil {
		return nil, err
	}
	defer h.Close(context.WithoutCancel(ctx))
	runner, err := a.loadOptimizer(ctx, h, f, module)
	if err != nil {
		return nil, err
	}
	desc := runner.Description()
	if desc.Declares(pluginapi.Chat) {
		if _, err := client.Resolve(roles[0].Model); err != nil {
			return nil, fmt.Errorf("reflection model for %s: %w", desc.Name, err)
		}
	}
	config := map[string]any{}
	for k, v := range a.cfg.Plugins[desc.Name] {
		config[k] = v
	}
	for k, v := range settings {
		config[k] = v
	}
	if !a.jsonOut {
		for _, n := range notes {
			fmt.Fprintln(a.stderr, "note:", termtext.Line(n))
		}
	}

	started := time.Now()
	spec := align.Spec{
		Judge:       base,
		Traces:      traces,
		Runner:      runner,
		Config:      config,
		JudgeParams: a.cfg.Align.AllowedInferenceParams,
		Seed:        f.seed,
		Holdout:     f.holdout,
		Folds:       f.folds,
		Group:       group,
		Evaluator:   ev,
		Validation:  validate.Options{Concurrency: f.concurrency, Agreement: agreement.Options{Seed: uint64(f.seed)}},
		Progress:    a.alignProgress(),
	}
	out, err := align.Run(ctx, spec)
	var nex *align.NoExamplesError
	if errors.As(err, &nex) && nex.Traces == 0 && total > 0 {
		nex.Traces = total
		nex.Reasons = map[string]int{fmt.Sprintf("no HUMAN feedback named %q", base.Name): total}
	}
	if err != nil {
		return nil, err
	}
	took := time.Since(started)

	aligned := out.Judge
	summary := alignSummary{
		Judge: base.Ref(), Optimizer: desc.Name + " " + desc.Version, Examples: out.Examples, Skipped: out.Skipped,
		Report: out.Result.Report, Warnings: out.Warnings, ModelCalls: out.Usage.ModelCalls,
		Tokens: out.Usage.PromptTokens + out.Usage.CompletionTokens, WallTime: took.Round(time.Millisecond).String(),
		Holdout: out.Holdout, FoldSummary: out.FoldSummary,
	}
	if !a.jsonOut {
		a.printAlign(base, out, desc, took, f.printComparison)
	}

	var refusal error
	if require {
		diff, baseKappa, alignedKappa, ok := out.Improvement()
		switch {
		case !ok:
			refusal = errors.New("not registered: held-out kappa is undefined, so no improvement can be shown (--require-improvement)")
		case diff <= 0:
			refusal = fmt.Errorf("not registered: the aligned judge's held-out kappa %.3f is not better than the base's %.3f (short by %.3f; --require-improvement)",
				alignedKappa, baseKappa, baseKappa-alignedKappa+0.0005)
		}
	}
	if refusal == nil && !f.noRegister {
		if f.registerAs != "" {
			aligned.Name = f.registerAs
		}
		tags, err := parseKeyValues("--tag", f.tags)
		if err != nil {
			return nil, err
		}
		tags["aligned_from"] = base.Ref()
		tags["optimizer"] = desc.Name
		tags["examples"] = fmt.Sprint(aligned.Provenance.NumTraces)
		tags["aligned_at"] = aligned.Provenance.AlignedAt.Format(time.RFC3339)
		v, err := st.RegisterJudge(ctx, aligned, tags)
		if err != nil {
			return nil, err
		}
		summary.Registered = fmt.Sprintf("%s@%d", aligned.Name, v)
		if !a.jsonOut {
			name := termtext.Line(aligned.Name)
			fmt.Fprintf(a.stdout, "\nregistered %s@%d; judge traces with it: alignhost eval --judge %s@%d\n", name, v, name, v)
		}
	}
	if f.noRegister {
		summary.Aligned = aligned
		if !a.jsonOut {
			fmt.Fprintln(a.stdout, "\nnot registered (--no-register); the aligned judge:")
			a.printJSON(aligned)
		}
	}
	if a.jsonOut {
		if err := a.printJSON(summary); err != nil {
			return nil, err
		}
	}
	return out, refusal
}

// alignTraces loads the traces carrying HUMAN feedback named name, and
// counts all traces for the message when there are none.
func (a *app) alignTraces(ctx context.Context, st *store.Store, name, experiment string) ([]*trace.Trace, int, error) {
	var traces []*trace.Trace
	for t, err := range st.Traces(ctx, store.TraceQuery{Experiment: experiment, WithFeedback: name}) {
		if err != nil {
			return nil, 0, err
		}
		traces = append(traces, t)
	}
	if len(traces) > 0 {
		return traces, len(traces), nil
	}
	total, err := st.CountTraces(ctx, store.TraceQuery{Experiment: experiment})
	return nil, total, err
}

// alignRoles chooses the models optimizers may call: the reflection model
// and, when one can be reached, an embedding model. notes say what was
// chosen for the user.
func (a *app) alignRoles(client *llm.Client, f *alignFlags) ([]host.Role, []string, error) {
	// The reflection role is always offered; whether its model can be
	// reached matters only to an optimizer that chats (see runAlign).
	reflection := firstOf(f.reflectionModel, a.cfg.Align.ReflectionModel, a.cfg.DefaultModel, llm.DefaultModel)
	roles := []host.Role{{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel, Model: reflection}}
	var notes []string
	explicit := firstOf(f.embeddingModel, a.cfg.Align.EmbeddingModel)
	embedding := firstOf(explicit, defaultEmbeddingModel)
	dims := f.embeddingDims
	if dims == 0 {
		dims = a.cfg.Align.EmbeddingDimensions
	}
	if dims == 0 {
		dims = defaultEmbeddingDimensions
	}
	if _, err := client.Resolve(embedding); err != nil {
		if explicit != "" {
			return nil, nil, fmt.Errorf("embedding model: %w", err)
		}
		notes = append(notes, fmt.Sprintf("no embedding model is reachable (%s: %v); the optimizer uses its local embedder", embedding, err))
	} else {
		roles = append(roles, host.Role{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: embedding, Dimensions: dims})
	}
	return roles, notes, nil
}

// readOptimizer reads the WebAssembly module --optimizer names; it returns
// nil for the embedded MemAlign.
func readOptimizer(name string) ([]byte, error) {
	if name == "" || name == "memalign" {
		return nil, nil
	}
	wasm, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("--optimizer %s: want memalign or a WebAssembly module file: %w", name, err)
	}
	if !bytes.HasPrefix(wasm, []byte("\x00asm")) {
		return nil, fmt.Errorf("--optimizer %s: not a WebAssembly module (it does not start with \\0asm)", name)
	}
	return wasm, nil
}

// loadOptimizer loads the embedded MemAlign, or wasm, the module file
// --optimizer names.
func (a *app) loadOptimizer(ctx context.Context, h *host.Host, f *alignFlags, wasm []byte) (host.Runner, error) {
	limits := a.pluginLimits(f.wallTime, f.limits)
	if wasm == nil {
		wasm, err := bundle.Module()
		if err != nil {
			return nil, err
		}
		// The bundled module is trusted: its bytes are pinned by the
		// SHA-256 recorded when it was built from this source tree.
		return h.Load(ctx, wasm, host.Manifest{Name: "memalign", SHA256: bundle.SHA256(), Trusted: true, Limits: limits})
	}
	sum := sha256.Sum256(wasm)
	hexsum := hex.EncodeToString(sum[:])
	trusted := slices.ContainsFunc(a.cfg.Align.TrustedSHA256, func(s string) bool { return strings.EqualFold(s, hexsum) })
	return h.Load(ctx, wasm, host.Manifest{Name: filepath.Base(f.optimizer), SHA256: hexsum, Trusted: trusted, Limits: limits})
}

// alignProgress prints the optimizer's progress on standard error; the
// plugin's name and message are escaped for the terminal (package
// termtext), as the plugin chooses them.
func (a *app) alignProgress() func(host.Progress) {
	if a.jsonOut {
		return nil
	}
	tty := isTerminal(a.stderr)
	return func(p host.Progress) {
		line := fmt.Sprintf("%s: %s", termtext.Line(p.Plugin), termtext.Line(p.Message))
		if p.Total > 0 {
			line += fmt.Sprintf(" %d/%d", p.Done, p.Total)
		}
		if tty {
			fmt.Fprintf(a.stderr, "\r\033[K%s", line)
			if p.Total > 0 && p.Done >= p.Total {
				fmt.Fprintln(a.stderr)
			}
			return
		}
		fmt.Fprintln(a.stderr, line)
	}
}

// printAlign prints an alignment for people. What the optimizer chose (its
// name, report, warnings, guidelines) and the skip reasons are escaped for
// the terminal (package termtext).
func (a *app) printAlign(base *store.RegisteredJudge, out *align.Outcome, desc pluginapi.Description, took time.Duration, comparison bool) {
	w := a.stdout
	fmt.Fprintf(w, "aligned %s with %s %s\n", termtext.Line(base.Ref()), termtext.Line(desc.Name), termtext.Line(desc.Version))
	used := out.Result.Judge.Provenance.NumTraces
	fmt.Fprintf(w, "  examples:    %d used", used)
	if out.Examples > used {
		fmt.Fprintf(w, ", %d held out", out.Examples-used)
	}
	fmt.Fprintf(w, ", %d traces skipped\n", len(out.Skipped))
	reasons := map[string]int{}
	for _, s := range out.Skipped {
		reasons[s.Reason]++
	}
	keys := make([]string, 0, len(reasons))
	for r := range reasons {
		keys = append(keys, r)
	}
	sort.Strings(keys)
	for _, r := range keys {
		fmt.Fprintf(w, "    skipped %d: %s\n", reasons[r], termtext.Line(r))
	}
	if s := out.Result.Report.Summary; s != "" {
		fmt.Fprintf(w, "  optimizer:   %s\n", termtext.Line(s))
	}
	if m := out.Judge.Memory; m != nil {
		fmt.Fprintf(w, "  memory:      %d guidelines, %d examples, retrieval k=%d in %s\n",
			len(m.Guidelines), len(m.Examples), m.Retrieval.K, termtext.Line(m.Retrieval.Embedder))
	}
	fmt.Fprintf(w, "  model calls: %d, tokens %d, wall time %s\n", out.Usage.ModelCalls,
		out.Usage.PromptTokens+out.Usage.CompletionTokens, took.Round(time.Millisecond))
	if out.Usage.Fuel > 0 {
		// What the meter charged the optimizer: the same on any machine.
		fmt.Fprintf(w, "  fuel:        %s\n", thousands(out.Usage.Fuel))
	}
	for _, warn := range out.Warnings {
		fmt.Fprintf(w, "  warning:     %s\n", termtext.Line(warn))
	}
	if m := out.Judge.Memory; m != nil && len(m.Guidelines) > 0 {
		fmt.Fprintln(w, "  guidelines:")
		for _, g := range m.Guidelines {
			fmt.Fprintf(w, "    - %s\n", termtext.Line(g.Text))
		}
	}
	if out.Holdout != nil && !comparison {
		fmt.Fprintf(w, "  held out:    %d traces for validation\n", len(out.Holdout.Test))
	}
	if out.Holdout != nil && comparison {
		fmt.Fprintln(w)
		page := &report.Page{
			Title:      "held-out comparison of the base (A) and the aligned judge (B)",
			A:          report.Judge{Ref: base.Ref(), Model: base.Judge.Model},
			B:          report.Judge{Ref: base.Name + " (aligned)", Model: out.Judge.Model},
			Label:      base.Name,
			Generated:  time.Now(),
			Comparison: out.Holdout.Comparison,
		}
		if err := report.WriteText(w, page, report.TextOptions{Disagreements: 10}); err != nil {
			fmt.Fprintf(a.stderr, "alignhost: print comparison: %v\n", err)
		}
	}
	if s := out.FoldSummary; s != nil {
		fmt.Fprintf(w, "\n%d-fold cross-validation (mean ± sd over folds; A = base, B = aligned):\n", s.Folds)
		fmt.Fprintf(w, "  %-20s %16s %16s %16s\n", "figure", "A", "B", "B - A")
		for i := range s.A {
			if i >= len(s.B) || i >= len(s.Diff) {
				break
			}
			fmt.Fprintf(w, "  %-20s %7.3f ± %-6.3f %7.3f ± %-6.3f %7.3f ± %-6.3f\n", termtext.Line(string(s.A[i].Figure)),
				s.A[i].Mean, s.A[i].SD, s.B[i].Mean, s.B[i].SD, s.Diff[i].Mean, s.Diff[i].SD)
		}
		fmt.Fprintf(w, "  McNemar (pooled): only base right %d, only aligned right %d, p = %.4g\n",
			s.McNemar.OnlyA, s.McNemar.OnlyB, s.McNemar.PValue)
	}
}

// parseSettings reads --set key=value pairs; values are JSON when they
// parse as a number, boolean, list or object, and text otherwise.
func parseSettings(sets []string) (map[string]any, error) {
	kv, err := parseKeyValues("--set", sets)
	if err != nil {
		return nil, err
	}
	out := make(map[string]any, len(kv))
	for k, v := range kv {
		val := parseCLIValue(v)
		if n, ok := val.(interface{ Float64() (float64, error) }); ok {
			f, err := n.Float64()
			if err != nil {
				return nil, usagef("--set %s=%s: %v", k, v, err)
			}
			val = f
		}
		out[k] = val
	}
	return out, nil
}

// groupFunc reads --group-by.
func groupFunc(spec string) (func(*trace.Trace) string, error) {
	switch {
	case spec == "":
		return nil, nil
	case spec == "session":
		return func(t *trace.Trace) string { return t.SessionID() }, nil
	case strings.HasPrefix(spec, "metadata:"):
		key := strings.TrimPrefix(spec, "metadata:")
		return func(t *trace.Trace) string { return t.Info.Metadata[key] }, nil
	case strings.HasPrefix(spec, "tag:"):
		key := strings.TrimPrefix(spec, "tag:")
		return func(t *trace.Trace) string { return t.Info.Tags[key] }, nil
	}
	return nil, usagef("--group-by %q: want session, metadata:KEY or tag:KEY", spec)
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func (a *app) unalignCommand() *cobra.Command {
	var judgeRef string
	var traceIDs []string
	cmd := &cobra.Command{
		Use:   "unalign --judge NAME@VERSION --trace ID...",
		Short: "Remove what an aligned judge learnt from some traces, as a new version",
		Long: `Remove the stored examples of the given traces from an aligned judge's memory, and
the guidelines learnt only from them (a guideline with another surviving source
keeps that source; guidelines written by people are kept). The result is
registered as the next version; no model is called.`,
		Example: `  alignhost unalign --judge support_quality@2 --trace tr-0a1b… --trace tr-9f8e…`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if judgeRef == "" || len(traceIDs) == 0 {
				return usagef("--judge and at least one --trace are required")
			}
			name, version, err := store.ParseJudgeRef(judgeRef)
			if err != nil {
				return &usageError{err}
			}
			st, err := a.existingStore(ctx)
			if err != nil {
				return err
			}
			r, err := st.Judge(ctx, name, version)
			if err != nil {
				return err
			}
			if r.Judge.Memory == nil {
				return fmt.Errorf("unalign %s: the judge has no memory; only aligned judges can forget", r.Ref())
			}
			j := r.Judge.Clone()
			examples, guidelines := j.Memory.Forget(traceIDs...)
			if examples == 0 {
				return fmt.Errorf("unalign %s: none of the %d traces is in its memory; nothing changed", r.Ref(), len(traceIDs))
			}
			v, err := st.RegisterJudge(ctx, j, map[string]string{"unaligned_from": r.Ref(), "forgotten_traces": fmt.Sprint(examples)})
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"judge": r.Ref(), "registered": fmt.Sprintf("%s@%d", j.Name, v),
					"examples_removed": examples, "guidelines_removed": guidelines})
			}
			fmt.Fprintf(a.stdout, "removed %d examples and %d guidelines from %s; registered %s@%d\n", examples, guidelines, r.Ref(), j.Name, v)
			return nil
		},
	}
	cmd.Flags().StringVar(&judgeRef, "judge", "", "the aligned judge, NAME@VERSION")
	cmd.Flags().StringArrayVar(&traceIDs, "trace", nil, "a trace to forget (repeatable)")
	return cmd
}
