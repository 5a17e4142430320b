package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Record is one trace read from a file, or the error that prevented reading
// it. Exactly one of Trace and Err is set.
type Record struct {
	// Source is the name of the input, as given to [Read].
	Source string
	// Line is the line where the trace starts (1-based).
	Line  int
	Trace *Trace
	// Err is a *LineError naming Source and Line.
	Err error
}

// LineError is a problem at a line of an input file. Its message names the
// file and line first: "traces.jsonl line 17: invalid character '}' …".
type LineError struct {
	Source string
	Line   int
	// Column is the 1-based column (in characters) of a JSON syntax error,
	// 0 when the error is about the record as a whole.
	Column int
	Err    error
}

func (e *LineError) Error() string {
	if e.Column > 0 {
		return fmt.Sprintf("%s line %d: %v (column %d)", e.Source, e.Line, e.Err, e.Column)
	}
	return fmt.Sprintf("%s line %d: %v", e.Source, e.Line, e.Err)
}

func (e *LineError) Unwrap() error { return e.Err }

// ErrNotJSON is the cause of the error [Read] returns for input that is not
// JSON at all.
var ErrNotJSON = errors.New("not JSON: want an MLflow trace object, a JSON array of traces, or JSON Lines")

// ReadOption configures [Read] and [ReadFile].
type ReadOption interface {
	applyRead(*readConfig)
}

type readOptionFunc func(*readConfig)

func (f readOptionFunc) applyRead(c *readConfig) { f(c) }

type readConfig struct {
	mapping      Mapping
	experimentID string
}

// WithMapping says which columns of flat JSON Lines records hold the trace
// id, inputs, outputs, expectations, feedback and rationales (see
// [Mapping]).
func WithMapping(m Mapping) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.mapping = m })
}

// WithExperiment sets the MLflow experiment id recorded in the
// trace_location of traces converted from flat records ("0", MLflow's
// default experiment, when not set).
func WithExperiment(id string) ReadOption {
	return readOptionFunc(func(c *readConfig) { c.experimentID = id })
}

// ReadFile reads the traces in the file at path; see [Read]. Records and
// errors name the file by its base name.
func ReadFile(path string, opts ...ReadOption) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read traces: %w", err)
	}
	defer f.Close()
	return Read(f, filepath.Base(path), opts...)
}

// Read reads traces, detecting the form of the input:
//
//   - one MLflow trace object ({"info": …, "data": …}), pretty-printed or
//     not, or several such objects one after another;
//   - a JSON array of MLflow trace objects;
//   - JSON Lines: one MLflow trace object per line;
//   - flat JSON Lines: one {"trace_id", "inputs", "outputs", "expectations",
//     "feedback", …} object per line, converted to MLflow traces (see
//     docs/formats.md and [WithMapping]).
//
// Lines of JSON Lines may mix MLflow and flat records, and may be of any
// length. Legacy MLflow V2 traces are converted to V3.
//
// A problem with one record — a line that is not valid JSON, a trace
// without a trace_id — is reported in that Record's Err, and reading goes
// on, so the caller can choose to stop or to skip and report. The returned
// error is for the input as a whole: it cannot be read, it is not JSON
// ([ErrNotJSON]), or a JSON array or document is malformed (there is no
// next record to go on with). Such errors are *LineError values too. Empty
// input gives no records and no error.
func Read(r io.Reader, name string, opts ...ReadOption) ([]Record, error) {
	cfg := readConfig{experimentID: "0"}
	for _, o := range opts {
		o.applyRead(&cfg)
	}
	rd := &reader{name: name, cfg: cfg, in: bufio.NewReaderSize(r, 64<<10)}
	return rd.read()
}

// reader reads one input.
type reader struct {
	name string
	cfg  readConfig
	in   *bufio.Reader
	line int // number of the last line read
}

// next returns the next line, with its line terminator, or io.EOF.
func (rd *reader) next() ([]byte, error) {
	line, err := rd.in.ReadBytes('\n')
	if len(line) > 0 {
		rd.line++
		if rd.line == 1 {
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf"))
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return line, err
	}
	return nil, err
}

func (rd *reader) read() ([]Record, error) {
	var head bytes.Buffer // the lines read so far, for whole-document forms
	for {
		line, err := rd.next()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", rd.name, err)
		}
		head.Write(line)
		text := bytes.TrimSpace(line)
		if len(text) == 0 {
			continue
		}
		switch text[0] {
		case '[':
			all, err := rd.rest(&head)
			if err != nil {
				return nil, err
			}
			return rd.readArray(all)
		case '{':
			if !incomplete(text) {
				return rd.readLines(line)
			}
			all, err := rd.rest(&head)
			if err != nil {
				return nil, err
			}
			return rd.readDocument(all)
		}
		col := utf8.RuneCount(line[:bytes.IndexByte(line, text[0])]) + 1
		return nil, &LineError{Source: rd.name, Line: rd.line, Column: col, Err: ErrNotJSON}
	}
}

// rest returns head followed by the rest of the input.
func (rd *reader) rest(head *bytes.Buffer) ([]byte, error) {
	if _, err := head.ReadFrom(rd.in); err != nil {
		return nil, fmt.Errorf("read %s: %w", rd.name, err)
	}
	return head.Bytes(), nil
}

