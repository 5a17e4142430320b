package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// sessionKey is the trace metadata key holding a trace's session ID.
const sessionKey = "mlflow.trace.session"

// pageSize is how many traces [Store.Traces] reads per query.
const pageSize = 256

// ImportResult counts what [Store.ImportTraces] did.
type ImportResult struct {
	// Added counts traces that were not in the store.
	Added int `json:"added"`
	// Updated counts traces that were in the store and changed.
	Updated int `json:"updated"`
	// Unchanged counts traces that were in the store exactly as imported,
	// assessments included.
	Unchanged int `json:"unchanged"`
	// Assessments counts the assessments the imported traces carried.
	Assessments int
}

// ImportTraces stores traces in the experiment with the given name (created
// if needed; "" means [DefaultExperiment]): all of them or, on error, none.
// It is [Store.ImportTraceSeq] over the slice.
//
// A trace whose ID is already stored replaces the stored trace and moves it
// to this experiment. Its assessments are merged by assessment ID: an
// imported assessment replaces the stored one with the same ID, and stored
// assessments missing from the import are kept, after the imported ones.
// Two exceptions keep what the store knows: an assessment the store has
// marked invalid (overridden) stays invalid, and an assessment without an ID
// gets the ID [AssessmentID] derives from its content, so importing the same
// traces again changes nothing. The traces passed in are not modified.
//
// # Errors
//
// A trace ID must be non-empty, valid UTF-8 and free of spaces and control
// characters. An assessment must have exactly one of feedback and
// expectation, its trace_id, when set, must be the trace's, and its ID must
// not belong to an assessment of another trace.
func (s *Store) ImportTraces(ctx context.Context, experiment string, traces []*trace.Trace) (ImportResult, error) {
	return s.ImportTraceSeq(ctx, experiment, func(yield func(*trace.Trace, error) bool) {
		for _, t := range traces {
			if !yield(t, nil) {
				return
			}
		}
	})
}

type outcome int

const (
	added outcome = iota
	updated
	unchanged
)

// checkTraceID reports whether id can name a trace.
func checkTraceID(id string) error { return trace.CheckID(id) }

