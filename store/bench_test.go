package store_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// haluEvalPath is the HaluEval "general" split in the shared datasets,
// outside this repository: a developer's clone may not have it.
var haluEvalPath = filepath.Join("..", "..", "shared", "datasets", "halueval-general", "general_data.jsonl")

// haluEvalTraces converts the HaluEval general split into traces: a root
// span with the user query as input and ChatGPT's response as output, and a
// HUMAN feedback "hallucination" ("yes" or "no") whose rationale is the
// annotated hallucination spans. Trace IDs come from line numbers, since
// the dataset's own IDs are not unique.
func haluEvalTraces(tb testing.TB) []*trace.Trace {
	tb.Helper()
	f, err := os.Open(haluEvalPath)
	if os.IsNotExist(err) {
		tb.Skipf("HaluEval dataset not found at %s (it lives in the shared workspace, not in the repository)", haluEvalPath)
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()

	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var traces []*trace.Trace
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var row struct {
			Query    string   `json:"user_query"`
			Response string   `json:"chatgpt_response"`
			Label    string   `json:"hallucination"`
			Spans    []string `json:"hallucination_spans"`
		}
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			tb.Fatalf("%s line %d: %v", haluEvalPath, line, err)
		}
		traces = append(traces, haluEvalTrace(tb, line, start.Add(time.Duration(line)*time.Second),
			row.Query, row.Response, row.Label, row.Spans))
	}
	if err := sc.Err(); err != nil {
		tb.Fatalf("read %s: %v", haluEvalPath, err)
	}
	return traces
}

func haluEvalTrace(tb testing.TB, line int, at time.Time, query, response, label string, spans []string) *trace.Trace {
	jsonString := func(v any) json.RawMessage {
		b, err := json.Marshal(v)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	// attr encodes a span attribute as MLflow does: JSON text in a JSON string.
	attr := func(v any) json.RawMessage { return jsonString(string(jsonString(v))) }
	var traceBytes [16]byte
	binary.BigEndian.PutUint64(traceBytes[8:], uint64(line))
	id := fmt.Sprintf("tr-%x", traceBytes)
	inputs := string(jsonString(map[string]string{"query": query}))
	outputs := string(jsonString(response))
	value := jsonString(label)
	return &trace.Trace{
		Info: trace.Info{
			TraceID:         id,
			RequestPreview:  inputs,
			ResponsePreview: outputs,
			RequestTime:     trace.NewTimestamp(at),
			State:           trace.StateOK,
			Metadata: map[string]string{
				"mlflow.trace_schema.version": "3",
				"mlflow.traceInputs":          inputs,
				"mlflow.traceOutputs":         outputs,
			},
			Assessments: []trace.Assessment{{
				Name:       "hallucination",
				TraceID:    id,
				Source:     trace.Source{Type: trace.SourceHuman, ID: "halueval-annotator"},
				CreateTime: trace.NewTimestamp(at.Add(time.Minute)),
				Rationale:  strings.Join(spans, "; "),
				Feedback:   &trace.Feedback{Value: value},
			}},
		},
		Data: trace.Data{Spans: []trace.Span{{
			Name:              "answer",
			TraceID:           base64.StdEncoding.EncodeToString(traceBytes[:]),
			SpanID:            base64.StdEncoding.EncodeToString(traceBytes[8:]),
			StartTimeUnixNano: at.UnixNano(),
			EndTimeUnixNano:   at.Add(time.Second).UnixNano(),
			Events:            []trace.Event{},
			Status:            trace.Status{Code: "STATUS_CODE_OK"},
			Attributes: map[string]json.RawMessage{
				"mlflow.traceRequestId": attr(id),
				"mlflow.spanType":       attr("CHAIN"),
				"mlflow.spanInputs":     attr(map[string]string{"query": query}),
				"mlflow.spanOutputs":    attr(response),
			},
		}}},
	}
}

// BenchmarkImportHaluEval imports the 4,507 HaluEval traces in one
// ImportTraces call: into a fresh store, and again into a store that holds
// them already (every trace unchanged).
func BenchmarkImportHaluEval(b *testing.B) {
	traces := haluEvalTraces(b)
	ctx := context.Background()

	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			s, err := store.Open(ctx, filepath.Join(b.TempDir(), "alignhost.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			res, err := s.ImportTraces(ctx, "halueval", traces)
			if err != nil {
				b.Fatal(err)
			}
			if res.Added != len(traces) {
				b.Fatalf("ImportTraces = %+v, want %d added", res, len(traces))
			}
			b.StopTimer()
			s.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(len(traces)*b.N)/b.Elapsed().Seconds(), "traces/s")
	})

	b.Run("reimport", func(b *testing.B) {
		s := openStore(b)
		mustImport(b, s, "halueval", traces...)
		b.ReportAllocs()
		for b.Loop() {
			res, err := s.ImportTraces(ctx, "halueval", traces)
			if err != nil {
				b.Fatal(err)
			}
			if res.Unchanged != len(traces) {
				b.Fatalf("ImportTraces = %+v, want %d unchanged", res, len(traces))
			}
		}
		b.ReportMetric(float64(len(traces)*b.N)/b.Elapsed().Seconds(), "traces/s")
	})
}

// TestHaluEvalImport checks the benchmark's data: every line becomes a
// trace, and the human labels are found by name.
func TestHaluEvalImport(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 4,507 traces")
	}
	traces := haluEvalTraces(t)
	if len(traces) != 4507 {
		t.Fatalf("converted %d traces, want 4507", len(traces))
	}
	ctx := context.Background()
	s := openStore(t)
	mustImport(t, s, "halueval", traces...)
	n, err := s.CountTraces(ctx, store.TraceQuery{Experiment: "halueval", WithFeedback: "Hallucination"})
	if err != nil {
		t.Fatal(err)
	}
	if n != len(traces) {
		t.Errorf("%d traces with human feedback hallucination, want %d", n, len(traces))
	}
	last := *traces[4506]
	a := last.Info.Assessments[0]
	if a.ID, err = store.AssessmentID(last.Info.TraceID, &a); err != nil {
		t.Fatal(err)
	}
	last.Info.Assessments = []trace.Assessment{a}
	assertSameJSON(t, "last HaluEval trace", marshal(t, mustTrace(t, s, last.Info.TraceID)), marshal(t, &last))
}
