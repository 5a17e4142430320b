package trace_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/trace"
)

func fixtureTraces(t *testing.T) []*trace.Trace {
	t.Helper()
	var traces []*trace.Trace
	for _, f := range mlflowFixtures(t) {
		traces = append(traces, loadTrace(t, f))
	}
	return traces
}

func TestWriteReadBack(t *testing.T) {
	traces := fixtureTraces(t)
	for _, format := range []trace.Format{trace.FormatJSON, trace.FormatJSONL, trace.FormatMLflow} {
		for _, n := range []int{1, len(traces)} {
			t.Run(string(format)+"/"+strconv.Itoa(n), func(t *testing.T) {
				var buf bytes.Buffer
				if err := trace.Write(&buf, traces[:n], format); err != nil {
					t.Fatal(err)
				}
				recs, err := trace.Read(bytes.NewReader(buf.Bytes()), "out")
				if err != nil {
					t.Fatal(err)
				}
				if len(recs) != n {
					t.Fatalf("read back %d traces, want %d", len(recs), n)
				}
				for i, r := range recs {
					if r.Err != nil {
						t.Fatal(r.Err)
					}
					want, _ := json.Marshal(traces[i])
					got, _ := json.Marshal(r.Trace)
					sameJSON(t, got, want)
				}
			})
		}
	}
}

func TestWriteShapes(t *testing.T) {
	traces := fixtureTraces(t)
	write := func(ts []*trace.Trace, f trace.Format) string {
		var buf bytes.Buffer
		if err := trace.Write(&buf, ts, f); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	if s := write(traces[:1], trace.FormatMLflow); !strings.HasPrefix(s, "{\n  \"info\": {") {
		t.Errorf("mlflow, one trace: want a pretty object, got %.40q", s)
	}
	if s := write(traces[:2], trace.FormatMLflow); !strings.HasPrefix(s, "[\n  {") {
		t.Errorf("mlflow, two traces: want a pretty array, got %.40q", s)
	}
	if s := write(traces[:1], trace.FormatJSON); !strings.HasPrefix(s, "[\n  {") {
		t.Errorf("json, one trace: want a pretty array, got %.40q", s)
	}
	if s := write(nil, trace.FormatJSON); s != "[]\n" {
		t.Errorf("json, no traces = %q, want []", s)
	}
	s := write(traces, trace.FormatJSONL)
	if lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n"); len(lines) != len(traces) {
		t.Errorf("jsonl wrote %d lines for %d traces", len(lines), len(traces))
	}
	if strings.Contains(write(traces, trace.FormatJSONL), `\u003c`) {
		t.Error("output escapes < as \\u003c")
	}
	if err := trace.Write(&bytes.Buffer{}, traces, "yaml"); err == nil || !strings.Contains(err.Error(), `unknown trace format "yaml"`) {
		t.Errorf("unknown format: error %v", err)
	}
	if err := trace.Write(&bytes.Buffer{}, []*trace.Trace{nil}, trace.FormatJSON); err == nil {
		t.Error("nil trace: no error")
	}
}

func TestParseFormat(t *testing.T) {
	for _, f := range trace.Formats() {
		got, err := trace.ParseFormat(" " + strings.ToUpper(string(f)))
		if err != nil || got != f {
			t.Errorf("ParseFormat(%q) = %q, %v", f, got, err)
		}
	}
	if _, err := trace.ParseFormat("csv"); err == nil {
		t.Error("ParseFormat(csv) succeeded")
	}
}

func TestWriteFlat(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	var buf bytes.Buffer
	if err := trace.Write(&buf, []*trace.Trace{tr}, trace.FormatFlat); err != nil {
		t.Fatal(err)
	}
	// The human label (not the judge's verdict), expectations decoded, no
	// mlflow.* tags, the session.
	want := `{"trace_id":"tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8",
		"inputs":{"question":"How do I reset my password?"},
		"outputs":{"answer":"Click 'Forgot password' on the login page."},
		"expectations":{"expected_facts":["Use the 'Forgot password' link"]},
		"feedback":{"helpfulness":{"value":"no","rationale":"Users locked out by SSO cannot use that link; the answer must mention contacting IT.","source_id":"expert@example.com"}},
		"request_time":"2025-06-01T12:00:00.000Z","session_id":"session-42"}`
	sameJSON(t, buf.Bytes(), []byte(want))
	if strings.Count(buf.String(), "\n") != 1 {
		t.Errorf("flat record is not one line: %q", buf.String())
	}
}

func TestFlatRoundTrip(t *testing.T) {
	// flat → trace → flat → trace gives the same traces.
	first, err := trace.ReadFile(filepath.Join(fixtures, "flat", "support.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var traces []*trace.Trace
	for _, r := range first {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		traces = append(traces, r.Trace)
	}
	var buf bytes.Buffer
	if err := trace.Write(&buf, traces, trace.FormatFlat); err != nil {
		t.Fatal(err)
	}
	second, err := trace.Read(bytes.NewReader(buf.Bytes()), "again.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if len(second) != len(traces) {
		t.Fatalf("read back %d traces, want %d", len(second), len(traces))
	}
	for i, r := range second {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		want, _ := json.Marshal(traces[i])
		got, _ := json.Marshal(r.Trace)
		sameJSON(t, got, want)
	}
}
