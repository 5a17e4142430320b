package trace_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/trace"
)

// traceJSON is a minimal MLflow V3 trace on one line.
func traceJSON(id string) string {
	return fmt.Sprintf(`{"info":{"trace_id":%q,"state":"OK"},"data":{"spans":[{"name":"root","span_id":"AQ==","parent_span_id":null,`+
		`"start_time_unix_nano":0,"end_time_unix_nano":0,"events":[],"status":{"code":"STATUS_CODE_OK","message":""},`+
		`"attributes":{"mlflow.spanType":"\"CHAIN\"","mlflow.spanInputs":"\"hi\"","mlflow.spanOutputs":"\"hello\""}}]}}`, id)
}

// pretty indents JSON as MLflow's to_json(pretty=True) does.
func pretty(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(s), "", "  "); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// summary is what a test expects of one record.
type summary struct {
	line    int
	traceID string // for a good record
	err     string // substring of the record's error
}

func checkRecords(t *testing.T, got []trace.Record, want []summary) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		r := got[i]
		if r.Line != w.line {
			t.Errorf("record %d: Line = %d, want %d", i, r.Line, w.line)
		}
		if w.err != "" {
			if r.Err == nil {
				t.Errorf("record %d: no error, want %q", i, w.err)
			} else if !strings.Contains(r.Err.Error(), w.err) {
				t.Errorf("record %d: error %q, want it to contain %q", i, r.Err, w.err)
			}
			if r.Trace != nil {
				t.Errorf("record %d: has both a trace and an error", i)
			}
			continue
		}
		if r.Err != nil {
			t.Errorf("record %d: unexpected error %v", i, r.Err)
			continue
		}
		if r.Trace == nil || r.Trace.Info.TraceID != w.traceID {
			t.Errorf("record %d: trace %v, want id %q", i, r.Trace, w.traceID)
		}
	}
}

func TestReadForms(t *testing.T) {
	array := "[\n" + pretty(t, traceJSON("t1")) + ",\n" + pretty(t, traceJSON("t2")) + "\n]\n"
	tests := []struct {
		name  string
		input string
		want  []summary
	}{
		{"single pretty object", pretty(t, traceJSON("t1")) + "\n", []summary{{line: 1, traceID: "t1"}}},
		{"single object after blank lines", "\n\n" + pretty(t, traceJSON("t1")), []summary{{line: 3, traceID: "t1"}}},
		{"pretty objects one after another", pretty(t, traceJSON("t1")) + "\n" + pretty(t, traceJSON("t2")),
			[]summary{{line: 1, traceID: "t1"}, {line: 1 + strings.Count(pretty(t, traceJSON("t1")), "\n") + 1, traceID: "t2"}}},
		{"array of traces", array, []summary{{line: 2, traceID: "t1"}, {line: 3 + strings.Count(pretty(t, traceJSON("t1")), "\n"), traceID: "t2"}}},
		{"compact array on one line", "[" + traceJSON("a") + "," + traceJSON("b") + "]", []summary{{line: 1, traceID: "a"}, {line: 1, traceID: "b"}}},
		{"empty array", "[]", nil},
		{"JSON lines", traceJSON("a") + "\n" + traceJSON("b") + "\n", []summary{{line: 1, traceID: "a"}, {line: 2, traceID: "b"}}},
		{"JSON lines with CRLF and blank lines", traceJSON("a") + "\r\n\r\n" + traceJSON("b"), []summary{{line: 1, traceID: "a"}, {line: 3, traceID: "b"}}},
		{"byte order mark", "\xef\xbb\xbf" + traceJSON("a"), []summary{{line: 1, traceID: "a"}}},
		{"flat lines", `{"trace_id":"f1","inputs":"q","outputs":"a"}` + "\n" + `{"trace_id":"f2"}`,
			[]summary{{line: 1, traceID: "f1"}, {line: 2, traceID: "f2"}}},
		{"mixed MLflow and flat lines", traceJSON("m") + "\n" + `{"trace_id":"f"}`, []summary{{line: 1, traceID: "m"}, {line: 2, traceID: "f"}}},
		{"empty input", "", nil},
		{"only blank lines", "\n  \n\t\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := trace.Read(strings.NewReader(tc.input), "in.json")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			checkRecords(t, got, tc.want)
			for _, r := range got {
				if r.Source != "in.json" {
					t.Errorf("Source = %q, want in.json", r.Source)
				}
			}
		})
	}
}