// incomplete reports whether line is the start of a JSON value that goes on
// past the line (a pretty-printed document), rather than a whole value or a
// malformed one.
func incomplete(line []byte) bool {
	var v json.RawMessage
	err := json.NewDecoder(bytes.NewReader(line)).Decode(&v)
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// readLines reads JSON Lines, starting with first, already read.
func (rd *reader) readLines(first []byte) ([]Record, error) {
	var records []Record
	line := first
	for {
		if text := bytes.TrimSpace(line); len(text) > 0 {
			records = append(records, rd.lineRecord(line, rd.line))
		}
		var err error
		line, err = rd.next()
		if errors.Is(err, io.EOF) {
			return records, nil
		}
		if err != nil {
			return records, fmt.Errorf("read %s: %w", rd.name, err)
		}
	}
}

// lineRecord decodes one line of JSON Lines.
func (rd *reader) lineRecord(line []byte, n int) Record {
	line = bytes.TrimRight(line, "\r\n")
	var raw json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		col := 0
		var se *json.SyntaxError
		if errors.As(err, &se) {
			col = column(line, int(se.Offset))
		}
		return Record{Source: rd.name, Line: n, Err: &LineError{Source: rd.name, Line: n, Column: col, Err: err}}
	}
	return rd.record(raw, n)
}

// readArray reads a JSON array of traces; all is the whole input.
func (rd *reader) readArray(all []byte) ([]Record, error) {
	dec := json.NewDecoder(bytes.NewReader(all))
	if _, err := dec.Token(); err != nil {
		return nil, rd.syntaxError(all, err, int(dec.InputOffset()))
	}
	var records []Record
	for dec.More() {
		start := skipSeparators(all, int(dec.InputOffset()))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, rd.syntaxError(all, err, start)
		}
		records = append(records, rd.record(raw, lineAt(all, start)))
	}
	if _, err := dec.Token(); err != nil {
		return nil, rd.syntaxError(all, err, int(dec.InputOffset()))
	}
	if end := skipSeparators(all, int(dec.InputOffset())); end < len(all) {
		line, col := position(all, end)
		return nil, &LineError{Source: rd.name, Line: line, Column: col,
			Err: errors.New("unexpected data after the array of traces")}
	}
	return records, nil
}

// readDocument reads one pretty-printed trace object, or several one after
// another; all is the whole input.
func (rd *reader) readDocument(all []byte) ([]Record, error) {
	dec := json.NewDecoder(bytes.NewReader(all))
	var records []Record
	for {
		start := skipSpace(all, int(dec.InputOffset()))
		if start >= len(all) {
			return records, nil
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, rd.syntaxError(all, err, start)
		}
		records = append(records, rd.record(raw, lineAt(all, start)))
	}
}

// syntaxError locates a JSON error of a whole-document read; start is
// where the value being read began. json.Decoder's error offsets are not
// reliable, so the value is scanned again from start with json.Unmarshal,
// which stops at the first bad byte.
func (rd *reader) syntaxError(all []byte, err error, start int) error {
	var raw json.RawMessage
	rescan := json.Unmarshal(all[start:], &raw)
	var se *json.SyntaxError
	if errors.As(rescan, &se) && !strings.Contains(se.Error(), "after top-level value") {
		if strings.HasPrefix(se.Error(), "unexpected end") {
			return &LineError{Source: rd.name, Line: lineAt(all, start),
				Err: errors.New("unexpected end of input: the JSON value starting here is not closed")}
		}
		line, col := position(all, start+int(se.Offset)-1)
		return &LineError{Source: rd.name, Line: line, Column: col, Err: rescan}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &LineError{Source: rd.name, Line: lineAt(all, start),
			Err: errors.New("unexpected end of input: the JSON value starting here is not closed")}
	}
	line, col := position(all, start)
	return &LineError{Source: rd.name, Line: line, Column: col, Err: err}
}

// record converts one JSON value into a Record.
func (rd *reader) record(raw json.RawMessage, line int) Record {
	rec := Record{Source: rd.name, Line: line}
	t, err := rd.decode(raw)
	if err != nil {
		rec.Err = &LineError{Source: rd.name, Line: line, Err: err}
		return rec
	}
	rec.Trace = t
	return rec
}

// decode reads an MLflow trace object, or converts a flat record.
func (rd *reader) decode(raw json.RawMessage) (*Trace, error) {
	if wantKind(raw, '{') != nil {
		return nil, fmt.Errorf("got %s, want an object (an MLflow trace or a flat record)", jsonKind(raw))
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return nil, err
	}
	if _, ok := keys["info"]; !ok {
		return flatTrace(raw, keys, rd.cfg)
	}
	t := new(Trace)
	if err := t.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	if t.Info.TraceID == "" {
		return nil, errors.New("trace has no info.trace_id")
	}
	return t, nil
}

// skipSpace returns the offset of the first non-space byte at or after i.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipSeparators is skipSpace that also skips the commas of an array.
func skipSeparators(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\r', '\n', ',':
			i++
		default:
			return i
		}
	}
	return i
}

// lineAt returns the 1-based line of byte offset off.
func lineAt(b []byte, off int) int {
	off = min(max(off, 0), len(b))
	return bytes.Count(b[:off], []byte("\n")) + 1
}

// position returns the 1-based line and column (in characters) of byte
// offset off.
func position(b []byte, off int) (line, col int) {
	off = min(max(off, 0), len(b))
	start := bytes.LastIndexByte(b[:off], '\n') + 1
	return lineAt(b, off), utf8.RuneCount(b[start:off]) + 1
}

// column returns the 1-based column of a syntax error reported at offset
// (encoding/json reports the offset after the offending byte).
func column(line []byte, offset int) int {
	_, col := position(line, offset-1)
	return col
}
