package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrNotFound is wrapped by every error reporting that a trace, experiment
// or judge does not exist; the message says which one, and for a
// judge which versions do exist:
//
//	judge "helpfulness@4": not found; versions are 1, 2, 3
//
// Test for it with errors.Is.
var ErrNotFound = errors.New("not found")

// ErrLocked is wrapped by every [*LockError]: a write gave up waiting for
// the write lock that another writer held. Test for it with errors.Is.
var ErrLocked = errors.New("store is locked by another writer")

// LockError reports a write that waited for the write lock, held by
// another transaction in this or another process, for the whole lock
// timeout ([WithLockTimeout]) and gave up. Nothing of the write was
// stored; it may be tried again.
type LockError struct {
	// Path is the store file.
	Path string
	// Waited is how long the write waited, and Timeout the lock timeout
	// it waited under.
	Waited, Timeout time.Duration
	// Err is SQLite's error (SQLITE_BUSY or SQLITE_LOCKED).
	Err error
}

func (e *LockError) Error() string {
	return fmt.Sprintf("store %s is locked by another writer: gave up after waiting %s for the write lock (lock timeout %s; %v)",
		e.Path, e.Waited.Round(time.Millisecond), e.Timeout, e.Err)
}

// Is reports whether target is [ErrLocked].
func (e *LockError) Is(target error) bool { return target == ErrLocked }

// Unwrap returns SQLite's error.
func (e *LockError) Unwrap() error { return e.Err }

// CorruptTraceError reports a stored trace that cannot be read back: its
// JSON, or that of one of its assessments, does not decode (a row changed
// outside alignhost, a damaged file). [Store.Traces] yields it in place of
// the trace and goes on with the next one.
type CorruptTraceError struct {
	TraceID string
	Err     error
}

func (e *CorruptTraceError) Error() string {
	return fmt.Sprintf("trace %q is corrupt in the store: %v", e.TraceID, e.Err)
}

func (e *CorruptTraceError) Unwrap() error { return e.Err }

// SchemaVersionError reports a store file whose schema is newer than this
// build of alignhost knows: it was written by a newer release.
type SchemaVersionError struct {
	// Version is the schema version of the file.
	Version int
	// Supported is the newest schema version this build knows.
	Supported int
}

func (e *SchemaVersionError) Error() string {
	return fmt.Sprintf("schema version %d is newer than this alignhost supports (%d); upgrade alignhost",
		e.Version, e.Supported)
}

// RowError reports an input row that [Store.LogAssessments] refused.
type RowError struct {
	// Index is the row's position in the slice given to LogAssessments.
	Index int `json:"index"`
	// Line is the row's line in the caller's input, 0 if unknown.
	Line int `json:"line,omitempty"`
	// TraceID is the trace the row refers to, possibly empty.
	TraceID string `json:"trace_id,omitempty"`
	// Reason says what is wrong with the row.
	Reason string `json:"reason"`
}

func (e *RowError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line))
	} else {
		b.WriteString("row " + strconv.Itoa(e.Index))
	}
	if e.TraceID != "" {
		b.WriteString(" [trace " + e.TraceID + "]")
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}
