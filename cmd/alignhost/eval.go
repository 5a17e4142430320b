package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/termtext"
)

func (a *app) evalCommand() *cobra.Command {
	var (
		ref, experiment string
		concurrency     int
		limit           int
		force           bool
		mf              modelFlags
	)
	cmd := &cobra.Command{
		Use:   "eval --judge NAME[@VERSION]",
		Short: "Judge traces with a registered judge and store its feedback",
		Long: `Judge every selected trace with a registered judge (its latest version, or
NAME@VERSION) and store each judgement as LLM_JUDGE feedback named after the
judge, with the model URI as its source and the judge version in its metadata.

A run can be stopped (Ctrl-C) and resumed: traces already judged by the same
judge version are skipped unless --force, and eval says what it picks up. Two
runs of the same judge version at once pay once per trace: each skips traces
the other has in flight (claimed under a lease that a killed process gives up
after 30 s). 'alignhost runs' lists runs with their real state. Answers are cached in the store, so
running again, resuming or forcing pays for nothing twice; --no-cache asks the
model afresh. --record FILE saves every exchange, and --replay FILE re-runs from
it without the network, failing on any request the file lacks.

A judgement that fails (an unusable answer after one repair attempt, a model
that stays unreachable, a trace without the field the judge needs) is stored as
feedback with an error and reported; the run goes on and exits 0, unless no
trace at all could be judged for a reason other than a missing input: then it
exits 1. See docs/eval.md.`,
		Example: `  alignhost eval --judge helpfulness
  alignhost eval --judge helpfulness@2 --experiment support-bot --concurrency 32
  alignhost eval --judge helpfulness --limit 100 --record run.jsonl
  alignhost eval --judge helpfulness --replay run.jsonl`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if concurrency < 1 {
				return usagef("--concurrency %d: want at least 1", concurrency)
			}
			if limit < 0 {
				return usagef("--limit %d: must not be negative", limit)
			}
			name, version, err := store.ParseJudgeRef(ref)
			if err != nil {
				return &usageError{err}
			}
			return a.runEval(cmd.Context(), evalArgs{
				name: name, version: version, experiment: experiment,
				concurrency: concurrency, limit: limit, force: force, models: &mf,
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&ref, "judge", "", "the judge to run: NAME or NAME@VERSION (required)")
	f.StringVar(&experiment, "experiment", "", "only traces of this experiment (default: every experiment)")
	f.IntVar(&concurrency, "concurrency", eval.DefaultConcurrency, "judgements in flight at once (a provider's max_concurrency still caps its own)")
	f.IntVar(&limit, "limit", 0, "judge at most N traces, not counting those already judged (0: all)")
	f.BoolVar(&force, "force", false, "judge again traces already judged by this judge version")
	mf.register(f)
	cmd.MarkFlagRequired("judge")
	return cmd
}

type evalArgs struct {
	name        string
	version     int
	experiment  string
	concurrency int
	limit       int
	force       bool
	models      *modelFlags
}

func (a *app) runEval(ctx context.Context, args evalArgs) (err error) {
	st, err := a.existingStore(ctx)
	if err != nil {
		return err
	}
	r, err := st.Judge(ctx, args.name, args.version)
	if err != nil {
		return err
	}
	q := store.TraceQuery{Experiment: args.experiment}
	total, err := st.CountTraces(ctx, q)
	if err != nil {
		return err
	}
	if total == 0 {
		if args.experiment != "" {
			return fmt.Errorf("no traces to judge in experiment %q; import some with 'alignhost traces import'", args.experiment)
		}
		return errors.New("no traces to judge; import some with 'alignhost traces import'")
	}

	client, closeRecording, err := a.modelClient(args.models, st, llm.WithMaxConcurrency(args.concurrency))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeRecording()) }()

	prog := newProgress(a.stderr, isTerminal(a.stderr))
	ev, err := a.newEvaluator(client, args.concurrency, args.models.noCache,
		eval.WithStore(st), eval.WithPrices(priceTable(a.cfg.Prices)), eval.WithProgress(prog.update))
	if err != nil {
		return err
	}
	if !args.force {
		ri, err := ev.Resume(ctx, r, q)
		if err != nil {
			return err
		}
		if line := resumeLine(ri); line != "" {
			fmt.Fprintln(a.stderr, termtext.Line(line))
		}
	}
	sum, runErr := ev.Run(ctx, eval.RunSpec{
		Judge:  r,
		Traces: st.Traces(ctx, q),
		Total:  total,
		Limit:  args.limit,
		Force:  args.force,
	})
	prog.finish()
	if sum == nil {
		return runErr
	}
	if a.jsonOut {
		if err := a.printJSON(summaryJSON(sum, client.Meter().Total().Retries)); err != nil {
			return errors.Join(runErr, err)
		}
	} else {
		a.printSummary(sum, client.Meter().Total().Retries)
	}
	switch sum.Status {
	case store.RunInterrupted:
		return fmt.Errorf("interrupted after %d judgements, %d traces remaining; run the same command again to resume", sum.Judged+sum.Failed, sum.Remaining)
	case store.RunFailed:
		return runErr
	}
	// A run in which the model answered for no trace (an unreachable
	// endpoint, a wrong key) must not pass for a successful one in CI.
	// Traces that lack the judge's input are not the model's failure.
	if sum.Judged == 0 && sum.Failed > sum.Errors[eval.CodeMissingInput] {
		return fmt.Errorf("no trace could be judged: all %d judgements failed (%s); they are stored, and running again retries them",
			sum.Failed, countsText(sum.Errors, sum.Failed, false))
	}
	return nil
}

