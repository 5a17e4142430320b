package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// RunStatus is the state of an evaluation run.
type RunStatus string

// The states of an evaluation run.
const (
	// RunRunning: the run has started and not finished. A run whose
	// process is gone (kill -9, a crash) stays running in the table; its
	// heartbeat stops, and [EvalRun.StateAt] shows it as interrupted once
	// the heartbeat is older than the run's lease. What it judged is kept
	// and the next run resumes after it.
	RunRunning RunStatus = "running"
	// RunDone: every selected trace was judged, skipped or failed.
	RunDone RunStatus = "done"
	// RunInterrupted: the run was stopped (Ctrl-C) before the end.
	RunInterrupted RunStatus = "interrupted"
	// RunFailed: the run could not go on (a storage error, a replay that
	// lacks an answer, …); Error says why.
	RunFailed RunStatus = "failed"
)

// EvalRun is one evaluation of a judge version over a set of traces, as the
// table eval_runs records it. The feedback the run produced is stored as
// assessments; this is its bookkeeping: counts, token usage and cost.
type EvalRun struct {
	// ID is given by [Store.StartEvalRun].
	ID int64
	// Judge and Version name the registered judge version that judged.
	Judge   string
	Version int
	// Fingerprint is the judge's fingerprint with its model resolved (see
	// judge.Judge.Fingerprint); Model is the model URI that answered.
	Fingerprint string
	Model       string
	// StartedAt is set by StartEvalRun when zero; FinishedAt is zero while
	// the run is running.
	StartedAt  time.Time
	FinishedAt time.Time
	Status     RunStatus
	// Judged counts traces that got a value; Skipped, traces already judged
	// by the same judge version; Failed, traces whose feedback records an
	// error; Cached, judgements answered entirely from the response cache
	// or a replay.
	Judged, Skipped, Failed, Cached int
	// PromptTokens and CompletionTokens are the tokens the run was billed
	// (cached answers cost nothing).
	PromptTokens, CompletionTokens int64
	// CostUSD is the estimated cost in US dollars, nil when the model has no
	// price.
	CostUSD *float64
	// Error says why a failed run failed.
	Error string
	// Unstored counts judgements that were made and could not be stored
	// (the store stayed locked or full); their answers are in the response
	// cache when it could be written, so a new run gets them for free.
	Unstored int
	// Held counts traces the run skipped because another run held a live
	// claim on them (see [Store.ClaimTraces]).
	Held int

	// Owner is the random token of the process that runs the run
	// ([NewOwnerToken]), PID its process ID and Host its host name.
	Owner string
	PID   int
	Host  string
	// HeartbeatAt is when the process last said it was alive
	// ([Store.Heartbeat]); StartedAt until then. Lease is how long after
	// its heartbeat a run whose process is gone still counts as running;
	// zero means [DefaultRunLease].
	HeartbeatAt time.Time
	Lease       time.Duration
}

// DefaultRunLease is the lease of a run that recorded none (runs of older
// alignhost versions).
const DefaultRunLease = time.Minute

// StateAt returns the run's state at now: its Status, except that a
// running run whose heartbeat is older than its lease is interrupted: its
// process is gone.
func (r *EvalRun) StateAt(now time.Time) RunStatus {
	if r.Status != RunRunning {
		return r.Status
	}
	beat := r.HeartbeatAt
	if beat.IsZero() {
		beat = r.StartedAt
	}
	lease := r.Lease
	if lease <= 0 {
		lease = DefaultRunLease
	}
	if now.Sub(beat) > lease {
		return RunInterrupted
	}
	return RunRunning
}

