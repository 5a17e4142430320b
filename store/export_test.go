package store

import "time"

// SetImportChunk sets how many traces a staging chunk holds.
func (s *Store) SetImportChunk(n int) { s.importChunk = n }

// OnPublish sets a hook told how long each import publish took.
func (s *Store) OnPublish(f func(time.Duration)) { s.publishHook = f }