func TestReadJSONLinesErrors(t *testing.T) {
	lines := []string{
		traceJSON("t1"),       // 1
		`{"trace_id": "t2",}`, // 2: bad JSON
		traceJSON("t3"),       // 3
		``,                    // 4: blank, skipped
		`{"info": {"state": "OK"}, "data": {"spans": []}}`, // 5: no trace_id
		`[1, 2]`,                              // 6: not an object
		`{"info": {"trace_id": "t7"}}`,        // 7: no data
		`{"trace_id": "f8", "question": "x"}`, // 8: flat record with an unknown key
		`{"info":{"trace_id":"t9","tags":{"a":1}},"data":{"spans":[]}}`, // 9: wrong type
		`{"trace_id": "f10", "feedback": {"ok": true}}`,                 // 10
		`{"trace_id": "unterminated`,                                    // 11: cut short
	}
	input := strings.Join(lines, "\n") + "\n"
	got, err := trace.Read(strings.NewReader(input), "traces.jsonl")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	checkRecords(t, got, []summary{
		{line: 1, traceID: "t1"},
		{line: 2, err: `traces.jsonl line 2: invalid character '}' looking for beginning of object key string (column 19)`},
		{line: 3, traceID: "t3"},
		{line: 5, err: "traces.jsonl line 5: trace has no info.trace_id"},
		{line: 6, err: "traces.jsonl line 6: got an array, want an object"},
		{line: 7, err: `traces.jsonl line 7: missing "data"`},
		{line: 8, err: `traces.jsonl line 8: unknown key "question"`},
		{line: 9, err: "traces.jsonl line 9: info: tags: got a number, want a string"},
		{line: 10, traceID: "f10"},
		{line: 11, err: "traces.jsonl line 11: unexpected end of JSON input"},
	})
	var le *trace.LineError
	if !errors.As(got[1].Err, &le) || le.Source != "traces.jsonl" || le.Line != 2 || le.Column != 19 {
		t.Errorf("record 2 error = %#v, want a *LineError at traces.jsonl 2:19", got[1].Err)
	}
	var se *json.SyntaxError
	if !errors.As(got[1].Err, &se) {
		t.Error("a JSON syntax error does not unwrap to *json.SyntaxError")
	}
}

func TestReadArrayElementErrors(t *testing.T) {
	input := "[\n" +
		"  " + traceJSON("a") + ",\n" + // line 2
		"  {\"info\": {\"trace_id\": \"\"},\n   \"data\": {\"spans\": []}},\n" + // line 3
		"  42,\n" + // line 5
		"  " + traceJSON("d") + "\n" + // line 6
		"]\n"
	got, err := trace.Read(strings.NewReader(input), "export.json")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	checkRecords(t, got, []summary{
		{line: 2, traceID: "a"},
		{line: 3, err: "export.json line 3: trace has no info.trace_id"},
		{line: 5, err: "export.json line 5: got a number, want an object"},
		{line: 6, traceID: "d"},
	})
}

func TestReadFileLevelErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  string
	}{
		{"CSV", "trace_id,value\nt1,yes\n", "data.csv line 1: not JSON"},
		{"text after blank lines", "\n\n  hello", "data.csv line 3: not JSON"},
		{"malformed array element", "[\n" + traceJSON("a") + ",\n{\"info\": oops}\n]", "data.csv line 3: invalid character 'o' looking for beginning of value (column 10)"},
		{"unclosed array", "[\n" + traceJSON("a") + ",\n", "data.csv line 3"},
		{"data after array", "[" + traceJSON("a") + "]\n\nextra", "data.csv line 3: unexpected data after the array of traces (column 1)"},
		{"unclosed pretty object", "{\n  \"info\": {\n    \"trace_id\": \"t\"\n", "data.csv line 1: unexpected end of input"},
		{"malformed pretty object", "{\n  \"info\": {\n    \"trace_id\": \"t\",,\n", "data.csv line 3: invalid character ','"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := trace.Read(strings.NewReader(tc.input), "data.csv")
			if err == nil {
				t.Fatalf("Read succeeded with %d records, want error %q", len(recs), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
			var le *trace.LineError
			if !errors.As(err, &le) {
				t.Errorf("error %T is not a *LineError", err)
			}
		})
	}
	_, err := trace.Read(strings.NewReader("id,value"), "x.csv")
	if !errors.Is(err, trace.ErrNotJSON) {
		t.Errorf("CSV input: error %v is not ErrNotJSON", err)
	}
}

type failingReader struct{ data []byte }

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, errors.New("disk on fire")
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadIOError(t *testing.T) {
	_, err := trace.Read(&failingReader{data: []byte("[" + traceJSON("a"))}, "broken.json")
	if err == nil || !strings.Contains(err.Error(), "read broken.json: disk on fire") {
		t.Errorf("error = %v, want it to name the file and the cause", err)
	}
}

