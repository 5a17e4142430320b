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
	"strconv"
	"strings"
	"unicode"
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
// errors name the file by its base name. It holds every record in memory:
// for large files use [NewReader].
func ReadFile(path string, opts ...ReadOption) ([]Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read traces: %w", err)
	}
	defer f.Close()
	return Read(f, filepath.Base(path), opts...)
}

// Read reads every trace of r; see [Reader] for the forms it reads and how
// it reports problems. The records are returned in input order, with the
// input-level error, if any, that ended reading (records read before it
// are returned too). Empty input gives no records and no error.
func Read(r io.Reader, name string, opts ...ReadOption) ([]Record, error) {
	rd := NewReader(r, name, opts...)
	var records []Record
	for {
		rec, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return records, nil
		}
		if err != nil {
			return records, err
		}
		records = append(records, rec)
	}
}

// Reader reads traces one record at a time, so memory holds one record
// however large the input. It detects the form of the input:
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
// without a trace_id or with an invalid one (see [CheckID]), a record that
// is not valid UTF-8 — is reported in that Record's Err, and reading goes
// on, so the caller can choose to stop or to skip and report. The error
// [Reader.Next] returns is for the input as a whole: it cannot be read, it
// is not JSON ([ErrNotJSON]), or a JSON array or document is malformed
// (there is no next record to go on with). Such errors are *LineError
// values too.
type Reader struct {
	name string
	cfg  readConfig
	in   *bufio.Reader
	line int   // lines mode: number of the last line read
	off  int64 // lines mode: byte offset of the next line

	mode int      // what the input turned out to be
	sc   *scanner // array and document modes
	err  error    // sticky: returned by every later Next
}

// The modes of a Reader.
const (
	modeStart = iota
	modeLines
	modeArray
	modeDocument
)

