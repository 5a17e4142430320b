package store

import (
	"context"
	"database/sql"
	"fmt"
	"iter"

	"github.com/alignhost/alignhost/trace"
)

// LogAssessmentSeq is [Store.LogAssessments] over a sequence of rows, so
// that a file of any size is logged with memory for a page of rows: all
// rows or, on error (one yielded by rows included), none. Index in a
// [RowError] counts the rows of the sequence.
//
// The rows are read first, into a TEMP table of the call's own
// connection, which takes no lock on the store; then they are logged in
// one transaction. The write lock is held for the logging only, never
// while rows is read: a slow reader (a pipe, a network file) does not hold
// up other writers, and a malformed file fails before the lock is taken.
// rows may itself read the store.
func (s *Store) LogAssessmentSeq(ctx context.Context, rows iter.Seq2[AssessmentRow, error], opts LogOptions) (LogResult, error) {
	sp, err := s.spoolRows(ctx, rows)
	if err != nil {
		return LogResult{}, fmt.Errorf("log assessments: %w", err)
	}
	defer sp.close()
	var res LogResult
	err = s.writeOn(ctx, sp.conn, func(tx *sql.Tx) error {
		return logRows(ctx, tx, sp.rows(ctx, tx), opts, &res)
	})
	if err != nil {
		return LogResult{}, fmt.Errorf("log assessments: %w", err)
	}
	return res, nil
}

// logRows logs rows in tx, adding up what it did in res.
func logRows(ctx context.Context, tx *sql.Tx, rows iter.Seq2[AssessmentRow, error], opts LogOptions, res *LogResult) error {
	lg, err := prepareLogger(ctx, tx)
	if err != nil {
		return err
	}
	defer lg.close()
	i := 0
	for row, err := range rows {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := lg.log(ctx, row.Assessment, opts)
		if err != nil {
			return err
		}
		if r.reason != "" {
			rerr := &RowError{Index: i, Line: row.Line, TraceID: row.Assessment.TraceID, Reason: r.reason}
			if !opts.SkipInvalid {
				return rerr
			}
			res.Rejected = append(res.Rejected, rerr)
			i++
			continue
		}
		switch r.outcome {
		case added:
			res.Added++
		case updated:
			res.Updated++
		case unchanged:
			res.Unchanged++
		}
		res.Superseded += r.superseded
		i++
	}
	return nil
}

// rowSpool is the rows of a LogAssessmentSeq, read into a TEMP table of
// its own connection.
type rowSpool struct {
	conn *sql.Conn
}

// spoolPage is how many spooled rows are read back at a time.
const spoolPage = 1000

func (s *Store) spoolRows(ctx context.Context, rows iter.Seq2[AssessmentRow, error]) (*rowSpool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	sp := &rowSpool{conn: conn}
	if _, err := conn.ExecContext(ctx, `PRAGMA temp_store = FILE;
		CREATE TEMP TABLE feedback_spool (i INTEGER PRIMARY KEY, line INTEGER NOT NULL, json TEXT NOT NULL)`); err != nil {
		sp.discard()
		return nil, err
	}
	if err := sp.fill(ctx, rows); err != nil {
		sp.close()
		return nil, err
	}
	return sp, nil
}

// fill writes rows into the spool, a chunk per DEFERRED transaction that
// writes only the TEMP table (and so takes no lock on the store).
func (sp *rowSpool) fill(ctx context.Context, rows iter.Seq2[AssessmentRow, error]) error {
	type spooled struct {
		line int
		json []byte
	}
	var chunk []spooled
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		tx, err := sp.conn.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, `INSERT INTO temp.feedback_spool (line, json) VALUES (?, ?)`)
		if err != nil {
			tx.Rollback()
			return err
		}
		for _, r := range chunk {
			if _, err := ins.ExecContext(ctx, r.line, string(r.json)); err != nil {
				ins.Close()
				tx.Rollback()
				return err
			}
		}
		ins.Close()
		chunk = chunk[:0]
		return tx.Commit()
	}
	for row, err := range rows {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := row.Assessment.MarshalJSON()
		if err != nil {
			return fmt.Errorf("row %d: encode assessment: %w", row.Line, err)
		}
		chunk = append(chunk, spooled{row.Line, b})
		if len(chunk) >= spoolPage {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// rows reads the spool back in order, a page at a time, in tx.
func (sp *rowSpool) rows(ctx context.Context, tx *sql.Tx) iter.Seq2[AssessmentRow, error] {
	return func(yield func(AssessmentRow, error) bool) {
		after := int64(0)
		for {
			page, last, err := readSpoolPage(ctx, tx, after)
			if err != nil {
				yield(AssessmentRow{}, err)
				return
			}
			for _, r := range page {
				if !yield(r, nil) {
					return
				}
			}
			if len(page) < spoolPage {
				return
			}
			after = last
		}
	}
}

func readSpoolPage(ctx context.Context, tx *sql.Tx, after int64) ([]AssessmentRow, int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT i, line, json FROM temp.feedback_spool WHERE i > ? ORDER BY i LIMIT ?`,
		after, spoolPage)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var (
		page []AssessmentRow
		last int64
	)
	for rows.Next() {
		var (
			r AssessmentRow
			b []byte
		)
		if err := rows.Scan(&last, &r.Line, &b); err != nil {
			return nil, 0, err
		}
		var a trace.Assessment
		if err := a.UnmarshalJSON(b); err != nil {
			return nil, 0, fmt.Errorf("read back row %d: %w", r.Line, err)
		}
		r.Assessment = a
		page = append(page, r)
	}
	return page, last, rows.Err()
}

// close drops the spool and gives the connection back; if it cannot be
// dropped, the connection is discarded with it.
func (sp *rowSpool) close() {
	if _, err := sp.conn.ExecContext(context.Background(), `DROP TABLE temp.feedback_spool;
		PRAGMA temp_store = DEFAULT`); err != nil {
		sp.discard()
		return
	}
	sp.conn.Close()
}

func (sp *rowSpool) discard() {
	(&importBatch{conn: sp.conn}).discard()
}
