package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// A streamed import is staged, then published.
//
// Staging writes the traces, encoded and checked, into the import_traces
// and import_assessments tables, a chunk per short transaction, under a
// row of import_batches. Nothing reads those tables but the import, so a
// staged trace is invisible, and other writers (an eval storing its
// answers) take the write lock between chunks.
//
// Publishing merges the staged rows into traces and assessments in one
// transaction of set-based statements and deletes the batch row: the
// import becomes visible at once, or not at all. What the merge needs to
// know about the stored traces is read inside that transaction, so a
// concurrent LogAssessments between staging and publishing is merged,
// not overwritten.
//
// A failed or cancelled import deletes its staged rows. A killed one
// leaves them behind, invisible: the next import deletes the rows of
// batches whose process is gone (same host) or that have not been touched
// for staleImportAge, and rows whose batch row is gone.

// Staging chunk bounds: a chunk is written when it holds this many traces
// or bytes of JSON, whichever comes first.
const (
	defaultChunkTraces = 1000
	defaultChunkBytes  = 8 << 20
)

// staleImportAge is how long a staged batch whose process cannot be
// checked (another host) may sit untouched before it counts as abandoned.
const staleImportAge = time.Hour

// cleanupChunk is how many staged rows one cleanup transaction deletes.
const cleanupChunk = 5000

// ImportTraceSeq stores the traces of seq in the experiment with the given
// name (created if needed; "" means [DefaultExperiment]), all of them or,
// on error, none, with the semantics of [Store.ImportTraces]. Memory holds
// one staging chunk, not the sequence: seq may come from a file of any
// size.
//
// The traces are staged in chunks, each in a short transaction, so other
// writers interleave with a long import; they are then published in one
// transaction of set-based statements, the only time the import holds the
// write lock for more than one chunk. An error yielded by seq, a cancelled
// ctx, an invalid trace or a killed process leaves the store as it was;
// staged rows of a killed process are removed by a later import.
//
// A trace that appears twice in seq is merged as if imported twice in a row
// (the second replaces the first, assessments merged by ID).
func (s *Store) ImportTraceSeq(ctx context.Context, experiment string, seq iter.Seq2[*trace.Trace, error]) (ImportResult, error) {
	if experiment == "" {
		experiment = DefaultExperiment
	}
	res, err := s.importSeq(ctx, experiment, seq)
	if err != nil {
		return ImportResult{}, fmt.Errorf("import traces: %w", err)
	}
	return res, nil
}

