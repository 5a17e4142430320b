package trace_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/trace"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestInputsText(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, " "},
		{"JSON null", json.RawMessage(`null`), " "},
		{"string", "How do I reset my password?", "How do I reset my password?"},
		{"raw string", json.RawMessage(`"hi"`), "hi"},
		{"number", json.RawMessage(`42`), "42"},
		{"bool", true, "true"},
		{"object keeps key order and Python separators", json.RawMessage(`{"question":"Q?","k":2,"flags":[true,null]}`),
			`{"question": "Q?", "k": 2, "flags": [true, null]}`},
		{"Go map sorted", map[string]any{"b": 1, "a": "x"}, `{"a": "x", "b": 1}`},
		{"list", json.RawMessage(`["a","b"]`), `["a", "b"]`},
		{"single message", json.RawMessage(`{"messages":[{"role":"user","content":"Hello"}]}`), "Hello"},
		{"several text messages dump the list", json.RawMessage(`{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}]}`),
			`[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]`},
		{"several messages, last content text, one not", json.RawMessage(`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]},{"role":"user","content":"Last"}]}`),
			"Last"},
		{"last content not text", json.RawMessage(`{"messages":[{"role":"user","content":[{"type":"text","text":"x"}]}]}`),
			`{"messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}]}`},
		{"empty messages", json.RawMessage(`{"messages":[]}`), `{"messages": []}`},
		{"messages not a list", json.RawMessage(`{"messages":"hi"}`), `{"messages": "hi"}`},
		{"unicode and html kept", json.RawMessage(`{"q":"café <b>&"}`), `{"q": "café <b>&"}`},
		{"Go values", []any{map[string]any{"content": "x"}}, `[{"content": "x"}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := trace.InputsText(tc.in); got != tc.want {
				t.Errorf("InputsText(%v) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestOutputsText(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, " "},
		{"string", "Click 'Forgot password'.", "Click 'Forgot password'."},
		{"object is JSON", json.RawMessage(`{"answer":"Click","score":0.5}`), `{"answer": "Click", "score": 0.5}`},
		{"list gives first element", json.RawMessage(`["first","second"]`), "first"},
		{"list of chat completions", json.RawMessage(`[{"choices":[{"message":{"content":"A"}}]}]`), "A"},
		{"empty list", json.RawMessage(`[]`), "[]"},
		{"OpenAI chat completion", json.RawMessage(`{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour"}}]}`), "Bonjour"},
		{"choice content not text", json.RawMessage(`{"choices":[{"message":{"content":null}}]}`), `{"choices": [{"message": {"content": null}}]}`},
		{"messages last content", json.RawMessage(`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}`), "a"},
		{"messages last content not text", json.RawMessage(`{"messages":[{"role":"assistant","content":null}]}`), `{"messages": [{"role": "assistant", "content": null}]}`},
		{"Responses API", json.RawMessage(`{"id":"resp_1","object":"response","output":[
			{"type":"reasoning","summary":[]},
			{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Line one."},{"type":"refusal","refusal":"no"},{"type":"output_text","text":"Line two."}]}]}`),
			"Line one.\nLine two."},
		{"Responses API without text", json.RawMessage(`{"output":[{"type":"function_call","name":"f"}]}`), `{"output": [{"type": "function_call", "name": "f"}]}`},
		{"number", json.RawMessage(`3.0`), "3.0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := trace.OutputsText(tc.in); got != tc.want {
				t.Errorf("OutputsText(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestSpanAccessors(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	root := tr.Root()
	if root == nil || root.Name != "answer_question" {
		t.Fatalf("Root() = %v, want answer_question", root)
	}
	if root.Type() != trace.SpanTypeChain {
		t.Errorf("root Type() = %q, want CHAIN", root.Type())
	}
	in, err := root.Inputs()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, map[string]any{"question": "How do I reset my password?"}) {
		t.Errorf("root Inputs() = %#v", in)
	}
	out, err := tr.Outputs()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, map[string]any{"answer": "Click 'Forgot password' on the login page."}) {
		t.Errorf("Outputs() = %#v", out)
	}
	llm := tr.Spans(trace.SpanTypeLLM)
	if len(llm) != 1 || llm[0].Name != "chat_completion" {
		t.Errorf("Spans(LLM) = %v, want [chat_completion]", llm)
	}
	if all := tr.Spans(""); len(all) != 2 {
		t.Errorf("Spans(\"\") has %d spans, want 2", len(all))
	}
	if got := llm[0].Duration(); got != 700*time.Millisecond {
		t.Errorf("Duration() = %v, want 700ms", got)
	}
	if got := tr.SessionID(); got != "session-42" {
		t.Errorf("SessionID() = %q, want session-42", got)
	}
	if got, want := tr.RequestTime(), time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("RequestTime() = %v, want %v", got, want)
	}

	// Without info.request_time the root span's start is used.
	tr.Info.RequestTime = trace.Timestamp{}
	if got, want := tr.RequestTime(), time.Unix(0, 1748779200000000000); !got.Equal(want) {
		t.Errorf("RequestTime() from root span = %v, want %v", got, want)
	}
}

