package judgefile_test

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/alignhost/alignhost/judge/judgefile"
)

// FuzzDecode feeds arbitrary judge files, TOML or JSON, to Decode: it never
// panics, and a judge it accepts encodes in the same format and decodes
// back to the same judge.
func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "judges", "*"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil && len(data) <= 4<<10 {
			f.Add(data, filepath.Ext(file) == ".toml")
		}
	}
	for _, s := range []string{
		`name = "x"` + "\n" + `instructions = "{{ outputs }}"`,
		`{"name": "x", "instructions": "{{ inputs }}", "values": ["a", "b"]}`,
		"name = \"x\"\ninstructions = \"\"\"\n{{ trace }}\n\"\"\"\n[inference_params]\ntemperature = 0.0\n",
		`{"name": "x", "instructions": "{{ outputs", "type": "numeric"}`, "", "[", "{",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, isTOML bool) {
		if len(data) > 4<<10 {
			return
		}
		format := judgefile.JSON
		if isTOML {
			format = judgefile.TOML
		}
		j, err := judgefile.Decode(data, format)
		if err != nil {
			return
		}
		out, err := judgefile.Encode(j, format)
		if err != nil {
			t.Fatalf("a decoded judge does not encode: %v", err)
		}
		again, err := judgefile.Decode(out, format)
		if err != nil {
			t.Fatalf("an encoded judge does not decode: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(j, again) {
			t.Fatalf("judge changed in a round trip:\n%+v\n%+v\n%s", j, again, out)
		}
	})
}