func (s *Store) importSeq(ctx context.Context, experiment string, seq iter.Seq2[*trace.Trace, error]) (res ImportResult, err error) {
	if err := s.cleanStaleImports(ctx); err != nil {
		return res, fmt.Errorf("remove abandoned imports: %w", err)
	}
	if err := checkExperimentName(experiment); err != nil {
		return res, fmt.Errorf("experiment %q: %w", experiment, err)
	}
	b, err := s.beginImport(ctx, experiment)
	if err != nil {
		return res, err
	}
	defer func() {
		// The batch row of a published import is gone; its rows, or all
		// of a failed import, are removed now, whatever became of ctx.
		cleanup := context.WithoutCancel(ctx)
		if err != nil {
			s.write(cleanup, func(tx *sql.Tx) error {
				_, err := tx.ExecContext(cleanup, `DELETE FROM import_batches WHERE id = ?`, b.id)
				return err
			})
		}
		s.deleteStaged(cleanup, b.id)
	}()

	var (
		chunk []stagedTrace
		size  int
		i     int
	)
	for t, err := range seq {
		if err != nil {
			return res, err
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		if t == nil {
			return res, fmt.Errorf("trace %d: nil trace", i)
		}
		st, err := stageTrace(i, t)
		if err != nil {
			return res, fmt.Errorf("trace %d [%s]: %w", i, t.Info.TraceID, err)
		}
		res.Assessments += len(t.Info.Assessments)
		chunk = append(chunk, st)
		size += st.size()
		i++
		if len(chunk) >= s.chunkTraces() || size >= defaultChunkBytes {
			if err := s.stageChunk(ctx, b, chunk, &res); err != nil {
				return res, err
			}
			chunk, size = chunk[:0], 0
		}
	}
	if err := s.stageChunk(ctx, b, chunk, &res); err != nil {
		return res, err
	}
	if err := s.publishImport(ctx, b, &res); err != nil {
		return res, err
	}
	return res, nil
}

func (s *Store) chunkTraces() int {
	if s.importChunk > 0 {
		return s.importChunk
	}
	return defaultChunkTraces
}

// importBatch is one staged import.
type importBatch struct {
	id         int64
	experiment string
	expID      int64 // set when publishing
}

func (s *Store) beginImport(ctx context.Context, experiment string) (importBatch, error) {
	host, _ := os.Hostname()
	b := importBatch{experiment: experiment}
	err := s.write(ctx, func(tx *sql.Tx) error {
		now := nowMillis()
		r, err := tx.ExecContext(ctx, `INSERT INTO import_batches (experiment, pid, host, started_at, touched_at)
			VALUES (?, ?, ?, ?, ?)`, experiment, os.Getpid(), host, now, now)
		if err != nil {
			return err
		}
		b.id, err = r.LastInsertId()
		return err
	})
	return b, err
}

// stagedTrace is a trace encoded for the traces and assessments tables.
type stagedTrace struct {
	ord                            int
	id                             string
	reqTime                        sql.NullInt64
	state, reqPreview, respPreview string
	session                        sql.NullString
	json                           []byte
	assessments                    []assessmentRow
}

func (st *stagedTrace) size() int {
	n := len(st.json)
	for _, r := range st.assessments {
		n += len(r.JSON)
	}
	return n
}

// stageTrace checks and encodes t: what can be known of it without the
// store. Its assessments are in import order, a repeated ID keeping its
// first position and its last content.
func stageTrace(ord int, t *trace.Trace) (stagedTrace, error) {
	id := t.Info.TraceID
	if err := checkTraceID(id); err != nil {
		return stagedTrace{}, err
	}
	rows, err := importedRows(t, nil)
	if err != nil {
		return stagedTrace{}, err
	}
	stripped := *t
	stripped.Info.Assessments = nil
	traceJSON, err := json.Marshal(&stripped)
	if err != nil {
		return stagedTrace{}, fmt.Errorf("encode trace: %w", err)
	}
	info := &t.Info
	st := stagedTrace{ord: ord, id: id, state: string(info.State), reqPreview: info.RequestPreview,
		respPreview: info.ResponsePreview, json: traceJSON, assessments: rows}
	if !info.RequestTime.IsZero() {
		st.reqTime = sql.NullInt64{Int64: info.RequestTime.Millis(), Valid: true}
	}
	if v, ok := info.Metadata[sessionKey]; ok {
		st.session = sql.NullString{String: v, Valid: true}
	}
	return st, nil
}

// importedRows encodes the assessments of t in import order, a repeated ID
// keeping its first position and its last content; an assessment whose ID
// invalid holds is kept invalid.
func importedRows(t *trace.Trace, invalid map[string]bool) ([]assessmentRow, error) {
	id := t.Info.TraceID
	var rows []assessmentRow
	at := make(map[string]int)
	for i := range t.Info.Assessments {
		a := t.Info.Assessments[i]
		if a.TraceID != "" && a.TraceID != id {
			return nil, fmt.Errorf("assessment %d: trace_id %q is not the trace's", i, a.TraceID)
		}
		if a.ID == "" {
			var err error
			if a.ID, err = AssessmentID(id, &a); err != nil {
				return nil, fmt.Errorf("assessment %d: %w", i, err)
			}
		}
		if invalid[a.ID] && (a.Valid == nil || *a.Valid) {
			a.Valid = new(false)
		}
		r, err := encodeAssessment(&a)
		if err != nil {
			return nil, fmt.Errorf("assessment %d [%s]: %w", i, a.ID, err)
		}
		if j, ok := at[a.ID]; ok {
			rows[j] = r
			continue
		}
		at[a.ID] = len(rows)
		rows = append(rows, r)
	}
	return rows, nil
}

const stageTraceSQL = `INSERT INTO import_traces (batch_id, ord, trace_id, request_time, state,
	request_preview, response_preview, session_id, json, n_assessments)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (batch_id, trace_id) DO NOTHING`

const stageAssessmentSQL = `INSERT INTO import_assessments (batch_id, trace_id, seq, assessment_id,
	name, name_key, kind, source_type, source_id, create_time, valid, overrides, json)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// stageChunk writes a chunk of staged traces in one transaction.
func (s *Store) stageChunk(ctx context.Context, b importBatch, chunk []stagedTrace, res *ImportResult) error {
	if len(chunk) == 0 {
		return nil
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE import_batches SET touched_at = ? WHERE id = ?`, nowMillis(), b.id)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return errors.New("the staged import was removed as abandoned")
		}
		insTrace, err := tx.PrepareContext(ctx, stageTraceSQL)
		if err != nil {
			return err
		}
		defer insTrace.Close()
		insAssessment, err := tx.PrepareContext(ctx, stageAssessmentSQL)
		if err != nil {
			return err
		}
		defer insAssessment.Close()
		for i := range chunk {
			st := &chunk[i]
			r, err := insTrace.ExecContext(ctx, b.id, st.ord, st.id, st.reqTime, st.state, st.reqPreview,
				st.respPreview, st.session, string(st.json), len(st.assessments))
			if err != nil {
				return fmt.Errorf("trace %d [%s]: %w", st.ord, st.id, err)
			}
			if n, err := r.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				// The trace was staged before: merge as a second import
				// of it would.
				o, err := restage(ctx, tx, b, st)
				if err != nil {
					return fmt.Errorf("trace %d [%s]: %w", st.ord, st.id, err)
				}
				if o == unchanged {
					res.Unchanged++
				} else {
					res.Updated++
				}
				continue
			}
			if err := insertStaged(ctx, tx, insAssessment, b.id, st.id, st.assessments); err != nil {
				return fmt.Errorf("trace %d [%s]: %w", st.ord, st.id, err)
			}
		}
		return nil
	})
}

