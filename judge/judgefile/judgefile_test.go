package judgefile_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/judge/judgefile"
)

func ptr(f float64) *float64 { return &f }

// fullJudge returns an aligned judge with every field set. Values of type
// any have the types JSON decoding gives them; example values are in the
// canonical form of the value type.
func fullJudge() *judge.Judge {
	at := time.Date(2025, 6, 1, 12, 6, 0, 123000000, time.UTC)
	return &judge.Judge{
		Name:        "product_quality",
		Description: "How good the answer is.",
		Instructions: "Rate the answer in {{ outputs }} to the question in {{ inputs }}, against {{ expectations }}.\n\n" +
			"Quote \"exactly\", mind back\\slashes, tabs\tand a trailing quote\"",
		Model:           "openai:/gpt-4.1",
		ValueType:       judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)},
		InferenceParams: map[string]any{"temperature": 0.0, "max_tokens": 800.0, "stop": []any{"END", "STOP"}, "top_p": 0.95},
		Memory: &judge.Memory{
			Guidelines: []judge.Guideline{
				{Text: "Answers must name the product version.", SourceTraceIDs: []string{"tr-1", "tr-2"}},
				{Text: "Written by a person."},
			},
			Examples: []judge.Example{
				{
					TraceID: "tr-1", Inputs: `{"question": "How do I reset it?"}`, Outputs: "Hold the button.\nThen wait.\r\nDone \"\"\" here",
					Expectations: map[string]any{
						"expected_facts":    []any{"hold the button", "wait 10 s"},
						"expected_response": "Hold the button for 10 seconds.",
						"expected_tool_calls": []any{
							map[string]any{"name": "lookup", "arguments": map[string]any{"id": 7.0, "strict": true}},
							map[string]any{"name": "reset"},
						},
						"weights": map[string]any{"accuracy": 0.5, "style": -1.25},
						"mixed":   []any{1.0, "two", false},
					},
					Value: int64(2), Rationale: "Misses the \"10 seconds\".", FeedbackTime: at,
					Embedding: []float32{0.1, -0.25, 1e-7},
				},
				{TraceID: "tr-2", Inputs: `{"question": "Price?"}`, Outputs: "$10", Value: int64(5),
					Expectations: map[string]any{"expected_response": "$10"}, Embedding: []float32{1, 0, 0}},
				{TraceID: "tr-3", Outputs: "no inputs", Value: int64(1), FeedbackTime: at.Add(time.Hour)},
			},
			Retrieval: judge.Retrieval{K: 5, Embedder: "local:hash-v1@3", Dimensions: 3},
		},
		Provenance: &judge.Provenance{
			BaseJudge: "product_quality", BaseVersion: 2, Optimizer: "memalign", OptimizerVersion: "0.1.0",
			OptimizerSHA256: strings.Repeat("ab", 32), NumTraces: 3, AlignedAt: at,
		},
	}
}

func TestRoundTrip(t *testing.T) {
	categorical, err := judge.New("tone", "Describe the tone of {{ outputs }}.", judge.WithValues("warm", "neutral", "cold"))
	if err != nil {
		t.Fatal(err)
	}
	categorical.Memory = &judge.Memory{Examples: []judge.Example{{TraceID: "t", Outputs: "Hi!", Value: "warm"}}}
	boolean, err := judge.Builtin("correctness", judge.WithModel("anthropic:/claude-sonnet-4-5"))
	if err != nil {
		t.Fatal(err)
	}
	float := &judge.Judge{Name: "score", Instructions: "Score {{ trace }}.", ValueType: judge.ValueType{Type: judge.Float, Min: ptr(0), Max: ptr(1)},
		Memory: &judge.Memory{Examples: []judge.Example{{TraceID: "t", Trace: "span", Value: 0.75}}}}

	for _, j := range []*judge.Judge{fullJudge(), categorical, boolean, float} {
		for _, format := range []judgefile.Format{judgefile.TOML, judgefile.JSON} {
			t.Run(j.Name+"/"+string(format), func(t *testing.T) {
				data, err := judgefile.Encode(j, format)
				if err != nil {
					t.Fatal(err)
				}
				got, err := judgefile.Decode(data, format)
				if err != nil {
					t.Fatalf("decode: %v\n%s", err, data)
				}
				if !reflect.DeepEqual(got, j) {
					t.Errorf("round trip changed the judge:\ngot  %#v\nwant %#v\n%s", got, j, data)
				}
				if got.Fingerprint() != j.Fingerprint() {
					t.Error("round trip changed the fingerprint")
				}
			})
		}
	}
}