func TestSpanEdgeCases(t *testing.T) {
	parent := "missing"
	tr := trace.Trace{Data: trace.Data{Spans: []trace.Span{
		{Name: "orphan", SpanID: "b", ParentSpanID: &parent, Attributes: map[string]json.RawMessage{
			"mlflow.spanInputs":  json.RawMessage(`"not json"`),
			"mlflow.spanOutputs": json.RawMessage(`{"raw":true}`),
		}},
	}}}
	root := tr.Root()
	if root == nil || root.Name != "orphan" {
		t.Fatalf("Root() = %v, want the span whose parent is missing", root)
	}
	if root.Type() != trace.SpanTypeUnknown {
		t.Errorf("Type() without attribute = %q, want UNKNOWN", root.Type())
	}
	if _, err := root.Inputs(); err == nil || !strings.Contains(err.Error(), "mlflow.spanInputs") {
		t.Errorf("Inputs() error = %v, want one naming mlflow.spanInputs", err)
	}
	out, err := root.Outputs()
	if err != nil || !reflect.DeepEqual(out, map[string]any{"raw": true}) {
		t.Errorf("Outputs() of an attribute stored as raw JSON = %v, %v", out, err)
	}
	if (&trace.Trace{}).Root() != nil {
		t.Error("Root() of a trace without spans is not nil")
	}
}

func TestExpectations(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "expectations_and_extras.json"))
	want := map[string]any{
		"expected_response":   "Use the search_orders tool.",
		"expected_tool_count": json.Number("1"),
		"requires_citation":   false,
		"expected_facts":      []any{"search_orders finds orders", "it needs an order id or email"},
		"expected_tool_calls": map[string]any{"name": "search_orders", "arguments": map[string]any{"email": "a@b.c", "limit": json.Number("5")}},
		"expected_refusal":    nil,
		"expected_score":      json.Number("4.5"),
	}
	if got := tr.Expectations(); !reflect.DeepEqual(got, want) {
		t.Errorf("Expectations() =\n%#v\nwant\n%#v", got, want)
	}

	for _, a := range tr.Info.Assessments[:7] {
		v, err := a.Expectation.Decode()
		if err != nil {
			t.Fatalf("%s: Decode: %v", a.Name, err)
		}
		if !reflect.DeepEqual(v, want[a.Name]) {
			t.Errorf("%s: Decode() = %#v, want %#v", a.Name, v, want[a.Name])
		}
	}
	broken := trace.Expectation{SerializedValue: &trace.SerializedValue{Format: trace.JSONSerialization, Value: "[1,"}}
	if _, err := broken.Decode(); err == nil {
		t.Error("Decode of a broken serialized_value succeeded")
	}

	// The latest expectation of a name wins; valid=false ones are ignored.
	invalid := false
	at := func(s string) trace.Timestamp {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return trace.NewTimestamp(tm)
	}
	exp := func(name, v, created string) trace.Assessment {
		return trace.Assessment{Name: name, Source: trace.Source{Type: trace.SourceHuman}, CreateTime: at(created),
			Expectation: &trace.Expectation{Value: json.RawMessage(v)}}
	}
	later := exp("r", `"new"`, "2025-01-02T00:00:00Z")
	ignored := exp("r", `"newest but overridden"`, "2025-01-03T00:00:00Z")
	ignored.Valid = &invalid
	tr2 := trace.Trace{Info: trace.Info{Assessments: []trace.Assessment{
		later, exp("r", `"old"`, "2025-01-01T00:00:00Z"), ignored,
		{Name: "fb", Source: trace.Source{Type: trace.SourceHuman}, Feedback: &trace.Feedback{Value: json.RawMessage(`1`)}},
	}}}
	if got := tr2.Expectations(); !reflect.DeepEqual(got, map[string]any{"r": "new"}) {
		t.Errorf("Expectations() = %v, want r=new only", got)
	}
	if got := (&trace.Trace{}).Expectations(); got != nil {
		t.Errorf("Expectations() of a trace without any = %v, want nil", got)
	}
}

