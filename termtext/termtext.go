// Package termtext makes text that comes from data safe to print on a
// terminal.
//
// Traces, rationales, model answers, plugin reports and file names are
// written by other people and programs. Printed as they are, their control
// characters drive the terminal that shows them: an OSC sequence
// ("\x1b]0;…\x07") sets the window title, CSI sequences move the cursor,
// clear the screen or recolour what follows, a carriage return overwrites
// the start of the line, and a bidi override (U+202E) shows the text after
// it in an order other than the one it is stored in. [Line] and [Text]
// replace each such character with a visible escape, so that what is shown
// is what the data holds:
//
//   - C0 controls (U+0000–U+001F) and DEL (U+007F) become \xHH, except the
//     common \n, \r and \t, which become those two-character escapes;
//   - C1 controls (U+0080–U+009F) become \uHHHH;
//   - bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)
//     and the line and paragraph separators U+2028 and U+2029 become
//     \uHHHH;
//   - each byte of invalid UTF-8 becomes \xHH (a lone 0x9B, the one-byte
//     C1 CSI, is invalid UTF-8 and is escaped as \x9b).
//
// [Line] is for a field shown on one line, such as a table cell or a log
// line: it escapes newlines and tabs too. [Text] is for a field meant to
// span lines, such as a request or a judge's instructions: it keeps \n and
// \t and reads \r\n as \n.
//
// [JSON] makes JSON text safe in the same way without changing what it
// decodes to, for --json output that lands on a terminal.
//
// Every other character, printable text and backslashes included, is kept
// as it is, so text without controls comes back unchanged (and without an
// allocation). The escaping is therefore not reversible: data holding the
// four characters \x1b looks like data holding an ESC. Where exact text
// matters, alignhost's --json output carries it unchanged.
package termtext

import (
	"io"
	"strings"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// Line returns s with every control character, line break and tab replaced
// by a visible escape, for text shown on one line.
func Line(s string) string { return escape(s, false) }

// Text returns s with every control character replaced by a visible
// escape, keeping its line breaks (\n, and \r\n read as \n) and tabs, for
// text meant to span lines.
func Text(s string) string { return escape(s, true) }

// IsControl reports whether [Line] escapes r: a C0 or C1 control, DEL, a
// bidi control or a line or paragraph separator. [Text] escapes the same
// runes but \n and \t.
func IsControl(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f:
		return true
	case r < 0x80:
		return false
	case r <= 0x9f:
		return true
	}
	switch r {
	case 0x061c, 0x200e, 0x200f, 0x2028, 0x2029,
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e,
		0x2066, 0x2067, 0x2068, 0x2069:
		return true
	}
	return false
}

// clean returns the index of the first byte of s that escape changes, or
// -1 when there is none.
func clean(s string, multiline bool) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				if !multiline || (c != '\n' && c != '\t') {
					return i
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || IsControl(r) {
			return i
		}
		i += size
	}
	return -1
}

func escape(s string, multiline bool) string {
	first := clean(s, multiline)
	if first < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:first])
	for i := first; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c >= 0x20 && c != 0x7f:
				b.WriteByte(c)
			case multiline && (c == '\n' || c == '\t'):
				b.WriteByte(c)
			case multiline && c == '\r' && i < len(s) && s[i] == '\n':
				// \r\n is a line break; the \n that follows writes it.
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			default:
				writeByte(&b, c)
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeByte(&b, c)
		case IsControl(r):
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hexDigits[r>>shift&0xf])
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// JSON returns the JSON text b with every control rune that encoding/json
// writes as it is (DEL, C1 controls, bidi controls) replaced by its \uHHHH
// escape: b decodes to the same values, and shows on a terminal as it
// reads. Such runes can only stand inside JSON strings, where the escape
// means the same rune. encoding/json already escapes C0 controls, U+2028
// and U+2029, and writes invalid UTF-8 as U+FFFD. b is returned as it is
// when it holds none.
func JSON(b []byte) []byte {
	first := -1
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0x7f {
				first = i
				break
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x80 && IsControl(r) {
			first = i
			break
		}
		i += size
	}
	if first < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	out = append(out, b[:first]...)
	for i := first; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c == 0x7f {
				out = append(out, `\u007f`...)
			} else {
				out = append(out, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x80 && IsControl(r) {
			out = append(out, '\\', 'u')
			for shift := 12; shift >= 0; shift -= 4 {
				out = append(out, hexDigits[r>>shift&0xf])
			}
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// writeByte writes c as \xHH.
func writeByte(b *strings.Builder, c byte) {
	b.WriteString(`\x`)
	b.WriteByte(hexDigits[c>>4])
	b.WriteByte(hexDigits[c&0xf])
}

// JSONWriter applies [JSON] to JSON text streamed through it, for output
// too large to hold, such as an export written to a terminal. A rune split
// between two writes is held back until it is whole; [JSONWriter.Flush]
// writes what is held at the end.
type JSONWriter struct {
	w    io.Writer
	tail []byte
}

// NewJSONWriter returns a JSONWriter that writes to w.
func NewJSONWriter(w io.Writer) *JSONWriter { return &JSONWriter{w: w} }

// Write escapes p and writes it, less an incomplete rune at its end.
func (jw *JSONWriter) Write(p []byte) (int, error) {
	data := p
	if len(jw.tail) > 0 {
		data = append(jw.tail, p...)
		jw.tail = nil
	}
	cut := len(data)
	for i := len(data) - 1; i >= 0 && i >= len(data)-utf8.UTFMax; i-- {
		if c := data[i]; c >= 0xc0 {
			if !utf8.FullRune(data[i:]) {
				cut = i
			}
			break
		} else if c < utf8.RuneSelf {
			break
		}
	}
	if cut < len(data) {
		jw.tail = append([]byte(nil), data[cut:]...)
	}
	if _, err := jw.w.Write(JSON(data[:cut])); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes the bytes held back, which are not a whole rune.
func (jw *JSONWriter) Flush() error {
	if len(jw.tail) == 0 {
		return nil
	}
	_, err := jw.w.Write(JSON(jw.tail))
	jw.tail = nil
	return err
}
