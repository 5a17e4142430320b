package trace_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/trace"
)

// fixtures is where the shared trace fixtures live, relative to this
// package.
const fixtures = "../testdata/traces"

// sharedFixture is the lead's reference fixture outside the repository.
const sharedFixture = "../../shared/fixtures/mlflow/trace_with_human_override.json"

// tree decodes JSON into a generic tree for semantic comparison.
func tree(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode JSON: %v\n%s", err, data)
	}
	return v
}

// sameJSON fails the test when a and b are not the same JSON value.
func sameJSON(t *testing.T, got, want []byte) {
	t.Helper()
	if g, w := tree(t, got), tree(t, want); !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", compact(t, got), compact(t, want))
	}
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return string(b)
	}
	return buf.String()
}

// mlflowFixtures returns the MLflow V3 fixture files.
func mlflowFixtures(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(fixtures, "mlflow", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v3 []string
	for _, f := range files {
		if !strings.HasPrefix(filepath.Base(f), "v2_") {
			v3 = append(v3, f)
		}
	}
	if len(v3) < 5 {
		t.Fatalf("found %d MLflow fixtures in %s, want at least 5", len(v3), fixtures)
	}
	return v3
}

func loadTrace(t *testing.T, path string) *trace.Trace {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tr trace.Trace
	if err := json.Unmarshal(data, &tr); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return &tr
}

func TestRoundTripFixtures(t *testing.T) {
	files := mlflowFixtures(t)
	if _, err := os.Stat(sharedFixture); err == nil {
		files = append(files, sharedFixture)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var tr trace.Trace
			if err := json.Unmarshal(data, &tr); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := json.Marshal(&tr)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			sameJSON(t, out, data)

			// A second pass through a value (not a pointer) is stable too.
			var again trace.Trace
			if err := json.Unmarshal(out, &again); err != nil {
				t.Fatalf("decode again: %v", err)
			}
			out2, err := json.Marshal(again)
			if err != nil {
				t.Fatal(err)
			}
			sameJSON(t, out2, data)
		})
	}
}

