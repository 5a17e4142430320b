package trace_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/trace"
)

// readOne reads input and returns its only trace.
func readOne(t *testing.T, input string, opts ...trace.ReadOption) *trace.Trace {
	t.Helper()
	recs, err := trace.Read(strings.NewReader(input), "flat.jsonl", opts...)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Fatalf("got %d records, want 1", len(recs))
	}
	if recs[0].Err != nil {
		t.Fatal(recs[0].Err)
	}
	return recs[0].Trace
}

func TestFlatConversion(t *testing.T) {
	line := `{"trace_id": "t1", "inputs": {"question": "Q?", "n": 1.50}, "outputs": "A <b>",` +
		` "expectations": {"expected_response": "A", "facts": ["x", "y"], "nothing": null, "count": 2},` +
		` "feedback": {"helpfulness": {"value": "yes", "rationale": "good", "source_id": "me"}, "score": 4, "detail": {"value": 1, "extra": true}, "skipped": null},` +
		` "request_time": "2025-06-01T12:00:00Z", "tags": {"team": "x"}, "session_id": "s1"}`
	got := readOne(t, line, trace.WithExperiment("7"))
	out, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	aid := func(kind, name string) string {
		sum := sha256.Sum256([]byte("t1\x00" + kind + "\x00" + name))
		return "a-" + hex.EncodeToString(sum[:16])
	}
	human := func(id string) string { return `{"source_type":"HUMAN","source_id":"` + id + `"}` }
	at := `"create_time":"2025-06-01T12:00:00.000Z","last_update_time":"2025-06-01T12:00:00.000Z"`
	sum := sha256.Sum256([]byte("t1"))
	spanSum := sha256.Sum256([]byte("span\x00t1"))
	b64 := func(b []byte) string { s, _ := json.Marshal(b); return string(s) }
	want := `{"info":{"trace_id":"t1",
		"trace_location":{"type":"MLFLOW_EXPERIMENT","mlflow_experiment":{"experiment_id":"7"}},
		"request_preview":"{\"question\": \"Q?\", \"n\": 1.50}","response_preview":"\"A <b>\"",
		"request_time":"2025-06-01T12:00:00.000Z","execution_duration_ms":0,"state":"OK",
		"trace_metadata":{"mlflow.trace_schema.version":"3","mlflow.traceInputs":"{\"question\": \"Q?\", \"n\": 1.50}",
			"mlflow.traceOutputs":"\"A <b>\"","mlflow.trace.session":"s1"},
		"tags":{"mlflow.traceName":"root_span","team":"x"},
		"assessments":[
			{"assessment_id":"` + aid("expectation", "count") + `","assessment_name":"count","trace_id":"t1","source":` + human("default") + `,` + at + `,"expectation":{"value":2}},
			{"assessment_id":"` + aid("expectation", "expected_response") + `","assessment_name":"expected_response","trace_id":"t1","source":` + human("default") + `,` + at + `,"expectation":{"value":"A"}},
			{"assessment_id":"` + aid("expectation", "facts") + `","assessment_name":"facts","trace_id":"t1","source":` + human("default") + `,` + at + `,"expectation":{"serialized_value":{"serialization_format":"JSON_FORMAT","value":"[\"x\", \"y\"]"}}},
			{"assessment_id":"` + aid("expectation", "nothing") + `","assessment_name":"nothing","trace_id":"t1","source":` + human("default") + `,` + at + `,"expectation":{"serialized_value":{"serialization_format":"JSON_FORMAT","value":"null"}}},
			{"assessment_id":"` + aid("feedback", "detail") + `","assessment_name":"detail","trace_id":"t1","source":` + human("default") + `,` + at + `,"feedback":{"value":{"value":1,"extra":true}}},
			{"assessment_id":"` + aid("feedback", "helpfulness") + `","assessment_name":"helpfulness","trace_id":"t1","source":` + human("me") + `,` + at + `,"feedback":{"value":"yes"},"rationale":"good"},
			{"assessment_id":"` + aid("feedback", "score") + `","assessment_name":"score","trace_id":"t1","source":` + human("default") + `,` + at + `,"feedback":{"value":4}}
		]},
	"data":{"spans":[{"name":"root_span","trace_id":` + b64(sum[:16]) + `,"span_id":` + b64(spanSum[:8]) + `,"parent_span_id":null,
		"start_time_unix_nano":1748779200000000000,"end_time_unix_nano":1748779200000000000,"events":[],
		"status":{"code":"STATUS_CODE_OK","message":""},
		"attributes":{"mlflow.traceRequestId":"\"t1\"","mlflow.spanType":"\"CHAIN\"",
			"mlflow.spanInputs":"{\"question\": \"Q?\", \"n\": 1.50}","mlflow.spanOutputs":"\"A <b>\""}}]}}`
	sameJSON(t, out, []byte(want))

	// What the extraction rules see.
	if got := got.Root().Type(); got != trace.SpanTypeChain {
		t.Errorf("root span type %q, want CHAIN", got)
	}
	label, _, ok := got.HumanFeedback("helpfulness")
	if !ok || label.Value != "yes" || label.Rationale != "good" || label.SourceID != "me" {
		t.Errorf("HumanFeedback = %+v, %v", label, ok)
	}
	if got.SessionID() != "s1" {
		t.Errorf("SessionID() = %q", got.SessionID())
	}
}

