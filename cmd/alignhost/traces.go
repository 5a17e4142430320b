package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
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

// reportProblems prints rejected rows to stderr, at most maxReportedRows;
// total counts them all (problems may hold only the first ones).
func (a *app) reportProblems(problems []rowProblem, total int) {
	for i, p := range problems {
		if i == maxReportedRows {
			break
		}
		fmt.Fprintf(a.stderr, "  %s\n", termtext.Line(p.String()))
	}
	if total > min(len(problems), maxReportedRows) {
		fmt.Fprintf(a.stderr, "  … and %d more\n", total-min(len(problems), maxReportedRows))
	}
}

// rejectAll reports input with bad rows when skipping was not asked for:
// one bad row is the error itself; several are listed on stderr first and
// the error counts them.
func (a *app) rejectAll(problems []rowProblem, total int) error {
	const advice = "nothing was imported (pass --skip-bad-rows to import the other rows)"
	if total == 1 {
		return fmt.Errorf("%s; %s", problems[0], advice)
	}
	a.reportProblems(problems, total)
	return fmt.Errorf("%d bad rows, the first %s; %s", total, problems[0], advice)
}

// maxKeptProblems caps how many bad rows are kept for the report; the rest
// are only counted, so a file of bad rows does not fill memory.
const maxKeptProblems = 10000

// problemList is the bad rows of an import: the first maxKeptProblems,
// and how many there were.
type problemList struct {
	list  []rowProblem
	total int
}

func (l *problemList) add(p rowProblem) {
	l.total++
	if len(l.list) < maxKeptProblems {
		l.list = append(l.list, p)
	}
}

// errBadRow stops an import at the first bad row when bad rows are not
// skipped; the caller reads on to report them all.
var errBadRow = errors.New("bad row")

// traceFiles streams the traces of several files, one record at a time,
// noting bad records.
type traceFiles struct {
	paths        []string
	opts         []trace.ReadOption
	stopAtBadRow bool
	stderr       io.Writer

	problems problemList
	traces   int   // traces yielded
	err      error // the file-level error that ended reading

	next   int // index of the next file to open
	file   *os.File
	reader *trace.Reader
	count  int // records of the current file
}

// record returns the next record of the files, or false at the end or on
// a file-level error (in tf.err).
func (tf *traceFiles) record() (trace.Record, bool) {
	for {
		if tf.reader == nil {
			if tf.next == len(tf.paths) {
				return trace.Record{}, false
			}
			path := tf.paths[tf.next]
			tf.next++
			f, err := os.Open(path)
			if err != nil {
				tf.err = fmt.Errorf("read traces: %w", err)
				return trace.Record{}, false
			}
			tf.file, tf.reader, tf.count = f, trace.NewReader(f, filepath.Base(path), tf.opts...), 0
		}
		rec, err := tf.reader.Next()
		if err == nil {
			tf.count++
			return rec, true
		}
		if !errors.Is(err, io.EOF) {
			tf.err = err
			return trace.Record{}, false
		}
		if tf.count == 0 {
			fmt.Fprintf(tf.stderr, "note: %s holds no traces\n", tf.file.Name())
		}
		tf.close()
	}
}

// all yields the good traces; a bad one is noted and, with stopAtBadRow,
// ends the sequence with errBadRow.
func (tf *traceFiles) all() iter.Seq2[*trace.Trace, error] {
	return func(yield func(*trace.Trace, error) bool) {
		for {
			rec, ok := tf.record()
			if !ok {
				if tf.err != nil {
					yield(nil, tf.err)
				}
				return
			}
			if rec.Err != nil {
				tf.problems.add(recordProblem(rec))
				if tf.stopAtBadRow {
					yield(nil, errBadRow)
					return
				}
				continue
			}
			tf.traces++
			if !yield(rec.Trace, nil) {
				return
			}
		}
	}
}

// drain reads the rest of the files for their bad rows.
func (tf *traceFiles) drain() error {
	for {
		rec, ok := tf.record()
		if !ok {
			return tf.err
		}
		if rec.Err != nil {
			tf.problems.add(recordProblem(rec))
		}
	}
}

func (tf *traceFiles) close() {
	if tf.file != nil {
		tf.file.Close()
		tf.file, tf.reader = nil, nil
	}
}

func (a *app) tracesImportCommand() *cobra.Command {
	var experiment string
	var skipBad bool
	var mappings []string
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Import traces from MLflow JSON, JSON Lines or flat JSON Lines files",
		Long: `Import traces into an experiment. The import is one
transaction as far as anyone can see: the files are read one trace at a time
and staged in chunks (other commands can write to the store meanwhile), then
published at once. A file with a bad row changes nothing unless --skip-bad-rows
is given, and then every rejected row is reported with its line number and
reason. Importing the same traces again is idempotent.

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
			for _, path := range args {
				if _, err := os.Stat(path); err != nil {
					return fmt.Errorf("read traces: %w", err)
				}
			}
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			exp := a.experiment(experiment)
			src := &traceFiles{paths: args, opts: opts, stopAtBadRow: !skipBad, stderr: a.stderr}
			defer src.close()
			started := time.Now()
			res, err := st.ImportTraceSeq(ctx, exp, src.all())
			if errors.Is(err, errBadRow) {
				// Read on, to report every bad row.
				if err := src.drain(); err != nil {
					return err
				}
				return a.rejectAll(src.problems.list, src.problems.total)
			}
			if err != nil {
				if src.err != nil {
					return src.err
				}
				return fmt.Errorf("import traces into %q: %w (nothing was imported)", exp, err)
			}
			problems := src.problems.list
			if len(problems) > 0 {
				a.reportProblems(problems, src.problems.total)
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"experiment": exp, "result": res, "rejected": problems,
					"rejected_count": src.problems.total})
			}
			fmt.Fprintf(a.stdout, "imported %d traces into experiment %q in %s: %d new, %d updated, %d unchanged, %d assessments",
				src.traces, exp, time.Since(started).Round(time.Millisecond), res.Added, res.Updated, res.Unchanged, res.Assessments)
			if src.problems.total > 0 {
				fmt.Fprintf(a.stdout, "; %d bad rows skipped", src.problems.total)
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
			if len(args) > 0 {
				// Check first, so that a missing trace writes nothing.
				n, err := st.CountTraces(cmd.Context(), q)
				if err != nil {
					return err
				}
				if n < len(args) {
					return missingTraces(cmd.Context(), st, args)
				}
			}
			n := 0
			export := func(w io.Writer) error {
				tw, err := trace.NewWriter(w, f)
				if err != nil {
					return err
				}
				for t, err := range st.Traces(cmd.Context(), q) {
					if err != nil {
						return err
					}
					if err := tw.Write(t); err != nil {
						return err
					}
					n++
				}
				return tw.Close()
			}
			if output == "" || output == "-" {
				// Standard output may be a terminal: DEL, C1 and bidi
				// controls from the data are written as JSON escapes,
				// which decode to the same text. A file (-o) gets the
				// bytes as they are.
				jw := termtext.NewJSONWriter(a.stdout)
				if err := export(jw); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				return jw.Flush()
			}
			if err := writeFileAtomic(output, export); err != nil {
				return fmt.Errorf("export to %s: %w (the file was not changed)", output, err)
			}
			fmt.Fprintf(a.stderr, "exported %d traces to %s\n", n, output)
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

func missingTraces(ctx context.Context, st *store.Store, want []string) error {
	found, err := st.TraceSummaries(ctx, store.TraceQuery{IDs: want})
	if err != nil {
		return err
	}
	have := make(map[string]bool, len(found))
	for _, t := range found {
		have[t.TraceID] = true
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
