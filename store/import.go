package store

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// A streamed import is staged, then published.
//
// Staging writes the traces, encoded and checked, into TEMP tables of one
// connection held for the import, a chunk per short transaction. TEMP
// tables live in a temporary file of that connection, not in the store:
// staging takes no lock on the store, nobody else can see the rows, and
// a killed process leaves nothing behind (the file is gone with the
// process). Other writers (an eval storing its answers) are never held up
// by staging.
//
// Publishing merges the staged rows into traces and assessments in one
// transaction of set-based statements on the same connection: the import
// becomes visible at once, or not at all. What the merge needs to know
// about the stored traces is read inside that transaction, so a
// concurrent LogAssessments between staging and publishing is merged,
// not overwritten.

// Staging chunk bounds: a chunk is written when it holds this many traces
// or bytes of JSON, whichever comes first.
const (
	defaultChunkTraces = 1000
	defaultChunkBytes  = 8 << 20
)

// ImportTraceSeq stores the traces of seq in the experiment with the given
// name (created if needed; "" means [DefaultExperiment]), all of them or,
// on error, none, with the semantics of [Store.ImportTraces]. Memory holds
// a few staging chunks, not the sequence: seq may come from a file of any
// size. seq is consumed in a goroutine of its own, while chunks already
// read are staged; no transaction on the store is open meanwhile, so seq
// may itself read or write the store.
//
// The traces are staged in chunks in temporary tables of the import's own
// connection, which take no lock on the store, so other writers go on
// during a long import; they are then published in one transaction of
// set-based statements, the only time the import holds the write lock (for
// a time that grows with the import: it copies the staged rows). An error
// yielded by seq, a cancelled ctx, an invalid trace or a killed process
// leaves the store as it was, and nothing staged behind.
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
	if err := checkExperimentName(experiment); err != nil {
		return res, fmt.Errorf("experiment %q: %w", experiment, err)
	}
	b, err := s.beginImport(ctx, experiment)
	if err != nil {
		return res, fmt.Errorf("begin staging: %w", err)
	}
	defer b.close()

	// The traces are read and encoded in one goroutine while the chunks
	// already encoded are written in this one: on two cores, decoding a
	// file and writing SQLite overlap. At most two chunks wait.
	chunks := make(chan stagingChunk, 2)
	stop := make(chan struct{})
	defer func() {
		close(stop)
		for range chunks {
		}
	}()
	go s.encodeChunks(ctx, seq, chunks, stop)
	for c := range chunks {
		if c.err != nil {
			return res, c.err
		}
		res.Assessments += c.assessments
		if err := b.stageChunk(ctx, c.traces, &res); err != nil {
			return res, err
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if err := s.publishImport(ctx, b, &res); err != nil {
		return res, err
	}
	return res, nil
}

// stagingChunk is a chunk of encoded traces, or the error that ended the
// sequence.
type stagingChunk struct {
	traces      []stagedTrace
	assessments int
	err         error
}

// encodeChunks reads seq, encodes its traces and sends them in chunks,
// then closes out; it stops early when stop is closed. An error is sent
// as the last chunk.
func (s *Store) encodeChunks(ctx context.Context, seq iter.Seq2[*trace.Trace, error], out chan<- stagingChunk, stop <-chan struct{}) {
	defer close(out)
	send := func(c stagingChunk) bool {
		select {
		case out <- c:
			return true
		case <-stop:
			return false
		}
	}
	var (
		c    stagingChunk
		size int
		i    int
	)
	for t, err := range seq {
		select {
		case <-stop: // the import failed: read no further
			return
		default:
		}
		if err == nil {
			err = ctx.Err()
		}
		if err == nil && t == nil {
			err = fmt.Errorf("trace %d: nil trace", i)
		}
		if err != nil {
			send(stagingChunk{err: err})
			return
		}
		st, err := stageTrace(i, t)
		if err != nil {
			send(stagingChunk{err: fmt.Errorf("trace %d [%s]: %w", i, t.Info.TraceID, err)})
			return
		}
		c.assessments += len(t.Info.Assessments)
		c.traces = append(c.traces, st)
		size += st.size()
		i++
		if len(c.traces) >= s.chunkTraces() || size >= defaultChunkBytes {
			if !send(c) {
				return
			}
			c, size = stagingChunk{}, 0
		}
	}
	if len(c.traces) > 0 {
		send(c)
	}
}

func (s *Store) chunkTraces() int {
	if s.importChunk > 0 {
		return s.importChunk
	}
	return defaultChunkTraces
}

// importBatch is one staged import: the connection holding its TEMP
// tables.
type importBatch struct {
	conn       *sql.Conn
	experiment string
	expID      int64 // set when publishing
}

// stagingTables are the TEMP tables of an import. import_outcomes is
// filled by the publish: 0 added, 1 updated, 2 unchanged (a narrow table,
// so that deciding does not rewrite the staged JSON).
const stagingTables = `
CREATE TEMP TABLE import_traces (
	ord              INTEGER NOT NULL,
	trace_id         TEXT    NOT NULL PRIMARY KEY,
	request_time     INTEGER,
	state            TEXT    NOT NULL,
	request_preview  TEXT    NOT NULL,
	response_preview TEXT    NOT NULL,
	session_id       TEXT,
	json             TEXT    NOT NULL,
	n_assessments    INTEGER NOT NULL
);
CREATE TEMP TABLE import_outcomes (
	trace_id TEXT    NOT NULL PRIMARY KEY,
	outcome  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TEMP TABLE import_assessments (
	trace_id      TEXT    NOT NULL,
	seq           INTEGER NOT NULL,
	assessment_id TEXT    NOT NULL PRIMARY KEY,
	name          TEXT    NOT NULL,
	name_key      TEXT    NOT NULL,
	kind          TEXT    NOT NULL,
	source_type   TEXT    NOT NULL,
	source_id     TEXT    NOT NULL,
	create_time   INTEGER NOT NULL,
	valid         INTEGER,
	overrides     TEXT,
	json          TEXT    NOT NULL
);
CREATE INDEX temp.import_assessments_by_trace ON import_assessments (trace_id, seq);`

func (s *Store) beginImport(ctx context.Context, experiment string) (*importBatch, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	b := &importBatch{conn: conn, experiment: experiment}
	// A connection left with staging tables by an import that could not
	// drop them is discarded, never reused, so they are not there. The
	// staging tables get a 16 MiB page cache (SQLite's default is 2 MiB):
	// with less, staging a chunk spills and reads back pages all the time
	// (30k page reads for 4,500 HaluEval traces; 12k with it).
	if _, err := conn.ExecContext(ctx, `PRAGMA temp_store = FILE; PRAGMA temp.cache_size = -16384`); err != nil {
		b.discard()
		return nil, err
	}
	if _, err := conn.ExecContext(ctx, stagingTables); err != nil {
		b.discard()
		return nil, err
	}
	return b, nil
}

// close drops the staging tables and gives the connection back; if they
// cannot be dropped, the connection is discarded with them.
func (b *importBatch) close() {
	ctx := context.Background()
	if _, err := b.conn.ExecContext(ctx, `DROP TABLE temp.import_traces; DROP TABLE temp.import_assessments;
		DROP TABLE temp.import_outcomes;
		PRAGMA temp_store = DEFAULT; PRAGMA temp.cache_size = -2000`); err != nil {
		b.discard()
		return
	}
	b.conn.Close()
}

// discard closes the connection for good.
func (b *importBatch) discard() {
	b.conn.Raw(func(any) error { return driver.ErrBadConn })
	b.conn.Close()
}

// stage runs fn in a transaction of the staging connection that writes
// only its TEMP tables. It is begun DEFERRED (what database/sql calls
// read-only here; the store's other transactions are IMMEDIATE) so that
// it takes no lock on the store file.
func (b *importBatch) stage(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := b.conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
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
	// The bytes json.Marshal(&stripped) would store, in one pass instead of
	// one per level of nesting: MarshalJSON's output is compact and valid,
	// so only the HTML escaping of json.Marshal is left to apply.
	compact, err := stripped.MarshalJSON()
	if err != nil {
		return stagedTrace{}, fmt.Errorf("encode trace: %w", err)
	}
	var escaped bytes.Buffer
	escaped.Grow(len(compact) + len(compact)/64)
	json.HTMLEscape(&escaped, compact)
	traceJSON := escaped.Bytes()
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

const stageTraceSQL = `INSERT INTO temp.import_traces (ord, trace_id, request_time, state,
	request_preview, response_preview, session_id, json, n_assessments)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (trace_id) DO NOTHING`

const stageAssessmentSQL = `INSERT INTO temp.import_assessments (trace_id, seq, assessment_id,
	name, name_key, kind, source_type, source_id, create_time, valid, overrides, json)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// stageChunk writes a chunk of staged traces in one transaction.
func (b *importBatch) stageChunk(ctx context.Context, chunk []stagedTrace, res *ImportResult) error {
	if len(chunk) == 0 {
		return nil
	}
	return b.stage(ctx, func(tx *sql.Tx) error {
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
			r, err := insTrace.ExecContext(ctx, st.ord, st.id, st.reqTime, st.state, st.reqPreview,
				st.respPreview, st.session, string(st.json), len(st.assessments))
			if err != nil {
				return fmt.Errorf("trace %d [%s]: %w", st.ord, st.id, err)
			}
			if n, err := r.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				// The trace was staged before: merge as a second import
				// of it would.
				o, err := restage(ctx, tx, st)
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
			if err := insertStaged(ctx, tx, insAssessment, st.id, st.assessments); err != nil {
				return fmt.Errorf("trace %d [%s]: %w", st.ord, st.id, err)
			}
		}
		return nil
	})
}

// insertStaged stages the assessment rows of one trace.
func insertStaged(ctx context.Context, tx *sql.Tx, ins *sql.Stmt, traceID string, rows []assessmentRow) error {
	for seq, r := range rows {
		if _, err := ins.ExecContext(ctx, traceID, seq, r.ID, r.Name, r.NameKey, r.Kind, r.SourceType,
			r.SourceID, r.CreateTime, r.Valid, r.Overrides, string(r.JSON)); err != nil {
			var owner string
			if tx.QueryRowContext(ctx, `SELECT trace_id FROM temp.import_assessments WHERE assessment_id = ?`,
				r.ID).Scan(&owner) == nil && owner != traceID {
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
func restage(ctx context.Context, tx *sql.Tx, st *stagedTrace) (outcome, error) {
	var oldJSON []byte
	if err := tx.QueryRowContext(ctx, `SELECT json FROM temp.import_traces WHERE trace_id = ?`,
		st.id).Scan(&oldJSON); err != nil {
		return 0, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+assessmentColumns+` FROM temp.import_assessments
		WHERE trace_id = ? ORDER BY seq`, st.id)
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
	if _, err := tx.ExecContext(ctx, `UPDATE temp.import_traces SET request_time = ?, state = ?, request_preview = ?,
		response_preview = ?, session_id = ?, json = ?, n_assessments = ? WHERE trace_id = ?`,
		st.reqTime, st.state, st.reqPreview, st.respPreview, st.session, string(st.json), len(merged),
		st.id); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM temp.import_assessments WHERE trace_id = ?`, st.id); err != nil {
		return 0, err
	}
	ins, err := tx.PrepareContext(ctx, stageAssessmentSQL)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	return updated, insertStaged(ctx, tx, ins, st.id, merged)
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
func (s *Store) publishImport(ctx context.Context, b *importBatch, res *ImportResult) error {
	// BEGIN IMMEDIATE on the import's own connection takes the store's
	// write lock, waiting for other writers as every write does.
	var started time.Time
	err := s.writeOn(ctx, b.conn, func(tx *sql.Tx) error {
		started = time.Now()
		return publish(ctx, tx, b, res)
	})
	if s.publishHook != nil && !started.IsZero() {
		s.publishHook(time.Since(started))
	}
	return err
}

func publish(ctx context.Context, tx *sql.Tx, b *importBatch, res *ImportResult) error {
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
		FROM temp.import_assessments s
		JOIN main.assessments a ON a.assessment_id = s.assessment_id AND a.trace_id <> s.trace_id
		JOIN temp.import_traces t ON t.trace_id = s.trace_id
		ORDER BY t.ord LIMIT 1`).Scan(&ord, &id, &aid, &owner)
	switch {
	case err == nil:
		return fmt.Errorf("trace %d [%s]: assessment %s already belongs to trace %s", ord, id, aid, owner)
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if err := keepInvalid(ctx, tx); err != nil {
		return err
	}
	for _, q := range publishSQL {
		var args []any
		if q.exp {
			args = []any{b.expID}
		}
		if _, err := tx.ExecContext(ctx, q.sql, args...); err != nil {
			return fmt.Errorf("publish (%s): %w", q.step, err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT outcome, count(*) FROM temp.import_outcomes GROUP BY outcome`)
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
	return rows.Err()
}

