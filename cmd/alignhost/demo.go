package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/config"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/judge/judgefile"
	"github.com/alignhost/alignhost/llm/llmsim"
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
		Short: "Run the whole workflow offline, against a simulated model",
		Long: `Run the judge-alignment workflow end to end on a bundled dataset: 48 traces of a
customer-support assistant with its experts' feedback. The demo registers the
team's judge, evaluates it, records the experts' feedback, aligns the judge with
the embedded MemAlign on 70% of the traces, compares base and aligned judge on
the held-out 30%, and evaluates the aligned judge.

No model or key is needed: every model answer comes from a built-in simulated
model (docs/simulation.md) served on 127.0.0.1 over the OpenAI API, so the real
client, structured output, cache, WebAssembly optimizer and retrieval all run.
The numbers show how the workflow behaves, not how a real model would score.

Unless --store is given the demo works in a temporary store that is removed
afterwards (--keep keeps it).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDemo(cmd.Context(), keep)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary store")
	return cmd
}

func (a *app) runDemo(ctx context.Context, keep bool) error {
	if a.jsonOut {
		return usagef("demo is a walk-through for people and has no --json output; run the commands it shows with --json")
	}
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
	// The demo runs on built-in defaults, whatever alignhost.toml says, and
	// sends the openai provider — only it — to the simulation.
	a.cfg = config.Default()
	// A price for the simulated model's tokens, so that the cost estimate
	// shows: OpenAI's list price of gpt-4.1-mini per million tokens.
	a.cfg.Prices = map[string]config.Price{"openai:/gpt-4.1-mini": {InputPerMTok: 0.40, OutputPerMTok: 1.60}}
	sim, err := llmsim.New().Serve(ctx)
	if err != nil {
		return err
	}
	defer sim.Close()
	outer := a.getenv
	a.getenv = func(k string) string {
		if v := sim.Getenv(k); v != "" {
			return v
		}
		return outer(k)
	}
	st, err := a.openStore(ctx)
	if err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintln(w, "alignhost demo — SIMULATION")
	fmt.Fprintln(w, "Every model answer below comes from alignhost's built-in simulated model (docs/simulation.md),")
	fmt.Fprintf(w, "served at %s over the OpenAI API. The figures show how the workflow behaves,\n", sim.URL)
	fmt.Fprintln(w, "not how a real model would score. Store:", a.storePath)

	step := func(n int, title, command string) {
		fmt.Fprintf(w, "\n== %d. %s\n   $ %s\n\n", n, title, command)
	}

	// 1. The team's first judge.
	step(1, "The team's first judge: generic, unaware of the team's policies", "alignhost judges create support_quality.toml")
	spec, _ := demoData.ReadFile("demodata/support_quality.toml")
	j, err := judgefile.Decode(spec, judgefile.TOML)
	if err != nil {
		return fmt.Errorf("demo judge: %w", err)
	}
	version, err := st.RegisterJudge(ctx, j, map[string]string{"source": "demo"})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "registered judge %s@%d (%s, model %s)\n", j.Name, version, j.ValueType, j.Model)

	// 2. The traces.
	step(2, "The support assistant's traces", "alignhost traces import traces.jsonl --experiment support-bot")
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
	res, err := st.ImportTraces(ctx, demoExperiment, traces)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "imported %d traces into experiment %q (%d new)\n", len(traces), demoExperiment, res.Added)

	// 3. Evaluate the judge.
	step(3, "Run the judge over the traces", "alignhost eval --judge support_quality --experiment support-bot")
	models := &modelFlags{}
	if err := a.runEval(ctx, evalArgs{name: j.Name, experiment: demoExperiment, concurrency: 8, models: models}); err != nil {
		return err
	}

	// 4. The experts' feedback.
	step(4, "The support leads' feedback, under the judge's name", "alignhost feedback import feedback.csv --name support_quality")
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
	fmt.Fprintf(w, "recorded %d human feedback rows; by scenario (a tag the model never sees):\n", logged.Added+logged.Updated+logged.Unchanged)
	var stored []*trace.Trace
	for t, err := range st.Traces(ctx, store.TraceQuery{Experiment: demoExperiment}) {
		if err != nil {
			return err
		}
		stored = append(stored, t)
	}
	examples, _, err := trace.Examples(j, stored)
	if err != nil {
		return err
	}
	a.printLabelTable(examples, stored)

	// 5. Align on 70% of the traces; keep 30% out for validation.
	step(5, "Align with MemAlign on 70% of the traces, holding 30% out for validation",
		"alignhost align --judge support_quality --holdout 0.3 --seed 1")
	out, err := a.runAlign(ctx, &alignFlags{judgeRef: j.Name, optimizer: "memalign", experiment: demoExperiment,
		holdout: 0.3, seed: 1, concurrency: 8, models: *models})
	if err != nil {
		return err
	}

	// 6. The aligned judge evaluates like any other.
	step(6, "Run the aligned judge over the traces (it retrieves similar expert judgements)",
		fmt.Sprintf("alignhost eval --judge %s@%d --experiment %s", j.Name, version+1, demoExperiment))
	if err := a.runEval(ctx, evalArgs{name: j.Name, version: version + 1, experiment: demoExperiment, concurrency: 8, models: models}); err != nil {
		return err
	}

	// 7. Agreement with the experts before and after, on traces alignment never saw.
	step(7, "Agreement with the experts, before and after, on the held-out traces",
		fmt.Sprintf("alignhost compare --judge %[1]s@%[2]d --judge %[1]s@%[3]d --traces <the %[4]d held-out traces>",
			j.Name, version, version+1, len(out.Holdout.Test)))
	if err := a.runCompare(ctx, compareArgs{
		judges:      [2]judgeRef{{name: j.Name, version: version}, {name: j.Name, version: version + 1}},
		ids:         out.Holdout.Test,
		concurrency: 8,
		seed:        1,
		resamples:   agreement.DefaultResamples,
	}); err != nil {
		return err
	}

	fmt.Fprintln(w, "\nThat was a simulation. To run the same workflow against a real model:")
	fmt.Fprintln(w, "  export OPENAI_API_KEY=…   # or configure another provider: docs/models.md")
	fmt.Fprintln(w, "  alignhost judges create support_quality.toml")
	fmt.Fprintln(w, "  alignhost traces import traces.jsonl && alignhost eval --judge support_quality")
	fmt.Fprintln(w, "  alignhost feedback import feedback.csv --name support_quality")
	fmt.Fprintln(w, "  alignhost align --judge support_quality --holdout 0.3 --require-improvement")
	if keep {
		fmt.Fprintf(w, "The demo's store is kept: alignhost --store %s judges show %s@%d\n", a.storePath, j.Name, version+1)
	}
	return nil
}

// demoExperiment is the experiment the demo's traces go to.
const demoExperiment = "support-bot"

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
