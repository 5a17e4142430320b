package trace

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FeedbackRow is one human label read from a feedback file: a value for a
// trace, without the trace. Exactly one of the value fields and Err is
// meaningful: a row with Err set should be reported, not used.
type FeedbackRow struct {
	// Line is where the row starts in the file (1-based).
	Line    int
	TraceID string
	// Value is the human's value as written: a string from CSV ("true" and
	// "4" stay strings), the JSON value from JSON Lines (numbers as
	// json.Number). Normalise it with the judge's value type.
	Value     any
	Rationale string
	SourceID  string
	// Time is the row's create_time, zero when it has none.
	Time time.Time
	// Err is a *LineError naming the file and line.
	Err error
}

// feedbackColumns are the columns of a CSV feedback file.
var feedbackColumns = []string{"trace_id", "value", "rationale", "source_id", "create_time"}

// ReadFeedback reads human labels from a CSV or JSON Lines file; name is
// used for messages and to detect the format (.csv is CSV; .jsonl, .ndjson
// and .json are JSON Lines; otherwise the content decides: a first
// character '{' means JSON Lines).
//
// CSV needs a header row naming at least trace_id and value; rationale,
// source_id and create_time are optional, other columns are ignored. JSON
// Lines has one {"trace_id", "value", "rationale", "source_id",
// "create_time"} object per line. create_time is RFC 3339, a date-time
// "2006-01-02 15:04:05" (UTC), a date, or (JSON) Unix milliseconds.
//
// A bad row — malformed, without a trace_id or a value, with a bad time —
// is returned with Err set and reading goes on. The returned error is for
// the file as a whole: unreadable, or a CSV header without the required
// columns.
func ReadFeedback(r io.Reader, name string) ([]FeedbackRow, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\xef\xbb\xbf")) {
		br.Discard(3)
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return readFeedbackCSV(br, name)
	case ".jsonl", ".ndjson", ".json":
		return readFeedbackJSONL(br, name)
	}
	all, err := io.ReadAll(br)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if i := skipSpace(all, 0); i < len(all) && all[i] == '{' {
		return readFeedbackJSONL(bytes.NewReader(all), name)
	}
	return readFeedbackCSV(bytes.NewReader(all), name)
}

func readFeedbackCSV(r io.Reader, name string) ([]FeedbackRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, csvError(name, err)
	}
	index := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := index[h]; !dup {
			index[h] = i
		}
	}
	for _, req := range []string{"trace_id", "value"} {
		if _, ok := index[req]; !ok {
			return nil, &LineError{Source: name, Line: 1, Err: fmt.Errorf(
				"header has no %q column; want columns %s", req, strings.Join(feedbackColumns, ", "))}
		}
	}
	var rows []FeedbackRow
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return rows, fmt.Errorf("read %s: %w", name, err)
			}
			rows = append(rows, FeedbackRow{Line: pe.StartLine, Err: csvError(name, err)})
			continue
		}
		row := FeedbackRow{Line: line}
		bad := func(format string, args ...any) {
			row.Err = &LineError{Source: name, Line: line, Err: fmt.Errorf(format, args...)}
		}
		get := func(col string) string {
			i, ok := index[col]
			if !ok || i >= len(rec) {
				return ""
			}
			return rec[i]
		}
		if len(rec) != len(header) {
			bad("has %d fields, the header has %d", len(rec), len(header))
			rows = append(rows, row)
			continue
		}
		row.TraceID = strings.TrimSpace(get("trace_id"))
		value := strings.TrimSpace(get("value"))
		row.Rationale = strings.TrimSpace(get("rationale"))
		row.SourceID = strings.TrimSpace(get("source_id"))
		switch {
		case row.TraceID == "":
			bad("no trace_id")
		case value == "":
			bad("no value for trace %s", row.TraceID)
		}
		if row.Err == nil {
			row.Value = value
			if s := strings.TrimSpace(get("create_time")); s != "" {
				t, err := parseFeedbackTime(s)
				if err != nil {
					bad("create_time: %v", err)
				}
				row.Time = t
			}
		}
		if row.Err != nil {
			row.Value, row.Time = nil, time.Time{}
		}
		rows = append(rows, row)
	}
}

// csvError converts an encoding/csv error into a *LineError.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &LineError{Source: name, Line: pe.Line, Column: pe.Column, Err: pe.Err}
	}
	return fmt.Errorf("read %s: %w", name, err)
}

func readFeedbackJSONL(r io.Reader, name string) ([]FeedbackRow, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var rows []FeedbackRow
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return rows, fmt.Errorf("read %s: %w", name, err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) > 0 {
			rows = append(rows, feedbackJSONRow(line, name, n))
		}
		if err != nil {
			return rows, nil
		}
	}
}

// feedbackJSONRow decodes one JSON Lines feedback row.
func feedbackJSONRow(line []byte, name string, n int) FeedbackRow {
	row := FeedbackRow{Line: n}
	fail := func(col int, err error) FeedbackRow {
		return FeedbackRow{Line: n, Err: &LineError{Source: name, Line: n, Column: col, Err: err}}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(line, &fields); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fail(column(line, int(se.Offset)), err)
		}
		return fail(0, fmt.Errorf("got %s, want an object with trace_id and value", jsonKind(line)))
	}
	if fields == nil {
		return fail(0, errors.New("got null, want an object with trace_id and value"))
	}
	for key, dst := range map[string]*string{"trace_id": &row.TraceID, "rationale": &row.Rationale, "source_id": &row.SourceID} {
		raw, ok := fields[key]
		if !ok || string(raw) == "null" {
			continue
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return fail(0, fmt.Errorf("%s: %w", key, typeError(err)))
		}
	}
	row.TraceID = strings.TrimSpace(row.TraceID)
	if row.TraceID == "" {
		return fail(0, errors.New("no trace_id"))
	}
	raw, ok := fields["value"]
	if !ok || string(raw) == "null" {
		return fail(0, fmt.Errorf("no value for trace %s", row.TraceID))
	}
	v, err := decodeAny(raw)
	if err != nil {
		return fail(0, fmt.Errorf("value: %w", err))
	}
	row.Value = v
	if raw, ok := fields["create_time"]; ok && string(raw) != "null" {
		var s string
		var ms int64
		switch {
		case json.Unmarshal(raw, &s) == nil:
			t, err := parseFeedbackTime(s)
			if err != nil {
				return fail(0, fmt.Errorf("create_time: %w", err))
			}
			row.Time = t
		case json.Unmarshal(raw, &ms) == nil:
			row.Time = time.UnixMilli(ms).UTC()
		default:
			return fail(0, fmt.Errorf("create_time: got %s, want an RFC 3339 string or Unix milliseconds", jsonKind(raw)))
		}
	}
	return row
}

// parseFeedbackTime parses a create_time: RFC 3339, "2006-01-02 15:04:05"
// or "2006-01-02" (both UTC).
func parseFeedbackTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Time{}, fmt.Errorf("%q: write times as RFC 3339 (2006-01-02T15:04:05Z), not numbers", s)
	}
	return time.Time{}, fmt.Errorf("%q is not a time; want RFC 3339 such as 2025-06-01T12:00:00Z", s)
}