// insertStaged stages the assessment rows of one trace.
func insertStaged(ctx context.Context, tx *sql.Tx, ins *sql.Stmt, batch int64, traceID string, rows []assessmentRow) error {
	for seq, r := range rows {
		if _, err := ins.ExecContext(ctx, batch, traceID, seq, r.ID, r.Name, r.NameKey, r.Kind, r.SourceType,
			r.SourceID, r.CreateTime, r.Valid, r.Overrides, string(r.JSON)); err != nil {
			var owner string
			if tx.QueryRowContext(ctx, `SELECT trace_id FROM import_assessments WHERE batch_id = ? AND assessment_id = ?`,
				batch, r.ID).Scan(&owner) == nil && owner != traceID {
				return fmt.Errorf("assessment %s already belongs to trace %s", r.ID, owner)
			}
			return fmt.Errorf("assessment %s: %w", r.ID, err)
		}
	}
	return nil
}

// restage merges st into the staged trace with its ID, as importing st
// after it would: st replaces the trace, its assessments come first and
// the staged ones it does not carry follow.
func restage(ctx context.Context, tx *sql.Tx, b importBatch, st *stagedTrace) (outcome, error) {
	var oldJSON []byte
	if err := tx.QueryRowContext(ctx, `SELECT json FROM import_traces WHERE batch_id = ? AND trace_id = ?`,
		b.id, st.id).Scan(&oldJSON); err != nil {
		return 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+assessmentColumns+` FROM import_assessments
		WHERE batch_id = ? AND trace_id = ? ORDER BY seq`, b.id, st.id)
	if err != nil {
		return 0, err
	}
	var staged []assessmentRow
	for rows.Next() {
		var r assessmentRow
		if err := rows.Scan(&r.ID, &r.Name, &r.NameKey, &r.Kind, &r.SourceType, &r.SourceID,
			&r.CreateTime, &r.Valid, &r.Overrides, &r.JSON); err != nil {
			rows.Close()
			return 0, err
		}
		staged = append(staged, r)
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	merged, err := mergeRows(st.assessments, staged)
	if err != nil {
		return 0, err
	}
	if string(oldJSON) == string(st.json) && sameRows(staged, merged) {
		return unchanged, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE import_traces SET request_time = ?, state = ?, request_preview = ?,
		response_preview = ?, session_id = ?, json = ?, n_assessments = ? WHERE batch_id = ? AND trace_id = ?`,
		st.reqTime, st.state, st.reqPreview, st.respPreview, st.session, string(st.json), len(merged),
		b.id, st.id); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM import_assessments WHERE batch_id = ? AND trace_id = ?`,
		b.id, st.id); err != nil {
		return 0, err
	}
	ins, err := tx.PrepareContext(ctx, stageAssessmentSQL)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	return updated, insertStaged(ctx, tx, ins, b.id, st.id, merged)
}

// mergeRows returns imported followed by the rows of stored it does not
// carry; an imported row whose stored counterpart is invalid stays invalid.
func mergeRows(imported, stored []assessmentRow) ([]assessmentRow, error) {
	invalid := make(map[string]bool)
	for _, r := range stored {
		if r.Valid.Valid && !r.Valid.Bool {
			invalid[r.ID] = true
		}
	}
	merged := make([]assessmentRow, 0, len(imported)+len(stored))
	seen := make(map[string]bool, len(imported))
	for _, r := range imported {
		if invalid[r.ID] && (!r.Valid.Valid || r.Valid.Bool) {
			var err error
			if r, err = markRowInvalid(r); err != nil {
				return nil, err
			}
		}
		seen[r.ID] = true
		merged = append(merged, r)
	}
	for _, r := range stored {
		if !seen[r.ID] {
			merged = append(merged, r)
		}
	}
	return merged, nil
}

// markRowInvalid returns r marked invalid, in its column and its JSON.
func markRowInvalid(r assessmentRow) (assessmentRow, error) {
	var a trace.Assessment
	if err := json.Unmarshal(r.JSON, &a); err != nil {
		return r, fmt.Errorf("decode assessment %s: %w", r.ID, err)
	}
	a.Valid = new(false)
	return encodeAssessment(&a)
}

// Outcomes of staged traces, as stored in import_traces.outcome.
const (
	outcomeAdded     = 0
	outcomeUpdated   = 1
	outcomeUnchanged = 2
)

// publishImport merges the staged batch into the store in one transaction.
func (s *Store) publishImport(ctx context.Context, b importBatch, res *ImportResult) error {
	started := time.Now()
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM import_batches WHERE id = ?`, b.id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return errors.New("the staged import was removed as abandoned")
		}
		if err != nil {
			return err
		}
		exp, err := ensureExperiment(ctx, tx, b.experiment)
		if err != nil {
			return fmt.Errorf("experiment %q: %w", b.experiment, err)
		}
		b.expID = exp.ID
		// An assessment ID may not move to another trace.
		var (
			ord            int
			id, aid, owner string
		)
		err = tx.QueryRowContext(ctx, `SELECT t.ord, s.trace_id, s.assessment_id, a.trace_id
			FROM import_assessments s
			JOIN assessments a ON a.assessment_id = s.assessment_id AND a.trace_id <> s.trace_id
			JOIN import_traces t ON t.batch_id = s.batch_id AND t.trace_id = s.trace_id
			WHERE s.batch_id = ? ORDER BY t.ord LIMIT 1`, b.id).Scan(&ord, &id, &aid, &owner)
		switch {
		case err == nil:
			return fmt.Errorf("trace %d [%s]: assessment %s already belongs to trace %s", ord, id, aid, owner)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if err := keepInvalid(ctx, tx, b.id); err != nil {
			return err
		}

		for _, q := range publishSQL {
			args := make([]any, q.args)
			for i := range args {
				args[i] = b.id
			}
			if q.exp {
				args[0] = b.expID
			}
			if _, err := tx.ExecContext(ctx, q.sql, args...); err != nil {
				return fmt.Errorf("publish (%s): %w", q.step, err)
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT outcome, count(*) FROM import_traces
			WHERE batch_id = ? GROUP BY outcome`, b.id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var o, n int
			if err := rows.Scan(&o, &n); err != nil {
				return err
			}
			switch o {
			case outcomeAdded:
				res.Added += n
			case outcomeUpdated:
				res.Updated += n
			case outcomeUnchanged:
				res.Unchanged += n
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM import_batches WHERE id = ?`, b.id)
		return err
	})
	if s.publishHook != nil {
		s.publishHook(time.Since(started))
	}
	return err
}

// keepInvalid marks invalid the staged assessments whose stored
// counterpart of the same trace is invalid (overridden), unless the import
// marks them invalid itself: an import does not undo an override.
func keepInvalid(ctx context.Context, tx *sql.Tx, batch int64) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+prefixed("s.", assessmentColumns)+` FROM import_assessments s
		JOIN assessments a ON a.assessment_id = s.assessment_id AND a.trace_id = s.trace_id
		WHERE s.batch_id = ? AND a.valid = 0 AND (s.valid IS NULL OR s.valid = 1)`, batch)
	if err != nil {
		return err
	}
	var fix []assessmentRow
	for rows.Next() {
		var r assessmentRow
		if err := rows.Scan(&r.ID, &r.Name, &r.NameKey, &r.Kind, &r.SourceType, &r.SourceID,
			&r.CreateTime, &r.Valid, &r.Overrides, &r.JSON); err != nil {
			rows.Close()
			return err
		}
		fix = append(fix, r)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, r := range fix {
		r, err := markRowInvalid(r)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE import_assessments SET valid = 0, json = ?
			WHERE batch_id = ? AND assessment_id = ?`, string(r.JSON), batch, r.ID); err != nil {
			return err
		}
	}
	return nil
}

