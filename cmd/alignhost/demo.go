package main

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/judge/judgefile"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// demoData is the bundled dataset: a support assistant's traces, its
// experts' feedback and the team's first judge (see demodata/README.md).
//
//go:embed demodata/traces.jsonl demodata/feedback.csv demodata/support_quality.toml
var demoData embed.FS

func (a *app) demoCommand() *cobra.Command {
	var keep bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Walk through the workflow offline on a bundled dataset",
		Long: `Walk through the judge-alignment workflow on a bundled dataset: 48 traces of a
customer-support assistant with its experts' feedback. The demo registers the
team's judge, imports the traces and the feedback, and shows what alignment will
learn from. It runs offline and calls no model.

Unless --store is given it works in a temporary store that is removed afterwards
(--keep keeps it).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if a.storePath == "" {
				dir, err := os.MkdirTemp("", "alignhost-demo-")
				if err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(dir)
				}
				a.storePath = filepath.Join(dir, "alignhost.db")
			}
			st, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			w := a.stdout
			fmt.Fprintln(w, "alignhost demo — offline walk-through on bundled data (no model is called)")
			fmt.Fprintf(w, "store: %s\n\n", a.storePath)

			// 1. The judge.
			spec, _ := demoData.ReadFile("demodata/support_quality.toml")
			j, err := judgefile.Decode(spec, judgefile.TOML)
			if err != nil {
				return fmt.Errorf("demo judge: %w", err)
			}
			version, err := st.RegisterJudge(ctx, j, map[string]string{"source": "demo"})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "1. registered judge %s@%d (%s, model %s)\n", j.Name, version, describeValueType(j.ValueType), j.Model)

			// 2. The traces.
			raw, _ := demoData.ReadFile("demodata/traces.jsonl")
			records, err := trace.Read(bytes.NewReader(raw), "demodata/traces.jsonl")
			if err != nil {
				return err
			}
			traces := make([]*trace.Trace, 0, len(records))
			for _, r := range records {
				if r.Err != nil {
					return fmt.Errorf("demo traces line %d: %w", r.Line, r.Err)
				}
				traces = append(traces, r.Trace)
			}
			res, err := st.ImportTraces(ctx, "support-bot", traces)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "2. imported %d traces into experiment \"support-bot\" (%d new)\n", len(traces), res.Added)

			// 3. The experts' feedback.
			csv, _ := demoData.ReadFile("demodata/feedback.csv")
			rows, err := trace.ReadFeedback(bytes.NewReader(csv), "demodata/feedback.csv")
			if err != nil {
				return err
			}
			batch := make([]store.AssessmentRow, 0, len(rows))
			for _, r := range rows {
				if r.Err != nil {
					return fmt.Errorf("demo feedback line %d: %w", r.Line, r.Err)
				}
				as, err := humanFeedback(j, j.Name, r.TraceID, r.Value, r.Rationale, r.SourceID, demoFeedbackTime(r))
				if err != nil {
					return fmt.Errorf("demo feedback line %d: %w", r.Line, err)
				}
				batch = append(batch, store.AssessmentRow{Line: r.Line, Assessment: as})
			}
			logged, err := st.LogAssessments(ctx, batch, store.LogOptions{})
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "3. recorded %d human feedback rows under the judge's name %q\n\n", logged.Added+logged.Updated+logged.Unchanged, j.Name)

			// 4. What alignment will learn from.
			var stored []*trace.Trace
			for t, err := range st.Traces(ctx, store.TraceQuery{Experiment: "support-bot"}) {
				if err != nil {
					return err
				}
				stored = append(stored, t)
			}
			examples, skips, err := trace.Examples(j, stored)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "4. %d traces yield a labelled example for %s, %d were skipped\n", len(examples), j.Name, len(skips))
			for _, s := range skips {
				fmt.Fprintf(w, "   skipped %s: %s\n", s.TraceID, s.Reason)
			}
			a.printLabelTable(examples, stored)

			// 5. What the judge asks the model.
			if len(stored) > 0 {
				root := stored[0].Root()
				in, _ := root.Inputs()
				out, _ := root.Outputs()
				req, err := j.Request(judge.Input{Inputs: in, Outputs: out})
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "\n5. the request %s sends for trace %s (system message abridged):\n", j.Name, stored[0].Info.TraceID)
				for _, m := range req.Messages {
					fmt.Fprintf(w, "   [%s] %s\n", m.Role, truncate(m.Content, 220))
				}
				fmt.Fprintf(w, "   answer schema: %s\n", schemaSummary(req.Schema))
			}
			fmt.Fprintln(w, "\nNext: explore with 'alignhost --store", a.storePath, "traces list' (run the demo with --keep).")
			fmt.Fprintln(w, "Evaluating and aligning judges against a model are not in this build yet.")
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary store")
	return cmd
}

// printLabelTable prints the human labels per scenario tag.
func (a *app) printLabelTable(examples []judge.Example, traces []*trace.Trace) {
	scenario := make(map[string]string, len(traces))
	for _, t := range traces {
		scenario[t.Info.TraceID] = t.Info.Tags["scenario"]
	}
	counts := map[string]map[string]int{}
	for _, e := range examples {
		s := scenario[e.TraceID]
		if counts[s] == nil {
			counts[s] = map[string]int{}
		}
		counts[s][fmt.Sprint(e.Value)]++
	}
	names := make([]string, 0, len(counts))
	for s := range counts {
		names = append(names, s)
	}
	sort.Strings(names)
	fmt.Fprintf(a.stdout, "   %-22s %4s %4s\n", "scenario", "yes", "no")
	for _, s := range names {
		fmt.Fprintf(a.stdout, "   %-22s %4d %4d\n", s, counts[s]["yes"], counts[s]["no"])
	}
}

func demoFeedbackTime(r trace.FeedbackRow) time.Time {
	if r.Time.IsZero() {
		// a fixed date keeps demo runs reproducible
		return time.Date(2026, 10, 15, 9, 0, 0, 0, time.UTC)
	}
	return r.Time
}

// schemaSummary describes the answer schema in one line:
// {"rationale": string, "result": "yes" | "no"}.
func schemaSummary(schema map[string]any) string {
	props, _ := schema["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		p, _ := props[k].(map[string]any)
		desc := fmt.Sprint(p["type"])
		if enum, ok := p["enum"].([]any); ok {
			vals := make([]string, len(enum))
			for j, v := range enum {
				vals[j] = fmt.Sprintf("%q", v)
			}
			desc = strings.Join(vals, " | ")
		}
		parts[i] = fmt.Sprintf("%q: %s", k, desc)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
