package judge_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/judge"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test -update after checking the change):\n--- got\n%s\n--- want\n%s",
			path, got, want)
	}
}

// renderRequest writes a request as text for golden files.
func renderRequest(t *testing.T, r *judge.Request) string {
	t.Helper()
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString("=== " + m.Role + "\n" + m.Content + "\n")
	}
	schema, err := json.MarshalIndent(r.Schema, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString("=== schema " + r.SchemaName + "\n" + string(schema) + "\n")
	return b.String()
}

func alignedQuality(t *testing.T) *judge.Judge {
	t.Helper()
	j, err := judge.New("product_quality",
		"Rate the answer in {{ outputs }} to the customer question in {{ inputs }}.\n\nexcellent: complete and precise; good: correct with minor gaps; fair: partly correct; poor: wrong or unhelpful.",
		judge.WithValues("excellent", "good", "fair", "poor"),
		judge.WithModel("openai:/gpt-4.1-mini"),
		judge.WithInferenceParams(map[string]any{"temperature": 0.0}))
	if err != nil {
		t.Fatal(err)
	}
	j.Memory = &judge.Memory{
		Guidelines: []judge.Guideline{
			{Text: "An answer that omits the product version is at best fair.", SourceTraceIDs: []string{"tr-1"}},
			{Text: "Prices must include the currency."},
		},
		Retrieval: judge.Retrieval{K: 5},
	}
	return j
}

func TestRequestGolden(t *testing.T) {
	j := alignedQuality(t)
	req, err := j.Request(judge.Input{
		Inputs:  map[string]any{"question": "Does the X200 support USB-C charging?", "locale": "en-GB"},
		Outputs: "Yes: the X200 (firmware 2.1 and later) charges over USB-C at up to 45 W.",
		// Supplied but not used by the template: must not appear.
		Expectations: map[string]any{"expected_response": "unused"},
		Trace:        "unused trace",
	},
		judge.WithGuidelines("Prices must include the currency.", "Mention warranty terms when asked."),
		judge.WithExamples(
			judge.Example{TraceID: "tr-1", Inputs: `{"question": "Battery life?"}`, Outputs: "About a day.",
				Trace: "not used by this judge", Value: "FAIR", Rationale: "Does not say which model version."},
			judge.Example{TraceID: "tr-2", Inputs: `{"question": "Price?"}`, Outputs: "€349 including VAT.", Value: "excellent"},
		))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "request_categorical.golden", renderRequest(t, req))

	if req.Model != "openai:/gpt-4.1-mini" || !reflect.DeepEqual(req.Params, map[string]any{"temperature": 0.0}) {
		t.Errorf("model %q params %v", req.Model, req.Params)
	}
	req.Params["temperature"] = 1.0
	if j.InferenceParams["temperature"] != 0.0 {
		t.Error("Request.Params shares the judge's map")
	}
	system, user := req.Messages[0].Content, req.Messages[1].Content
	// The guideline given both in memory and by option appears once.
	if n := strings.Count(system, "Prices must include the currency."); n != 1 {
		t.Errorf("duplicate guideline appears %d times", n)
	}
	// The example's value is shown normalised; its trace is not shown.
	if !strings.Contains(system, "<result>fair</result>") || strings.Contains(system, "not used by this judge") {
		t.Error("example block does not show the normalised value, or shows an unused field")
	}
	if strings.Contains(user, "unused") || strings.Contains(user, "<expectations>") || strings.Contains(user, "<trace>") {
		t.Errorf("user message has a section the template does not use:\n%s", user)
	}
}