// prefixed puts prefix before every column of a comma-separated list.
func prefixed(prefix, columns string) string {
	var out []byte
	start := true
	for i := 0; i < len(columns); i++ {
		c := columns[i]
		if start && c != ' ' && c != '\n' && c != '\t' {
			out = append(out, prefix...)
			start = false
		}
		out = append(out, c)
		if c == ',' {
			start = true
		}
	}
	return string(out)
}

// publishSQL are the set-based statements of a publish, in order; each
// takes the batch id for every parameter, except that exp puts the
// experiment id first.
var publishSQL = []struct {
	step string
	sql  string
	args int
	exp  bool
}{
	{"new traces", `UPDATE import_traces SET outcome = 0 WHERE batch_id = ?
		AND NOT EXISTS (SELECT 1 FROM traces t WHERE t.trace_id = import_traces.trace_id)`, 1, false},
	// Unchanged: the same experiment and JSON, and the stored assessments
	// begin with the staged ones, in order, with the same JSON (so the
	// merge would give what is stored). Rank is the position among the
	// stored assessments of the trace.
	{"unchanged traces", `UPDATE import_traces SET outcome = 2
		WHERE batch_id = ?2 AND outcome IS NULL
		AND EXISTS (SELECT 1 FROM traces t WHERE t.trace_id = import_traces.trace_id
			AND t.experiment_id = ?1 AND t.json = import_traces.json)
		AND n_assessments = (SELECT count(*) FROM import_assessments s
			JOIN assessments a ON a.assessment_id = s.assessment_id AND a.trace_id = s.trace_id
				AND a.json = s.json
			WHERE s.batch_id = ?2 AND s.trace_id = import_traces.trace_id
				AND (SELECT count(*) FROM assessments b WHERE b.trace_id = a.trace_id AND b.seq < a.seq) = s.seq)`, 2, true},
	{"changed traces", `UPDATE import_traces SET outcome = 1 WHERE batch_id = ? AND outcome IS NULL`, 1, false},
	{"insert traces", `INSERT INTO traces (experiment_id, request_time, state, request_preview,
		response_preview, session_id, json, trace_id)
		SELECT ?1, request_time, state, request_preview, response_preview, session_id, json, trace_id
		FROM import_traces WHERE batch_id = ?2 AND outcome = 0 ORDER BY ord`, 2, true},
	{"update traces", `UPDATE traces SET experiment_id = ?1, request_time = s.request_time, state = s.state,
		request_preview = s.request_preview, response_preview = s.response_preview,
		session_id = s.session_id, json = s.json
		FROM import_traces s WHERE s.batch_id = ?2 AND s.outcome = 1 AND s.trace_id = traces.trace_id`, 2, true},
	// Stored assessments the import does not carry move after the
	// imported ones, keeping their order.
	{"keep stored assessments", `UPDATE assessments SET seq = seq + (SELECT s.n_assessments FROM import_traces s
			WHERE s.batch_id = ?1 AND s.trace_id = assessments.trace_id)
		WHERE trace_id IN (SELECT trace_id FROM import_traces WHERE batch_id = ?1 AND outcome = 1)
		AND NOT EXISTS (SELECT 1 FROM import_assessments s
			WHERE s.batch_id = ?1 AND s.assessment_id = assessments.assessment_id)`, 1, false},
	{"replace assessments", `DELETE FROM assessments WHERE assessment_id IN (SELECT s.assessment_id
		FROM import_assessments s JOIN import_traces t ON t.batch_id = s.batch_id AND t.trace_id = s.trace_id
		WHERE s.batch_id = ? AND t.outcome = 1)`, 1, false},
	{"insert assessments", `INSERT INTO assessments (trace_id, seq, assessment_id, name, name_key, kind,
		source_type, source_id, create_time, valid, overrides, json)
		SELECT s.trace_id, s.seq, s.assessment_id, s.name, s.name_key, s.kind, s.source_type, s.source_id,
			s.create_time, s.valid, s.overrides, s.json
		FROM import_assessments s JOIN import_traces t ON t.batch_id = s.batch_id AND t.trace_id = s.trace_id
		WHERE s.batch_id = ? AND t.outcome IN (0, 1)`, 1, false},
}

