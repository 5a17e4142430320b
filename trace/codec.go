package trace

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The JSON codec of this package keeps MLflow exports exact. Each object
// type decodes its known keys into fields and everything else into Extra,
// and remembers in a layout how the input spelled the known keys: which were
// present, how a zero value was written (null, "", 0) and which integers
// were quoted. Encoding a decoded value writes the same keys back; encoding
// a value built in Go writes MLflow's defaults.

// layout remembers how a decoded JSON object spelled the keys this package
// models, so that encoding it again writes the same JSON.
type layout struct {
	decoded bool
	keys    map[string]spelling
}

// spelling is how the input wrote one known key.
type spelling struct {
	zero   json.RawMessage // the input text when the value decoded to its zero value
	quoted bool            // an integer written as a JSON string
}

// objectDecoder decodes a JSON object field by field. The first error stops
// further decoding and is reported by finish.
type objectDecoder struct {
	fields map[string]json.RawMessage
	lay    layout
	err    error
}

// Every objectDecoder holds the members of valid JSON. Input is checked
// once, where it enters the package (an UnmarshalJSON method, a Reader);
// the objects nested in it are then split without checking them again.
// encoding/json validates a value again at every level of nesting that
// decodes it, so that a span attribute was scanned once per level: most of
// an import's CPU.

// newObjectDecoder starts decoding data, which must be a JSON object; it
// is checked, and copied, since the decoded values keep slices of it.
func newObjectDecoder(data []byte) (*objectDecoder, error) {
	if err := wantKind(data, '{'); err != nil {
		return nil, err
	}
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	return validObjectDecoder(bytes.Clone(data))
}

// validObjectDecoder starts decoding data, valid JSON that must be an
// object, keeping slices of data.
func validObjectDecoder(data []byte) (*objectDecoder, error) {
	fields, err := splitObject(data)
	if err != nil {
		return nil, err
	}
	return objectDecoderOf(fields), nil
}

// unmarshalValid checks data, which must be an object, and hands a copy of it to decode, which may
// assume valid JSON and keep slices of it: the body of an UnmarshalJSON
// method.
func unmarshalValid(data []byte, decode func([]byte) error) error {
	if err := wantKind(data, '{'); err != nil {
		return err
	}
	if err := checkJSON(data); err != nil {
		return err
	}
	return decode(bytes.Clone(data))
}

// checkJSON reports whether data is one valid JSON value, with
// encoding/json's syntax error when it is not.
func checkJSON(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	var v json.RawMessage
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	return errors.New("invalid JSON")
}

// objectDecoderOf starts decoding an object already split into fields,
// whose values are valid JSON.
func objectDecoderOf(fields map[string]json.RawMessage) *objectDecoder {
	return &objectDecoder{fields: fields, lay: layout{decoded: true, keys: map[string]spelling{}}}
}

// has reports whether the object has key and it has not been decoded yet.
func (d *objectDecoder) has(key string) bool {
	_, ok := d.fields[key]
	return ok
}

// take removes key from the object and returns its raw value.
func (d *objectDecoder) take(key string) (json.RawMessage, bool) {
	raw, ok := d.fields[key]
	if ok {
		delete(d.fields, key)
	}
	return raw, ok
}

// note records how key was spelled, given whether it decoded to a zero value.
func (d *objectDecoder) note(key string, raw json.RawMessage, zero bool, quoted bool) {
	sp := spelling{quoted: quoted}
	if zero {
		sp.zero = raw
	}
	d.lay.keys[key] = sp
}

// fail records the first error, naming the key.
func (d *objectDecoder) fail(key string, err error) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w", key, err)
	}
}

// decodeField decodes key into dst: this package's types, strings and
// maps of strings or raw values directly from the valid JSON of the
// object, anything else (and any value of the wrong kind, for its error)
// with encoding/json.
func decodeField[T any](d *objectDecoder, key string, dst *T) {
	raw, ok := d.take(key)
	if !ok || d.err != nil {
		return
	}
	if string(raw) == "null" {
		var zero T
		*dst = zero
		d.note(key, raw, true, false)
		return
	}
	done, err := decodeValidValue(raw, dst)
	if !done {
		err = json.Unmarshal(raw, dst)
	}
	if err != nil {
		d.fail(key, typeError(err))
		return
	}
	d.note(key, raw, reflect.ValueOf(dst).Elem().IsZero(), false)
}

