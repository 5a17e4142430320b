package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrNotFound is wrapped by every error reporting that a trace, experiment
// or judge does not exist; the message says which one, and for a
// judge which versions do exist:
//
//	judge "helpfulness@4": not found; versions are 1, 2, 3
//
// Test for it with errors.Is.
var ErrNotFound = errors.New("not found")

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