func TestRequestGoldenTraceAndConversation(t *testing.T) {
	j, err := judge.Builtin("retrieval_sufficiency")
	if err != nil {
		t.Fatal(err)
	}
	req, err := j.Request(judge.Input{
		Expectations: map[string]any{"expected_facts": []any{"Reset links expire after 24 hours."}},
		Trace:        "request: How long is a reset link valid?\n- retrieve (RETRIEVER) -> [doc-7] Reset links are valid for 24 hours.\nresponse: 24 hours.",
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "request_builtin_trace.golden", renderRequest(t, req))

	session, err := judge.New("user_frustration", "Is the user in {{ conversation }} frustrated?",
		judge.WithValueType(judge.ValueType{Type: judge.Integer, Min: ptr(0), Max: ptr(3)}))
	if err != nil {
		t.Fatal(err)
	}
	req, err = session.Request(judge.Input{Conversation: []judge.Message{
		{Role: "user", Content: "It broke again."},
		{Role: "assistant", Content: "Sorry to hear that.\nWhat happened?"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "request_conversation.golden", renderRequest(t, req))
}

func TestRequestMissingInput(t *testing.T) {
	j, err := judge.Builtin("correctness")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   judge.Input
		want judge.Variable
	}{
		{"no inputs", judge.Input{Outputs: "a", Expectations: map[string]any{"expected_response": "a"}}, judge.Inputs},
		{"no outputs", judge.Input{Inputs: "q", Expectations: map[string]any{"expected_response": "a"}}, judge.Outputs},
		{"empty expectations", judge.Input{Inputs: "q", Outputs: "a", Expectations: map[string]any{}}, judge.Expectations},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := j.Request(tt.in)
			var me *judge.MissingInputError
			if !errors.As(err, &me) || me.Variable != tt.want {
				t.Fatalf("Request error = %v, want *MissingInputError for %s", err, tt.want)
			}
			want := "must supply " + string(tt.want) + ": required by the judge's instructions"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
	// An empty string is an output (an empty answer), not a missing one.
	if _, err := j.Request(judge.Input{Inputs: "q", Outputs: "", Expectations: map[string]any{"expected_response": "a"}}); err != nil {
		t.Errorf("empty output rejected: %v", err)
	}
	trace, _ := judge.Builtin("tool_call_efficiency")
	if _, err := trace.Request(judge.Input{Trace: " \n"}); err == nil {
		t.Error("blank trace accepted")
	}
}

func TestRequestRejectsInvalidJudge(t *testing.T) {
	for _, j := range []*judge.Judge{
		{Name: "x", Instructions: "{{ answer }}"},
		{Name: "x", Instructions: helpful, ValueType: judge.ValueType{Values: []string{"only"}}},
	} {
		if _, err := j.Request(judge.Input{Inputs: "q", Outputs: "a"}); err == nil {
			t.Errorf("Request accepted invalid judge %+v", j)
		}
	}
}

func TestRequestValueRendering(t *testing.T) {
	j, err := judge.New("x", "Check {{ inputs }}.")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		inputs any
		want   string
	}{
		{"string as is", "a <b> & \"c\"", "<inputs>\na <b> & \"c\"\n</inputs>"},
		{"object as indented JSON without HTML escapes", map[string]any{"q": "<b>", "n": 1.0},
			"<inputs>\n{\n  \"n\": 1,\n  \"q\": \"<b>\"\n}\n</inputs>"},
		{"number", 42.0, "<inputs>\n42\n</inputs>"},
		{"list", []any{"a", true}, "<inputs>\n[\n  \"a\",\n  true\n]\n</inputs>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := j.Request(judge.Input{Inputs: tt.inputs})
			if err != nil {
				t.Fatal(err)
			}
			if user := req.Messages[1].Content; !strings.HasPrefix(user, tt.want+"\n\n") {
				t.Errorf("user message = %q, want prefix %q", user, tt.want)
			}
		})
	}
}

func TestRequestNoBlocksWithoutGuidelinesOrExamples(t *testing.T) {
	j, _ := judge.Builtin("fluency")
	req, err := j.Request(judge.Input{Outputs: "Fine."}, judge.WithGuidelines(" "))
	if err != nil {
		t.Fatal(err)
	}
	system := req.Messages[0].Content
	if strings.Contains(system, "# Guidelines") || strings.Contains(system, "# Examples") {
		t.Errorf("empty guideline or no examples produced a block:\n%s", system)
	}
	if req.Params != nil {
		t.Errorf("Params = %v, want nil", req.Params)
	}
}

// checkStrictSchema fails unless schema is acceptable to OpenAI's strict
// structured outputs: objects list every property as required and forbid
// additional properties; only supported keywords appear.
func checkStrictSchema(t *testing.T, path string, schema map[string]any) {
	t.Helper()
	supported := []string{"type", "properties", "required", "additionalProperties", "enum", "description", "minimum", "maximum", "items"}
	for k := range schema {
		if !slices.Contains(supported, k) {
			t.Errorf("%s: unsupported keyword %q", path, k)
		}
	}
	if schema["type"] != "object" {
		return
	}
	if schema["additionalProperties"] != false {
		t.Errorf("%s: additionalProperties must be false", path)
	}
	props, _ := schema["properties"].(map[string]any)
	var names []string
	for name, p := range props {
		names = append(names, name)
		checkStrictSchema(t, path+"."+name, p.(map[string]any))
	}
	var required []string
	for _, r := range schema["required"].([]any) {
		required = append(required, r.(string))
	}
	slices.Sort(names)
	if !slices.Equal(names, required) {
		t.Errorf("%s: required %v, want every property %v", path, required, names)
	}
}

func TestRequestSchema(t *testing.T) {
	tests := []struct {
		name string
		vt   judge.ValueType
		want map[string]any // the result schema without its description
	}{
		{"boolean", judge.ValueType{Type: judge.Boolean}, map[string]any{"type": "string", "enum": []any{"yes", "no"}}},
		{"categorical", judge.ValueType{Values: []string{"high", "low"}}, map[string]any{"type": "string", "enum": []any{"high", "low"}}},
		{"integer", judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)}, map[string]any{"type": "integer", "minimum": int64(1), "maximum": int64(5)}},
		{"float", judge.ValueType{Type: judge.Float, Min: ptr(0)}, map[string]any{"type": "number", "minimum": 0.0}},
		{"string", judge.ValueType{}, map[string]any{"type": "string"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := &judge.Judge{Name: "x", Instructions: helpful, ValueType: tt.vt}
			req, err := j.Request(judge.Input{Inputs: "q", Outputs: "a"})
			if err != nil {
				t.Fatal(err)
			}
			checkStrictSchema(t, "answer", req.Schema)
			result := req.Schema["properties"].(map[string]any)["result"].(map[string]any)
			if d, _ := result["description"].(string); d == "" {
				t.Error("result has no description")
			}
			delete(result, "description")
			if !reflect.DeepEqual(result, tt.want) {
				t.Errorf("result schema = %#v\nwant %#v", result, tt.want)
			}
			// The rationale comes first, so that models reason before deciding.
			data, _ := json.Marshal(req.Schema["properties"])
			if r, v := strings.Index(string(data), `"rationale"`), strings.Index(string(data), `"result"`); r > v {
				t.Errorf("rationale after result in %s", data)
			}
			if req.SchemaName != judge.SchemaName {
				t.Errorf("SchemaName = %q", req.SchemaName)
			}
		})
	}
}