// validDecoder is implemented by this package's object types: decodeValid
// reads valid JSON, keeping slices of it.
type validDecoder interface {
	decodeValid(data []byte) error
}

// decodeValidValue decodes raw, valid JSON other than null, into dst when
// dst is of a type decoded without encoding/json; done is false when it
// is not, or when raw is not of the kind dst wants (encoding/json then
// says so in its words).
func decodeValidValue(raw []byte, dst any) (done bool, err error) {
	switch p := dst.(type) {
	case *string:
		s, ok := unquote(raw)
		if ok {
			*p = s
		}
		return ok, nil
	case *map[string]string:
		fields, err := splitObject(raw)
		if err != nil {
			return false, nil
		}
		m := make(map[string]string, len(fields))
		for k, v := range fields {
			s, ok := unquote(v)
			if !ok {
				return false, nil
			}
			m[k] = s
		}
		*p = m
		return true, nil
	case *map[string]json.RawMessage:
		fields, err := splitObject(raw)
		if err != nil {
			return false, nil
		}
		*p = fields
		return true, nil
	case validDecoder:
		return true, p.decodeValid(raw)
	case **Location:
		return decodeValidPointer(raw, p)
	case **ExperimentLocation:
		return decodeValidPointer(raw, p)
	case **Feedback:
		return decodeValidPointer(raw, p)
	case **FeedbackError:
		return decodeValidPointer(raw, p)
	case **Expectation:
		return decodeValidPointer(raw, p)
	case **SerializedValue:
		return decodeValidPointer(raw, p)
	}
	return false, nil
}

func decodeValidPointer[T any, P interface {
	*T
	validDecoder
}](raw []byte, dst **T) (bool, error) {
	v := P(new(T))
	if err := v.decodeValid(raw); err != nil {
		return true, err
	}
	*dst = (*T)(v)
	return true, nil
}

// decodeInt decodes key into dst, accepting a JSON number or a string
// holding one (protobuf's JSON form of 64-bit integers).
func decodeInt(d *objectDecoder, key string, dst *int64) {
	raw, ok := d.take(key)
	if !ok || d.err != nil {
		return
	}
	v, quoted, err := parseInt64(raw)
	if err != nil {
		d.fail(key, err)
		return
	}
	*dst = v
	d.note(key, raw, v == 0, quoted)
}

// decodeIntPtr is decodeInt for an optional integer.
func decodeIntPtr(d *objectDecoder, key string, dst **int64) {
	raw, ok := d.take(key)
	if !ok || d.err != nil {
		return
	}
	if string(raw) == "null" {
		*dst = nil
		d.note(key, raw, true, false)
		return
	}
	v, quoted, err := parseInt64(raw)
	if err != nil {
		d.fail(key, err)
		return
	}
	*dst = &v
	d.note(key, raw, false, quoted)
}

// parseInt64 parses a JSON integer, or a JSON string holding one.
func parseInt64(raw json.RawMessage) (v int64, quoted bool, err error) {
	text := string(raw)
	if text == "null" {
		return 0, false, nil
	}
	if len(text) > 0 && text[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, false, err
		}
		quoted = true
	}
	v, err = strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, quoted, fmt.Errorf("got %s, want an integer", raw)
	}
	return v, quoted, nil
}

// decodeList decodes key, a JSON array, element by element so that an error
// names the element's index; decode reads one valid element.
func decodeList[T any](d *objectDecoder, key string, dst *[]T, decode func(*T, []byte) error) {
	raw, ok := d.take(key)
	if !ok || d.err != nil {
		return
	}
	if string(raw) == "null" {
		*dst = nil
		d.note(key, raw, true, false)
		return
	}
	elems, err := splitArray(raw)
	if err != nil {
		d.fail(key, err)
		return
	}
	out := make([]T, len(elems))
	for i, e := range elems {
		if err := decode(&out[i], e); err != nil {
			d.fail(fmt.Sprintf("%s[%d]", key, i), err)
			return
		}
	}
	*dst = out
	d.note(key, raw, false, false)
}