// NewReader returns a Reader of the traces in r; name names the input in
// records and errors.
func NewReader(r io.Reader, name string, opts ...ReadOption) *Reader {
	cfg := readConfig{experimentID: "0"}
	for _, o := range opts {
		o.applyRead(&cfg)
	}
	return &Reader{name: name, cfg: cfg, in: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next record. At the end of the input it returns io.EOF;
// any other error is about the input as a whole and ends reading: later
// calls return it again.
func (rd *Reader) Next() (Record, error) {
	if rd.err != nil {
		return Record{}, rd.err
	}
	rec, err := rd.next()
	if err != nil {
		rd.err = err
	}
	return rec, err
}

func (rd *Reader) next() (Record, error) {
	switch rd.mode {
	case modeStart:
		return rd.start()
	case modeLines:
		for {
			start := rd.off
			line, err := rd.nextLine()
			if err != nil {
				return Record{}, err
			}
			if len(bytes.TrimSpace(line)) > 0 {
				return rd.lineRecord(line, rd.line, start), nil
			}
		}
	case modeArray:
		return rd.arrayNext()
	default:
		return rd.documentNext()
	}
}

// nextLine returns the next line, with its line terminator, or io.EOF.
func (rd *Reader) nextLine() ([]byte, error) {
	line, err := rd.in.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %s: %w", rd.name, err)
	}
	if len(line) > 0 {
		rd.line++
		rd.off += int64(len(line))
		if rd.line == 1 && bytes.HasPrefix(line, bom) {
			line = line[len(bom):]
		}
		return line, nil
	}
	return nil, err
}

var bom = []byte("\xef\xbb\xbf")

// start reads up to the first non-blank line and decides the form.
func (rd *Reader) start() (Record, error) {
	for {
		start := rd.off
		line, err := rd.nextLine()
		if err != nil {
			return Record{}, err
		}
		if rd.line == 1 && rd.off-start > int64(len(line)) {
			start += int64(len(bom))
		}
		text := bytes.TrimSpace(line)
		if len(text) == 0 {
			continue
		}
		lead := bytes.IndexByte(line, text[0])
		switch {
		case text[0] == '{' && !incomplete(text):
			rd.mode = modeLines
			return rd.lineRecord(line, rd.line, start), nil
		case text[0] == '{' || text[0] == '[':
			rest := io.MultiReader(bytes.NewReader(line[lead:]), rd.in)
			rd.sc = &scanner{in: bufio.NewReaderSize(rest, 64<<10), line: rd.line,
				col: utf8.RuneCount(line[:lead]) + 1, off: start + int64(lead), name: rd.name}
			if text[0] == '[' {
				rd.mode = modeArray
				rd.sc.readByte() // the '['
				return rd.arrayNext()
			}
			rd.mode = modeDocument
			return rd.documentNext()
		}
		col := utf8.RuneCount(line[:lead]) + 1
		return Record{}, &LineError{Source: rd.name, Line: rd.line, Column: col, Err: ErrNotJSON}
	}
}

// incomplete reports whether line is the start of a JSON value that goes on
// past the line (a pretty-printed document), rather than a whole value or a
// malformed one.
func incomplete(line []byte) bool {
	var v json.RawMessage
	err := json.NewDecoder(bytes.NewReader(line)).Decode(&v)
	return errors.Is(err, io.ErrUnexpectedEOF)
}

// lineRecord decodes one line of JSON Lines; off is the byte offset of the
// line in the input.
func (rd *Reader) lineRecord(line []byte, n int, off int64) Record {
	line = bytes.TrimRight(line, "\r\n")
	if bad := invalidUTF8(line); bad >= 0 {
		return Record{Source: rd.name, Line: n, Err: &LineError{Source: rd.name, Line: n,
			Column: utf8.RuneCount(line[:bad]) + 1, Err: utf8Error(off + int64(bad))}}
	}
	// An object is split into its fields once, which checks its syntax;
	// anything else is checked here.
	if wantKind(line, '{') != nil {
		var raw json.RawMessage
		if err := json.Unmarshal(line, &raw); err != nil {
			col := 0
			var se *json.SyntaxError
			if errors.As(err, &se) {
				col = column(line, int(se.Offset))
			}
			return Record{Source: rd.name, Line: n, Err: &LineError{Source: rd.name, Line: n, Column: col, Err: err}}
		}
	}
	rec := rd.record(line, n)
	var se *json.SyntaxError
	if le, ok := rec.Err.(*LineError); ok && errors.As(le.Err, &se) && le.Err == error(se) {
		le.Column = column(line, int(se.Offset))
	}
	return rec
}

// arrayNext reads the next element of a JSON array of traces, whose '['
// has been read.
func (rd *Reader) arrayNext() (Record, error) {
	sc := rd.sc
	const unclosed = "the array of traces is not closed"
	b, err := sc.skipSpace()
	if err != nil {
		return Record{}, sc.endError(err, unclosed)
	}
	if b == ']' {
		sc.readByte()
		return Record{}, rd.arrayEnd()
	}
	if sc.inArray {
		if b != ',' {
			return Record{}, sc.errorHere(fmt.Sprintf("invalid character %s after array element", quoteChar(b)))
		}
		sc.readByte()
		if b, err = sc.skipSpace(); err != nil {
			return Record{}, sc.endError(err, unclosed)
		}
		if b == ']' {
			return Record{}, sc.errorHere("invalid character ']' after a comma: want the next trace")
		}
	}
	sc.inArray = true
	return rd.scanRecord()
}

// arrayEnd checks that only space follows the array.
func (rd *Reader) arrayEnd() error {
	sc := rd.sc
	if _, err := sc.skipSpace(); errors.Is(err, io.EOF) {
		return io.EOF
	} else if err != nil {
		return err
	}
	return sc.errorHere("unexpected data after the array of traces")
}

// documentNext reads the next of one or more JSON values one after
// another.
func (rd *Reader) documentNext() (Record, error) {
	if _, err := rd.sc.skipSpace(); err != nil {
		return Record{}, err
	}
	return rd.scanRecord()
}

// scanRecord reads one JSON value of an array or document and makes it a
// record.
func (rd *Reader) scanRecord() (Record, error) {
	sc := rd.sc
	line, col, off := sc.line, sc.col, sc.off
	v, err := sc.value()
	if errors.Is(err, errUnclosed) {
		// Show the first syntax error in the value, if there is one before
		// the end of the input, rather than only that it is not closed.
		var raw json.RawMessage
		var se *json.SyntaxError
		if errors.As(json.Unmarshal(v, &raw), &se) && !strings.HasPrefix(se.Error(), "unexpected end") {
			l, c := offsetPosition(v, int(se.Offset)-1, line, col)
			return Record{}, &LineError{Source: rd.name, Line: l, Column: c, Err: se}
		}
		return Record{}, &LineError{Source: rd.name, Line: line,
			Err: errors.New("unexpected end of input: the JSON value starting here is not closed")}
	}
	if err != nil {
		return Record{}, err
	}
	if bad := invalidUTF8(v); bad >= 0 {
		l, c := offsetPosition(v, bad, line, col)
		return Record{Source: rd.name, Line: line, Err: &LineError{Source: rd.name, Line: l, Column: c,
			Err: utf8Error(off + int64(bad))}}, nil
	}
	if err := checkJSON(v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			l, c := offsetPosition(v, int(se.Offset)-1, line, col)
			return Record{}, &LineError{Source: rd.name, Line: l, Column: c, Err: err}
		}
		return Record{}, &LineError{Source: rd.name, Line: line, Column: col, Err: err}
	}
	return rd.record(v, line), nil
}

