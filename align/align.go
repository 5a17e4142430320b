// Package align turns a judge and the human feedback on its traces into an
// aligned judge, and measures honestly whether it got better.
//
// [Run] extracts one labelled example per trace (package trace, MLflow's
// rules: the most recent valid HUMAN feedback named like the judge), refuses
// what cannot work — a session-level judge, no usable example — and hands
// the examples to an optimizer ([host.Runner]: a sandboxed WebAssembly
// plugin, or a native optimizer in tests). The optimizer returns the new
// judge; the host has already validated it and recorded its provenance.
//
// With a held-out share, Run aligns on the rest and compares the base and
// the aligned judge on the held-out traces (package validate: kappa,
// accuracy, fail recall, … with bootstrap intervals and McNemar's test).
// With folds, it runs k-fold cross-validation and reports the mean and
// spread of each figure, then aligns once more on every example. Splits are
// stratified by the human value and, when a group is given (a session, a
// document), never put one group on both sides.
//
// The CLI's `alignhost align` is a thin shell over Run.
package align

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
	"github.com/alignhost/alignhost/validate"
)

// MinExamples is the number of usable examples below which Run warns that
// alignment has little to learn from.
const MinExamples = 10

// ErrSessionJudge reports a judge that reads {{ conversation }}: session-level
// judges cannot be aligned.
var ErrSessionJudge = errors.New("it judges whole conversations ({{ conversation }}); session-level judges cannot be aligned yet: align a judge of single traces instead")

// Spec is one alignment to run.
type Spec struct {
	// Judge is the registered judge to align.
	Judge *store.RegisteredJudge
	// Traces are the candidate traces; those with human feedback named
	// like the judge give examples.
	Traces []*trace.Trace
	// Runner is the optimizer.
	Runner host.Runner
	// Config is the user's configuration for the optimizer.
	Config map[string]any
	// JudgeParams are the inference parameters the optimizer may change
	// in the aligned judge (see host.Input.JudgeParams); usually none.
	JudgeParams []string
	// Seed seeds the optimizer and the splits.
	Seed int64
	// Holdout, when positive, is the share of examples kept out of
	// alignment to compare the base and aligned judges on.
	Holdout float64
	// Folds, when at least 2, runs k-fold cross-validation instead.
	Folds int
	// Group, when set, names the group of a trace (a session, a document):
	// a group is never split across training and held-out traces.
	Group func(*trace.Trace) string
	// Evaluator judges the held-out traces; required with Holdout or Folds.
	Evaluator *eval.Evaluator
	// Validation configures the comparison (statistics, concurrency,
	// progress).
	Validation validate.Options
	// Progress receives the optimizer's progress reports.
	Progress func(host.Progress)
}

// Outcome is the result of Run.
type Outcome struct {
	// Judge is the aligned judge, with its provenance.
	Judge *judge.Judge
	// Result is the optimizer's result for Judge: report, usage, duration.
	Result *host.Result
	// Examples is the number of labelled examples extracted from the traces
	// and Skipped the traces that gave none, with the reason.
	Examples int
	Skipped  []trace.Skip
	// Warnings are things the user should know.
	Warnings []string
	// Holdout is the held-out comparison, when Spec.Holdout was set.
	Holdout *Holdout
	// Folds are the per-fold comparisons and their summary, when
	// Spec.Folds was set.
	Folds       []*agreement.Comparison
	FoldSummary *agreement.ComparisonSummary
	// Usage totals what every alignment of the run spent (k+1 alignments
	// with folds).
	Usage host.Usage
}

// Holdout is a held-out comparison of the base and aligned judges.
type Holdout struct {
	// Train and Test are the trace IDs aligned on and compared on.
	Train, Test []string
	// Comparison is base (A) against aligned (B) on Test.
	Comparison *agreement.Comparison
}

// NoExamplesError reports traces that gave no labelled example.
type NoExamplesError struct {
	Judge  string
	Traces int
	// Reasons counts why traces were skipped, by reason.
	Reasons map[string]int
}

func (e *NoExamplesError) Error() string {
	if e.Traces == 0 {
		return fmt.Sprintf("no usable examples for judge %q: there are no traces (import some with 'alignhost traces import')", e.Judge)
	}
	return fmt.Sprintf("no usable examples for judge %q: looked for HUMAN feedback named %q (case-insensitive) on %d traces; %s",
		e.Judge, e.Judge, e.Traces, reasonSummary(e.Reasons, 3))
}

// reasonSummary lists the most frequent reasons, "30 × no HUMAN feedback …".
func reasonSummary(reasons map[string]int, most int) string {
	type rc struct {
		reason string
		n      int
	}
	var list []rc
	for r, n := range reasons {
		list = append(list, rc{r, n})
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].reason < list[j].reason
	})
	var parts []string
	for i, x := range list {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d other reasons", len(list)-most))
			break
		}
		parts = append(parts, fmt.Sprintf("%d × %s", x.n, x.reason))
	}
	return strings.Join(parts, "; ")
}

