package termtext_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/alignhost/alignhost/termtext"
)

func TestLineAndText(t *testing.T) {
	for _, tc := range []struct {
		name, in, line, text string
	}{
		{"plain", "hello, wörld € 日本", "hello, wörld € 日本", "hello, wörld € 日本"},
		{"backslash kept", `C:\x1b\path`, `C:\x1b\path`, `C:\x1b\path`},
		{"osc title", "a\x1b]0;pwned\x07b", `a\x1b]0;pwned\x07b`, `a\x1b]0;pwned\x07b`},
		{"csi colour", "\x1b[31mred", `\x1b[31mred`, `\x1b[31mred`},
		{"newline tab", "a\nb\tc", `a\nb\tc`, "a\nb\tc"},
		{"crlf", "a\r\nb", `a\r\nb`, "a\nb"},
		{"lone cr", "abc\rX", `abc\rX`, `abc\rX`},
		{"nul del", "\x00\x7f", `\x00\x7f`, `\x00\x7f`},
		{"c1 rune", "a\u009bb\u0085", `a\u009bb\u0085`, `a\u009bb\u0085`},
		{"lone c1 byte", "a\x9b[2Jb", `a\x9b[2Jb`, `a\x9b[2Jb`},
		{"bidi", "abc\u202edef\u2066\u200e\u061c", `abc\u202edef\u2066\u200e\u061c`, `abc\u202edef\u2066\u200e\u061c`},
		{"separators", "a\u2028b\u2029", `a\u2028b\u2029`, `a\u2028b\u2029`},
		{"invalid utf8", "a\xff\xfeb\xe2\x82", `a\xff\xfeb\xe2\x82`, `a\xff\xfeb\xe2\x82`},
		{"replacement char kept", "a\uFFFDb", "a\uFFFDb", "a\uFFFDb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := termtext.Line(tc.in); got != tc.line {
				t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.line)
			}
			if got := termtext.Text(tc.in); got != tc.text {
				t.Errorf("Text(%q) = %q, want %q", tc.in, got, tc.text)
			}
		})
	}
}

func TestCleanTextIsNotCopied(t *testing.T) {
	s := strings.Repeat("plain text ", 100)
	if n := testing.AllocsPerRun(100, func() { termtext.Line(s) }); n != 0 {
		t.Errorf("Line of clean text allocates %v times, want 0", n)
	}
}

// unsafeRune is an independent statement of what must never reach a
// terminal: C0 but the allowed line breaks, DEL, C1, bidi controls.
func unsafeRune(r rune, multiline bool) bool {
	switch {
	case multiline && (r == '\n' || r == '\t'):
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	case r == 0x200e, r == 0x200f, r == 0x061c, r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]0;pwned\x07", "\x1b[31m", "\u202e", "\x9b", "\xff", "a\r\nb\n\tc", `\x1b`, "\u0085\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, multiline := range []bool{false, true} {
			escape := termtext.Line
			if multiline {
				escape = termtext.Text
			}
			out := escape(s)
			if !utf8.ValidString(out) {
				t.Fatalf("multiline %v: %q escapes to invalid UTF-8 %q", multiline, s, out)
			}
			for _, r := range out {
				if unsafeRune(r, multiline) {
					t.Fatalf("multiline %v: %q escapes to %q, which holds %U", multiline, s, out, r)
				}
			}
			if again := escape(out); again != out {
				t.Fatalf("multiline %v: escaping %q again gives %q", multiline, out, again)
			}
			// Nothing printable is lost: the printable runes of s appear in
			// out in the same order.
			rest := out
			for _, r := range s {
				if r == utf8.RuneError || unsafeRune(r, multiline) {
					continue
				}
				j := strings.IndexRune(rest, r)
				if j < 0 {
					t.Fatalf("multiline %v: %q escapes to %q, which lost %q", multiline, s, out, r)
				}
				rest = rest[j+utf8.RuneLen(r):]
			}
			if clean := !strings.ContainsFunc(s, func(r rune) bool { return r == utf8.RuneError || unsafeRune(r, multiline) }) && utf8.ValidString(s); clean && out != s {
				t.Fatalf("multiline %v: clean %q changed to %q", multiline, s, out)
			}
		}
	})
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]0;pwned\x07", "\u009b2J", "\u202e", "\x7f", `\` + "\u202e", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, err := json.MarshalIndent(map[string]any{"k" + s: []string{s, s}}, "", "  ")
		if err != nil {
			t.Skip()
		}
		safe := termtext.JSON(raw)
		for _, r := range string(safe) {
			if unsafeRune(r, true) {
				t.Fatalf("JSON(%s) = %s, which holds %U", raw, safe, r)
			}
		}
		var want, got any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(safe, &got); err != nil {
			t.Fatalf("JSON(%s) = %s, which does not decode: %v", raw, safe, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("JSON(%s) = %s, which decodes to %q, want %q", raw, safe, got, want)
		}
	})
}

// TestJSONWriterMatchesJSON streams JSON text through a JSONWriter in
// pieces of every size, so that runes are split between writes, and checks
// the output is what JSON gives for the whole text.
func TestJSONWriterMatchesJSON(t *testing.T) {
	in := []byte("{\"a\":\"x\u202ey\u009bz\x7f\",\"b\":\"日本語\u2066\",\"c\":\"\u0085\"}")
	want := termtext.JSON(in)
	for size := 1; size <= len(in); size++ {
		var out bytes.Buffer
		jw := termtext.NewJSONWriter(&out)
		for i := 0; i < len(in); i += size {
			if _, err := jw.Write(in[i:min(i+size, len(in))]); err != nil {
				t.Fatal(err)
			}
		}
		if err := jw.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("pieces of %d bytes: %q, want %q", size, out.Bytes(), want)
		}
	}
}