func TestFlatTraceIDs(t *testing.T) {
	line := `{"inputs": "q",   "outputs": "a"}`
	tr := readOne(t, line)
	sum := sha256.Sum256([]byte(`{"inputs":"q","outputs":"a"}`))
	if want := "tr-" + hex.EncodeToString(sum[:16]); tr.Info.TraceID != want {
		t.Errorf("generated trace id %q, want %q (sha256 of the compacted line)", tr.Info.TraceID, want)
	}
	// Importing twice gives identical traces.
	a, _ := json.Marshal(tr)
	b, _ := json.Marshal(readOne(t, line))
	if !bytes.Equal(a, b) {
		t.Error("importing the same line twice gave different traces")
	}
	// A different line gives a different id.
	if other := readOne(t, `{"inputs": "q", "outputs": "b"}`); other.Info.TraceID == tr.Info.TraceID {
		t.Error("different lines got the same trace id")
	}
	// An MLflow-style id keeps its hex as the OpenTelemetry trace id.
	mlflowID := readOne(t, `{"trace_id": "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8"}`)
	if got := mlflowID.Data.Spans[0].TraceID; got != "fxorPE1eb3CBkqO0xdbn+A==" {
		t.Errorf("span trace_id %q, want the base64 of the tr- hex", got)
	}
	// Numeric ids are kept as text; empty ones are generated.
	if got := readOne(t, `{"trace_id": 17}`).Info.TraceID; got != "17" {
		t.Errorf("numeric trace id read as %q", got)
	}
	if got := readOne(t, `{"trace_id": " "}`).Info.TraceID; !strings.HasPrefix(got, "tr-") || len(got) != 35 {
		t.Errorf("blank trace id gave %q, want a generated tr- id", got)
	}
}

func TestFlatErrors(t *testing.T) {
	tests := []struct {
		name, line, want string
	}{
		{"unknown key", `{"trace_id": "t", "question": "q"}`, `unknown key "question"`},
		{"expectations not an object", `{"expectations": ["a"]}`, "expectations: got an array, want an object"},
		{"feedback not an object", `{"feedback": "yes"}`, "feedback: got a string, want an object"},
		{"bad rationale", `{"feedback": {"h": {"value": 1, "rationale": 5}}}`, "feedback: h: rationale: got a number, want a string"},
		{"bad request time", `{"request_time": "June"}`, "request_time: timestamp"},
		{"bad tags", `{"tags": {"a": 1}}`, "tags: got a number, want a string"},
		{"bad session", `{"session_id": 5}`, "session_id: got a number, want a string"},
		{"bad trace id", `{"trace_id": {"a": 1}}`, "trace_id: got an object, want a string trace id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := trace.Read(strings.NewReader("\n"+tc.line), "flat.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 || recs[0].Err == nil {
				t.Fatalf("records %+v, want one error", recs)
			}
			if msg := recs[0].Err.Error(); !strings.HasPrefix(msg, "flat.jsonl line 2: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want flat.jsonl line 2 and %q", msg, tc.want)
			}
		})
	}
}

