package judgefile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/alignhost/alignhost/judge"
)

// anyKeys are the keys whose values have type any in judge.Judge: the TOML
// decoder stores their tables whole and does not mark the keys inside them
// as decoded, so those keys are not unknown.
var anyKeys = [...]toml.Key{
	{"inference_params"},
	{"memory", "examples", "expectations"},
	{"memory", "examples", "value"},
}

// typeErrorMessage parses the message of the TOML decoder's type errors,
// which are not toml.ParseError values: line, key and problem.
var typeErrorMessage = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

func decodeTOML(data []byte) (*judge.Judge, error) {
	var j judge.Judge
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&j)
	if err != nil {
		if pe, ok := errors.AsType[toml.ParseError](err); ok {
			msg := pe.Message
			if pe.LastKey != "" {
				msg = fmt.Sprintf("%s (key %s)", msg, pe.LastKey)
			}
			return nil, &Error{Line: pe.Position.Line, Column: pe.Position.Col, Err: errors.New(msg)}
		}
		if m := typeErrorMessage.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{Line: line, Err: fmt.Errorf("key %s: %s", m[2], m[3])}
		}
		return nil, &Error{Err: err}
	}
	var unknown []toml.Key
	for _, k := range md.Undecoded() {
		if !underAnyKey(k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		names := make([]string, len(unknown))
		for i, k := range unknown {
			names[i] = k.String()
		}
		word := "key"
		if len(unknown) > 1 {
			word = "keys"
		}
		return nil, &Error{
			Line: keyLine(data, unknown[0]),
			Err:  fmt.Errorf("unknown %s %s", word, strings.Join(names, ", ")),
		}
	}
	// Bring values of type any to the form JSON decoding gives them (TOML
	// integers are int64, JSON numbers float64), and normalise example
	// values, so that a judge decodes the same from either format.
	canonical, err := json.Marshal(&j)
	if err != nil {
		return nil, &Error{Err: fmt.Errorf("a value cannot be represented as JSON: %w", err)}
	}
	var out judge.Judge
	if err := json.Unmarshal(canonical, &out); err != nil {
		return nil, &Error{Err: err}
	}
	return &out, nil
}

func underAnyKey(k toml.Key) bool {
	for _, prefix := range anyKeys {
		if len(k) > len(prefix) && slices.Equal(k[:len(prefix)], prefix) {
			return true
		}
	}
	return false
}

// keyLine returns the line on which key is defined in a TOML document, or 0
// when it cannot be found. It follows table headers and dotted keys, skips
// comments and multi-line strings, and handles bare and quoted keys: enough
// to point at a misspelt key.
func keyLine(data []byte, key toml.Key) int {
	want := key.String()
	var table toml.Key
	multiline := "" // the closing delimiter of the multi-line string we are in
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if multiline != "" {
			if strings.Count(line, multiline)%2 == 1 {
				multiline = ""
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasPrefix(trimmed, "[") {
			header := strings.Trim(strings.SplitN(trimmed, "#", 2)[0], " \t")
			header = strings.TrimSpace(strings.Trim(header, "[]"))
			table = splitKey(header)
			if table.String() == want {
				return n
			}
			continue
		}
		name, value, ok := strings.Cut(trimmed, "=")
		if !ok {
			continue
		}
		full := append(slices.Clone(table), splitKey(strings.TrimSpace(name))...)
		if full.String() == want {
			return n
		}
		value = strings.TrimSpace(value)
		for _, delim := range []string{`"""`, `'''`} {
			if strings.HasPrefix(value, delim) && strings.Count(value, delim)%2 == 1 {
				multiline = delim
			}
		}
	}
	return 0
}

// splitKey splits a dotted TOML key into its parts, unquoting quoted parts.
func splitKey(s string) toml.Key {
	var parts toml.Key
	for s != "" {
		s = strings.TrimLeft(s, " \t")
		var part string
		switch {
		case strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `'`):
			q := s[:1]
			end := strings.Index(s[1:], q)
			if end < 0 {
				return append(parts, s)
			}
			part = s[1 : 1+end]
			if q == `"` {
				if u, err := strconv.Unquote(s[:end+2]); err == nil {
					part = u
				}
			}
			s = s[end+2:]
		default:
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			part = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		parts = append(parts, part)
		s = strings.TrimLeft(s, " \t")
		s = strings.TrimPrefix(s, ".")
	}
	return parts
}

func encodeTOML(j *judge.Judge) ([]byte, error) {
	if err := checkTOMLValues(j); err != nil {
		return nil, fmt.Errorf("encode judge %q as TOML: %w", j.Name, err)
	}
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(j); err != nil {
		return nil, fmt.Errorf("encode judge %q as TOML: %w", j.Name, err)
	}
	return multilineStrings(buf.Bytes()), nil
}

// checkTOMLValues reports a value of type any in j that TOML cannot hold:
// a null anywhere inside inference parameters, expectations or an example's
// value. (A whole example value that is null is simply left out, and
// decodes as null again.)
func checkTOMLValues(j *judge.Judge) error {
	if err := checkNoNull("inference_params", j.InferenceParams); err != nil {
		return err
	}
	if j.Memory == nil {
		return nil
	}
	for i, ex := range j.Memory.Examples {
		path := fmt.Sprintf("memory.examples[%d]", i)
		if err := checkNoNull(path+".expectations", ex.Expectations); err != nil {
			return err
		}
		if ex.Value != nil {
			if err := checkNoNull(path+".value", ex.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkNoNull(path string, v any) error {
	switch v := v.(type) {
	case nil:
		return fmt.Errorf("%s is null, which TOML cannot represent; store this judge as JSON", path)
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := checkNoNull(path+"."+k, v[k]); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range v {
			if err := checkNoNull(fmt.Sprintf("%s[%d]", path, i), e); err != nil {
				return err
			}
		}
	}
	return nil
}

// basicStringLine matches a line "key = "…"" as the TOML encoder writes a
// string value.
var basicStringLine = regexp.MustCompile(`^(\s*)([A-Za-z0-9_-]+) = ("(?:[^"\\]|\\.)*")$`)

// multilineStrings rewrites each string value that contains a newline, which
// the TOML encoder writes on one line with \n escapes, as a multi-line basic
// string, so that instructions read as they were written.
func multilineStrings(data []byte) []byte {
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		m := basicStringLine.FindStringSubmatch(line)
		if m == nil || !strings.Contains(m[3], `\n`) {
			continue
		}
		var v struct{ S string }
		if _, err := toml.Decode("S = "+m[3], &v); err != nil {
			continue
		}
		lines[i] = m[1] + m[2] + ` = """` + "\n" + escapeMultiline(v.S) + `"""`
	}
	return []byte(strings.Join(lines, "\n"))
}

// escapeMultiline escapes s for the body of a multi-line basic string:
// backslashes, control characters other than newline and tab, and any quote
// that could form a closing delimiter.
func escapeMultiline(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"' && (i+1 == len(s) || s[i+1] == '"'):
			b.WriteString(`\"`)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
