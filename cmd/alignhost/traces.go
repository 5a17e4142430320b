package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/termtext"
	"github.com/alignhost/alignhost/trace"
)

// maxReportedRows caps how many rejected rows are printed one per line.
const maxReportedRows = 20

func (a *app) tracesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "traces",
		Short: "Import, list, show and export traces",
		Long: `Traces are runs of your application in MLflow's trace model. alignhost reads
MLflow trace JSON (one trace, a JSON array, or JSON Lines) and a flat JSON Lines
form for users without MLflow; see docs/formats.md.`,
	}
	cmd.AddCommand(a.tracesImportCommand(), a.tracesListCommand(), a.tracesShowCommand(), a.tracesExportCommand())
	return cmd
}

// rowProblem is one rejected row of an input file.
type rowProblem struct {
	Source string `json:"file"`
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func (p rowProblem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s line %d: %s", p.Source, p.Line, p.Reason)
	}
	return fmt.Sprintf("%s: %s", p.Source, p.Reason)
}

// recordProblem describes a rejected trace record without repeating the
// file and line its error already names.
func recordProblem(r trace.Record) rowProblem {
	return rowProblem{Source: r.Source, Line: r.Line, Reason: rowReason(r.Err)}
}

// rowReason is the message of a row's error without the file and line a
// *trace.LineError puts first, which the rowProblem shows itself.
func rowReason(err error) string {
	var le *trace.LineError
	if !errors.As(err, &le) {
		return err.Error()
	}
	reason := le.Err.Error()
	if le.Column > 0 {
		reason += fmt.Sprintf(" (column %d)", le.Column)
	}
	return reason
}

// reportProblems prints rejected rows to stderr, at most maxReportedRows.
func (a *app) reportProblems(problems []rowProblem) {
	for i, p := range problems {
		if i == maxReportedRows {
			fmt.Fprintf(a.stderr, "  … and %d more\n", len(problems)-maxReportedRows)
			break
		}
		fmt.Fprintf(a.stderr, "  %s\n", termtext.Line(p.String()))
	}
}

// rejectAll reports input with bad rows when skipping was not asked for:
// one bad row is the error itself; several are listed on stderr first and
// the error counts them.
func (a *app) rejectAll(problems []rowProblem) error {
	const advice = "nothing was imported (pass --skip-bad-rows to import the other rows)"
	if len(problems) == 1 {
		return fmt.Errorf("%s; %s", problems[0], advice)
	}
	a.reportProblems(problems)
	return fmt.Errorf("%d bad rows, the first %s; %s", len(problems), problems[0], advice)
}

func (a *app) tracesImportCommand() *cobra.Command {
	var experiment string
	var skipBad bool
	var mappings []string
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import traces from MLflow JSON, JSON Lines or flat JSON Lines files",
		Long: `Import traces into an experiment. Every file is read first; the import is one
transaction: a file with a bad row changes nothing unless --skip-bad-rows is
given, and then every rejected row is reported with its line number and reason.
Importing the same traces again is idempotent.

--map reads flat JSON Lines whose columns have other names, e.g. HaluEval:
  --map trace_id=ID --map inputs=user_query --map outputs=chatgpt_response \
  --map feedback.hallucination=hallucination`,
		Example: `  alignhost traces import exported_traces.json --experiment support-bot
  alignhost traces import runs.jsonl --skip-bad-rows`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var opts []trace.ReadOption
			if len(mappings) > 0 {
				m, err := trace.ParseMapping(mappings)
				if err != nil {
					return &usageError{fmt.Errorf("--map: %w", err)}
				}
				opts = append(opts, trace.WithMapping(m))
			}
			var traces []*trace.Trace
			var problems []rowProblem
			for _, path := range args {
				records, err := trace.ReadFile(path, opts...)
				if err != nil {
					return err
				}
				if len(records) == 0 {
					fmt.Fprintf(a.stderr, "note: %s holds no traces\n", path)
				}
				for _, r := range records {
					if r.Err != nil {
						problems = append(problems, recordProblem(r))
						continue
					}
					traces = append(traces, r.Trace)
				}
			}
			if len(problems) > 0 {
				if !skipBad {
					return a.rejectAll(problems)
				}
				a.reportProblems(problems)
			}
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			exp := a.experiment(experiment)
			started := time.Now()
			res, err := st.ImportTraces(ctx, exp, traces)
			if err != nil {
				return fmt.Errorf("import traces into %q: %w (nothing was imported)", exp, err)
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"experiment": exp, "result": res, "rejected": problems})
			}
			fmt.Fprintf(a.stdout, "imported %d traces into experiment %q in %s: %d new, %d updated, %d unchanged, %d assessments",
				len(traces), exp, time.Since(started).Round(time.Millisecond), res.Added, res.Updated, res.Unchanged, res.Assessments)
			if len(problems) > 0 {
				fmt.Fprintf(a.stdout, "; %d bad rows skipped", len(problems))
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "experiment to import into (default: the configured one, or Default)")
	cmd.Flags().BoolVar(&skipBad, "skip-bad-rows", false, "import the good rows and report the bad ones instead of importing nothing")
	cmd.Flags().StringArrayVar(&mappings, "map", nil, "map a flat JSON Lines column: trace_id=COL, inputs=COL, outputs=COL, feedback.NAME=COL, rationale.NAME=COL, expectations.NAME=COL (repeatable)")
	return cmd
}

