package store

import "time"

// SetImportChunk sets how many traces a staging chunk holds.
func (s *Store) SetImportChunk(n int) { s.importChunk = n }

// OnPublish sets a hook told how long each import publish took.
func (s *Store) OnPublish(f func(time.Duration)) { s.publishHook = f }

// StagedRows counts the rows of the import staging tables.
func (s *Store) StagedRows() (batches, traces, assessments int, err error) {
	err = s.db.QueryRow(`SELECT (SELECT count(*) FROM import_batches), (SELECT count(*) FROM import_traces),
		(SELECT count(*) FROM import_assessments)`).Scan(&batches, &traces, &assessments)
	return
}
