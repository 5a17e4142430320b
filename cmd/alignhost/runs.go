package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/store"
)

// lockTimeoutEnv names the environment variable that sets how long a write
// waits for another writer's lock on the store (store.WithLockTimeout).
const lockTimeoutEnv = "ALIGNHOST_LOCK_TIMEOUT"

// storeOptions are the options every command opens the store with.
func (a *app) storeOptions() ([]store.Option, error) {
	opts := []store.Option{store.WithLogger(a.logger)}
	if d := a.cfg.StoreLockTimeout; d > 0 {
		opts = append(opts, store.WithLockTimeout(d))
	}
	if v := a.getenv(lockTimeoutEnv); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive duration such as 2m", lockTimeoutEnv, v)
		}
		opts = append(opts, store.WithLockTimeout(d))
	}
	return opts, nil
}

func (a *app) runsCommand() *cobra.Command {
	var (
		ref   string
		limit int
	)
	cmd := &cobra.Command{
		Use:   "runs [--judge NAME[@VERSION]]",
		Short: "List evaluation runs with their real state",
		Long: `List the evaluation runs recorded in the store, newest first: judge version,
state, counts, tokens, estimated cost and start time.

A run whose process is gone (killed, crashed, or stopped by a storage failure
before it could record its end) stays 'running' in the store; its heartbeat
stops, and once the heartbeat is older than the run's lease it is shown as
'interrupted'. Running 'alignhost eval' again resumes it. See docs/eval.md.`,
		Example: `  alignhost runs
  alignhost runs --judge helpfulness@2 --json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usagef("--limit %d: must not be negative", limit)
			}
			q := store.EvalRunQuery{Limit: limit}
			if ref != "" {
				name, version, err := store.ParseJudgeRef(ref)
				if err != nil {
					return &usageError{err}
				}
				q.Judge, q.Version = name, version
			}
			return a.listRuns(cmd.Context(), q)
		},
	}
	f := cmd.Flags()
	f.StringVar(&ref, "judge", "", "only runs of this judge: NAME or NAME@VERSION")
	f.IntVar(&limit, "limit", 20, "show at most N runs (0: all)")
	return cmd
}

// runJSON is the --json form of one run.
type runJSON struct {
	ID               int64           `json:"run_id"`
	Judge            string          `json:"judge"`
	Version          int             `json:"version"`
	Model            string          `json:"model"`
	State            store.RunStatus `json:"state"`
	Status           store.RunStatus `json:"recorded_status"`
	Judged           int             `json:"judged"`
	Skipped          int             `json:"skipped"`
	Failed           int             `json:"failed"`
	Cached           int             `json:"cached"`
	Held             int             `json:"held"`
	Unstored         int             `json:"unstored"`
	PromptTokens     int64           `json:"prompt_tokens"`
	CompletionTokens int64           `json:"completion_tokens"`
	CostUSD          *float64        `json:"cost_usd"`
	StartedAt        time.Time       `json:"started_at"`
	FinishedAt       *time.Time      `json:"finished_at"`
	HeartbeatAt      time.Time       `json:"heartbeat_at"`
	PID              int             `json:"pid,omitempty"`
	Host             string          `json:"host,omitempty"`
	Error            string          `json:"error,omitempty"`
}

func (a *app) listRuns(ctx context.Context, q store.EvalRunQuery) error {
	st, err := a.existingStore(ctx)
	if err != nil {
		return err
	}
	runs, err := st.EvalRuns(ctx, q)
	if err != nil {
		return err
	}
	now := time.Now()
	if a.jsonOut {
		out := make([]runJSON, len(runs))
		for i, r := range runs {
			out[i] = runJSON{ID: r.ID, Judge: r.Judge, Version: r.Version, Model: r.Model,
				State: r.StateAt(now), Status: r.Status, Judged: r.Judged, Skipped: r.Skipped, Failed: r.Failed,
				Cached: r.Cached, Held: r.Held, Unstored: r.Unstored, PromptTokens: r.PromptTokens,
				CompletionTokens: r.CompletionTokens, CostUSD: r.CostUSD, StartedAt: r.StartedAt.UTC(),
				HeartbeatAt: r.HeartbeatAt.UTC(), PID: r.PID, Host: r.Host, Error: r.Error}
			if !r.FinishedAt.IsZero() {
				f := r.FinishedAt.UTC()
				out[i].FinishedAt = &f
			}
		}
		return a.printJSON(out)
	}
	if len(runs) == 0 {
		fmt.Fprintln(a.stdout, "no evaluation runs; start one with 'alignhost eval --judge NAME'")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tJUDGE\tSTATE\tJUDGED\tSKIPPED\tFAILED\tTOKENS\tCOST\tSTARTED\tNOTE")
	for _, r := range runs {
		cost := "?"
		if r.CostUSD != nil {
			cost = fmt.Sprintf("$%.4f", *r.CostUSD)
		}
		state := r.StateAt(now)
		var notes []string
		if state == store.RunRunning && r.PID != 0 {
			notes = append(notes, fmt.Sprintf("pid %d on %s", r.PID, r.Host))
		}
		if state != r.Status {
			notes = append(notes, "process gone, last heartbeat "+r.HeartbeatAt.Local().Format("2006-01-02 15:04:05"))
		}
		if r.Held > 0 {
			notes = append(notes, fmt.Sprintf("%d in flight in another run", r.Held))
		}
		if r.Unstored > 0 {
			notes = append(notes, fmt.Sprintf("%d judged but not stored", r.Unstored))
		}
		if r.Error != "" {
			notes = append(notes, oneLine(r.Error))
		}
		fmt.Fprintf(tw, "%d\t%s@%d\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", r.ID, r.Judge, r.Version, state,
			r.Judged, r.Skipped, r.Failed, r.PromptTokens+r.CompletionTokens, cost,
			r.StartedAt.Local().Format("2006-01-02 15:04:05"), strings.Join(notes, "; "))
	}
	return tw.Flush()
}

// resumeLine says what a run picks up, or "" for a run that starts
// afresh: "resuming support_quality@2: 412 of 1,000 traces already judged,
// 588 to judge".
func resumeLine(ri *eval.ResumeInfo) string {
	if !ri.Resuming() && ri.InFlight == 0 {
		return ""
	}
	var b strings.Builder
	if ri.Resuming() {
		fmt.Fprintf(&b, "resuming %s@%d: %s of %s traces already judged, %s to judge", ri.Judge, ri.Version,
			thousands(ri.Judged), thousands(ri.Total), thousands(ri.ToJudge))
	} else {
		fmt.Fprintf(&b, "%s@%d: %s traces to judge", ri.Judge, ri.Version, thousands(ri.ToJudge))
	}
	if ri.InFlight > 0 {
		fmt.Fprintf(&b, " (%s in flight in another run, skipped)", thousands(ri.InFlight))
	}
	if ri.Last != nil && ri.LastState == store.RunInterrupted {
		fmt.Fprintf(&b, "; run %d was interrupted", ri.Last.ID)
	}
	return b.String()
}

// thousands writes n with comma separators: 1,000.
func thousands[N int | int64](n N) string {
	s := strconv.FormatInt(int64(n), 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