func TestParseMapping(t *testing.T) {
	tests := []struct {
		name    string
		specs   []string
		want    trace.Mapping
		wantErr string
	}{
		{"HaluEval", []string{"trace_id=ID", "inputs=user_query", "outputs=chatgpt_response", "feedback.hallucination=hallucination",
			"rationale.hallucination=notes", "expectations.expected_response=target"},
			trace.Mapping{TraceID: "ID", Inputs: "user_query", Outputs: "chatgpt_response",
				Expectations: map[string]string{"expected_response": "target"},
				Feedback:     map[string]string{"hallucination": "hallucination"},
				Rationale:    map[string]string{"hallucination": "notes"}}, ""},
		{"spaces trimmed", []string{" inputs = question "}, trace.Mapping{Inputs: "question"}, ""},
		{"column with equals sign", []string{"inputs=a=b"}, trace.Mapping{Inputs: "a=b"}, ""},
		{"empty", nil, trace.Mapping{}, ""},
		{"no equals", []string{"inputs"}, trace.Mapping{}, `mapping "inputs": want target=column`},
		{"empty column", []string{"inputs="}, trace.Mapping{}, "want target=column"},
		{"unknown target", []string{"input=q"}, trace.Mapping{}, `unknown target "input"`},
		{"name missing", []string{"feedback.=x"}, trace.Mapping{}, "feedback needs a name"},
		{"twice", []string{"inputs=a", "inputs=b"}, trace.Mapping{}, "inputs is mapped twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := trace.ParseMapping(tc.specs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseMapping = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// haluEvalRow is one HaluEval line.
type haluEvalRow struct {
	ID                 string   `json:"ID"`
	UserQuery          string   `json:"user_query"`
	ChatGPTResponse    string   `json:"chatgpt_response"`
	Hallucination      string   `json:"hallucination"`
	HallucinationSpans []string `json:"hallucination_spans"`
}

func TestHaluEvalMapping(t *testing.T) {
	path := filepath.Join(fixtures, "halueval", "general_data_20.jsonl")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []haluEvalRow
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r haluEvalRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 20 {
		t.Fatalf("fixture has %d rows, want 20", len(rows))
	}
	m, err := trace.ParseMapping([]string{"trace_id=ID", "inputs=user_query", "outputs=chatgpt_response",
		"feedback.hallucination=hallucination", "rationale.hallucination=hallucination_spans"})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := trace.ReadFile(path, trace.WithMapping(m))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 20 {
		t.Fatalf("read %d records, want 20", len(recs))
	}
	counts := map[any]int{}
	for i, rec := range recs {
		row := rows[i]
		if rec.Err != nil {
			t.Fatalf("line %d: %v", rec.Line, rec.Err)
		}
		tr := rec.Trace
		if rec.Line != i+1 || tr.Info.TraceID != row.ID {
			t.Errorf("record %d: line %d, id %q; want line %d, id %q", i, rec.Line, tr.Info.TraceID, i+1, row.ID)
		}
		in, _ := tr.Inputs()
		out, _ := tr.Outputs()
		if trace.InputsText(in) != row.UserQuery || trace.OutputsText(out) != row.ChatGPTResponse {
			t.Errorf("record %d: inputs/outputs differ from user_query/chatgpt_response", i)
		}
		label, _, ok := tr.HumanFeedback("hallucination")
		if !ok || label.Value != row.Hallucination {
			t.Errorf("record %d: label %v (%v), want %q", i, label.Value, ok, row.Hallucination)
		}
		if want := strings.Join(row.HallucinationSpans, "; "); label.Rationale != want {
			t.Errorf("record %d: rationale %q, want %q", i, label.Rationale, want)
		}
		counts[label.Value]++
	}
	if counts["yes"] != 13 || counts["no"] != 7 {
		t.Errorf("labels = %v, want 13 yes and 7 no", counts)
	}

	// The same lines read from the shared dataset give the same traces.
	shared, err := os.Open("../../shared/datasets/halueval-general/general_data.jsonl")
	if err != nil {
		t.Skipf("shared dataset not available: %v", err)
	}
	defer shared.Close()
	var first20 bytes.Buffer
	br := bufio.NewReader(shared)
	for range 20 {
		line, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		first20.Write(line)
	}
	fromShared, err := trace.Read(&first20, "general_data_20.jsonl", trace.WithMapping(m))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		a, _ := json.Marshal(recs[i].Trace)
		b, _ := json.Marshal(fromShared[i].Trace)
		if !bytes.Equal(a, b) {
			t.Errorf("line %d: testdata copy and shared dataset give different traces", i+1)
		}
	}
}

func TestMappedColumnsMustExist(t *testing.T) {
	for _, spec := range [][]string{{"inputs=question"}, {"trace_id=ID", "inputs=q"}, {"inputs=q", "outputs=answer"}} {
		m, err := trace.ParseMapping(spec)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := trace.Read(strings.NewReader(`{"id": "x", "q": "hi", "a": "yo"}`+"\n"), "m.jsonl", trace.WithMapping(m))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 1 || recs[0].Err == nil || !strings.Contains(recs[0].Err.Error(), "is not in the record") {
			t.Errorf("mapping %v: records %+v, want an error naming the missing column", spec, recs)
		}
	}
}

func TestMappingDetails(t *testing.T) {
	m := trace.Mapping{
		Inputs:       "q",
		Expectations: map[string]string{"expected_response": "target", "absent": "nope"},
		Feedback:     map[string]string{"ok": "label", "missing": "nope"},
		Rationale:    map[string]string{"ok": "why", "orphan": "why"},
	}
	tr := readOne(t, `{"trace_id": "x", "q": {"text": "hi"}, "target": null, "label": false, "why": ["a", "b"], "other": 1}`, trace.WithMapping(m))
	if in, _ := tr.Inputs(); !reflect.DeepEqual(in, map[string]any{"text": "hi"}) {
		t.Errorf("inputs = %v", in)
	}
	if out, _ := tr.Outputs(); out != nil {
		t.Errorf("outputs = %v, want none", out)
	}
	if got := tr.Expectations(); !reflect.DeepEqual(got, map[string]any{"expected_response": nil}) {
		t.Errorf("expectations = %v, want expected_response: null only", got)
	}
	label, _, ok := tr.HumanFeedback("ok")
	if !ok || label.Value != false || label.Rationale != "a; b" {
		t.Errorf("label = %+v, %v", label, ok)
	}
	if len(tr.Info.Assessments) != 2 {
		t.Errorf("%d assessments, want 2 (columns that are absent add nothing)", len(tr.Info.Assessments))
	}
}

func TestFlatFixture(t *testing.T) {
	recs, err := trace.ReadFile(filepath.Join(fixtures, "flat", "support.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for _, r := range recs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	chat := recs[2].Trace
	if !strings.HasPrefix(chat.Info.TraceID, "tr-") {
		t.Errorf("record without trace_id got id %q", chat.Info.TraceID)
	}
	in, _ := chat.Inputs()
	out, _ := chat.Outputs()
	if trace.InputsText(in) != "Where is my invoice?" || trace.OutputsText(out) != "Invoices are under Billing > History." {
		t.Errorf("chat record renders as %q / %q", trace.InputsText(in), trace.OutputsText(out))
	}
	if _, _, ok := recs[3].Trace.HumanFeedback("helpfulness"); ok {
		t.Error("a null feedback value became a label")
	}
	if out, _ := recs[3].Trace.Outputs(); out != nil {
		t.Errorf("null outputs decoded as %v", out)
	}
}
