package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
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
			st, err := a.existingStore(ctx)
			if err != nil {
				return err
			}
			j, err := a.feedbackJudge(ctx, st, name, noValidate)
			if err != nil {
				return err
			}
			src := &feedbackFile{app: a, st: st, judge: j, name: name, source: args[0], sourceID: sourceID,
				stopAtBadRow: !skipBad, reader: trace.NewFeedbackReader(f, args[0]), now: time.Now()}
			res, err := st.LogAssessmentSeq(ctx, src.rows(ctx), store.LogOptions{SkipInvalid: skipBad, SupersedeSameSource: true})
			if errors.Is(err, errBadRow) {
				slices.SortStableFunc(src.problems.list, func(x, y rowProblem) int { return cmp.Compare(x.Line, y.Line) })
				return a.rejectAll(src.problems.list, src.problems.total)
			}
			if err != nil {
				if src.err != nil {
					return src.err
				}
				return fmt.Errorf("import feedback %s: %w (nothing was imported)", args[0], err)
			}
			if src.n == 0 {
				fmt.Fprintf(a.stderr, "note: %s holds no feedback rows\n", args[0])
			}
			for _, r := range res.Rejected {
				src.problems.add(rowProblem{Source: args[0], Line: r.Line, Reason: r.Reason})
			}
			problems := src.problems.list
			slices.SortStableFunc(problems, func(x, y rowProblem) int { return cmp.Compare(x.Line, y.Line) })
			a.reportProblems(problems, src.problems.total)
			if a.jsonOut {
				return a.printJSON(map[string]any{"name": name, "added": res.Added, "updated": res.Updated, "unchanged": res.Unchanged, "superseded": res.Superseded, "rejected": problems, "rejected_count": src.problems.total})
			}
			fmt.Fprintf(a.stdout, "recorded %d %s feedback rows (%d new, %d updated, %d unchanged)", res.Added+res.Updated+res.Unchanged, name, res.Added, res.Updated, res.Unchanged)
			if res.Superseded > 0 {
				fmt.Fprintf(a.stdout, " (%d replaced earlier feedback by the same person)", res.Superseded)
			}
			if src.problems.total > 0 {
				fmt.Fprintf(a.stdout, "; %d bad rows skipped", src.problems.total)
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

// feedbackChunk is how many feedback rows are checked against the store
// at a time.
const feedbackChunk = 1000

// feedbackFile streams the rows of a feedback file as assessments, noting
// bad rows: malformed, not allowed by the judge, or for a trace the store
// does not have.
type feedbackFile struct {
	app          *app
	st           *store.Store
	judge        *judge.Judge
	name         string
	source       string // the file, for messages
	sourceID     string // --source-id
	stopAtBadRow bool
	reader       *trace.FeedbackReader
	now          time.Time

	n        int // rows read
	problems problemList
	err      error // the file-level error that ended reading
}

// rows yields the good rows, a chunk at a time. Without skipping, the
// first bad row stops yielding, reading goes on to find the others, and
// the sequence ends with errBadRow.
func (ff *feedbackFile) rows(ctx context.Context) iter.Seq2[store.AssessmentRow, error] {
	return func(yield func(store.AssessmentRow, error) bool) {
		var chunk []store.AssessmentRow
		for {
			r, err := ff.reader.Next()
			end := errors.Is(err, io.EOF)
			if err != nil && !end {
				ff.err = err
				yield(store.AssessmentRow{}, err)
				return
			}
			if !end {
				ff.n++
				if as, ok := ff.assessment(r); ok {
					chunk = append(chunk, as)
				}
			}
			if len(chunk) == feedbackChunk || (end && len(chunk) > 0) {
				kept, err := ff.knownTraces(ctx, chunk)
				if err != nil {
					ff.err = err
					yield(store.AssessmentRow{}, err)
					return
				}
				for _, row := range kept {
					if ff.stopAtBadRow && ff.problems.total > 0 {
						break
					}
					if !yield(row, nil) {
						return
					}
				}
				chunk = chunk[:0]
			}
			if end {
				if ff.stopAtBadRow && ff.problems.total > 0 {
					yield(store.AssessmentRow{}, errBadRow)
				}
				return
			}
		}
	}
}

// assessment converts one row, or notes why it cannot.
func (ff *feedbackFile) assessment(r trace.FeedbackRow) (store.AssessmentRow, bool) {
	if r.Err != nil {
		ff.problems.add(rowProblem{Source: ff.source, Line: r.Line, Reason: rowReason(r.Err)})
		return store.AssessmentRow{}, false
	}
	src := r.SourceID
	if src == "" {
		src = ff.app.defaultSourceID(ff.sourceID)
	}
	at := r.Time
	if at.IsZero() {
		at = ff.now
	}
	as, err := humanFeedback(ff.judge, ff.name, r.TraceID, r.Value, r.Rationale, src, at)
	if err != nil {
		ff.problems.add(rowProblem{Source: ff.source, Line: r.Line, Reason: err.Error()})
		return store.AssessmentRow{}, false
	}
	return store.AssessmentRow{Line: r.Line, Assessment: as}, true
}

// knownTraces returns the rows of chunk whose trace is in the store and
// notes the others, so that an import without --skip-bad-rows reports
// every bad row, not only the first the store refuses.
func (ff *feedbackFile) knownTraces(ctx context.Context, chunk []store.AssessmentRow) ([]store.AssessmentRow, error) {
	ids := make([]string, 0, len(chunk))
	for _, r := range chunk {
		ids = append(ids, r.Assessment.TraceID)
	}
	known := make(map[string]bool, len(chunk))
	found, err := ff.st.TraceSummaries(ctx, store.TraceQuery{IDs: ids})
	if err != nil {
		return nil, fmt.Errorf("import feedback %s: look up traces: %w", ff.source, err)
	}
	for _, t := range found {
		known[t.TraceID] = true
	}
	kept := chunk[:0:0]
	for _, r := range chunk {
		if known[r.Assessment.TraceID] {
			kept = append(kept, r)
			continue
		}
		ff.problems.add(rowProblem{Source: ff.source, Line: r.Line,
			Reason: fmt.Sprintf("trace %s is not in the store", r.Assessment.TraceID)})
	}
	return kept, nil
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
