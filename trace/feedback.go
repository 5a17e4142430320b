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
	"unicode/utf8"
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
//
// ReadFeedback holds every row in memory; for large files use
// [NewFeedbackReader].
func ReadFeedback(r io.Reader, name string) ([]FeedbackRow, error) {
	fr := NewFeedbackReader(r, name)
	var rows []FeedbackRow
	for {
		row, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, err
		}
		rows = append(rows, row)
	}
}

// FeedbackReader reads the rows of a feedback file one at a time (see
// [ReadFeedback] for the formats), so memory holds one row however large
// the file. A row that is not valid UTF-8 (a Latin-1 file, say) is a bad
// row whose error names the byte offset of the first invalid byte.
type FeedbackReader struct {
	name string
	in   *bufio.Reader
	err  error // sticky

	started bool
	csv     *csv.Reader
	utf8    *utf8Checker // CSV: where the invalid bytes are
	header  []string
	index   map[string]int
	rowEnd  int64 // CSV: input offset of the end of the last record

	line int   // JSON Lines: number of the last line read
	off  int64 // JSON Lines: byte offset of the next line
}

// NewFeedbackReader returns a reader of the feedback rows in r; name is
// used for messages and to detect the format, as [ReadFeedback] does.
func NewFeedbackReader(r io.Reader, name string) *FeedbackReader {
	return &FeedbackReader{name: name, in: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next row, io.EOF at the end of the file, or an error
// about the file as a whole, which ends reading.
func (fr *FeedbackReader) Next() (FeedbackRow, error) {
	if fr.err != nil {
		return FeedbackRow{}, fr.err
	}
	row, err := fr.next()
	if err != nil {
		fr.err = err
	}
	return row, err
}

func (fr *FeedbackReader) next() (FeedbackRow, error) {
	if !fr.started {
		fr.started = true
		if err := fr.start(); err != nil {
			return FeedbackRow{}, err
		}
	}
	if fr.csv != nil {
		return fr.nextCSV()
	}
	return fr.nextJSON()
}

// start skips a byte order mark and detects the format.
func (fr *FeedbackReader) start() error {
	if b, err := fr.in.Peek(3); err == nil && bytes.Equal(b, bom) {
		fr.in.Discard(3)
		fr.off = 3
	}
	isJSON := false
	switch strings.ToLower(filepath.Ext(fr.name)) {
	case ".csv":
	case ".jsonl", ".ndjson", ".json":
		isJSON = true
	default:
		// The first non-space character decides: '{' is JSON Lines.
		for n := 1; ; n++ {
			b, err := fr.in.Peek(n)
			if i := skipSpace(b, 0); i < len(b) {
				isJSON = b[i] == '{'
				break
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
					return fmt.Errorf("read %s: %w", fr.name, err)
				}
				break
			}
		}
	}
	if isJSON {
		return nil
	}
	fr.utf8 = &utf8Checker{r: fr.in, base: fr.off}
	fr.rowEnd = fr.off
	fr.csv = csv.NewReader(fr.utf8)
	fr.csv.FieldsPerRecord = -1
	header, err := fr.csv.Read()
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	if err != nil {
		return csvError(fr.name, err)
	}
	if off, ok := fr.utf8.invalidIn(fr.rowEnd, fr.off+fr.csv.InputOffset()); ok {
		return &LineError{Source: fr.name, Line: 1, Err: utf8Error(off)}
	}
	fr.rowEnd = fr.off + fr.csv.InputOffset()
	fr.header = header
	fr.index = map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if _, dup := fr.index[h]; !dup {
			fr.index[h] = i
		}
	}
	for _, req := range []string{"trace_id", "value"} {
		if _, ok := fr.index[req]; !ok {
			return &LineError{Source: fr.name, Line: 1, Err: fmt.Errorf(
				"header has no %q column; want columns %s", req, strings.Join(feedbackColumns, ", "))}
		}
	}
	return nil
}

func (fr *FeedbackReader) nextCSV() (FeedbackRow, error) {
	rec, err := fr.csv.Read()
	if errors.Is(err, io.EOF) {
		return FeedbackRow{}, io.EOF
	}
	start, end := fr.rowEnd, fr.off+fr.csv.InputOffset()
	fr.rowEnd = end
	if err != nil {
		var pe *csv.ParseError
		if !errors.As(err, &pe) {
			return FeedbackRow{}, fmt.Errorf("read %s: %w", fr.name, err)
		}
		return FeedbackRow{Line: pe.StartLine, Err: csvError(fr.name, err)}, nil
	}
	line, _ := fr.csv.FieldPos(0)
	row := FeedbackRow{Line: line}
	bad := func(format string, args ...any) {
		row.Err = &LineError{Source: fr.name, Line: line, Err: fmt.Errorf(format, args...)}
	}
	get := func(col string) string {
		i, ok := fr.index[col]
		if !ok || i >= len(rec) {
			return ""
		}
		return rec[i]
	}
	if off, ok := fr.utf8.invalidIn(start, end); ok {
		return FeedbackRow{Line: line, Err: &LineError{Source: fr.name, Line: line, Err: utf8Error(off)}}, nil
	}
	if len(rec) != len(fr.header) {
		bad("has %d fields, the header has %d", len(rec), len(fr.header))
		return row, nil
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
	return row, nil
}

// csvError converts an encoding/csv error into a *LineError.
func csvError(name string, err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &LineError{Source: name, Line: pe.Line, Column: pe.Column, Err: pe.Err}
	}
	return fmt.Errorf("read %s: %w", name, err)
}

func (fr *FeedbackReader) nextJSON() (FeedbackRow, error) {
	for {
		line, err := fr.in.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return FeedbackRow{}, fmt.Errorf("read %s: %w", fr.name, err)
		}
		if len(line) == 0 {
			return FeedbackRow{}, io.EOF
		}
		fr.line++
		start := fr.off
		fr.off += int64(len(line))
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if bad := invalidUTF8(line); bad >= 0 {
			return FeedbackRow{Line: fr.line, Err: &LineError{Source: fr.name, Line: fr.line,
				Column: utf8.RuneCount(line[:bad]) + 1, Err: utf8Error(start + int64(bad))}}, nil
		}
		return feedbackJSONRow(line, fr.name, fr.line), nil
	}
}

// utf8Checker passes bytes through and remembers the offsets of those
// that are not valid UTF-8 and have not yet been asked about.
type utf8Checker struct {
	r       io.Reader
	base    int64   // offset of the first byte read
	off     int64   // offset of the next byte to read
	carry   []byte  // the start of a character cut by the end of a read
	invalid []int64 // offsets of invalid bytes, ascending
}

func (c *utf8Checker) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	data := p[:n]
	if len(c.carry) > 0 {
		data = append(c.carry, data...)
	}
	at := c.off - int64(len(c.carry))
	c.carry = nil
	for i := 0; i < len(data); {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		if !utf8.FullRune(data[i:]) && err == nil {
			c.carry = append([]byte(nil), data[i:]...)
			break
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			c.invalid = append(c.invalid, c.base+at+int64(i))
		}
		i += size
	}
	c.off += int64(n)
	return n, err
}

// invalidIn reports the first invalid byte in [start, end) and forgets
// those before end.
func (c *utf8Checker) invalidIn(start, end int64) (int64, bool) {
	first, found := int64(0), false
	i := 0
	for ; i < len(c.invalid) && c.invalid[i] < end; i++ {
		if !found && c.invalid[i] >= start {
			first, found = c.invalid[i], true
		}
	}
	c.invalid = c.invalid[i:]
	return first, found
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
