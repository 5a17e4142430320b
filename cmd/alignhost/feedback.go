package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

func (a *app) feedbackCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "feedback",
		Short: "Record human feedback on traces",
		Long: `Human feedback is what alignment learns from. Record it under the judge's exact
name: alignment uses, for each trace, the most recent valid HUMAN feedback whose
name equals the judge's (compared case-insensitively). Values are checked
against the registered judge's value type.`,
	}
	cmd.AddCommand(a.feedbackImportCommand(), a.feedbackLogCommand())
	return cmd
}

// feedbackJudge returns the value type feedback for name is checked against.
func (a *app) feedbackJudge(ctx context.Context, st *store.Store, name string, noValidate bool) (*judge.Judge, error) {
	if noValidate {
		return nil, nil
	}
	r, err := st.Judge(ctx, name, 0)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no judge named %q is registered, so its values cannot be checked: register it first ('alignhost judges create FILE.toml' or 'alignhost judges builtin NAME --name %s'), or pass --no-validate", name, name)
	}
	if err != nil {
		return nil, err
	}
	return r.Judge, nil
}

// humanFeedback builds the assessment for one human value, normalised to
// the judge's value type when j is not nil.
func humanFeedback(j *judge.Judge, name, traceID string, value any, rationale, sourceID string, at time.Time) (trace.Assessment, error) {
	if j != nil {
		v, err := j.ValueType.Normalize(value)
		if err != nil {
			return trace.Assessment{}, fmt.Errorf("judge %s: %w", j.Name, err)
		}
		value = v
	}
	raw, err := json.Marshal(value)
	if err != nil {
		return trace.Assessment{}, fmt.Errorf("encode value: %w", err)
	}
	ts := trace.NewTimestamp(at)
	return trace.Assessment{
		Name:           name,
		TraceID:        traceID,
		Source:         trace.Source{Type: trace.SourceHuman, ID: sourceID},
		CreateTime:     ts,
		LastUpdateTime: ts,
		Rationale:      rationale,
		Feedback:       &trace.Feedback{Value: raw},
	}, nil
}

func (a *app) defaultSourceID(flag string) string {
	if flag != "" {
		return flag
	}
	if u := a.getenv("USER"); u != "" {
		return u
	}
	return "default"
}

func (a *app) feedbackImportCommand() *cobra.Command {
	var name, sourceID string
	var skipBad, noValidate bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import human feedback from CSV or JSON Lines",
		Long: `Import human feedback for the judge --name. CSV files have a header with trace_id,
value and rationale (optional source_id, create_time); JSON Lines files have one
{"trace_id", "value", "rationale", "source_id"} object a line. Every value is
checked against the registered judge's value type. The import is one
transaction: a bad row (unknown trace, value not allowed) changes nothing unless
--skip-bad-rows is given.`,
		Example: `  alignhost feedback import labels.csv --name support_quality --source-id lead@example.com`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if name == "" {
				return usagef("--name is required: the judge the feedback is for")
			}
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("import feedback: %w", err)
			}
			defer f.Close()
			rows, err := trace.ReadFeedback(f, args[0])
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				fmt.Fprintf(a.stderr, "note: %s holds no feedback rows\n", args[0])
			}
			st, err := a.existingStore(ctx)
			if err != nil {
				return err
			}
			j, err := a.feedbackJudge(ctx, st, name, noValidate)
			if err != nil {
				return err
			}
			now := time.Now()
			var problems []rowProblem
			var batch []store.AssessmentRow
			for _, r := range rows {
				if r.Err != nil {
					problems = append(problems, rowProblem{Source: args[0], Line: r.Line, Reason: rowReason(r.Err)})
					continue
				}
				src := r.SourceID
				if src == "" {
					src = a.defaultSourceID(sourceID)
				}
				at := r.Time
				if at.IsZero() {
					at = now
				}
				as, err := humanFeedback(j, name, r.TraceID, r.Value, r.Rationale, src, at)
				if err != nil {
					problems = append(problems, rowProblem{Source: args[0], Line: r.Line, Reason: err.Error()})
					continue
				}
				batch = append(batch, store.AssessmentRow{Line: r.Line, Assessment: as})
			}
			batch, problems, err = dropUnknownTraces(ctx, st, args[0], batch, problems)
			if err != nil {
				return err
			}
			if len(problems) > 0 && !skipBad {
				return a.rejectAll(problems)
			}
			res, err := st.LogAssessments(ctx, batch, store.LogOptions{SkipInvalid: skipBad, SupersedeSameSource: true})
			if err != nil {
				return fmt.Errorf("import feedback %s: %w (nothing was imported)", args[0], err)
			}
			for _, r := range res.Rejected {
				problems = append(problems, rowProblem{Source: args[0], Line: r.Line, Reason: r.Reason})
			}
			a.reportProblems(problems)
			if a.jsonOut {
				return a.printJSON(map[string]any{"name": name, "added": res.Added, "updated": res.Updated, "unchanged": res.Unchanged, "superseded": res.Superseded, "rejected": problems})
			}
			fmt.Fprintf(a.stdout, "recorded %d %s feedback rows (%d new, %d updated, %d unchanged)", res.Added+res.Updated+res.Unchanged, name, res.Added, res.Updated, res.Unchanged)
			if res.Superseded > 0 {
				fmt.Fprintf(a.stdout, " (%d replaced earlier feedback by the same person)", res.Superseded)
			}
			if len(problems) > 0 {
				fmt.Fprintf(a.stdout, "; %d bad rows skipped", len(problems))
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the judge name the feedback is for (required)")
	cmd.Flags().StringVar(&sourceID, "source-id", "", "who gave the feedback, for rows without source_id (default $USER)")
	cmd.Flags().BoolVar(&skipBad, "skip-bad-rows", false, "record the good rows and report the bad ones instead of recording nothing")
	cmd.Flags().BoolVar(&noValidate, "no-validate", false, "record values without a registered judge to check them against")
	return cmd
}