// finish returns the first error, or the keys not decoded (nil when there
// are none) and the layout.
func (d *objectDecoder) finish() (map[string]json.RawMessage, layout, error) {
	if d.err != nil {
		return nil, layout{}, d.err
	}
	if len(d.fields) == 0 {
		return nil, d.lay, nil
	}
	return d.fields, d.lay, nil
}

// wantKind checks that data is a JSON value of the kind opening with open
// ('{' or '['), with a readable error otherwise.
func wantKind(data []byte, open byte) error {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) > 0 && data[0] == open {
		return nil
	}
	want := "an object"
	if open == '[' {
		want = "an array"
	}
	return fmt.Errorf("got %s, want %s", jsonKind(data), want)
}

// jsonKind names the kind of JSON value data starts with.
func jsonKind(data []byte) string {
	data = bytes.TrimLeft(data, " \t\r\n")
	if len(data) == 0 {
		return "nothing"
	}
	switch c := data[0]; {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a number"
	}
	return "invalid JSON"
}

// typeError rewrites encoding/json's type mismatch errors, which name Go
// types, in JSON terms.
func typeError(err error) error {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err
	}
	want := "a " + te.Type.String()
	switch te.Type.Kind() {
	case reflect.String:
		want = "a string"
	case reflect.Bool:
		want = "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		want = "an integer"
	case reflect.Float32, reflect.Float64:
		want = "a number"
	case reflect.Map, reflect.Struct:
		want = "an object"
	case reflect.Slice, reflect.Array:
		want = "an array"
	}
	got := te.Value
	switch {
	case got == "object" || got == "array":
		got = "an " + got
	case got == "bool":
		got = "a boolean"
	case got == "string" || strings.HasPrefix(got, "number"):
		got = "a " + got
	}
	if te.Field != "" {
		return fmt.Errorf("%s: got %s, want %s", te.Field, got, want)
	}
	return fmt.Errorf("got %s, want %s", got, want)
}

// objectEncoder writes a JSON object key by key, into a buffer of its own
// (newObjectEncoder) or at the end of the buffer the enclosing value is
// written to (encodeObject), so that nested objects are written in place,
// not copied up level by level.
type objectEncoder struct {
	buf     *bytes.Buffer
	start   int
	lay     *layout
	written []string // the keys written, in order: objects have few keys
	err     error
}

func newObjectEncoder(lay *layout) *objectEncoder {
	return encodeObject(new(bytes.Buffer), lay)
}

// encodeObject starts an object at the end of buf.
func encodeObject(buf *bytes.Buffer, lay *layout) *objectEncoder {
	e := &objectEncoder{buf: buf, start: buf.Len(), lay: lay}
	e.buf.WriteByte('{')
	return e
}

// jsonAppender is implemented by this package's object types: appendJSON
// writes the value at the end of buf, as MarshalJSON returns it.
type jsonAppender interface {
	appendJSON(buf *bytes.Buffer) error
}