// deleteStaged deletes the staged rows of batch, a chunk per transaction.
func (s *Store) deleteStaged(ctx context.Context, batch int64) error {
	for _, table := range []string{"import_assessments", "import_traces"} {
		for {
			var n int64
			err := s.write(ctx, func(tx *sql.Tx) error {
				r, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE rowid IN
					(SELECT rowid FROM `+table+` WHERE batch_id = ? LIMIT ?)`, batch, cleanupChunk)
				if err != nil {
					return err
				}
				n, err = r.RowsAffected()
				return err
			})
			if err != nil {
				return err
			}
			if n < cleanupChunk {
				break
			}
		}
	}
	return nil
}

// cleanStaleImports deletes the staged rows of abandoned imports: those
// whose process on this host is gone, those untouched for staleImportAge,
// and rows left by a batch already removed.
func (s *Store) cleanStaleImports(ctx context.Context) error {
	host, _ := os.Hostname()
	rows, err := s.db.QueryContext(ctx, `SELECT id, pid, host, touched_at FROM import_batches`)
	if err != nil {
		return err
	}
	var stale []int64
	for rows.Next() {
		var (
			id, pid, touched int64
			h                string
		)
		if err := rows.Scan(&id, &pid, &h, &touched); err != nil {
			rows.Close()
			return err
		}
		gone := h == host && int(pid) != os.Getpid() && !processAlive(int(pid))
		if gone || time.Since(fromMillis(touched)) > staleImportAge {
			stale = append(stale, id)
		}
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, id := range stale {
		if err := s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `DELETE FROM import_batches WHERE id = ?`, id)
			return err
		}); err != nil {
			return err
		}
	}
	// Rows of batches that are gone: removed above, published, or failed
	// without finishing their cleanup.
	orphans, err := s.db.QueryContext(ctx, `SELECT DISTINCT batch_id FROM import_traces
		WHERE batch_id NOT IN (SELECT id FROM import_batches)
		UNION SELECT DISTINCT batch_id FROM import_assessments
		WHERE batch_id NOT IN (SELECT id FROM import_batches)`)
	if err != nil {
		return err
	}
	var ids []int64
	for orphans.Next() {
		var id int64
		if err := orphans.Scan(&id); err != nil {
			orphans.Close()
			return err
		}
		ids = append(ids, id)
	}
	if err := orphans.Close(); err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.deleteStaged(ctx, id); err != nil {
			return err
		}
	}
	return nil
}
