// Package judgefile reads and writes judge files: a [judge.Judge] stored as
// TOML, the format meant for people, or as JSON, the format meant for
// programs. The format follows from the file's extension.
//
// A TOML judge file looks like this:
//
//	name = "product_quality"
//	model = "openai:/gpt-4.1-mini"
//	values = ["excellent", "good", "fair", "poor"]
//	instructions = """
//	Rate the answer in {{ outputs }} to the customer question in {{ inputs }}.
//	"""
//
// The keys are the JSON and TOML tags of [judge.Judge]; docs/judges.md
// describes each. Decoding is strict: a key the format does not define is an
// error naming it and its line, so a misspelt key such as "instruction"
// cannot pass silently. Every decoded judge is validated.
//
// Both formats round-trip a judge without loss, memory and provenance
// included. Values of type any (inference parameters, example expectations
// and values) decode as encoding/json decodes JSON — float64, string, bool,
// []any, map[string]any — whichever the format, and a memory example's value
// is then normalised to the judge's value type. TOML has no null: encoding a
// judge whose any-typed values contain null (nil) as TOML fails with an
// error naming where; use JSON for such judges.
package judgefile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/alignhost/alignhost/judge"
)

// Format is the encoding of a judge file, named as on the command line.
type Format string

// The judge file formats.
const (
	// TOML is the format for files people write; extension .toml.
	TOML Format = "toml"
	// JSON is the format for files programs exchange; extension .json.
	JSON Format = "json"
)

// FormatOf returns the format of the judge file at path, from its
// extension: .toml or .json, in any letter case.
func FormatOf(path string) (Format, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".toml":
		return TOML, nil
	case ".json":
		return JSON, nil
	}
	return "", fmt.Errorf("judge file %s: unknown format: the name must end in .toml or .json", path)
}

// Error reports a problem in a judge file, where it is known.
type Error struct {
	// Path is the file, empty when decoding bytes.
	Path string
	// Line and Column locate the problem, starting at 1; 0 when unknown.
	Line, Column int
	// Err is the problem.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("judge file")
	if e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, " column %d", e.Column)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Read reads, decodes and validates the judge file at path.
func Read(path string) (*judge.Judge, error) {
	format, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read judge file: %w", err)
	}
	j, err := Decode(data, format)
	if err != nil {
		if fe, ok := errors.AsType[*Error](err); ok {
			fe.Path = path
			return nil, fe
		}
		return nil, fmt.Errorf("judge file %s: %w", path, err)
	}
	return j, nil
}

// Write encodes j in the format its path calls for and writes it to path.
// It refuses to write a judge that does not validate.
func Write(path string, j *judge.Judge) error {
	format, err := FormatOf(path)
	if err != nil {
		return err
	}
	if err := j.Validate(); err != nil {
		return fmt.Errorf("write judge file %s: %w", path, err)
	}
	data, err := Encode(j, format)
	if err != nil {
		return fmt.Errorf("write judge file %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write judge file: %w", err)
	}
	return nil
}

// Decode decodes and validates a judge in the given format. Problems in the
// data are reported as an *Error with the line where it is known.
func Decode(data []byte, format Format) (*judge.Judge, error) {
	var (
		j   *judge.Judge
		err error
	)
	switch format {
	case TOML:
		j, err = decodeTOML(data)
	case JSON:
		j, err = decodeJSON(data)
	default:
		return nil, fmt.Errorf("decode judge: unknown format %q; want %q or %q", format, TOML, JSON)
	}
	if err != nil {
		return nil, err
	}
	if err := j.Validate(); err != nil {
		return nil, &Error{Err: err}
	}
	return j, nil
}

// Encode encodes j in the given format. TOML output writes multi-line text
// (such as the instructions) as multi-line strings.
func Encode(j *judge.Judge, format Format) ([]byte, error) {
	switch format {
	case TOML:
		return encodeTOML(j)
	case JSON:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(j); err != nil {
			return nil, fmt.Errorf("encode judge %q as JSON: %w", j.Name, err)
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("encode judge %q: unknown format %q; want %q or %q", j.Name, format, TOML, JSON)
}

// plainJudge has the fields of judge.Judge without its UnmarshalJSON
// method, so that a json.Decoder's DisallowUnknownFields applies to it.
type plainJudge judge.Judge

func decodeJSON(data []byte) (*judge.Judge, error) {
	// First pass: strict, to report unknown keys and syntax errors with
	// their position.
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var strict plainJudge
	if err := dec.Decode(&strict); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{Err: errors.New("no JSON object: the data is empty")}
		}
		return nil, jsonError(data, err)
	}
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
		line, col := position(data, len(data)-len(rest))
		return nil, &Error{Line: line, Column: col, Err: errors.New("data after the judge object")}
	}
	// Second pass: through judge.Judge's own decoding, which normalises the
	// memory examples' values.
	var j judge.Judge
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, jsonError(data, err)
	}
	return &j, nil
}

// jsonError locates a JSON decoding error in data.
func jsonError(data []byte, err error) error {
	// Syntax and type errors give the offset after the offending byte.
	offset := -1
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		offset = int(se.Offset) - 1
	} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		offset = int(te.Offset) - 1
		// The field path names Go's embedded ValueType; the file does not.
		field := strings.ReplaceAll(te.Field, "ValueType.", "")
		err = fmt.Errorf("key %s: a JSON %s cannot be decoded into %s", field, te.Value, te.Type)
	} else if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		// DisallowUnknownFields gives no offset: find the key.
		if i := bytes.Index(data, []byte(name+":")); i >= 0 {
			offset = i
		} else if i := bytes.Index(data, []byte(name)); i >= 0 {
			offset = i
		}
		err = fmt.Errorf("unknown key %s", name)
	}
	if offset < 0 {
		return &Error{Err: err}
	}
	line, col := position(data, offset)
	return &Error{Line: line, Column: col, Err: err}
}

// position converts a byte offset in data to a line and column, from 1.
func position(data []byte, offset int) (line, col int) {
	offset = min(max(offset, 0), len(data))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = offset - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
