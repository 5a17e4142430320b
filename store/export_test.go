package store

import "time"

// SetOnBusy makes s call f each time a write finds the write lock taken,
// before it waits and tries again.
func SetOnBusy(s *Store, f func(waited time.Duration)) { s.onBusy = f }

// SetImportChunk sets how many traces a staging chunk holds.
func (s *Store) SetImportChunk(n int) { s.importChunk = n }

// OnPublish sets a hook told how long each import publish took.
func (s *Store) OnPublish(f func(time.Duration)) { s.publishHook = f }