// TestFormatsAgree checks that a judge written by hand in TOML, with TOML
// integers where JSON has floats, decodes to the same judge as its JSON.
func TestFormatsAgree(t *testing.T) {
	tomlText := `
name = "q"
type = "integer"
min = 1
max = 5
instructions = "Rate {{ outputs }} against {{ expectations }}."

[inference_params]
max_tokens = 500
seed = 7

[[memory.examples]]
trace_id = "tr-1"
outputs = "a"
value = "4"
feedback_time = 2025-06-01T12:00:00Z
[memory.examples.expectations]
expected_facts = ["x", "y"]
count = 3
`
	jsonText := `{
  "name": "q", "type": "integer", "min": 1, "max": 5,
  "instructions": "Rate {{ outputs }} against {{ expectations }}.",
  "inference_params": {"max_tokens": 500, "seed": 7},
  "memory": {"examples": [{"trace_id": "tr-1", "outputs": "a", "value": 4, "feedback_time": "2025-06-01T12:00:00Z",
    "expectations": {"expected_facts": ["x", "y"], "count": 3}}], "retrieval": {"k": 0}}
}`
	fromTOML, err := judgefile.Decode([]byte(tomlText), judgefile.TOML)
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := judgefile.Decode([]byte(jsonText), judgefile.JSON)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromTOML, fromJSON) {
		t.Errorf("TOML and JSON decode differently:\n%#v\n%#v", fromTOML, fromJSON)
	}
	if v := fromTOML.Memory.Examples[0].Value; v != int64(4) {
		t.Errorf("example value = %#v, want int64 4", v)
	}
	if v := fromTOML.InferenceParams["max_tokens"]; v != 500.0 {
		t.Errorf("max_tokens = %#v, want float64 500 as JSON decodes it", v)
	}
}