// offsetPosition returns the line and column of byte off of v, a value
// that starts at line, col.
func offsetPosition(v []byte, off, line, col int) (int, int) {
	off = min(max(off, 0), len(v))
	before := v[:off]
	if n := bytes.Count(before, []byte("\n")); n > 0 {
		return line + n, utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	}
	return line, col + utf8.RuneCount(before)
}

// invalidUTF8 returns the offset of the first byte of b that is not valid
// UTF-8, or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
}

// ErrInvalidUTF8 is the cause of the error of a record that is not valid
// UTF-8. Such records are refused rather than repaired, so that what is
// imported is exactly what the file holds.
var ErrInvalidUTF8 = errors.New("invalid UTF-8")

// utf8Error is the error for an invalid byte at offset off of the input.
func utf8Error(off int64) error {
	return fmt.Errorf("%w at byte offset %d (the file must be UTF-8)", ErrInvalidUTF8, off)
}

// quoteChar renders b for a syntax error message, as encoding/json does.
func quoteChar(b byte) string {
	if b == '\'' {
		return `'\''`
	}
	if b == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(b)))
	return "'" + s[1:len(s)-1] + "'"
}

// errUnclosed says the input ended inside a JSON value.
var errUnclosed = errors.New("unclosed JSON value")

// scanner splits the JSON values of an array or a document, keeping the
// position of the next byte.
type scanner struct {
	in   *bufio.Reader
	name string
	line int   // 1-based line of the next byte
	col  int   // 1-based column (in characters) of the next byte
	off  int64 // byte offset of the next byte

	inArray bool // array mode: an element was read
}

// consume advances the position over b, the bytes just read.
func (sc *scanner) consume(b []byte) {
	sc.off += int64(len(b))
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		sc.line += bytes.Count(b, []byte("\n"))
		sc.col = utf8.RuneCount(b[i+1:]) + 1
		return
	}
	sc.col += utf8.RuneCount(b)
}

func (sc *scanner) readByte() (byte, error) {
	b, err := sc.in.ReadByte()
	if err != nil {
		return 0, sc.readError(err)
	}
	sc.consume([]byte{b})
	return b, nil
}

func (sc *scanner) readError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return fmt.Errorf("read %s: %w", sc.name, err)
}

// skipSpace skips JSON white space and returns the next byte, unread.
func (sc *scanner) skipSpace() (byte, error) {
	for {
		buf, err := sc.fill()
		if err != nil {
			return 0, err
		}
		i := skipSpace(buf, 0)
		sc.consume(buf[:i])
		sc.in.Discard(i)
		if i < len(buf) {
			return buf[i], nil
		}
	}
}

// fill returns the buffered bytes, reading more if there are none.
func (sc *scanner) fill() ([]byte, error) {
	if sc.in.Buffered() == 0 {
		if _, err := sc.in.Peek(1); err != nil {
			return nil, sc.readError(err)
		}
	}
	buf, _ := sc.in.Peek(sc.in.Buffered())
	return buf, nil
}