// StartEvalRun records the start of a run: it stores r with status
// running, stamping StartedAt when zero, and sets r.ID.
func (s *Store) StartEvalRun(ctx context.Context, r *EvalRun) error {
	if r.Judge == "" || r.Version < 1 {
		return fmt.Errorf("start eval run: judge %q version %d: want a name and a version of at least 1", r.Judge, r.Version)
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	r.Status = RunRunning
	r.FinishedAt = time.Time{}
	if r.HeartbeatAt.IsZero() {
		r.HeartbeatAt = r.StartedAt
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO eval_runs (judge_name, judge_version, judge_fingerprint,
			model, started_at, status, judged, skipped, failed, cached, prompt_tokens, completion_tokens,
			cost_usd, error, unstored, held, owner, pid, host, heartbeat_at, lease_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Judge, r.Version, r.Fingerprint, r.Model, r.StartedAt.UnixMilli(), string(r.Status),
			r.Judged, r.Skipped, r.Failed, r.Cached, r.PromptTokens, r.CompletionTokens,
			nullFloat(r.CostUSD), nullString(r.Error), r.Unstored, r.Held, nullString(r.Owner),
			sql.NullInt64{Int64: int64(r.PID), Valid: r.PID != 0}, nullString(r.Host),
			r.HeartbeatAt.UnixMilli(), sql.NullInt64{Int64: r.Lease.Milliseconds(), Valid: r.Lease > 0}).Scan(&r.ID)
	})
	if err != nil {
		return fmt.Errorf("start eval run of %s: %w", judgeRef(r.Judge, r.Version), err)
	}
	return nil
}

// UpdateEvalRun writes the counts, usage, cost, error and status of the
// run r.ID (not its owner or heartbeat). Any status other than running finishes the run: FinishedAt is
// stamped when zero. The evaluator calls it as feedback is stored, so that
// a crashed run's record is as current as its feedback.
//
// # Errors
//
// An unknown run ID wraps [ErrNotFound].
func (s *Store) UpdateEvalRun(ctx context.Context, r *EvalRun) error {
	switch r.Status {
	case RunRunning:
		r.FinishedAt = time.Time{}
	case RunDone, RunInterrupted, RunFailed:
		if r.FinishedAt.IsZero() {
			r.FinishedAt = time.Now()
		}
	default:
		return fmt.Errorf("update eval run %d: unknown status %q", r.ID, r.Status)
	}
	var finished sql.NullInt64
	if !r.FinishedAt.IsZero() {
		finished = sql.NullInt64{Int64: r.FinishedAt.UnixMilli(), Valid: true}
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE eval_runs SET finished_at = ?, status = ?, judged = ?,
			skipped = ?, failed = ?, cached = ?, prompt_tokens = ?, completion_tokens = ?, cost_usd = ?,
			error = ?, unstored = ?, held = ? WHERE id = ?`,
			finished, string(r.Status), r.Judged, r.Skipped, r.Failed, r.Cached, r.PromptTokens,
			r.CompletionTokens, nullFloat(r.CostUSD), nullString(r.Error), r.Unstored, r.Held, r.ID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("update eval run %d: %w", r.ID, err)
	}
	return nil
}

// EvalRun returns the run with the given ID.
//
// # Errors
//
// An unknown ID wraps [ErrNotFound].
func (s *Store) EvalRun(ctx context.Context, id int64) (*EvalRun, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+evalRunColumns+` FROM eval_runs WHERE id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("eval run %d: %w", id, err)
	}
	list, err := scanEvalRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("eval run %d: %w", id, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("eval run %d: %w", id, ErrNotFound)
	}
	return &list[0], nil
}

// EvalRunQuery selects evaluation runs. The zero value selects all.
type EvalRunQuery struct {
	// Judge restricts the result to runs of the judge of that name.
	Judge string
	// Version, with Judge, restricts it to that version; 0 means any.
	Version int
	// Limit is the most runs to return; 0 means no limit.
	Limit int
}

// EvalRuns returns the runs q selects, newest first.
func (s *Store) EvalRuns(ctx context.Context, q EvalRunQuery) ([]EvalRun, error) {
	if q.Limit < 0 || q.Version < 0 {
		return nil, fmt.Errorf("eval runs: negative limit %d or version %d", q.Limit, q.Version)
	}
	query := `SELECT ` + evalRunColumns + ` FROM eval_runs WHERE 1`
	var args []any
	if q.Judge != "" {
		query += ` AND judge_name = ?`
		args = append(args, q.Judge)
		if q.Version > 0 {
			query += ` AND judge_version = ?`
			args = append(args, q.Version)
		}
	}
	query += ` ORDER BY id DESC`
	if q.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("eval runs: %w", err)
	}
	list, err := scanEvalRuns(rows)
	if err != nil {
		return nil, fmt.Errorf("eval runs: %w", err)
	}
	return list, nil
}