func TestSharedFixtureCopied(t *testing.T) {
	shared, err := os.ReadFile(sharedFixture)
	if err != nil {
		t.Skipf("shared fixture not available: %v", err)
	}
	local, err := os.ReadFile(filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(shared, local) {
		t.Error("testdata copy of trace_with_human_override.json differs from the shared fixture")
	}
}

func TestDecodedFieldsAndExtras(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	if got, want := tr.Info.TraceID, "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8"; got != want {
		t.Errorf("TraceID = %q, want %q", got, want)
	}
	if tr.Info.ExecutionDurationMS == nil || *tr.Info.ExecutionDurationMS != 840 {
		t.Errorf("ExecutionDurationMS = %v, want 840", tr.Info.ExecutionDurationMS)
	}
	if got := tr.Info.Location.MLflowExperiment.ExperimentID; got != "1" {
		t.Errorf("experiment id = %q, want 1", got)
	}
	root := tr.Data.Spans[0]
	if root.ParentSpanID != nil {
		t.Errorf("root ParentSpanID = %q, want nil", *root.ParentSpanID)
	}
	judgeVerdict := tr.Info.Assessments[1]
	if judgeVerdict.Valid == nil || *judgeVerdict.Valid {
		t.Errorf("judge verdict Valid = %v, want false", judgeVerdict.Valid)
	}
	if string(judgeVerdict.Feedback.Value) != `"yes"` {
		t.Errorf("feedback value = %s, want \"yes\"", judgeVerdict.Feedback.Value)
	}
	exp := tr.Info.Assessments[0].Expectation
	if exp.Value != nil || exp.SerializedValue == nil || exp.SerializedValue.Format != trace.JSONSerialization {
		t.Errorf("expectation = %+v, want a JSON serialized_value", exp)
	}

	x := loadTrace(t, filepath.Join(fixtures, "mlflow", "expectations_and_extras.json"))
	extras := []struct {
		where string
		got   map[string]json.RawMessage
		key   string
		want  string
	}{
		{"trace", x.Extra, "x_export_version", `7`},
		{"info", x.Info.Extra, "x_info_note", `{"exported_by":"mlflow 3.9.0"}`},
		{"trace_location", x.Info.Location.Extra, "x_region", `"eu-west-1"`},
		{"mlflow_experiment", x.Info.Location.MLflowExperiment.Extra, "x_workspace", `"support"`},
		{"data", x.Data.Extra, "x_partial", `false`},
		{"span", x.Data.Spans[0].Extra, "x_kind", `"SPAN_KIND_INTERNAL"`},
		{"span", x.Data.Spans[0].Extra, "trace_state", `""`},
		{"status", x.Data.Spans[0].Status.Extra, "x_detail", `{"retries":0}`},
		{"event", x.Data.Spans[0].Events[0].Extra, "x_dropped_attributes_count", `0`},
		{"assessment", x.Info.Assessments[0].Extra, "x_reviewer_team", `"tier-2"`},
		{"source", x.Info.Assessments[0].Source.Extra, "x_org", `"support"`},
		{"expectation", x.Info.Assessments[0].Expectation.Extra, "x_confidence", `0.9`},
		{"serialized_value", x.Info.Assessments[4].Expectation.SerializedValue.Extra, "x_schema", `"tool-call/v1"`},
		{"feedback", x.Info.Assessments[7].Feedback.Extra, "x_scale", `[1,5]`},
		{"feedback error", x.Info.Assessments[7].Feedback.Error.Extra, "x_retry_after", `30`},
	}
	for _, e := range extras {
		got, ok := e.got[e.key]
		if !ok {
			t.Errorf("%s: Extra has no %q", e.where, e.key)
			continue
		}
		if c := compact(t, got); c != e.want {
			t.Errorf("%s: Extra[%q] = %s, want %s", e.where, e.key, c, e.want)
		}
	}
	if _, ok := x.Info.Extra["trace_id"]; ok {
		t.Error("a modelled key (trace_id) also landed in Info.Extra")
	}
}

func TestRoundTripSpellings(t *testing.T) {
	// Each input must come back as the same JSON, including keys present
	// with empty values, nulls, and integers written as strings.
	tests := []struct {
		name string
		json string
	}{
		{"empty strings and collections kept", `{"info":{"trace_id":"t","request_preview":"","tags":{},"trace_metadata":{},"assessments":[]},"data":{"spans":[]}}`},
		{"nulls kept", `{"info":{"trace_id":"t","trace_location":null,"request_time":null,"execution_duration_ms":null,"tags":null},"data":{"spans":null}}`},
		{"quoted integers kept", `{"info":{"trace_id":"t","execution_duration_ms":"840"},"data":{"spans":[{"name":"s","span_id":"AQ==","parent_span_id":null,"start_time_unix_nano":"1748779200000000000","end_time_unix_nano":"1748779200840000000","events":[{"name":"e","time_unix_nano":"5"}],"status":{"code":"STATUS_CODE_OK","message":""},"attributes":{}}]}}`},
		{"absent keys not added", `{"info":{"trace_id":"t"},"data":{"spans":[{"span_id":"AQ=="}]}}`},
		{"timestamps in other spellings", `{"info":{"trace_id":"t","request_time":1748779200000,"assessments":[{"assessment_name":"n","source":{"source_type":"HUMAN"},"create_time":"2025-06-01T12:00:00Z","last_update_time":"2025-06-01T14:00:00.123456+02:00","feedback":{"value":1}}]},"data":{"spans":[]}}`},
		{"feedback values verbatim", `{"info":{"trace_id":"t","assessments":[
			{"assessment_name":"a","source":{"source_type":"HUMAN"},"feedback":{"value":null}},
			{"assessment_name":"b","source":{"source_type":"HUMAN"},"feedback":{"value":1.50}},
			{"assessment_name":"c","source":{"source_type":"HUMAN"},"feedback":{"value":{"z":1,"a":[true,"x"]}}},
			{"assessment_name":"d","source":{"source_type":"CODE"},"feedback":{"error":{"error_code":"E"}}},
			{"assessment_name":"e","source":{"source_type":"HUMAN"},"expectation":{"value":"v"},"valid":true},
			{"assessment_name":"f","source":{"source_type":"HUMAN"},"expectation":{"serialized_value":{"serialization_format":"JSON_FORMAT","value":"null"}},"valid":false}
		]},"data":{"spans":[]}}`},
		{"big integers exact", `{"info":{"trace_id":"t","assessments":[{"assessment_name":"n","source":{"source_type":"HUMAN"},"feedback":{"value":12345678901234567890123}}]},"data":{"spans":[]}}`},
		{"html characters", `{"info":{"trace_id":"<t&>"},"data":{"spans":[]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr trace.Trace
			if err := json.Unmarshal([]byte(tc.json), &tr); err != nil {
				t.Fatalf("decode: %v", err)
			}
			out, err := json.Marshal(tr)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			sameJSON(t, out, []byte(tc.json))
		})
	}
}

func TestBigIntegerFeedbackIsVerbatim(t *testing.T) {
	in := `{"info":{"trace_id":"t","assessments":[{"assessment_name":"n","source":{"source_type":"HUMAN"},"feedback":{"value":12345678901234567890123}}]},"data":{"spans":[]}}`
	var tr trace.Trace
	if err := json.Unmarshal([]byte(in), &tr); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"value":12345678901234567890123`) {
		t.Errorf("feedback value not kept digit for digit: %s", out)
	}
}

func TestEncodeBuiltTrace(t *testing.T) {
	valid := false
	tr := trace.Trace{
		Info: trace.Info{
			TraceID: "tr-1",
			Assessments: []trace.Assessment{
				{Name: "a", Source: trace.Source{Type: trace.SourceHuman}, Feedback: &trace.Feedback{Value: json.RawMessage(`"yes"`)}},
				{Name: "b", Source: trace.Source{Type: trace.SourceHuman}, Feedback: &trace.Feedback{Value: json.RawMessage(`"no"`)}, Valid: &valid},
			},
		},
		Data: trace.Data{Spans: []trace.Span{{Name: "root", SpanID: "AQ=="}}},
	}
	out, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"info":{"trace_id":"tr-1","assessments":[
		{"assessment_name":"a","source":{"source_type":"HUMAN"},"feedback":{"value":"yes"}},
		{"assessment_name":"b","source":{"source_type":"HUMAN"},"feedback":{"value":"no"},"valid":false}]},
	"data":{"spans":[{"name":"root","span_id":"AQ==","parent_span_id":null,"start_time_unix_nano":0,"end_time_unix_nano":0,
		"events":[],"status":{"code":"","message":""},"attributes":{}}]}}`
	sameJSON(t, out, []byte(want))

	// Data with no spans still writes "spans": [].
	out, err = json.Marshal(trace.Trace{Info: trace.Info{TraceID: "t"}})
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, out, []byte(`{"info":{"trace_id":"t"},"data":{"spans":[]}}`))
}

func TestEditedValuesAreWritten(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	tr.Info.RequestPreview = "changed"
	tr.Info.Assessments[2].Rationale = ""
	tr.Info.Tags["team"] = "support"
	out, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	var back trace.Trace
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Info.RequestPreview != "changed" || back.Info.Assessments[2].Rationale != "" || back.Info.Tags["team"] != "support" {
		t.Errorf("edits lost: preview %q, rationale %q, tags %v",
			back.Info.RequestPreview, back.Info.Assessments[2].Rationale, back.Info.Tags)
	}
	if strings.Contains(string(out), "Users locked out by SSO") {
		t.Error("a cleared rationale was written from the input")
	}
}

func TestV2Conversion(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "v2_legacy.json"))
	info := tr.Info
	checks := []struct {
		what      string
		got, want any
	}{
		{"trace id", info.TraceID, "tr-0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
		{"experiment", info.Location.MLflowExperiment.ExperimentID, "3"},
		{"location type", info.Location.Type, trace.LocationExperiment},
		{"request time", info.RequestTime.UTC().Format("2006-01-02T15:04:05.000Z"), "2024-06-01T12:00:00.000Z"},
		{"duration", *info.ExecutionDurationMS, int64(512)},
		{"state", info.State, trace.StateOK},
		{"metadata", info.Metadata["mlflow.traceInputs"], `{"question": "What is MLflow?"}`},
		{"request preview", info.RequestPreview, `{"question": "What is MLflow?"}`},
		{"response preview", info.ResponsePreview, `"An open source platform for the ML lifecycle."`},
		{"assessments", len(info.Assessments), 1},
		{"data extra", len(tr.Data.Extra), 0},
		{"root span id", tr.Data.Spans[0].SpanID, "Gis8TV5vcIE="},
		{"trace id b64", tr.Data.Spans[0].TraceID, "Dx4tPEtaaXiHlqW0w9Lh8A=="},
		{"root parent", tr.Data.Spans[0].ParentSpanID == nil, true},
		{"child parent", *tr.Data.Spans[1].ParentSpanID, "Gis8TV5vcIE="},
		{"start", tr.Data.Spans[1].StartTimeUnixNano, int64(1717243200010000000)},
		{"status ok", tr.Data.Spans[0].Status.Code, trace.StatusOK},
		{"status error", tr.Data.Spans[1].Status, trace.Status{Code: trace.StatusError, Message: "timeout"}},
		{"event time", tr.Data.Spans[1].Events[0].TimeUnixNano, int64(1717243200499000000)},
		{"span type", tr.Data.Spans[1].Type(), "LLM"},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %#v, want %#v", c.what, c.got, c.want)
		}
	}
	out, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, v2key := range []string{`"request_id"`, `"timestamp_ms"`, `"context"`, `"parent_id"`, `"status_code"`, `"request_metadata"`} {
		if bytes.Contains(out, []byte(v2key)) {
			t.Errorf("V3 output still has V2 key %s", v2key)
		}
	}
	// The converted trace is V3 and round-trips from now on.
	var v3 trace.Trace
	if err := json.Unmarshal(out, &v3); err != nil {
		t.Fatal(err)
	}
	out2, err := json.Marshal(v3)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, out2, out)
}

func TestUnmarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		json string
		want string
	}{
		{"no info", `{"data":{"spans":[]}}`, `missing "info"`},
		{"no data", `{"info":{"trace_id":"t"}}`, `missing "data"`},
		{"info not an object", `{"info":[],"data":{"spans":[]}}`, "info: got an array, want an object"},
		{"wrong type deep", `{"info":{"trace_id":"t","assessments":[{},{"source":{"source_type":5}}]},"data":{"spans":[]}}`,
			"info: assessments[1]: source: source_type: got a number, want a string"},
		{"bad span time", `{"info":{"trace_id":"t"},"data":{"spans":[{"start_time_unix_nano":"soon"}]}}`,
			`data: spans[0]: start_time_unix_nano: got "soon", want an integer`},
		{"bad timestamp", `{"info":{"trace_id":"t","request_time":"yesterday"},"data":{"spans":[]}}`, "info: request_time: timestamp"},
		{"bad v2 span id", `{"info":{"request_id":"r"},"data":{"spans":[{"context":{"span_id":"zz"}}]}}`, "data: spans[0]: context: span_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var tr trace.Trace
			err := json.Unmarshal([]byte(tc.json), &tr)
			if err == nil {
				t.Fatalf("decode succeeded, want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