// value reads the bytes of one JSON value starting at the next byte, which
// is not space: an object or array up to its closing bracket (strings
// skipped), a string, or a bare word (number, true, null or junk). Whether
// the value is valid JSON is for the caller to check. At the end of the
// input inside an object, array or string it returns the bytes read and
// errUnclosed.
func (sc *scanner) value() ([]byte, error) {
	buf, err := sc.fill()
	if err != nil {
		return nil, err
	}
	first := buf[0]
	switch {
	case first == '{' || first == '[' || first == '"':
		return sc.nested()
	case isDelimiter(first):
		sc.readByte()
		return []byte{first}, nil
	}
	var v []byte
	for {
		buf, err := sc.fill()
		if errors.Is(err, io.EOF) {
			return v, nil
		}
		if err != nil {
			return nil, err
		}
		i := 0
		for i < len(buf) && !isDelimiter(buf[i]) && !isSpace(buf[i]) && buf[i] != '"' {
			i++
		}
		v = append(v, buf[:i]...)
		sc.consume(buf[:i])
		sc.in.Discard(i)
		if i < len(buf) {
			return v, nil
		}
	}
}

// nested reads an object, array or string.
func (sc *scanner) nested() ([]byte, error) {
	var (
		v        []byte
		depth    int
		inString bool
		escaped  bool
	)
	for {
		buf, err := sc.fill()
		if errors.Is(err, io.EOF) {
			return v, errUnclosed
		}
		if err != nil {
			return nil, err
		}
		i, done := 0, false
		for i < len(buf) && !done {
			c := buf[i]
			i++
			switch {
			case inString:
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
					done = depth == 0
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				done = depth <= 0
			}
		}
		v = append(v, buf[:i]...)
		sc.consume(buf[:i])
		sc.in.Discard(i)
		if done {
			return v, nil
		}
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isDelimiter(c byte) bool {
	switch c {
	case ',', ']', '}', '{', '[', ':':
		return true
	}
	return false
}

// errorHere is a syntax error at the next byte.
func (sc *scanner) errorHere(msg string) error {
	return &LineError{Source: sc.name, Line: sc.line, Column: sc.col, Err: errors.New(msg)}
}

// endError turns io.EOF inside an array into a syntax error.
func (sc *scanner) endError(err error, msg string) error {
	if errors.Is(err, io.EOF) {
		return &LineError{Source: sc.name, Line: sc.line, Err: errors.New("unexpected end of input: " + msg)}
	}
	return err
}

// record converts one JSON value into a Record.
func (rd *Reader) record(raw json.RawMessage, line int) Record {
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
func (rd *Reader) decode(raw json.RawMessage) (*Trace, error) {
	if wantKind(raw, '{') != nil {
		return nil, fmt.Errorf("got %s, want an object (an MLflow trace or a flat record)", jsonKind(raw))
	}
	if err := checkJSON(raw); err != nil {
		return nil, err
	}
	// The decoded trace keeps slices of its own copy of the input.
	keys, err := splitObject(bytes.Clone(raw))
	if err != nil {
		return nil, err
	}
	if _, ok := keys["info"]; !ok {
		t, err := flatTrace(raw, keys, rd.cfg)
		if err != nil {
			return nil, err
		}
		if err := CheckID(t.Info.TraceID); err != nil {
			return nil, err
		}
		return t, nil
	}
	t := new(Trace)
	if err := t.decode(objectDecoderOf(keys)); err != nil {
		return nil, err
	}
	if t.Info.TraceID == "" {
		return nil, errors.New("trace has no info.trace_id")
	}
	if err := CheckID(t.Info.TraceID); err != nil {
		return nil, err
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

// CheckID reports whether id can name a trace: it must be non-empty, valid
// UTF-8 and free of spaces and control characters. The store refuses
// traces with other IDs; [Reader] reports them as bad records.
func CheckID(id string) error {
	if id == "" {
		return errors.New("empty trace id")
	}
	if !utf8.ValidString(id) {
		return fmt.Errorf("trace id %q is not valid UTF-8", id)
	}
	if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return fmt.Errorf("trace id %q contains a space or control character", id)
	}
	return nil
}