func TestReadBigLines(t *testing.T) {
	big := strings.Repeat("x", 5<<20) // 5 MiB, far above bufio.Scanner's 64 KiB
	var b strings.Builder
	fmt.Fprintf(&b, `{"trace_id":"big1","inputs":"q","outputs":%q}`+"\n", big)
	b.WriteString(`{"trace_id":"small"}` + "\n")
	fmt.Fprintf(&b, `{"trace_id":"big2","inputs":%q}`+"\n", big)
	got, err := trace.Read(strings.NewReader(b.String()), "big.jsonl")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	checkRecords(t, got, []summary{{line: 1, traceID: "big1"}, {line: 2, traceID: "small"}, {line: 3, traceID: "big2"}})
	out, err := got[0].Trace.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := out.(string); len(s) != len(big) {
		t.Errorf("outputs have %d bytes, want %d", len(s), len(big))
	}
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(fixtures, "mlflow", "rag_retriever.json")
	got, err := trace.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkRecords(t, got, []summary{{line: 1, traceID: "tr-3b0c5d1e2f3a4b5c6d7e8f9a0b1c2d3e"}})
	if got[0].Source != "rag_retriever.json" {
		t.Errorf("Source = %q, want the base name", got[0].Source)
	}
	if _, err := trace.ReadFile(filepath.Join(t.TempDir(), "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want os.ErrNotExist", err)
	}
}

func TestReadEveryFixture(t *testing.T) {
	var files []string
	for _, dir := range []string{"mlflow", "flat", "halueval"} {
		found, err := filepath.Glob(filepath.Join(fixtures, dir, "*.json*"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, found...)
	}
	halueval, err := trace.ParseMapping([]string{"trace_id=ID", "inputs=user_query", "outputs=chatgpt_response",
		"feedback.hallucination=hallucination"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			var opts []trace.ReadOption
			if strings.Contains(f, "halueval") {
				opts = append(opts, trace.WithMapping(halueval))
			}
			recs, err := trace.ReadFile(f, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) == 0 {
				t.Fatal("no records")
			}
			for _, r := range recs {
				if r.Err != nil {
					t.Errorf("line %d: %v", r.Line, r.Err)
				}
			}
		})
	}
}

// FuzzRead checks that any input gives records or a *LineError, and that
// what is read re-encodes stably.
//
// Seeds are kept small (a few KiB): the fuzzer mutates and, above all,
// minimises every new interesting input, and minimising a 17 KiB fixture
// stalled it for a minute at a time (about 50 execs/s on average). Inputs
// the mutator grows past maxFuzzInput are skipped for the same reason.
func FuzzRead(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures, "*", "*.json*"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		var compact bytes.Buffer
		if json.Compact(&compact, data) == nil && compact.Len() < len(data) {
			data = compact.Bytes()
		}
		if len(data) <= maxFuzzInput {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"", "[", "{", "[]", "{}", "null", "[null]", "\xef\xbb\xbf{", "{\"info\":{}}\n{",
		traceJSON("a") + "\n" + `{"trace_id":1,"feedback":{"x":{"value":null}}}`,
		`{"info":{"request_id":"r"},"data":{"spans":[{"context":{"span_id":"0x1"},"events":[{"timestamp":"1"}]}]}}`,
		`{"trace_id":"x","expectations":{"a":[1,{"b":null}]},"request_time":"2025-01-01T00:00:00Z","tags":{"k":"v"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		recs, err := trace.Read(bytes.NewReader(data), "fuzz.json")
		if err != nil {
			var le *trace.LineError
			if !errors.As(err, &le) {
				t.Fatalf("file-level error %T is not a *LineError: %v", err, err)
			}
			return
		}
		for _, r := range recs {
			if (r.Trace == nil) == (r.Err == nil) {
				t.Fatalf("record at line %d: trace %v, err %v: want exactly one", r.Line, r.Trace, r.Err)
			}
			if r.Trace == nil {
				continue
			}
			// Whatever was read encodes, and decoding that gives the same JSON.
			out, err := json.Marshal(r.Trace)
			if err != nil {
				t.Fatalf("encode trace read from line %d: %v", r.Line, err)
			}
			var again trace.Trace
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("decode re-encoded trace: %v\n%s", err, out)
			}
			out2, err := json.Marshal(again)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, out2, out)
			// Extraction never panics.
			_ = r.Trace.Text()
			r.Trace.HumanFeedback("x")
			r.Trace.Expectations()
			r.Trace.RetrievedDocuments()
			r.Trace.ToolCalls()
		}
	})
}

// maxFuzzInput is the largest input the fuzz targets look at.
const maxFuzzInput = 4 << 10
