package trace

import (
	"bytes"
	"testing"
)

// FuzzAppendString checks the string encoder's short paths against
// encoding/json (without HTML escaping): the same bytes for any string,
// escapes, U+2028, invalid UTF-8 and all.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "é中文😀", "a\"b\\c", "\x00\x1f\n", "\u2028\u2029", "\xff\xfe", "<&>", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var buf bytes.Buffer
		appendString(&buf, s)
		want, err := marshalJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("appendString(%q) = %s, encoding/json writes %s", s, buf.Bytes(), want)
		}
	})
}
