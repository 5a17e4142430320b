package store

import "time"

// SetOnBusy makes s call f each time a write finds the write lock taken,
// before it waits and tries again.
func SetOnBusy(s *Store, f func(waited time.Duration)) { s.onBusy = f }
