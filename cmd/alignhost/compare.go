package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/report"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/termtext"
	"github.com/alignhost/alignhost/trace"
	"github.com/alignhost/alignhost/validate"
)

func (a *app) compareCommand() *cobra.Command {
	var (
		args compareArgs
		refs []string
	)
	cmd := &cobra.Command{
		Use:   "compare --judge A[@VERSION] --judge B[@VERSION]",
		Short: "Measure two judges against human feedback, side by side",
		Long: `Judge every trace that carries human feedback with two registered judges, A (the
base) and B (the candidate, typically the aligned judge), and report how well
each agrees with the humans: accuracy, Cohen's kappa (linear-weighted for
ordinal and numeric judges), macro F1, fail recall and false-failure rate for
yes/no judges, MAE, Spearman and CCC for numeric ones, each with a bootstrap
confidence interval; the change from A to B with its interval; McNemar's exact
test; both confusion matrices; per-class precision, recall and F1; and the
traces where a judge disagrees with the humans, those B still gets wrong first.

The human labels are the HUMAN feedback named after judge A (--label names
another). Judgements are not stored; answers come from the store's response
cache when they were asked before, so comparing again costs nothing. --json
prints the comparison for CI, --html FILE writes a self-contained page with
charts. See docs/validation.md for how to read each figure.`,
		Example: `  alignhost compare --judge helpfulness@1 --judge helpfulness@2
  alignhost compare --judge helpfulness@1 --judge helpfulness --experiment support-bot --html report.html
  alignhost compare --judge base --judge aligned --label helpfulness --traces tr-1,tr-2,tr-3
  alignhost --json compare --judge helpfulness@1 --judge helpfulness@2 --seed 7 --resamples 5000`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(refs) != 2 {
				return usagef("--judge is given %d times; give it twice: the base judge A, then the candidate B", len(refs))
			}
			switch {
			case args.concurrency < 1:
				return usagef("--concurrency %d: want at least 1", args.concurrency)
			case args.limit < 0:
				return usagef("--limit %d: must not be negative", args.limit)
			case args.limit > 0 && len(args.ids) > 0:
				return usagef("--traces and --limit cannot be used together")
			case args.resamples < 0:
				return usagef("--resamples %d: must not be negative (0 computes no intervals)", args.resamples)
			}
			for i, ref := range refs {
				name, version, err := store.ParseJudgeRef(ref)
				if err != nil {
					return &usageError{err}
				}
				args.judges[i] = judgeRef{name, version}
			}
			return a.runCompare(cmd.Context(), args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&refs, "judge", nil, "a judge, NAME or NAME@VERSION: give it twice, the base judge A first (required)")
	f.StringVar(&args.label, "label", "", "the name of the HUMAN feedback to compare with (default: judge A's name)")
	f.StringVar(&args.experiment, "experiment", "", "only traces of this experiment (default: every experiment)")
	f.StringSliceVar(&args.ids, "traces", nil, "only these traces: IDs separated by commas")
	f.IntVar(&args.limit, "limit", 0, "compare on at most N labelled traces (0: all)")
	f.IntVar(&args.concurrency, "concurrency", eval.DefaultConcurrency, "judgements in flight at once (a provider's max_concurrency still caps its own)")
	f.Uint64Var(&args.seed, "seed", 0, "seed of the bootstrap resampling: the same seed gives the same intervals")
	f.IntVar(&args.resamples, "resamples", agreement.DefaultResamples, "bootstrap resamples behind the confidence intervals (0: no intervals)")
	f.StringVar(&args.html, "html", "", "also write the report as a self-contained HTML page to this file")
	args.models.register(f)
	cmd.MarkFlagRequired("judge")
	return cmd
}

type judgeRef struct {
	name    string
	version int
}

type compareArgs struct {
	judges      [2]judgeRef
	label       string
	experiment  string
	ids         []string
	limit       int
	concurrency int
	seed        uint64
	resamples   int
	html        string
	models      modelFlags
}

// compareJSON is the --json form of a comparison: the page (judges, label,
// experiment, comparison) and what the model calls cost.
type compareJSON struct {
	*report.Page
	Usage compareUsageJSON `json:"usage"`
}

type compareUsageJSON struct {
	Calls            int   `json:"model_calls"`
	CachedCalls      int   `json:"cached_calls"`
	PromptTokens     int64 `json:"prompt_tokens"`
	CompletionTokens int64 `json:"completion_tokens"`
}

func (a *app) runCompare(ctx context.Context, args compareArgs) (err error) {
	if args.html != "" {
		// Found out before the judges run, not after.
		if err := checkReportDir(args.html); err != nil {
			return err
		}
	}
	st, err := a.existingStore(ctx)
	if err != nil {
		return err
	}
	var judges [2]*store.RegisteredJudge
	for i, ref := range args.judges {
		if judges[i], err = st.Judge(ctx, ref.name, ref.version); err != nil {
			return err
		}
	}
	label := args.label
	if label == "" {
		label = judges[0].Name
	}
	traces, err := a.labelledTraces(ctx, st, args, label)
	if err != nil {
		return err
	}

	client, closeRecording, err := a.modelClient(&args.models, st, llm.WithMaxConcurrency(args.concurrency))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeRecording()) }()
	ev, err := a.newEvaluator(client, args.concurrency, args.models.noCache)
	if err != nil {
		return err
	}

	resamples := args.resamples
	if resamples == 0 {
		resamples = agreement.NoBootstrap
	}
	prog := newProgress(a.stderr, isTerminal(a.stderr))
	start := time.Now()
	c, err := validate.Compare(ctx, ev, judges[0], judges[1], traces, validate.Options{
		Label:       label,
		Concurrency: args.concurrency,
		Agreement:   agreement.Options{Seed: args.seed, Resamples: resamples},
		Progress: func(p validate.Progress) {
			prog.update(eval.Progress{Judged: p.Judged, Failed: p.Failed, Todo: p.Total, Elapsed: time.Since(start)})
		},
	})
	prog.finish()
	if err != nil {
		var nl *validate.NoLabelsError
		if errors.As(err, &nl) && args.experiment != "" {
			return fmt.Errorf("%w (experiment %q)", err, args.experiment)
		}
		return err
	}

	page := &report.Page{
		A:          report.Judge{Ref: judges[0].Ref(), Model: modelOf(client, judges[0])},
		B:          report.Judge{Ref: judges[1].Ref(), Model: modelOf(client, judges[1])},
		Label:      label,
		Experiment: args.experiment,
		Generated:  time.Now(),
		Comparison: c,
	}
	usage := client.Meter().Total()
	if a.jsonOut {
		err = a.printJSON(compareJSON{Page: page, Usage: compareUsageJSON{
			Calls: usage.Calls, CachedCalls: usage.Cached,
			PromptTokens: usage.PromptTokens, CompletionTokens: usage.CompletionTokens,
		}})
	} else {
		err = report.WriteText(a.stdout, page, report.TextOptions{})
		if err == nil {
			fmt.Fprintf(a.stdout, "\nmodel calls: %d (%d answered from the cache), tokens: %d\n",
				usage.Calls, usage.Cached, usage.PromptTokens+usage.CompletionTokens)
		}
	}
	if err != nil {
		return err
	}
	if args.html != "" {
		if err := writeHTMLReport(args.html, page); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "compare: wrote the HTML report to %s\n", args.html)
	}
	// A judge that answered nothing cannot be compared: fail, so that a CI
	// job does not pass on an empty comparison.
	for i, r := range []*agreement.Report{c.A, c.B} {
		if r != nil && r.Answered == 0 {
			return fmt.Errorf("judge %s gave no value on any of the %d traces (%d failed): see the errors above",
				judges[i].Ref(), r.Pairs, r.Errors)
		}
	}
	return nil
}