// Run aligns spec.Judge; see the package documentation.
func Run(ctx context.Context, spec Spec) (*Outcome, error) {
	if spec.Judge == nil || spec.Judge.Judge == nil || spec.Runner == nil {
		return nil, errors.New("align: a judge and an optimizer are required")
	}
	base := spec.Judge.Judge
	name := spec.Judge.Name
	if base.SessionLevel() {
		return nil, fmt.Errorf("align %s: %w", name, ErrSessionJudge)
	}
	if (spec.Holdout > 0 || spec.Folds > 0) && spec.Evaluator == nil {
		return nil, errors.New("align: validation needs an evaluator")
	}
	if spec.Holdout > 0 && spec.Folds > 0 {
		return nil, errors.New("align: choose a held-out share or folds, not both")
	}
	if spec.Holdout < 0 || spec.Holdout >= 1 {
		return nil, fmt.Errorf("align: held-out share %v must be in (0, 1)", spec.Holdout)
	}
	if spec.Folds == 1 || spec.Folds < 0 {
		return nil, fmt.Errorf("align: %d folds; cross-validation needs at least 2", spec.Folds)
	}
	examples, skipped, err := trace.Examples(base, spec.Traces)
	if err != nil {
		return nil, fmt.Errorf("align %s: %w", name, err)
	}
	out := &Outcome{Examples: len(examples), Skipped: skipped}
	if len(examples) == 0 {
		reasons := map[string]int{}
		for _, s := range skipped {
			reasons[s.Reason]++
		}
		return nil, &NoExamplesError{Judge: name, Traces: len(spec.Traces), Reasons: reasons}
	}
	out.Warnings = append(out.Warnings, labelWarnings(name, spec.Traces, examples)...)
	if len(examples) < MinExamples {
		out.Warnings = append(out.Warnings, fmt.Sprintf("only %d usable examples (fewer than %d): the aligned judge has little to learn from", len(examples), MinExamples))
	}
	byID := make(map[string]*trace.Trace, len(spec.Traces))
	for _, t := range spec.Traces {
		byID[t.Info.TraceID] = t
	}
	stratify := func(i int) string { return fmt.Sprint(examples[i].Value) }
	var group func(i int) string
	if spec.Group != nil {
		group = func(i int) string { return spec.Group(byID[examples[i].TraceID]) }
	}

	switch {
	case spec.Holdout > 0:
		fold, err := agreement.Split(len(examples), spec.Holdout, uint64(spec.Seed), stratify, group)
		if err != nil {
			return nil, fmt.Errorf("align %s: %w", name, err)
		}
		res, cmp, err := alignAndCompare(ctx, spec, examples, skipped, fold, byID)
		if err != nil {
			return nil, err
		}
		out.Judge, out.Result = res.Judge, res
		out.addUsage(res.Usage)
		out.Holdout = &Holdout{Train: traceIDs(examples, fold.Train), Test: traceIDs(examples, fold.Test), Comparison: cmp}
	case spec.Folds >= 2:
		folds, err := agreement.KFold(len(examples), spec.Folds, uint64(spec.Seed), stratify, group)
		if err != nil {
			return nil, fmt.Errorf("align %s: %w", name, err)
		}
		for i, fold := range folds {
			res, cmp, err := alignAndCompare(ctx, spec, examples, skipped, fold, byID)
			if err != nil {
				return nil, fmt.Errorf("fold %d of %d: %w", i+1, len(folds), err)
			}
			out.addUsage(res.Usage)
			out.Folds = append(out.Folds, cmp)
		}
		summary := agreement.AggregateComparisons(out.Folds)
		out.FoldSummary = &summary
		fallthrough
	default:
		res, err := alignOn(ctx, spec, examples, skipped)
		if err != nil {
			return nil, err
		}
		out.Judge, out.Result = res.Judge, res
		out.addUsage(res.Usage)
	}
	out.Judge.Provenance.BaseVersion = spec.Judge.Version
	if out.Judge.Provenance.BaseJudge == "" {
		out.Judge.Provenance.BaseJudge = name
	}
	out.Warnings = append(out.Warnings, out.Result.Report.Warnings...)
	return out, nil
}

func (o *Outcome) addUsage(u host.Usage) {
	o.Usage.ModelCalls += u.ModelCalls
	o.Usage.PromptTokens += u.PromptTokens
	o.Usage.CompletionTokens += u.CompletionTokens
	o.Usage.Fuel += u.Fuel
}