func TestRetrievedDocuments(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "rag_retriever.json"))
	got := tr.RetrievedDocuments()
	annual := trace.Document{
		Content: "Annual plans can be refunded in full within 30 days of purchase.",
		DocURI:  "https://docs.example.com/billing/refunds#annual",
		ID:      "doc-17",
		Metadata: map[string]any{"doc_uri": "https://docs.example.com/billing/refunds#annual",
			"chunk_id": "refunds-2"},
	}
	monthly := trace.Document{
		Content: "Monthly plans are not refundable; cancel any time to stop renewal.",
		DocURI:  "https://docs.example.com/billing/refunds#monthly",
		ID:      "doc-18",
		Metadata: map[string]any{"doc_uri": "https://docs.example.com/billing/refunds#monthly",
			"chunk_id": "refunds-3"},
	}
	want := []trace.RetrievalStep{
		{SpanID: tr.Data.Spans[1].SpanID, SpanName: "retrieve_docs", Query: "refund window annual plans", Documents: []trace.Document{annual, monthly}},
		{SpanID: tr.Data.Spans[2].SpanID, SpanName: "rerank", Query: "refund window annual plans", Documents: []trace.Document{annual}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RetrievedDocuments() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestToolCalls(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "agent_tool_error.json"))
	got := tr.ToolCalls()
	want := []trace.ToolCall{
		{SpanID: tr.Data.Spans[2].SpanID, Name: "get_weather", Arguments: map[string]any{"city": "Paris"},
			Result: map[string]any{"temp_c": json.Number("22"), "conditions": "sunny"}},
		{SpanID: tr.Data.Spans[3].SpanID, Name: "get_weather", Arguments: map[string]any{"city": "Atlantis"},
			Error: "ValueError: unknown city: Atlantis"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ToolCalls() =\n%#v\nwant\n%#v", got, want)
	}
	if tr.Info.State != trace.StateError {
		t.Errorf("State = %q, want ERROR", tr.Info.State)
	}
}

func TestSpanErrorText(t *testing.T) {
	tests := []struct {
		name string
		span trace.Span
		want string
	}{
		{"ok", trace.Span{Status: trace.Status{Code: trace.StatusOK}}, ""},
		{"status message", trace.Span{Status: trace.Status{Code: trace.StatusError, Message: "boom"}}, "boom"},
		{"error without message", trace.Span{Status: trace.Status{Code: trace.StatusError}}, "error"},
		{"exception event", trace.Span{Status: trace.Status{Code: trace.StatusError, Message: "x"}, Events: []trace.Event{
			{Name: "log"},
			{Name: "exception", Attributes: map[string]json.RawMessage{"exception.type": json.RawMessage(`"KeyError"`), "exception.message": json.RawMessage(`"'id'"`)}},
		}}, "KeyError: 'id'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.span.ErrorText(); got != tc.want {
				t.Errorf("ErrorText() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTextGolden(t *testing.T) {
	for _, name := range []string{"agent_tool_error", "rag_retriever", "chat_openai", "trace_with_human_override"} {
		t.Run(name, func(t *testing.T) {
			tr := loadTrace(t, filepath.Join(fixtures, "mlflow", name+".json"))
			got := tr.Text()
			if got != tr.Text() {
				t.Fatal("Text() is not deterministic")
			}
			golden := filepath.Join(fixtures, "golden", name+".text.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("Text() differs from %s:\n--- got\n%s\n--- want\n%s", golden, got, want)
			}
			// Labels must never reach the judge through {{ trace }}.
			for _, a := range tr.Info.Assessments {
				if a.Rationale != "" && strings.Contains(got, a.Rationale) {
					t.Errorf("Text() leaks the rationale of assessment %s", a.ID)
				}
			}
		})
	}
}

func TestTextTruncatesAndOrders(t *testing.T) {
	long := strings.Repeat("é", trace.TextValueLimit+10)
	p := func(s string) *string { return &s }
	attrs := func(typ, in string) map[string]json.RawMessage {
		b, _ := json.Marshal(in)
		return map[string]json.RawMessage{"mlflow.spanType": json.RawMessage(`"\"` + typ + `\""`), "mlflow.spanInputs": b}
	}
	tr := trace.Trace{Data: trace.Data{Spans: []trace.Span{
		{Name: "late child", SpanID: "c2", ParentSpanID: p("r"), StartTimeUnixNano: 30, Attributes: attrs("LLM", `"second"`)},
		{Name: "root", SpanID: "r", StartTimeUnixNano: 10, Attributes: attrs("CHAIN", `"`+long+`"`)},
		{Name: "early child", SpanID: "c1", ParentSpanID: p("r"), StartTimeUnixNano: 20, Attributes: attrs("LLM", `"first"`)},
		{Name: "grandchild", SpanID: "g", ParentSpanID: p("c2"), StartTimeUnixNano: 40},
	}}}
	text := tr.Text()
	order := []string{"- root (CHAIN)", "  - early child (LLM)", "  - late child (LLM)", "    - grandchild (UNKNOWN)"}
	last := -1
	for _, o := range order {
		i := strings.Index(text, o)
		if i < 0 || i < last {
			t.Fatalf("Text() does not list %q in tree order:\n%s", o, text)
		}
		last = i
	}
	want := strings.Repeat("é", trace.TextValueLimit) + "… [10 more characters]"
	if !strings.Contains(text, "Request: "+want+"\n") {
		t.Errorf("long request not cut to %d characters:\n%.300s", trace.TextValueLimit, text)
	}
}
