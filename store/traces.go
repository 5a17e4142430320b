package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
// if needed; "" means [DefaultExperiment]), in one transaction: all of them
// or, on error, none.
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
	if experiment == "" {
		experiment = DefaultExperiment
	}
	var res ImportResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		exp, err := ensureExperiment(ctx, tx, experiment)
		if err != nil {
			return fmt.Errorf("experiment %q: %w", experiment, err)
		}
		im, err := prepareImporter(ctx, tx)
		if err != nil {
			return err
		}
		defer im.close()
		for i, t := range traces {
			if err := ctx.Err(); err != nil {
				return err
			}
			if t == nil {
				return fmt.Errorf("trace %d: nil trace", i)
			}
			o, err := im.put(ctx, exp.ID, t)
			if err != nil {
				return fmt.Errorf("trace %d [%s]: %w", i, t.Info.TraceID, err)
			}
			switch o {
			case added:
				res.Added++
			case updated:
				res.Updated++
			case unchanged:
				res.Unchanged++
			}
			res.Assessments += len(t.Info.Assessments)
		}
		return nil
	})
	if err != nil {
		return ImportResult{}, fmt.Errorf("import traces: %w", err)
	}
	return res, nil
}

type outcome int

const (
	added outcome = iota
	updated
	unchanged
)

// importer holds the statements of one import transaction.
type importer struct {
	selTrace, selAssessments, insTrace, updTrace *sql.Stmt
	delAssessments, insAssessment, selOwner      *sql.Stmt
	stmts                                        []stmtSpec
}

func prepareImporter(ctx context.Context, tx *sql.Tx) (*importer, error) {
	im := &importer{}
	im.stmts = []stmtSpec{
		{&im.selTrace, `SELECT experiment_id, json FROM traces WHERE trace_id = ?`},
		{&im.selAssessments, `SELECT ` + assessmentColumns + ` FROM assessments WHERE trace_id = ? ORDER BY seq`},
		{&im.insTrace, `INSERT INTO traces (experiment_id, request_time, state, request_preview, response_preview,
			session_id, json, trace_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`},
		{&im.updTrace, `UPDATE traces SET experiment_id = ?, request_time = ?, state = ?, request_preview = ?,
			response_preview = ?, session_id = ?, json = ? WHERE trace_id = ?`},
		{&im.delAssessments, `DELETE FROM assessments WHERE trace_id = ?`},
		{&im.insAssessment, insertAssessmentSQL},
		{&im.selOwner, `SELECT trace_id FROM assessments WHERE assessment_id = ?`},
	}
	if err := prepareAll(ctx, tx, im.stmts); err != nil {
		return nil, err
	}
	return im, nil
}

func (im *importer) close() { closeAll(im.stmts) }

// put stores one trace, merging its assessments with the stored ones.
func (im *importer) put(ctx context.Context, expID int64, t *trace.Trace) (outcome, error) {
	id := t.Info.TraceID
	if err := checkTraceID(id); err != nil {
		return 0, err
	}

	var (
		exists  bool
		oldExp  int64
		oldJSON []byte
		stored  []assessmentRow
	)
	switch err := im.selTrace.QueryRowContext(ctx, id).Scan(&oldExp, &oldJSON); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, err
	default:
		exists = true
		var err error
		if stored, err = queryAssessmentRows(ctx, im.selAssessments, id); err != nil {
			return 0, err
		}
	}
	invalid := make(map[string]bool)
	for _, r := range stored {
		if r.Valid.Valid && !r.Valid.Bool {
			invalid[r.ID] = true
		}
	}

	// The imported assessments in order (a repeated ID keeps its first
	// position and its last content), then the stored ones not imported.
	var merged []assessmentRow
	at := make(map[string]int)
	for i := range t.Info.Assessments {
		a := t.Info.Assessments[i]
		if a.TraceID != "" && a.TraceID != id {
			return 0, fmt.Errorf("assessment %d: trace_id %q is not the trace's", i, a.TraceID)
		}
		if a.ID == "" {
			var err error
			if a.ID, err = AssessmentID(id, &a); err != nil {
				return 0, fmt.Errorf("assessment %d: %w", i, err)
			}
		}
		if invalid[a.ID] && (a.Valid == nil || *a.Valid) {
			a.Valid = new(false)
		}
		r, err := encodeAssessment(&a)
		if err != nil {
			return 0, fmt.Errorf("assessment %d [%s]: %w", i, a.ID, err)
		}
		if j, ok := at[a.ID]; ok {
			merged[j] = r
			continue
		}
		at[a.ID] = len(merged)
		merged = append(merged, r)
	}
	for _, r := range stored {
		if _, ok := at[r.ID]; !ok {
			merged = append(merged, r)
		}
	}

	stripped := *t
	stripped.Info.Assessments = nil
	traceJSON, err := json.Marshal(&stripped)
	if err != nil {
		return 0, fmt.Errorf("encode trace: %w", err)
	}
	if exists && oldExp == expID && bytes.Equal(oldJSON, traceJSON) && sameRows(stored, merged) {
		return unchanged, nil
	}

	info := &t.Info
	var reqTime sql.NullInt64
	if !info.RequestTime.IsZero() {
		reqTime = sql.NullInt64{Int64: info.RequestTime.Millis(), Valid: true}
	}
	var session sql.NullString
	if v, ok := info.Metadata[sessionKey]; ok {
		session = sql.NullString{String: v, Valid: true}
	}
	args := []any{expID, reqTime, string(info.State), info.RequestPreview, info.ResponsePreview,
		session, string(traceJSON), id}
	o := added
	if exists {
		o = updated
		if _, err := im.updTrace.ExecContext(ctx, args...); err != nil {
			return 0, err
		}
		if _, err := im.delAssessments.ExecContext(ctx, id); err != nil {
			return 0, err
		}
	} else if _, err := im.insTrace.ExecContext(ctx, args...); err != nil {
		return 0, err
	}
	for seq, r := range merged {
		if _, err := im.insAssessment.ExecContext(ctx, r.insertArgs(id, seq)...); err != nil {
			var owner string
			if im.selOwner.QueryRowContext(ctx, r.ID).Scan(&owner) == nil && owner != id {
				return 0, fmt.Errorf("assessment %s already belongs to trace %s", r.ID, owner)
			}
			return 0, fmt.Errorf("assessment %s: %w", r.ID, err)
		}
	}
	return o, nil
}

// checkTraceID reports whether id can name a trace.
func checkTraceID(id string) error {
	if id == "" {
		return errors.New("empty trace id")
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("trace id %q is not valid UTF-8", id)
	}
	if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("trace id %q contains a space or control character", id)
	}
	return nil
}

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
		if err := json.Unmarshal(b, &a); err != nil {
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
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("decode trace: %w", err)
	}
	return &t, nil
}