func TestReadSamples(t *testing.T) {
	quality, err := judgefile.Read(filepath.Join("..", "..", "testdata", "judges", "product_quality.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if quality.Name != "product_quality" || quality.Effective() != judge.Categorical ||
		!reflect.DeepEqual(quality.Values, []string{"excellent", "good", "fair", "poor"}) ||
		quality.Model != "openai:/gpt-4.1-mini" || quality.InferenceParams["temperature"] != 0.0 {
		t.Errorf("product_quality = %+v", quality)
	}
	if !strings.HasPrefix(quality.Instructions, "Rate the answer in {{ outputs }}") || !strings.HasSuffix(quality.Instructions, "mislead the customer.\n") {
		t.Errorf("instructions = %q", quality.Instructions)
	}

	escalation, err := judgefile.Read(filepath.Join("..", "..", "testdata", "judges", "escalation_offered.toml"))
	if err != nil {
		t.Fatal(err)
	}
	vars, _ := escalation.Variables()
	if escalation.Type != judge.Boolean || !reflect.DeepEqual(vars, []judge.Variable{judge.Inputs, judge.Outputs}) {
		t.Errorf("escalation_offered = type %q variables %v", escalation.Type, vars)
	}
	if _, err := escalation.Request(judge.Input{Inputs: "My order is late.", Outputs: "Sorry!"}); err != nil {
		t.Errorf("sample judge cannot make a request: %v", err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		format judgefile.Format
		data   string
		line   int
		column int
		want   string
	}{
		{"TOML misspelt key", judgefile.TOML,
			"name = \"x\"\n\ninstruction = \"Rate {{ outputs }}.\"\ninstructions = \"Rate {{ outputs }}.\"\n",
			3, 0, "unknown key instruction"},
		{"TOML unknown keys in tables", judgefile.TOML,
			"name = \"x\"\ninstructions = \"\"\"\nkk = 1\n{{ outputs }}\"\"\"\n[memory]\n[memory.retrieval]\nk = 2\nkk = 3\n[[memory.examples]]\ntrace_id = \"t\"\nvalue = \"a\"\nlabel = \"b\"\n",
			8, 0, "unknown keys memory.retrieval.kk, memory.examples.label"},
		{"TOML unknown table", judgefile.TOML,
			"name = \"x\"\ninstructions = \"{{ outputs }}\"\n\n[provenence]\noptimizer = \"m\"\n",
			4, 0, "unknown keys provenence, provenence.optimizer"},
		{"TOML syntax", judgefile.TOML,
			"name = \"x\"\ninstructions = \"{{ outputs }}\nvalues = []\n",
			2, 30, "strings cannot contain newlines"},
		{"TOML wrong type", judgefile.TOML,
			"name = \"x\"\ninstructions = \"{{ outputs }}\"\nvalues = \"good\"\n",
			3, 0, "key values: incompatible types"},
		{"TOML invalid judge", judgefile.TOML,
			"name = \"x\"\ninstructions = \"Rate {{ answer }}.\"\n",
			0, 0, `judge "x": instructions use unknown template variable {{ answer }}`},
		{"JSON unknown key", judgefile.JSON,
			"{\n  \"name\": \"x\",\n  \"instruction\": \"{{ outputs }}\"\n}",
			3, 3, `unknown key "instruction"`},
		{"JSON syntax", judgefile.JSON,
			"{\n  \"name\": \"x\",\n  \"instructions\": \"{{ outputs }}\",\n}",
			4, 1, "invalid character '}'"},
		{"JSON wrong type", judgefile.JSON,
			"{\"name\": \"x\",\n\"values\": 3}",
			2, 11, "key values: a JSON number cannot be decoded into []string"},
		{"JSON trailing data", judgefile.JSON,
			"{\"name\": \"x\", \"instructions\": \"{{ outputs }}\"}\n{}",
			2, 1, "data after the judge object"},
		{"JSON invalid judge", judgefile.JSON,
			`{"name": "a@b", "instructions": "{{ outputs }}"}`,
			0, 0, "contains '@'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := judgefile.Decode([]byte(tt.data), tt.format)
			if err == nil {
				t.Fatalf("Decode = %+v, want error", j)
			}
			var fe *judgefile.Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %T (%v) is not a *judgefile.Error", err, err)
			}
			if fe.Line != tt.line || fe.Column != tt.column || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q at line %d column %d\nwant %q at line %d column %d",
					err, fe.Line, fe.Column, tt.want, tt.line, tt.column)
			}
		})
	}
}

func TestDecodeKeepsTemplateErrorTyped(t *testing.T) {
	_, err := judgefile.Decode([]byte("name = \"x\"\ninstructions = \"{{ answer }}\"\n"), judgefile.TOML)
	var te *judge.TemplateError
	if !errors.As(err, &te) {
		t.Errorf("error %v does not wrap a *judge.TemplateError", err)
	}
}

func TestReadErrorNamesFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "typo.toml")
	if err := os.WriteFile(path, []byte("name = \"x\"\ninstructions = \"{{ inputs }}\"\nmodle = \"openai:/gpt-4.1\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := judgefile.Read(path)
	want := "judge file " + path + " line 3: unknown key modle"
	if err == nil || err.Error() != want {
		t.Errorf("Read error = %v\nwant %s", err, want)
	}

	if _, err := judgefile.Read(filepath.Join(dir, "judge.yaml")); err == nil || !strings.Contains(err.Error(), "must end in .toml or .json") {
		t.Errorf("Read of .yaml: %v", err)
	}
	if _, err := judgefile.Read(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Read of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"judge.toml", "judge.JSON"} {
		path := filepath.Join(dir, name)
		if err := judgefile.Write(path, fullJudge()); err != nil {
			t.Fatal(err)
		}
		got, err := judgefile.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, fullJudge()) {
			t.Errorf("%s: read back a different judge", name)
		}
	}
	if err := judgefile.Write(filepath.Join(dir, "bad.toml"), &judge.Judge{Name: "x"}); err == nil {
		t.Error("Write accepted an invalid judge")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Error("Write of an invalid judge created the file")
	}
}

func TestEncodeTOMLReadable(t *testing.T) {
	j, err := judge.New("product_quality", "Rate the answer in {{ outputs }}.\n\n- excellent: complete.\n- poor: wrong.\n",
		judge.WithValues("excellent", "poor"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := judgefile.Encode(j, judgefile.TOML)
	if err != nil {
		t.Fatal(err)
	}
	want := "instructions = \"\"\"\nRate the answer in {{ outputs }}.\n\n- excellent: complete.\n- poor: wrong.\n\"\"\"\n"
	if !strings.Contains(string(data), want) {
		t.Errorf("instructions are not a readable multi-line string:\n%s", data)
	}
	if !strings.Contains(string(data), `values = ["excellent", "poor"]`) {
		t.Errorf("values missing:\n%s", data)
	}
}

func TestEncodeTOMLNull(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*judge.Judge)
		want   string
	}{
		{"null in expectations list", func(j *judge.Judge) {
			j.Memory.Examples[0].Expectations["expected_facts"] = []any{"a", nil}
		}, "memory.examples[0].expectations.expected_facts[1] is null"},
		{"null expectation", func(j *judge.Judge) {
			j.Memory.Examples[1].Expectations["expected_response"] = nil
		}, "memory.examples[1].expectations.expected_response is null"},
		{"null parameter", func(j *judge.Judge) { j.InferenceParams["stop"] = nil }, "inference_params.stop is null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := fullJudge()
			tt.modify(j)
			_, err := judgefile.Encode(j, judgefile.TOML)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "store this judge as JSON") {
				t.Errorf("Encode TOML error = %v, want it to contain %q", err, tt.want)
			}
			if _, err := judgefile.Encode(j, judgefile.JSON); err != nil {
				t.Errorf("Encode JSON: %v", err)
			}
		})
	}

	// A null example value (as a string judge's unlabelled example) is left
	// out and decodes as null.
	j := &judge.Judge{Name: "s", Instructions: "{{ outputs }}", Memory: &judge.Memory{Examples: []judge.Example{{TraceID: "t", Value: nil}}}}
	data, err := judgefile.Encode(j, judgefile.TOML)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "value") {
		t.Errorf("null value written:\n%s", data)
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := judgefile.Decode([]byte("{}"), "yaml"); err == nil || !strings.Contains(err.Error(), `unknown format "yaml"`) {
		t.Errorf("Decode yaml: %v", err)
	}
	if _, err := judgefile.Encode(fullJudge(), "yaml"); err == nil || !strings.Contains(err.Error(), `unknown format "yaml"`) {
		t.Errorf("Encode yaml: %v", err)
	}
}

func TestFormatOf(t *testing.T) {
	tests := []struct {
		path string
		want judgefile.Format
	}{
		{"a.toml", judgefile.TOML},
		{"dir.json/a.TOML", judgefile.TOML},
		{"a.json", judgefile.JSON},
		{"a.txt", ""},
		{"toml", ""},
	}
	for _, tt := range tests {
		got, err := judgefile.FormatOf(tt.path)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("FormatOf(%q) = %v, %v; want %v", tt.path, got, err, tt.want)
		}
	}
}