// keepInvalid marks invalid the staged assessments whose stored
// counterpart of the same trace is invalid (overridden), unless the import
// marks them invalid itself: an import does not undo an override.
func keepInvalid(ctx context.Context, tx *sql.Tx) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+prefixed("s.", assessmentColumns)+` FROM temp.import_assessments s
		JOIN main.assessments a ON a.assessment_id = s.assessment_id AND a.trace_id = s.trace_id
		WHERE a.valid = 0 AND (s.valid IS NULL OR s.valid = 1)`)
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
		if _, err := tx.ExecContext(ctx, `UPDATE temp.import_assessments SET valid = 0, json = ?
			WHERE assessment_id = ?`, string(r.JSON), r.ID); err != nil {
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

// publishSQL are the set-based statements of a publish, in order; exp
// says the statement takes the experiment ID.
var publishSQL = []struct {
	step string
	sql  string
	exp  bool
}{
	// Unchanged: the same experiment and JSON, and the stored assessments
	// begin with the staged ones, in order, with the same JSON (so the
	// merge would give what is stored). Rank is the position among the
	// stored assessments of the trace.
	{"classify", `INSERT INTO temp.import_outcomes (trace_id, outcome)
		SELECT s.trace_id, CASE
			WHEN t.trace_id IS NULL THEN 0
			WHEN t.experiment_id = ?1 AND t.json = s.json AND s.n_assessments = (
				SELECT count(*) FROM temp.import_assessments ia
				JOIN main.assessments a ON a.assessment_id = ia.assessment_id AND a.trace_id = ia.trace_id
					AND a.json = ia.json
				WHERE ia.trace_id = s.trace_id
					AND (SELECT count(*) FROM main.assessments b WHERE b.trace_id = a.trace_id AND b.seq < a.seq) = ia.seq)
			THEN 2
			ELSE 1 END
		FROM temp.import_traces s LEFT JOIN main.traces t ON t.trace_id = s.trace_id`, true},
	{"insert traces", `INSERT INTO main.traces (experiment_id, request_time, state, request_preview,
		response_preview, session_id, json, trace_id)
		SELECT ?, request_time, state, request_preview, response_preview, session_id, json, trace_id
		FROM temp.import_traces s JOIN temp.import_outcomes o USING (trace_id)
		WHERE o.outcome = 0 ORDER BY s.ord`, true},
	{"update traces", `UPDATE main.traces SET experiment_id = ?, request_time = s.request_time, state = s.state,
		request_preview = s.request_preview, response_preview = s.response_preview,
		session_id = s.session_id, json = s.json
		FROM temp.import_traces s JOIN temp.import_outcomes o USING (trace_id)
		WHERE o.outcome = 1 AND s.trace_id = traces.trace_id`, true},
	// Stored assessments the import does not carry move after the
	// imported ones, keeping their order.
	{"keep stored assessments", `UPDATE main.assessments SET seq = seq + (SELECT s.n_assessments
			FROM temp.import_traces s WHERE s.trace_id = assessments.trace_id)
		WHERE trace_id IN (SELECT trace_id FROM temp.import_outcomes WHERE outcome = 1)
		AND NOT EXISTS (SELECT 1 FROM temp.import_assessments s
			WHERE s.assessment_id = assessments.assessment_id)`, false},
	{"replace assessments", `DELETE FROM main.assessments WHERE assessment_id IN (SELECT s.assessment_id
		FROM temp.import_assessments s JOIN temp.import_outcomes o ON o.trace_id = s.trace_id
		WHERE o.outcome = 1)`, false},
	{"insert assessments", `INSERT INTO main.assessments (trace_id, seq, assessment_id, name, name_key, kind,
		source_type, source_id, create_time, valid, overrides, json)
		SELECT s.trace_id, s.seq, s.assessment_id, s.name, s.name_key, s.kind, s.source_type, s.source_id,
			s.create_time, s.valid, s.overrides, s.json
		FROM temp.import_assessments s JOIN temp.import_outcomes o ON o.trace_id = s.trace_id
		WHERE o.outcome IN (0, 1)`, false},
}