// printSummary writes a run's summary as a table.
func (a *app) printSummary(s *eval.RunSummary, retries int) {
	w := a.stdout
	fmt.Fprintf(w, "eval %s@%d with %s (run %d): %s in %s\n", termtext.Line(s.Judge), s.Version, termtext.Line(s.Model), s.ID, s.Status,
		s.Wall().Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(label string, value any, note string) {
		if note == "" {
			fmt.Fprintf(tw, "  %s\t%s\n", label, termtext.Line(fmt.Sprint(value)))
			return
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", label, termtext.Line(fmt.Sprint(value)), termtext.Line(note))
	}
	cached := ""
	if s.Cached > 0 {
		cached = fmt.Sprintf("%d answered from the cache", s.Cached)
	}
	row("judged", s.Judged, cached)
	row("skipped", s.Skipped, fmt.Sprintf("already judged by %s@%d", s.Judge, s.Version))
	row("failed", s.Failed, countsText(s.Errors, s.Failed, false))
	if s.Held > 0 {
		row("held", s.Held, "in flight in another run: skipped")
	}
	if s.Unstored > 0 {
		row("unstored", s.Unstored, "judged but not stored (the store refused them); their answers are cached: run again")
	}
	if s.Remaining > 0 {
		row("remaining", s.Remaining, "")
	}
	row("model calls", s.Usage.Calls, fmt.Sprintf("%d cached, %d retries", s.Usage.Cached, retries))
	row("tokens", s.Usage.PromptTokens+s.Usage.CompletionTokens,
		fmt.Sprintf("prompt %d, completion %d", s.Usage.PromptTokens, s.Usage.CompletionTokens))
	if s.CostUSD != nil {
		row("cost", fmt.Sprintf("$%.4f", *s.CostUSD), "estimated")
	} else {
		row("cost", "?", "no price for "+s.Model+" in alignhost.toml [prices]")
	}
	if s.Wall() > 0 {
		row("rate", fmt.Sprintf("%.1f/s", float64(s.Judged+s.Failed)/s.Wall().Seconds()), "")
	}
	if len(s.Values) > 0 {
		row("values", countsText(s.Values, s.Judged, true), "")
	}
	tw.Flush()
	if len(s.ErrorSamples) == 0 {
		return
	}
	fmt.Fprintln(w, "errors:")
	for _, e := range s.ErrorSamples {
		fmt.Fprintf(w, "  trace %s: %s: %s\n", termtext.Line(e.TraceID), termtext.Line(e.Code), oneLine(e.Message))
	}
	if s.Failed > len(s.ErrorSamples) {
		fmt.Fprintf(w, "  … and %d more\n", s.Failed-len(s.ErrorSamples))
	}
	if s.Errors[eval.CodeMissingInput] < s.Failed {
		fmt.Fprintln(w, "run the same command again to retry the failed traces")
	}
}

// countsText lists counts, largest first: "yes 12 (60.0%), no 8 (40.0%)".
func countsText(counts map[string]int, total int, percent bool) string {
	type kv struct {
		k string
		n int
	}
	list := make([]kv, 0, len(counts))
	for k, n := range counts {
		list = append(list, kv{k, n})
	}
	slices.SortFunc(list, func(x, y kv) int {
		return cmp.Or(cmp.Compare(y.n, x.n), strings.Compare(x.k, y.k))
	})
	parts := make([]string, len(list))
	for i, e := range list {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.n)
		if percent && total > 0 {
			parts[i] += fmt.Sprintf(" (%.1f%%)", 100*float64(e.n)/float64(total))
		}
	}
	return strings.Join(parts, ", ")
}

// evalSummaryJSON is the --json form of a run summary.
type evalSummaryJSON struct {
	Run              int64            `json:"run_id"`
	Judge            string           `json:"judge"`
	Version          int              `json:"version"`
	Fingerprint      string           `json:"fingerprint"`
	Model            string           `json:"model"`
	Status           store.RunStatus  `json:"status"`
	WallSeconds      float64          `json:"wall_seconds"`
	Judged           int              `json:"judged"`
	Skipped          int              `json:"skipped"`
	Failed           int              `json:"failed"`
	Cached           int              `json:"cached"`
	Remaining        int              `json:"remaining"`
	Held             int              `json:"held"`
	Unstored         int              `json:"unstored"`
	Errors           map[string]int   `json:"errors"`
	ErrorSamples     []traceErrorJSON `json:"error_samples,omitempty"`
	Values           map[string]int   `json:"values"`
	Calls            int              `json:"model_calls"`
	CachedCalls      int              `json:"cached_calls"`
	Retries          int              `json:"retries"`
	PromptTokens     int64            `json:"prompt_tokens"`
	CompletionTokens int64            `json:"completion_tokens"`
	CostUSD          *float64         `json:"cost_usd"`
	StartedAt        time.Time        `json:"started_at"`
	FinishedAt       time.Time        `json:"finished_at"`
}

type traceErrorJSON struct {
	TraceID string `json:"trace_id"`
	Code    string `json:"error_code"`
	Message string `json:"error_message"`
}

func summaryJSON(s *eval.RunSummary, retries int) evalSummaryJSON {
	out := evalSummaryJSON{
		Run: s.ID, Judge: s.Judge, Version: s.Version, Fingerprint: s.Fingerprint, Model: s.Model,
		Status: s.Status, WallSeconds: s.Wall().Seconds(),
		Judged: s.Judged, Skipped: s.Skipped, Failed: s.Failed, Cached: s.Cached, Remaining: s.Remaining,
		Held: s.Held, Unstored: s.Unstored,
		Errors: s.Errors, Values: s.Values,
		Calls: s.Usage.Calls, CachedCalls: s.Usage.Cached, Retries: retries,
		PromptTokens: s.Usage.PromptTokens, CompletionTokens: s.Usage.CompletionTokens, CostUSD: s.CostUSD,
		StartedAt: s.StartedAt.UTC(), FinishedAt: s.FinishedAt.UTC(),
	}
	for _, e := range s.ErrorSamples {
		out.ErrorSamples = append(out.ErrorSamples, traceErrorJSON{TraceID: e.TraceID, Code: e.Code, Message: e.Message})
	}
	return out
}
