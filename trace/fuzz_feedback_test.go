package trace_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/alignhost/alignhost/trace"
)

// FuzzReadFeedback checks that any feedback file, CSV or JSON Lines, gives
// rows that are either good (a trace id and a value) or bad with a
// *LineError naming the file and a line, or a file-level *LineError — and
// never panics (a CSV with an unclosed quote did).
func FuzzReadFeedback(f *testing.F) {
	for _, name := range []string{"labels.csv", "labels.jsonl"} {
		if data, err := os.ReadFile(filepath.Join(fixtures, "feedback", name)); err == nil {
			f.Add(data, filepath.Ext(name) == ".csv")
		}
	}
	for _, s := range []string{
		"trace_id,value\n\"0", "trace_id,value\n", "trace_id,value,create_time\nt,1,2025-01-01\n",
		"\xef\xbb\xbftrace_id,value\nt,caf\xe9\n", `{"trace_id":"t","value":{"a":[1]},"create_time":1}`,
		"{\"trace_id\":\"t\",\"value\":null}\n\n{", "value,trace_id\n\"a\"\"b\",t\n",
	} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		if len(data) > maxFuzzInput {
			return
		}
		name := "fuzz.jsonl"
		if csv {
			name = "fuzz.csv"
		}
		rows, err := trace.ReadFeedback(bytes.NewReader(data), name)
		if err != nil {
			var le *trace.LineError
			if !errors.As(err, &le) || le.Source != name {
				t.Fatalf("file-level error %T %v is not a *LineError naming the file", err, err)
			}
		}
		for _, r := range rows {
			if r.Line < 1 {
				t.Fatalf("row with line %d", r.Line)
			}
			if r.Err != nil {
				var le *trace.LineError
				if !errors.As(r.Err, &le) || le.Source != name || le.Line < 1 {
					t.Fatalf("row error %T %v does not name the file and line", r.Err, r.Err)
				}
				continue
			}
			if r.TraceID == "" || r.Value == nil {
				t.Fatalf("good row without a trace id or value: %+v", r)
			}
		}
	})
}
