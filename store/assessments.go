package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// AssessmentID returns the ID the store gives an assessment of the trace
// traceID that has none: "a-" and 32 hex digits of the SHA-256 of the trace
// ID, the assessment's name, source, create time and value (its feedback or
// expectation). The same assessment imported or logged again gets the same
// ID, so it is not stored twice.
func AssessmentID(traceID string, a *trace.Assessment) (string, error) {
	var value []byte
	var err error
	switch {
	case a.Feedback != nil:
		value, err = json.Marshal(a.Feedback)
	case a.Expectation != nil:
		value, err = json.Marshal(a.Expectation)
	}
	if err != nil {
		return "", fmt.Errorf("assessment id: %w", err)
	}
	h := sha256.New()
	for _, part := range []string{traceID, a.Name, string(a.Source.Type), a.Source.ID,
		strconv.FormatInt(a.CreateTime.Millis(), 10), string(value)} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "a-" + hex.EncodeToString(h.Sum(nil)[:16]), nil
}

// Assessments returns the assessments of the trace with the given ID, in
// stored order.
func (s *Store) Assessments(ctx context.Context, traceID string) ([]trace.Assessment, error) {
	var list []trace.Assessment
	err := s.read(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM traces WHERE trace_id = ?`, traceID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		list, err = loadAssessments(ctx, tx, traceID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("assessments of trace %q: %w", traceID, err)
	}
	return list, nil
}

// AssessmentRow is one assessment given to [Store.LogAssessments].
type AssessmentRow struct {
	// Line is where the row is in the caller's input (a JSON Lines file,
	// say), for error messages; 0 means unknown.
	Line int
	// Assessment is the assessment to log. Its TraceID names the trace it
	// belongs to, which must be in the store.
	Assessment trace.Assessment
}

// LogOptions change how [Store.LogAssessments] treats its rows.
type LogOptions struct {
	// SkipInvalid skips rows that cannot be logged and reports them in
	// LogResult.Rejected, instead of failing on the first one.
	SkipInvalid bool
	// SupersedeSameSource makes a new HUMAN feedback override the valid
	// HUMAN feedback of the same trace, name (compared case-insensitively)
	// and source ID, as MLflow's override_feedback does: the old ones are
	// marked invalid and the new one's Overrides names the most recent of
	// them. A new feedback with the same value and rationale as the most
	// recent one is unchanged: nothing is written, and the earlier one keeps
	// its time (so re-importing a feedback file is idempotent).
	SupersedeSameSource bool
}

// LogResult counts what [Store.LogAssessments] did.
type LogResult struct {
	// Added counts assessments new to the store.
	Added int
	// Updated counts rows that replaced a stored assessment with the same
	// ID and different content.
	Updated int
	// Unchanged counts rows identical to a stored assessment.
	Unchanged int
	// Superseded counts stored assessments the logged ones marked invalid.
	Superseded int
	// Rejected lists the rows skipped under SkipInvalid, in input order.
	Rejected []*RowError
}

// LogAssessments adds assessments to stored traces, in one transaction.
//
// An assessment without an ID gets the one [AssessmentID] derives; one
// whose ID is stored replaces the stored one, keeping its place, so logging
// the same rows twice changes nothing. Fields the row leaves empty that the
// store filled before (create time, overrides, valid) keep their stored
// values; a new assessment without a create time is stamped with the
// current time. An assessment that names another in Overrides marks that
// one invalid.
//
// # Errors
//
// A row is invalid if it has no trace ID or name, does not have exactly one
// of feedback and expectation, has an unknown source type, names a trace
// that is not in the store, reuses the ID of another trace's assessment, or
// overrides an assessment that is not one of its trace's. Without
// SkipInvalid, the first invalid row fails the call with a [*RowError] and
// nothing is logged; with it, invalid rows are skipped and listed in
// LogResult.Rejected. Storage errors always fail the whole call.
func (s *Store) LogAssessments(ctx context.Context, rows []AssessmentRow, opts LogOptions) (LogResult, error) {
	var res LogResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		return logRows(ctx, tx, func(yield func(AssessmentRow, error) bool) {
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
		}, opts, &res)
	})
	if err != nil {
		return LogResult{}, fmt.Errorf("log assessments: %w", err)
	}
	return res, nil
}

// logger holds the statements of one LogAssessments transaction.
type logger struct {
	selTrace, selByID, selSameSource, nextSeq, insert, update, invalidate *sql.Stmt
	stmts                                                                 []stmtSpec
}

func prepareLogger(ctx context.Context, tx *sql.Tx) (*logger, error) {
	lg := &logger{}
	lg.stmts = []stmtSpec{
		{&lg.selTrace, `SELECT 1 FROM traces WHERE trace_id = ?`},
		{&lg.selByID, `SELECT trace_id, valid, json FROM assessments WHERE assessment_id = ?`},
		{&lg.selSameSource, `SELECT assessment_id FROM assessments
			WHERE trace_id = ? AND name_key = ? AND kind = 'feedback' AND source_type = 'HUMAN'
				AND source_id = ? AND assessment_id <> ? AND (valid IS NULL OR valid = 1)
			ORDER BY create_time DESC, seq DESC`},
		{&lg.nextSeq, `SELECT coalesce(max(seq) + 1, 0) FROM assessments WHERE trace_id = ?`},
		{&lg.insert, insertAssessmentSQL},
		{&lg.update, `UPDATE assessments SET name = ?, name_key = ?, kind = ?, source_type = ?,
			source_id = ?, create_time = ?, valid = ?, overrides = ?, json = ? WHERE assessment_id = ?`},
		{&lg.invalidate, `UPDATE assessments SET valid = 0, json = ? WHERE assessment_id = ?`},
	}
	if err := prepareAll(ctx, tx, lg.stmts); err != nil {
		return nil, err
	}
	return lg, nil
}

func (lg *logger) close() { closeAll(lg.stmts) }

// logged is the fate of one row: a reason it was refused, or what was done.
type logged struct {
	reason     string
	outcome    outcome
	superseded int
}

// stored is an assessment row as read back by ID.
type stored struct {
	traceID string
	valid   sql.NullBool
	json    []byte
}

func (lg *logger) byID(ctx context.Context, id string) (*stored, error) {
	var st stored
	err := lg.selByID.QueryRowContext(ctx, id).Scan(&st.traceID, &st.valid, &st.json)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// log logs one assessment. Every check that can refuse the row comes
// before the first write.
func (lg *logger) log(ctx context.Context, a trace.Assessment, opts LogOptions) (logged, error) {
	refuse := func(format string, args ...any) (logged, error) {
		return logged{reason: fmt.Sprintf(format, args...)}, nil
	}
	if a.TraceID == "" {
		return refuse("missing trace_id")
	}
	if strings.TrimSpace(a.Name) == "" {
		return refuse("missing assessment_name")
	}
	if _, err := assessmentKind(&a); err != nil {
		return refuse("%v", err)
	}
	switch a.Source.Type {
	case trace.SourceHuman, trace.SourceLLMJudge, trace.SourceCode, trace.SourceUnspecified:
	default:
		return refuse("unknown source type %q (want %s, %s or %s)",
			a.Source.Type, trace.SourceHuman, trace.SourceLLMJudge, trace.SourceCode)
	}
	var one int
	switch err := lg.selTrace.QueryRowContext(ctx, a.TraceID).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return refuse("trace %s is not in the store", a.TraceID)
	case err != nil:
		return logged{}, err
	}

	if a.ID == "" {
		id, err := AssessmentID(a.TraceID, &a)
		if err != nil {
			return refuse("%v", err)
		}
		a.ID = id
	}
	old, err := lg.byID(ctx, a.ID)
	if err != nil {
		return logged{}, err
	}
	if old != nil {
		if old.traceID != a.TraceID {
			return refuse("assessment %s belongs to trace %s", a.ID, old.traceID)
		}
		var prev trace.Assessment
		if err := json.Unmarshal(old.json, &prev); err != nil {
			return logged{}, fmt.Errorf("decode assessment %s: %w", a.ID, err)
		}
		if a.CreateTime.IsZero() {
			a.CreateTime = prev.CreateTime
		}
		if a.LastUpdateTime.IsZero() {
			a.LastUpdateTime = prev.LastUpdateTime
		}
		if a.Overrides == "" {
			a.Overrides = prev.Overrides
		}
		if a.Valid == nil {
			a.Valid = prev.Valid
		}
	}
	if a.CreateTime.IsZero() {
		a.CreateTime = trace.NewTimestamp(time.Now())
	}
	if a.LastUpdateTime.IsZero() {
		a.LastUpdateTime = a.CreateTime
	}

	var overridden []string
	switch {
	case a.Overrides == a.ID:
		return refuse("assessment %s overrides itself", a.ID)
	case a.Overrides != "":
		target, err := lg.byID(ctx, a.Overrides)
		if err != nil {
			return logged{}, err
		}
		if target == nil || target.traceID != a.TraceID {
			return refuse("overrides %s, which is not an assessment of trace %s", a.Overrides, a.TraceID)
		}
		overridden = []string{a.Overrides}
	case opts.SupersedeSameSource && a.Feedback != nil && a.Source.Type == trace.SourceHuman:
		rows, err := lg.selSameSource.QueryContext(ctx, a.TraceID, nameKey(a.Name), a.Source.ID, a.ID)
		if err != nil {
			return logged{}, err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return logged{}, err
			}
			overridden = append(overridden, id)
		}
		if err := rows.Close(); err != nil {
			return logged{}, err
		}
		if err := rows.Err(); err != nil {
			return logged{}, err
		}
		if len(overridden) > 0 {
			// The same person saying the same thing again (re-importing a
			// feedback file, say) changes nothing: the earlier feedback,
			// with its time, stands.
			same, err := lg.sameJudgement(ctx, overridden[0], &a)
			if err != nil {
				return logged{}, err
			}
			if same {
				return logged{outcome: unchanged}, nil
			}
			a.Overrides = overridden[0]
		}
	}
	if len(overridden) > 0 && a.Valid == nil {
		a.Valid = new(true)
	}
	r, err := encodeAssessment(&a)
	if err != nil {
		return refuse("%v", err)
	}

	res := logged{outcome: added}
	switch {
	case old != nil && bytes.Equal(old.json, r.JSON):
		res.outcome = unchanged
	case old != nil:
		res.outcome = updated
		if _, err := lg.update.ExecContext(ctx, r.Name, r.NameKey, r.Kind, r.SourceType, r.SourceID,
			r.CreateTime, r.Valid, r.Overrides, string(r.JSON), r.ID); err != nil {
			return logged{}, err
		}
	default:
		var seq int
		if err := lg.nextSeq.QueryRowContext(ctx, a.TraceID).Scan(&seq); err != nil {
			return logged{}, err
		}
		if _, err := lg.insert.ExecContext(ctx, r.insertArgs(a.TraceID, seq)...); err != nil {
			return logged{}, err
		}
	}
	for _, id := range overridden {
		n, err := lg.markInvalid(ctx, id)
		if err != nil {
			return logged{}, err
		}
		res.superseded += n
	}
	return res, nil
}

// sameJudgement reports whether the stored assessment id has the value and
// rationale of a.
func (lg *logger) sameJudgement(ctx context.Context, id string, a *trace.Assessment) (bool, error) {
	st, err := lg.byID(ctx, id)
	if err != nil || st == nil {
		return false, err
	}
	var prev trace.Assessment
	if err := json.Unmarshal(st.json, &prev); err != nil {
		return false, fmt.Errorf("decode assessment %s: %w", id, err)
	}
	if prev.Feedback == nil || a.Feedback == nil || prev.Rationale != a.Rationale {
		return false, nil
	}
	var x, y bytes.Buffer
	if json.Compact(&x, prev.Feedback.Value) != nil || json.Compact(&y, a.Feedback.Value) != nil {
		return false, nil
	}
	return bytes.Equal(x.Bytes(), y.Bytes()), nil
}

// markInvalid marks a stored assessment invalid, in its JSON and its
// column, and reports 1 if it was not already.
func (lg *logger) markInvalid(ctx context.Context, id string) (int, error) {
	st, err := lg.byID(ctx, id)
	if err != nil || st == nil {
		return 0, err
	}
	if st.valid.Valid && !st.valid.Bool {
		return 0, nil
	}
	var a trace.Assessment
	if err := json.Unmarshal(st.json, &a); err != nil {
		return 0, fmt.Errorf("decode assessment %s: %w", id, err)
	}
	a.Valid = new(false)
	b, err := json.Marshal(&a)
	if err != nil {
		return 0, fmt.Errorf("encode assessment %s: %w", id, err)
	}
	if _, err := lg.invalidate.ExecContext(ctx, string(b), id); err != nil {
		return 0, err
	}
	return 1, nil
}

// assessmentColumns are the columns of an assessmentRow, in scan order.
const assessmentColumns = `assessment_id, name, name_key, kind, source_type, source_id, create_time,
	valid, overrides, json`

const insertAssessmentSQL = `INSERT INTO assessments (trace_id, seq, assessment_id, name, name_key, kind,
	source_type, source_id, create_time, valid, overrides, json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// assessmentRow is an assessment as the assessments table holds it: its
// JSON and the columns indexed from it.
type assessmentRow struct {
	ID, Name, NameKey, Kind, SourceType, SourceID string
	CreateTime                                    int64
	Valid                                         sql.NullBool
	Overrides                                     sql.NullString
	JSON                                          []byte
}

func encodeAssessment(a *trace.Assessment) (assessmentRow, error) {
	kind, err := assessmentKind(a)
	if err != nil {
		return assessmentRow{}, err
	}
	b, err := json.Marshal(a)
	if err != nil {
		return assessmentRow{}, fmt.Errorf("encode assessment: %w", err)
	}
	r := assessmentRow{
		ID:         a.ID,
		Name:       a.Name,
		NameKey:    nameKey(a.Name),
		Kind:       kind,
		SourceType: string(a.Source.Type),
		SourceID:   a.Source.ID,
		CreateTime: a.CreateTime.Millis(),
		Overrides:  sql.NullString{String: a.Overrides, Valid: a.Overrides != ""},
		JSON:       b,
	}
	if a.Valid != nil {
		r.Valid = sql.NullBool{Bool: *a.Valid, Valid: true}
	}
	return r, nil
}

func (r *assessmentRow) insertArgs(traceID string, seq int) []any {
	return []any{traceID, seq, r.ID, r.Name, r.NameKey, r.Kind, r.SourceType, r.SourceID,
		r.CreateTime, r.Valid, r.Overrides, string(r.JSON)}
}

// assessmentKind returns the kind column of a: feedback or expectation.
func assessmentKind(a *trace.Assessment) (string, error) {
	switch {
	case a.Feedback != nil && a.Expectation != nil:
		return "", errors.New("assessment has both feedback and expectation")
	case a.Feedback != nil:
		return "feedback", nil
	case a.Expectation != nil:
		return "expectation", nil
	}
	return "", errors.New("assessment has neither feedback nor expectation")
}

// sameRows reports whether two lists of assessment rows hold the same
// assessments in the same order.
func sameRows(a, b []assessmentRow) bool {
	return slices.EqualFunc(a, b, func(x, y assessmentRow) bool {
		return x.ID == y.ID && bytes.Equal(x.JSON, y.JSON)
	})
}

func queryAssessmentRows(ctx context.Context, st *sql.Stmt, traceID string) ([]assessmentRow, error) {
	rows, err := st.QueryContext(ctx, traceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []assessmentRow
	for rows.Next() {
		var r assessmentRow
		if err := rows.Scan(&r.ID, &r.Name, &r.NameKey, &r.Kind, &r.SourceType, &r.SourceID,
			&r.CreateTime, &r.Valid, &r.Overrides, &r.JSON); err != nil {
			return nil, err
		}
		list = append(list, r)
	}
	return list, rows.Err()
}

// loadAssessments returns the assessments of a trace in stored order.
func loadAssessments(ctx context.Context, q querier, traceID string) ([]trace.Assessment, error) {
	rows, err := q.QueryContext(ctx, `SELECT assessment_id, json FROM assessments
		WHERE trace_id = ? ORDER BY seq`, traceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []trace.Assessment
	for rows.Next() {
		var (
			id string
			b  []byte
		)
		if err := rows.Scan(&id, &b); err != nil {
			return nil, err
		}
		var a trace.Assessment
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("decode assessment %s: %w", id, err)
		}
		list = append(list, a)
	}
	return list, rows.Err()
}