const evalRunColumns = `id, judge_name, judge_version, judge_fingerprint, model, started_at, finished_at,
	status, judged, skipped, failed, cached, prompt_tokens, completion_tokens, cost_usd, error,
	unstored, held, owner, pid, host, heartbeat_at, lease_ms`

func scanEvalRuns(rows *sql.Rows) ([]EvalRun, error) {
	defer rows.Close()
	var list []EvalRun
	for rows.Next() {
		var (
			r          EvalRun
			started    int64
			finished   sql.NullInt64
			status     string
			cost       sql.NullFloat64
			errMessage sql.NullString
			owner      sql.NullString
			pid        sql.NullInt64
			host       sql.NullString
			beat       sql.NullInt64
			lease      sql.NullInt64
		)
		if err := rows.Scan(&r.ID, &r.Judge, &r.Version, &r.Fingerprint, &r.Model, &started, &finished,
			&status, &r.Judged, &r.Skipped, &r.Failed, &r.Cached, &r.PromptTokens, &r.CompletionTokens,
			&cost, &errMessage, &r.Unstored, &r.Held, &owner, &pid, &host, &beat, &lease); err != nil {
			return nil, err
		}
		r.Owner, r.PID, r.Host = owner.String, int(pid.Int64), host.String
		if beat.Valid {
			r.HeartbeatAt = fromMillis(beat.Int64)
		}
		r.Lease = time.Duration(lease.Int64) * time.Millisecond
		r.StartedAt = fromMillis(started)
		if finished.Valid {
			r.FinishedAt = fromMillis(finished.Int64)
		}
		r.Status = RunStatus(status)
		if cost.Valid {
			r.CostUSD = &cost.Float64
		}
		r.Error = errMessage.String
		list = append(list, r)
	}
	return list, rows.Err()
}

func nullFloat(f *float64) sql.NullFloat64 {
	if f == nil {
		return sql.NullFloat64{}
	}
	return sql.NullFloat64{Float64: *f, Valid: true}
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// FeedbackMatch selects feedback for [Store.CountWithFeedback].
type FeedbackMatch struct {
	// Name is the feedback's name, matched case-insensitively after
	// trimming spaces.
	Name string
	// SourceType is the source type the feedback must have.
	SourceType trace.SourceType
	// Metadata holds entries the feedback's metadata must have.
	Metadata map[string]string
}

// CountWithFeedback counts the traces q selects (its Limit and Offset
// aside) that hold a feedback with a value (no error) that m matches: for
// an evaluation, the traces a judge version has already judged.
func (s *Store) CountWithFeedback(ctx context.Context, q TraceQuery, m FeedbackMatch) (int, error) {
	q.Limit, q.Offset = 0, 0
	f, err := s.filter(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("count judged traces: %w", err)
	}
	cond := `a.trace_id = t.trace_id AND a.name_key = ? AND a.kind = 'feedback' AND a.source_type = ?
		AND json_extract(a.json, '$.feedback') IS NOT NULL AND json_extract(a.json, '$.feedback.error') IS NULL`
	args := append(slices.Clone(f.args), nameKey(m.Name), string(m.SourceType))
	keys := slices.Sorted(maps.Keys(m.Metadata))
	for _, k := range keys {
		cond += ` AND json_extract(a.json, '$.metadata.' || json_quote(?)) = ?`
		args = append(args, k, m.Metadata[k])
	}
	var n int
	err = s.db.QueryRowContext(ctx, `SELECT count(*) FROM traces t WHERE `+f.where+
		` AND EXISTS (SELECT 1 FROM assessments a WHERE `+cond+`)`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count judged traces: %w", err)
	}
	return n, nil
}