// marshalObject is the body of an object type's MarshalJSON.
func marshalObject(v jsonAppender) ([]byte, error) {
	var buf bytes.Buffer
	if err := v.appendJSON(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// field writes key with value v unless v is zero. A zero v is written as
// the input spelled it when the object was decoded; otherwise as def, or not
// at all when def is nil. A key the decoded input did not have is never
// added for a zero value.
func (e *objectEncoder) field(key string, v any, zero bool, def any) {
	if !zero {
		e.write(key, v)
		return
	}
	sp, present := e.lay.keys[key]
	switch {
	case present && sp.zero != nil:
		e.writeRaw(key, sp.zero)
	case def == nil:
	case !e.lay.decoded || present:
		e.write(key, def)
	}
}

// int writes an integer key as field does, quoted when the input quoted it.
func (e *objectEncoder) int(key string, v int64, always bool) {
	sp, present := e.lay.keys[key]
	if v == 0 {
		if present && sp.zero != nil {
			e.writeRaw(key, sp.zero)
			return
		}
		if !always || (e.lay.decoded && !present) {
			return
		}
	}
	text := strconv.FormatInt(v, 10)
	if sp.quoted {
		text = strconv.Quote(text)
	}
	e.writeRaw(key, json.RawMessage(text))
}

// intPtr writes an optional integer key.
func (e *objectEncoder) intPtr(key string, v *int64) {
	if v == nil {
		if sp, present := e.lay.keys[key]; present && sp.zero != nil {
			e.writeRaw(key, sp.zero)
		}
		return
	}
	text := strconv.FormatInt(*v, 10)
	if e.lay.keys[key].quoted {
		text = strconv.Quote(text)
	}
	e.writeRaw(key, json.RawMessage(text))
}

// write writes key with the value v.
//
// The types of this package encode straight into the object, with no
// second pass: encoding/json would validate and compact the output of
// every MarshalJSON again at each level of nesting, so a span attribute
// would be scanned once per level (most of an import's CPU). Their output
// is compact by construction: every piece taken from the input (unknown
// keys, the spelling of zero values, raw values) is compacted once, where
// it is written.
func (e *objectEncoder) write(key string, v any) {
	if e.err != nil {
		return
	}
	e.key(key)
	if err := appendValue(e.buf, v); err != nil {
		e.err = fmt.Errorf("%s: %w", key, err)
	}
}

// writeRaw writes key with raw, a JSON value from the input or made by
// this package, compacted.
func (e *objectEncoder) writeRaw(key string, raw []byte) {
	if e.err != nil {
		return
	}
	e.key(key)
	if err := appendCompact(e.buf, raw); err != nil {
		e.err = fmt.Errorf("%s: %w", key, err)
	}
}

// key starts the member key.
func (e *objectEncoder) key(key string) {
	if len(e.written) > 0 {
		e.buf.WriteByte(',')
	}
	appendString(e.buf, key)
	e.buf.WriteByte(':')
	e.written = append(e.written, key)
}

// wrote reports whether key has been written.
func (e *objectEncoder) wrote(key string) bool {
	for _, k := range e.written {
		if k == key {
			return true
		}
	}
	return false
}

// appendValue writes v as JSON, as marshalJSON would.
func appendValue(buf *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case string:
		appendString(buf, x)
		return nil
	case json.RawMessage:
		if x == nil {
			buf.WriteString("null")
			return nil
		}
		return appendCompact(buf, x)
	case map[string]json.RawMessage:
		return appendMap(buf, x, func(buf *bytes.Buffer, raw json.RawMessage) error {
			if len(raw) == 0 {
				buf.WriteString("null")
				return nil
			}
			return appendCompact(buf, raw)
		})
	case map[string]string:
		return appendMap(buf, x, func(buf *bytes.Buffer, s string) error {
			appendString(buf, s)
			return nil
		})
	case []Span:
		return appendList(buf, x)
	case []Event:
		return appendList(buf, x)
	case []Assessment:
		return appendList(buf, x)
	case Info:
		return x.appendJSON(buf)
	case Data:
		return x.appendJSON(buf)
	case Status:
		return x.appendJSON(buf)
	case Source:
		return x.appendJSON(buf)
	case Timestamp:
		return appendMarshaler(buf, x)
	case *Location:
		return appendPointer(buf, x)
	case *ExperimentLocation:
		return appendPointer(buf, x)
	case *Feedback:
		return appendPointer(buf, x)
	case *FeedbackError:
		return appendPointer(buf, x)
	case *Expectation:
		return appendPointer(buf, x)
	case *SerializedValue:
		return appendPointer(buf, x)
	}
	b, err := marshalJSON(v)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// appendCompact writes raw, which must be one JSON value, compacted, as
// json.Compact does. A string, what span attributes hold, is compact
// already: it is checked in one pass and copied.
func appendCompact(buf *bytes.Buffer, raw []byte) error {
	if validString(raw) {
		buf.Write(raw)
		return nil
	}
	return json.Compact(buf, raw)
}

// validString reports whether raw is exactly one JSON string as
// encoding/json's scanner accepts it: quoted, no control character, only
// JSON's escapes. (Like the scanner, it does not check UTF-8.)
func validString(raw []byte) bool {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false
	}
	body := raw[1 : len(raw)-1]
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c < 0x20 || c == '"':
			return false
		case c == '\\':
			i++
			if i >= len(body) {
				return false
			}
			switch body[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(body) {
					return false
				}
				for _, h := range body[i+1 : i+5] {
					if !isHex(h) {
						return false
					}
				}
				i += 4
			default:
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// appendMarshaler writes the output of one of this package's MarshalJSON
// methods, which is compact and valid.
func appendMarshaler(buf *bytes.Buffer, m json.Marshaler) error {
	b, err := m.MarshalJSON()
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

func appendPointer[T any, P interface {
	*T
	jsonAppender
}](buf *bytes.Buffer, p P) error {
	if p == nil {
		buf.WriteString("null")
		return nil
	}
	return p.appendJSON(buf)
}

func appendList[T jsonAppender](buf *bytes.Buffer, list []T) error {
	if list == nil {
		buf.WriteString("null")
		return nil
	}
	buf.WriteByte('[')
	for i := range list {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := list[i].appendJSON(buf); err != nil {
			return fmt.Errorf("[%d]: %w", i, err)
		}
	}
	buf.WriteByte(']')
	return nil
}

func appendMap[V any](buf *bytes.Buffer, m map[string]V, value func(*bytes.Buffer, V) error) error {
	if m == nil {
		buf.WriteString("null")
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		appendString(buf, k)
		buf.WriteByte(':')
		if err := value(buf, m[k]); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return nil
}

// appendString writes s as a JSON string exactly as encoding/json does
// without HTML escaping; strings of plain printable ASCII, nearly every
// key and most values, take the short path.
func appendString(buf *bytes.Buffer, s string) {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' {
				appendEscaped(buf, s)
				return
			}
			i++
			continue
		}
		// Valid UTF-8 is written as it is, but for U+2028 and U+2029,
		// which encoding/json escapes (as invalid UTF-8 becomes U+FFFD).
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			appendEscaped(buf, s)
			return
		}
		i += size
	}
	buf.WriteByte('"')
	buf.WriteString(s)
	buf.WriteByte('"')
}

// appendEscaped writes s as encoding/json does without HTML escaping, for
// a string that needs escapes: the short escapes for quote, backslash,
// \b \f \n \r \t, \u00XX for other control characters, \ufffd for
// invalid UTF-8, and U+2028 and U+2029 escaped.
func appendEscaped(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf.WriteString(s[start:i])
			switch c {
			case '"', '\\':
				buf.WriteByte('\\')
				buf.WriteByte(c)
			case '\b':
				buf.WriteString(`\b`)
			case '\f':
				buf.WriteString(`\f`)
			case '\n':
				buf.WriteString(`\n`)
			case '\r':
				buf.WriteString(`\r`)
			case '\t':
				buf.WriteString(`\t`)
			default:
				buf.WriteString(`\u00`)
				buf.WriteByte(hex[c>>4])
				buf.WriteByte(hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf.WriteString(s[start:i])
			buf.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			buf.WriteString(s[start:i])
			buf.WriteString(`\u202`)
			buf.WriteByte(hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	buf.WriteString(s[start:])
	buf.WriteByte('"')
}

// extra writes the keys of extra not already written, in sorted order.
func (e *objectEncoder) extra(extra map[string]json.RawMessage) {
	if len(extra) == 0 {
		return
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		if !e.wrote(k) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := extra[k]
		if len(raw) == 0 {
			raw = json.RawMessage("null")
		}
		e.writeRaw(k, raw)
	}
}

// finish closes the object and returns it.
func (e *objectEncoder) finish() ([]byte, error) {
	if err := e.close(); err != nil {
		return nil, err
	}
	return e.buf.Bytes()[e.start:], nil
}

// close closes the object, or returns the first error.
func (e *objectEncoder) close() error {
	if e.err != nil {
		return e.err
	}
	e.buf.WriteByte('}')
	return nil
}

// marshalJSON encodes v without escaping <, > and &, which MLflow does not
// escape either.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