// Trace returns the trace with the given ID, with its assessments in
// stored order.
func (s *Store) Trace(ctx context.Context, id string) (*trace.Trace, error) {
	var t *trace.Trace
	err := s.read(ctx, func(tx *sql.Tx) error {
		var b []byte
		err := tx.QueryRowContext(ctx, `SELECT json FROM traces WHERE trace_id = ?`, id).Scan(&b)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if t, err = decodeTrace(b); err != nil {
			return err
		}
		t.Info.Assessments, err = loadAssessments(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("trace %q: %w", id, err)
	}
	return t, nil
}

// TraceQuery selects traces. The zero value selects every trace. Traces
// come in the order they were first imported.
type TraceQuery struct {
	// Experiment restricts the result to the experiment of that name.
	// Empty means every experiment.
	Experiment string
	// IDs restricts the result to the traces with these IDs; IDs not in
	// the store are ignored. Empty means no restriction.
	IDs []string
	// WithFeedback restricts the result to traces having HUMAN feedback
	// of that name, compared case-insensitively after trimming spaces, as
	// MLflow matches human labels to a judge.
	WithFeedback string
	// Limit is the most traces to return; 0 means no limit.
	Limit int
	// Offset is how many matching traces to skip.
	Offset int
}

// Traces returns an iterator over the traces q selects, with their
// assessments. It reads the store a page at a time, so memory stays small
// however many traces match, and it holds no lock or connection while the
// loop body runs: the body may write to the store. A trace imported during
// the iteration is seen if it sorts after the current page.
//
// A stored trace that cannot be decoded (its JSON or one of its
// assessments is corrupt) is yielded as a [*CorruptTraceError] with a nil
// trace, and the iteration goes on with the next trace. Any other error
// ends the iteration after being yielded with a nil trace; an unknown
// experiment yields an error wrapping [ErrNotFound].
func (s *Store) Traces(ctx context.Context, q TraceQuery) iter.Seq2[*trace.Trace, error] {
	return func(yield func(*trace.Trace, error) bool) {
		f, err := s.filter(ctx, q)
		if err != nil {
			yield(nil, fmt.Errorf("list traces: %w", err))
			return
		}
		after, offset, left := int64(-1), q.Offset, q.Limit
		for {
			n := pageSize
			if q.Limit > 0 {
				n = min(n, left)
			}
			var page []pageTrace
			err := s.read(ctx, func(tx *sql.Tx) error {
				var err error
				page, after, err = tracePage(ctx, tx, f, after, offset, n)
				return err
			})
			if err != nil {
				yield(nil, fmt.Errorf("list traces: %w", err))
				return
			}
			for _, pt := range page {
				var ok bool
				if pt.err != nil {
					ok = yield(nil, pt.err)
				} else {
					ok = yield(pt.t, nil)
				}
				if !ok {
					return
				}
			}
			left -= len(page)
			if len(page) < n || (q.Limit > 0 && left == 0) {
				return
			}
			offset = 0
		}
	}
}

// pageTrace is one trace of a page: the trace, or why it cannot be read.
type pageTrace struct {
	id  string
	t   *trace.Trace
	err *CorruptTraceError
}

// tracePage reads up to n traces with seq > after, skipping offset, and
// returns them with the seq of the last one. A trace that cannot be
// decoded is a pageTrace with an error.
func tracePage(ctx context.Context, tx *sql.Tx, f traceFilter, after int64, offset, n int) ([]pageTrace, int64, error) {
	args := append(slices.Clone(f.args), after, n, offset)
	rows, err := tx.QueryContext(ctx, `SELECT t.seq, t.trace_id, t.json FROM traces t
		WHERE `+f.where+` AND t.seq > ? ORDER BY t.seq LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		page []pageTrace
		ids  []string
	)
	for rows.Next() {
		var (
			id string
			b  []byte
		)
		if err := rows.Scan(&after, &id, &b); err != nil {
			return nil, 0, err
		}
		t, err := decodeTrace(b)
		if err != nil {
			page = append(page, pageTrace{id: id, err: &CorruptTraceError{TraceID: id, Err: err}})
			continue
		}
		page = append(page, pageTrace{id: id, t: t})
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	if len(ids) == 0 {
		return page, after, nil
	}

	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return nil, 0, err
	}
	arows, err := tx.QueryContext(ctx, `SELECT trace_id, json FROM assessments
		WHERE trace_id IN (SELECT value FROM json_each(?)) ORDER BY trace_id, seq`, string(idsJSON))
	if err != nil {
		return nil, 0, err
	}
	defer arows.Close()
	byID := make(map[string]*pageTrace, len(page))
	for i := range page {
		if page[i].t != nil {
			byID[page[i].id] = &page[i]
		}
	}
	for arows.Next() {
		var (
			id string
			b  []byte
		)
		if err := arows.Scan(&id, &b); err != nil {
			return nil, 0, err
		}
		pt := byID[id]
		if pt == nil || pt.err != nil {
			continue
		}
		var a trace.Assessment
		// UnmarshalJSON directly: json.Unmarshal would check the JSON
		// once more before the method checks it.
		if err := a.UnmarshalJSON(b); err != nil {
			*pt = pageTrace{id: id, err: &CorruptTraceError{TraceID: id, Err: fmt.Errorf("decode assessment: %w", err)}}
			continue
		}
		pt.t.Info.Assessments = append(pt.t.Info.Assessments, a)
	}
	return page, after, arows.Err()
}

// TraceSummary is what `traces list` shows of a trace.
type TraceSummary struct {
	TraceID    string `json:"trace_id"`
	Experiment string `json:"experiment"`
	// RequestTime is zero when the trace does not say.
	RequestTime     time.Time   `json:"request_time,omitzero"`
	State           trace.State `json:"state,omitempty"`
	RequestPreview  string      `json:"request_preview,omitempty"`
	ResponsePreview string      `json:"response_preview,omitempty"`
	// SessionID is the trace's mlflow.trace.session metadata, if any.
	SessionID string `json:"session_id,omitempty"`
	// Assessments counts all assessments of the trace.
	Assessments int `json:"assessments"`
	// FeedbackNames lists the distinct names of the trace's feedback from
	// any source, sorted.
	FeedbackNames []string `json:"feedback_names"`
	// HumanFeedbackNames lists the distinct names of the trace's HUMAN
	// feedback, sorted: the judges it can help align.
	HumanFeedbackNames []string `json:"human_feedback_names"`
}

// TraceSummaries returns a summary of each trace q selects, in import
// order.
func (s *Store) TraceSummaries(ctx context.Context, q TraceQuery) ([]TraceSummary, error) {
	f, err := s.filter(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("summarize traces: %w", err)
	}
	limit := q.Limit
	if limit == 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := s.db.QueryContext(ctx, `SELECT t.trace_id, e.name, t.request_time, t.state,
			t.request_preview, t.response_preview, t.session_id,
			(SELECT count(*) FROM assessments a WHERE a.trace_id = t.trace_id),
			(SELECT json_group_array(DISTINCT a.name) FROM assessments a
				WHERE a.trace_id = t.trace_id AND a.kind = 'feedback'),
			(SELECT json_group_array(DISTINCT a.name) FROM assessments a
				WHERE a.trace_id = t.trace_id AND a.kind = 'feedback' AND a.source_type = 'HUMAN')
		FROM traces t JOIN experiments e ON e.id = t.experiment_id
		WHERE `+f.where+` ORDER BY t.seq LIMIT ? OFFSET ?`, append(f.args, limit, q.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("summarize traces: %w", err)
	}
	defer rows.Close()
	var list []TraceSummary
	for rows.Next() {
		var (
			ts              TraceSummary
			reqTime         sql.NullInt64
			session         sql.NullString
			state           string
			feedback, human []byte
		)
		if err := rows.Scan(&ts.TraceID, &ts.Experiment, &reqTime, &state, &ts.RequestPreview,
			&ts.ResponsePreview, &session, &ts.Assessments, &feedback, &human); err != nil {
			return nil, fmt.Errorf("summarize traces: %w", err)
		}
		if reqTime.Valid {
			ts.RequestTime = fromMillis(reqTime.Int64)
		}
		ts.State = trace.State(state)
		ts.SessionID = session.String
		if err := json.Unmarshal(feedback, &ts.FeedbackNames); err != nil {
			return nil, fmt.Errorf("summarize traces: %w", err)
		}
		if err := json.Unmarshal(human, &ts.HumanFeedbackNames); err != nil {
			return nil, fmt.Errorf("summarize traces: %w", err)
		}
		if len(ts.FeedbackNames) == 0 {
			ts.FeedbackNames = nil
		}
		if len(ts.HumanFeedbackNames) == 0 {
			ts.HumanFeedbackNames = nil
		}
		slices.Sort(ts.FeedbackNames)
		slices.Sort(ts.HumanFeedbackNames)
		list = append(list, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("summarize traces: %w", err)
	}
	return list, nil
}

// CountTraces returns how many traces q selects, ignoring its Limit and
// Offset.
func (s *Store) CountTraces(ctx context.Context, q TraceQuery) (int, error) {
	f, err := s.filter(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("count traces: %w", err)
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM traces t WHERE `+f.where, f.args...).
		Scan(&n); err != nil {
		return 0, fmt.Errorf("count traces: %w", err)
	}
	return n, nil
}

// DeleteTraces deletes the traces with the given IDs and their assessments,
// and returns how many traces it deleted. IDs not in the store are ignored.
func (s *Store) DeleteTraces(ctx context.Context, ids ...string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	idsJSON, err := json.Marshal(ids)
	if err != nil {
		return 0, fmt.Errorf("delete traces: %w", err)
	}
	var n int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM traces WHERE trace_id IN (SELECT value FROM json_each(?))`, string(idsJSON))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete traces: %w", err)
	}
	return int(n), nil
}

// traceFilter is the WHERE clause of a TraceQuery over "traces t".
type traceFilter struct {
	where string
	args  []any
}

func (s *Store) filter(ctx context.Context, q TraceQuery) (traceFilter, error) {
	if q.Limit < 0 || q.Offset < 0 {
		return traceFilter{}, fmt.Errorf("negative limit %d or offset %d", q.Limit, q.Offset)
	}
	conds := []string{"1"}
	var args []any
	if q.Experiment != "" {
		id, err := experimentID(ctx, s.db, q.Experiment)
		if err != nil {
			return traceFilter{}, err
		}
		conds = append(conds, "t.experiment_id = ?")
		args = append(args, id)
	}
	if len(q.IDs) > 0 {
		b, err := json.Marshal(q.IDs)
		if err != nil {
			return traceFilter{}, err
		}
		conds = append(conds, "t.trace_id IN (SELECT value FROM json_each(?))")
		args = append(args, string(b))
	}
	if q.WithFeedback != "" {
		conds = append(conds, `EXISTS (SELECT 1 FROM assessments a WHERE a.trace_id = t.trace_id
			AND a.name_key = ? AND a.kind = 'feedback' AND a.source_type = 'HUMAN')`)
		args = append(args, nameKey(q.WithFeedback))
	}
	return traceFilter{where: strings.Join(conds, " AND "), args: args}, nil
}

// nameKey is how assessment names are matched: trimmed and lower-cased.
func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

func decodeTrace(b []byte) (*trace.Trace, error) {
	var t trace.Trace
	// UnmarshalJSON directly: json.Unmarshal would check the JSON once
	// more before the method checks it.
	if err := t.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("decode trace: %w", err)
	}
	return &t, nil
}