// labelledTraces reads the traces that carry HUMAN feedback named label,
// within the experiment and IDs asked for. It warns about requested IDs
// that are not among them, and fails when there is none.
func (a *app) labelledTraces(ctx context.Context, st *store.Store, args compareArgs, label string) ([]*trace.Trace, error) {
	q := store.TraceQuery{Experiment: args.experiment, IDs: args.ids, WithFeedback: label, Limit: args.limit}
	var traces []*trace.Trace
	for t, err := range st.Traces(ctx, q) {
		if err != nil {
			return nil, err
		}
		traces = append(traces, t)
	}
	where := ""
	if args.experiment != "" {
		where = fmt.Sprintf(" in experiment %q", args.experiment)
	}
	if len(args.ids) > 0 {
		found := make(map[string]bool, len(traces))
		for _, t := range traces {
			found[t.Info.TraceID] = true
		}
		var missing []string
		for _, id := range args.ids {
			if !found[id] && !slices.Contains(missing, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 && len(traces) > 0 {
			fmt.Fprintf(a.stderr, "compare: %d of the traces given with --traces are not in the store%s or carry no HUMAN feedback named %q: %s\n",
				len(missing), where, label, termtext.Line(strings.Join(missing, ", ")))
		}
		where += fmt.Sprintf(" among the %d traces given with --traces", len(slices.Compact(slices.Sorted(slices.Values(args.ids)))))
	}
	if len(traces) == 0 {
		return nil, fmt.Errorf("no trace%s carries HUMAN feedback named %q; record some with 'alignhost feedback import' "+
			"or 'alignhost feedback log', or name the feedback to compare with using --label", where, label)
	}
	return traces, nil
}

// modelOf is the model URI that answers for a judge, as the client resolves
// it.
func modelOf(client *llm.Client, r *store.RegisteredJudge) string {
	uri, err := client.Resolve(r.Judge.Model)
	if err != nil {
		return r.Judge.Model
	}
	return uri.String()
}

// checkReportDir reports an error when the directory a report is to be
// written into does not exist or is not a directory.
func checkReportDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--html %s: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("--html %s: %s is not a directory", path, dir)
	}
	return nil
}

// writeHTMLReport writes the page to path through a temporary file, so that
// a failure leaves no half-written report, with mode 0600 (see outputMode).
func writeHTMLReport(path string, page *report.Page) error {
	if err := writeFileAtomic(path, func(w io.Writer) error { return report.WriteHTML(w, page) }); err != nil {
		return fmt.Errorf("write html report %s: %w", path, err)
	}
	return nil
}
