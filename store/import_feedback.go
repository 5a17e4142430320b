package store

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
)

// LogAssessmentSeq is [Store.LogAssessments] over a sequence of rows, so
// that a file of any size is logged with memory for one row: all rows or,
// on error (one yielded by rows included), none. It holds one transaction,
// and so the write lock, until rows ends. Index in a [RowError] counts the
// rows of the sequence.
func (s *Store) LogAssessmentSeq(ctx context.Context, rows iter.Seq2[AssessmentRow, error], opts LogOptions) (LogResult, error) {
	var res LogResult
	err := s.write(ctx, func(tx *sql.Tx) error {
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
	})
	if err != nil {
		return LogResult{}, fmt.Errorf("log assessments: %w", err)
	}
	return res, nil
}