// alignOn runs the optimizer on examples.
func alignOn(ctx context.Context, spec Spec, examples []judge.Example, skipped []trace.Skip) (*host.Result, error) {
	res, err := spec.Runner.Align(ctx, host.Input{
		Judge:       spec.Judge.Judge,
		Examples:    examples,
		Skipped:     skipped,
		Traces:      tracesOf(spec.Traces, examples),
		Config:      spec.Config,
		JudgeParams: spec.JudgeParams,
		Seed:        spec.Seed,
		Progress:    spec.Progress,
	})
	if err != nil {
		return nil, fmt.Errorf("align %s: %w", spec.Judge.Name, err)
	}
	return res, nil
}

// alignAndCompare aligns on fold.Train and compares base and aligned judge
// on fold.Test.
func alignAndCompare(ctx context.Context, spec Spec, examples []judge.Example, skipped []trace.Skip, fold agreement.Fold, byID map[string]*trace.Trace) (*host.Result, *agreement.Comparison, error) {
	if len(fold.Train) == 0 || len(fold.Test) == 0 {
		return nil, nil, fmt.Errorf("align %s: %d examples are too few to hold some out", spec.Judge.Name, len(examples))
	}
	train := make([]judge.Example, len(fold.Train))
	for i, k := range fold.Train {
		train[i] = examples[k]
	}
	res, err := alignOn(ctx, spec, train, skipped)
	if err != nil {
		return nil, nil, err
	}
	test := make([]*trace.Trace, len(fold.Test))
	for i, k := range fold.Test {
		test[i] = byID[examples[k].TraceID]
	}
	candidate := &store.RegisteredJudge{Name: spec.Judge.Name, Judge: res.Judge}
	opts := spec.Validation
	if opts.Label == "" {
		opts.Label = spec.Judge.Name
	}
	cmp, err := validate.Compare(ctx, spec.Evaluator, spec.Judge, candidate, test, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("compare on held-out traces: %w", err)
	}
	return res, cmp, nil
}

// maxLabelWarnings bounds the per-trace label warnings listed one by one.
const maxLabelWarnings = 5

// labelWarnings says which traces carry several human labels for the judge
// (the most recent valid one is used, as in MLflow, which warns too).
func labelWarnings(name string, traces []*trace.Trace, examples []judge.Example) []string {
	used := make(map[string]bool, len(examples))
	for _, e := range examples {
		used[e.TraceID] = true
	}
	var out []string
	extra := 0
	for _, t := range traces {
		if !used[t.Info.TraceID] {
			continue
		}
		_, warnings, _ := t.HumanFeedback(name)
		for _, w := range warnings {
			if len(out) < maxLabelWarnings {
				out = append(out, "trace "+t.Info.TraceID+": "+w)
			} else {
				extra++
			}
		}
	}
	if extra > 0 {
		out = append(out, fmt.Sprintf("%d more traces carry several human labels", extra))
	}
	return out
}

// tracesOf returns the traces behind examples, for optimizers that ask for
// full traces (the host sends them only then).
func tracesOf(all []*trace.Trace, examples []judge.Example) []*trace.Trace {
	want := make(map[string]bool, len(examples))
	for _, e := range examples {
		want[e.TraceID] = true
	}
	var out []*trace.Trace
	for _, t := range all {
		if want[t.Info.TraceID] {
			out = append(out, t)
		}
	}
	return out
}

func traceIDs(examples []judge.Example, idx []int) []string {
	out := make([]string, len(idx))
	for i, k := range idx {
		out[i] = examples[k].TraceID
	}
	return out
}

// Improvement returns the held-out change in Cohen's kappa (aligned minus
// base): the holdout delta, or the mean over folds. ok is false without
// validation or when kappa is undefined.
func (o *Outcome) Improvement() (diff float64, base, aligned float64, ok bool) {
	switch {
	case o.Holdout != nil:
		d, found := o.Holdout.Comparison.Delta(agreement.Kappa)
		if !found || isNaN(d.Diff.Value) {
			return 0, 0, 0, false
		}
		return d.Diff.Value, d.A.Value, d.B.Value, true
	case o.FoldSummary != nil:
		var a, b, df float64
		var have int
		for _, s := range o.FoldSummary.A {
			if s.Figure == agreement.Kappa {
				a = s.Mean
				have++
			}
		}
		for _, s := range o.FoldSummary.B {
			if s.Figure == agreement.Kappa {
				b = s.Mean
				have++
			}
		}
		for _, s := range o.FoldSummary.Diff {
			if s.Figure == agreement.Kappa {
				df = s.Mean
				have++
			}
		}
		if have < 3 || isNaN(df) {
			return 0, 0, 0, false
		}
		return df, a, b, true
	}
	return 0, 0, 0, false
}

func isNaN(f float64) bool { return f != f }