func (a *app) feedbackLogCommand() *cobra.Command {
	var name, value, rationale, sourceID string
	var noValidate bool
	cmd := &cobra.Command{
		Use:     "log TRACE_ID",
		Short:   "Record one human feedback on a trace",
		Example: `  alignhost feedback log tr-7f1a… --name support_quality --value no --rationale "Monthly plans get no refund"`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if name == "" || !cmd.Flags().Changed("value") {
				return usagef("--name and --value are required")
			}
			st, err := a.existingStore(ctx)
			if err != nil {
				return err
			}
			j, err := a.feedbackJudge(ctx, st, name, noValidate)
			if err != nil {
				return err
			}
			as, err := humanFeedback(j, name, args[0], parseCLIValue(value), rationale, a.defaultSourceID(sourceID), time.Now())
			if err != nil {
				return err
			}
			res, err := st.LogAssessments(ctx, []store.AssessmentRow{{Assessment: as}}, store.LogOptions{SupersedeSameSource: true})
			var rerr *store.RowError
			if errors.As(err, &rerr) {
				return fmt.Errorf("feedback on %s: %s", args[0], rerr.Reason)
			}
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"trace_id": args[0], "name": name, "superseded": res.Superseded})
			}
			fmt.Fprintf(a.stdout, "recorded %s feedback on %s", name, args[0])
			if res.Superseded > 0 {
				fmt.Fprint(a.stdout, " (replacing your earlier feedback)")
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the judge name the feedback is for (required)")
	cmd.Flags().StringVar(&value, "value", "", "the value (checked against the judge's value type)")
	cmd.Flags().StringVar(&rationale, "rationale", "", "why")
	cmd.Flags().StringVar(&sourceID, "source-id", "", "who gives the feedback (default $USER)")
	cmd.Flags().BoolVar(&noValidate, "no-validate", false, "record the value without a registered judge to check it against")
	return cmd
}

// dropUnknownTraces moves the rows of batch whose trace is not in the store
// to problems, in line order, so that an import without --skip-bad-rows
// reports every bad row, not only those found before the store is asked.
func dropUnknownTraces(ctx context.Context, st *store.Store, source string, batch []store.AssessmentRow, problems []rowProblem) ([]store.AssessmentRow, []rowProblem, error) {
	if len(batch) == 0 {
		return batch, problems, nil
	}
	ids := make([]string, 0, len(batch))
	for _, r := range batch {
		ids = append(ids, r.Assessment.TraceID)
	}
	found, err := st.TraceSummaries(ctx, store.TraceQuery{IDs: ids})
	if err != nil {
		return nil, nil, fmt.Errorf("import feedback %s: look up traces: %w", source, err)
	}
	known := make(map[string]bool, len(found))
	for _, s := range found {
		known[s.TraceID] = true
	}
	kept := batch[:0]
	for _, r := range batch {
		if known[r.Assessment.TraceID] {
			kept = append(kept, r)
			continue
		}
		problems = append(problems, rowProblem{Source: source, Line: r.Line,
			Reason: fmt.Sprintf("trace %s is not in the store", r.Assessment.TraceID)})
	}
	slices.SortStableFunc(problems, func(x, y rowProblem) int { return cmp.Compare(x.Line, y.Line) })
	return kept, problems, nil
}

// parseCLIValue reads a command-line value as JSON when it is a JSON number,
// boolean, list or object, and as a string otherwise.
func parseCLIValue(s string) any {
	t := strings.TrimSpace(s)
	if t != "" && (strings.ContainsAny(t[:1], "-0123456789[{") || t == "true" || t == "false") {
		dec := json.NewDecoder(strings.NewReader(t))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && !dec.More() {
			return v
		}
	}
	return s
}
