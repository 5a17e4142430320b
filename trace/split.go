package trace

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Splitting valid JSON. The functions of this file take JSON that has been
// checked already (see checkJSON) and cut it into its members or elements
// in one pass that skips strings with bytes.IndexByte; given invalid JSON
// their results are unspecified, but they never read out of bounds.

// splitObject returns the members of data, a valid JSON object, as
// encoding/json's Unmarshal into a map[string]json.RawMessage would (the
// last of repeated keys wins, values without surrounding space); the
// values are slices of data. A value that is not an object gets the error
// wantKind gives.
func splitObject(data []byte) (map[string]json.RawMessage, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, wantKind(data, '{')
	}
	fields := make(map[string]json.RawMessage, 8)
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] == '"' {
		end := skipString(data, i)
		key, ok := unquote(data[i:end])
		if !ok {
			// Not reachable for valid JSON: a key is a string.
			return nil, wantKind(data, '{')
		}
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ':' {
			i = skipSpace(data, i+1)
		}
		vend := skipValue(data, i)
		fields[key] = data[i:vend:vend]
		i = skipSpace(data, vend)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return fields, nil
}

// splitArray returns the elements of data, a valid JSON array, as slices
// of data. A value that is not an array gets the error wantKind gives.
func splitArray(data []byte) ([]json.RawMessage, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, wantKind(data, '[')
	}
	var elems []json.RawMessage
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] != ']' {
		end := skipValue(data, i)
		if end == i {
			break
		}
		elems = append(elems, data[i:end:end])
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	if elems == nil {
		elems = []json.RawMessage{}
	}
	return elems, nil
}

// skipValue returns the offset just past the valid JSON value starting at
// data[i].
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = skipString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	// A number or a literal: up to the next delimiter.
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
		j++
	}
	return j
}

// skipString returns the offset just past the JSON string whose opening
// quote is data[i]: at the first quote not escaped by an odd number of
// backslashes.
func skipString(data []byte, i int) int {
	j := i + 1
	for j < len(data) {
		k := bytes.IndexByte(data[j:], '"')
		if k < 0 {
			return len(data)
		}
		j += k
		n := 0
		for p := j - 1; p > i && data[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
	return len(data)
}

// unquote returns the string of raw, a valid JSON value, as encoding/json
// would decode it (invalid UTF-8 becomes U+FFFD); ok is false when raw is
// not a string. Strings without escapes, nearly all, are copied once.
func unquote(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), true
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}