func (a *app) tracesListCommand() *cobra.Command {
	var experiment, feedback string
	var limit, offset int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List traces",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 || offset < 0 {
				return usagef("--limit %d --offset %d: must not be negative", limit, offset)
			}
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			q := store.TraceQuery{Experiment: experiment, WithFeedback: feedback, Limit: limit, Offset: offset}
			summaries, err := st.TraceSummaries(cmd.Context(), q)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(summaries)
			}
			if len(summaries) == 0 {
				fmt.Fprintln(a.stdout, "no traces; import some with 'alignhost traces import FILE'")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TRACE ID\tEXPERIMENT\tTIME\tSTATE\tFEEDBACK\tREQUEST")
			for _, s := range summaries {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", termtext.Line(s.TraceID), termtext.Line(s.Experiment), formatTime(s.RequestTime),
					termtext.Line(string(s.State)), termtext.Line(strings.Join(s.FeedbackNames, ",")), truncate(s.RequestPreview, 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "only traces of this experiment")
	cmd.Flags().StringVar(&feedback, "feedback", "", "only traces with human feedback of this name")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many traces (0 for all)")
	cmd.Flags().IntVar(&offset, "offset", 0, "skip this many traces")
	return cmd
}

func (a *app) tracesShowCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "show TRACE_ID",
		Short: "Show a trace: request, response, spans and assessments",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			t, err := st.Trace(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(t)
			}
			a.printTrace(t)
			return nil
		},
	}
}

// printTrace prints a trace for people; every text from the trace is
// escaped for the terminal (package termtext).
func (a *app) printTrace(t *trace.Trace) {
	w := a.stdout
	fmt.Fprintf(w, "trace %s  state %s  at %s\n", termtext.Line(t.Info.TraceID), termtext.Line(string(t.Info.State)), formatTime(t.Info.RequestTime.Time))
	if root := t.Root(); root != nil {
		if in, err := root.Inputs(); err == nil {
			fmt.Fprintf(w, "\nrequest:\n%s\n", indent(termtext.Text(trace.InputsText(in))))
		}
		if out, err := root.Outputs(); err == nil {
			fmt.Fprintf(w, "\nresponse:\n%s\n", indent(termtext.Text(trace.OutputsText(out))))
		}
	}
	if len(t.Data.Spans) > 0 {
		fmt.Fprintf(w, "\nspans (%d):\n", len(t.Data.Spans))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range t.Data.Spans {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", termtext.Line(s.Name), termtext.Line(s.Type()),
				time.Duration(s.EndTimeUnixNano-s.StartTimeUnixNano).Round(time.Millisecond), termtext.Line(s.Status.Code))
		}
		tw.Flush()
	}
	if len(t.Info.Assessments) > 0 {
		fmt.Fprintf(w, "\nassessments (%d):\n", len(t.Info.Assessments))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  NAME\tKIND\tSOURCE\tVALUE\tVALID\tRATIONALE")
		for _, as := range t.Info.Assessments {
			kind, value := "feedback", ""
			switch {
			case as.Feedback != nil && as.Feedback.Error != nil:
				value = "error: " + as.Feedback.Error.Message
			case as.Feedback != nil:
				value = string(as.Feedback.Value)
			case as.Expectation != nil:
				kind = "expectation"
				if as.Expectation.SerializedValue != nil {
					value = as.Expectation.SerializedValue.Value
				} else {
					value = string(as.Expectation.Value)
				}
			}
			valid := "yes"
			if as.Valid != nil && !*as.Valid {
				valid = "overridden"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s:%s\t%s\t%s\t%s\n", termtext.Line(as.Name), kind, termtext.Line(string(as.Source.Type)), termtext.Line(as.Source.ID),
				truncate(value, 40), valid, truncate(as.Rationale, 60))
		}
		tw.Flush()
	}
}

func (a *app) tracesExportCommand() *cobra.Command {
	var experiment, format, output, feedback string
	var limit int
	cmd := &cobra.Command{
		Use:   "export [TRACE_ID...]",
		Short: "Export traces with their assessments",
		Long: `Export traces with their assessments. --format mlflow (the default) writes MLflow's
trace JSON (one object for one trace, an array otherwise), which MLflow and
'alignhost traces import' read back unchanged; json writes an array, jsonl one
trace per line, flat the flat JSON Lines form.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := trace.ParseFormat(format)
			if err != nil {
				return &usageError{err}
			}
			if limit < 0 {
				return usagef("--limit %d: must not be negative", limit)
			}
			st, err := a.existingStore(cmd.Context())
			if err != nil {
				return err
			}
			q := store.TraceQuery{Experiment: experiment, IDs: args, WithFeedback: feedback, Limit: limit}
			var traces []*trace.Trace
			for t, err := range st.Traces(cmd.Context(), q) {
				if err != nil {
					return err
				}
				traces = append(traces, t)
			}
			if len(args) > 0 && len(traces) < len(args) {
				return missingTraces(args, traces)
			}
			var w io.Writer = a.stdout
			if output != "" && output != "-" {
				file, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("export: %w", err)
				}
				defer file.Close()
				w = file
			}
			if err := trace.Write(w, traces, f); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if output != "" && output != "-" {
				fmt.Fprintf(a.stderr, "exported %d traces to %s\n", len(traces), output)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&experiment, "experiment", "", "only traces of this experiment")
	cmd.Flags().StringVar(&format, "format", "mlflow", "mlflow, json, jsonl or flat")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&feedback, "feedback", "", "only traces with human feedback of this name")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many traces (0 for all)")
	return cmd
}

func missingTraces(want []string, got []*trace.Trace) error {
	have := make(map[string]bool, len(got))
	for _, t := range got {
		have[t.Info.TraceID] = true
	}
	var missing []string
	for _, id := range want {
		if !have[id] {
			missing = append(missing, id)
		}
	}
	return fmt.Errorf("export: trace %s: %w", strings.Join(missing, ", "), store.ErrNotFound)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.DateTime)
}

// truncate folds s into one line escaped for the terminal and cuts it to
// n runes.
func truncate(s string, n int) string {
	s = oneLine(s)
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ")
}
