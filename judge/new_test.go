package judge_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/judge"
)

const helpful = "Is the answer in {{ outputs }} helpful for the question in {{ inputs }}?"

func TestNew(t *testing.T) {
	params := map[string]any{"temperature": 0.0}
	j, err := judge.New("helpfulness", helpful,
		judge.WithModel("anthropic:/claude-sonnet-4-5"),
		judge.WithDescription("For people."),
		judge.WithValues("yes", "partly", "no"),
		judge.WithInferenceParams(params))
	if err != nil {
		t.Fatal(err)
	}
	want := &judge.Judge{
		Name:            "helpfulness",
		Description:     "For people.",
		Instructions:    helpful,
		Model:           "anthropic:/claude-sonnet-4-5",
		ValueType:       judge.ValueType{Type: judge.Categorical, Values: []string{"yes", "partly", "no"}},
		InferenceParams: map[string]any{"temperature": 0.0},
	}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("New = %+v\nwant  %+v", j, want)
	}
	params["temperature"] = 1.0
	if j.InferenceParams["temperature"] != 0.0 {
		t.Error("WithInferenceParams did not copy the map")
	}
	if got := j.Effective(); got != judge.Categorical {
		t.Errorf("Effective() = %q", got)
	}

	if _, err := judge.New("x", helpful, judge.WithGuidelines("Be kind.")); err == nil ||
		!strings.Contains(err.Error(), `only to the "guidelines" built-in judge`) {
		t.Errorf("New with WithGuidelines: error = %v", err)
	}
}

func TestNewDefaultsToString(t *testing.T) {
	j, err := judge.New("notes", "Summarise the problems in {{ outputs }}.")
	if err != nil {
		t.Fatal(err)
	}
	if j.Effective() != judge.String || j.Model != "" {
		t.Errorf("kind %q model %q, want string and empty", j.Effective(), j.Model)
	}
}

func TestValidate(t *testing.T) {
	valid := func() *judge.Judge {
		return &judge.Judge{Name: "quality", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Boolean}}
	}
	tests := []struct {
		name   string
		modify func(*judge.Judge)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(*judge.Judge) {}, ""},
		{"name with space and slash", func(j *judge.Judge) { j.Name = "answer quality/tone" }, ""},
		{"empty name", func(j *judge.Judge) { j.Name = "" }, "judge name is empty"},
		{"name with @", func(j *judge.Judge) { j.Name = "quality@2" }, "contains '@'"},
		{"name with newline", func(j *judge.Judge) { j.Name = "qual\nity" }, "control character"},
		{"name with surrounding space", func(j *judge.Judge) { j.Name = " quality" }, "leading or trailing space"},
		{"name too long", func(j *judge.Judge) { j.Name = strings.Repeat("a", judge.MaxNameLength+1) }, "longer than 200 bytes"},
		{"empty instructions", func(j *judge.Judge) { j.Instructions = "  \n" }, "instructions are empty"},
		{"no variable", func(j *judge.Judge) { j.Instructions = "Is it good?" }, "no template variable found"},
		{"unknown variable", func(j *judge.Judge) { j.Instructions = "Is {{ answer }} good?" }, "unknown template variable {{ answer }}"},
		{"bad model", func(j *judge.Judge) { j.Model = "gpt 4" }, `model "gpt 4" is not a model URI`},
		{"bare model provider", func(j *judge.Judge) { j.Model = "databricks" }, ""},
		{"unknown kind", func(j *judge.Judge) { j.Type = "percent" }, `unknown value type "percent"`},
		{"boolean with values", func(j *judge.Judge) { j.Values = []string{"a", "b"} }, "values apply only to categorical judges"},
		{"boolean with min", func(j *judge.Judge) { j.Min = ptr(0) }, "apply only to integer and float judges"},
		{"one value", func(j *judge.Judge) { j.ValueType = judge.ValueType{Values: []string{"ok"}} }, "at least two values, got 1"},
		{"empty value", func(j *judge.Judge) { j.ValueType = judge.ValueType{Values: []string{"ok", " "}} }, "values[1] is empty"},
		{"duplicate value", func(j *judge.Judge) { j.ValueType = judge.ValueType{Values: []string{"Good", "bad", "good"}} }, `values[2] "good" repeats "Good"`},
		{"padded value", func(j *judge.Judge) { j.ValueType = judge.ValueType{Values: []string{"good ", "bad"}} }, "leading or trailing space"},
		{"min above max", func(j *judge.Judge) { j.ValueType = judge.ValueType{Type: judge.Float, Min: ptr(2), Max: ptr(1)} }, "min 2 is greater than max 1"},
		{"fractional integer bound", func(j *judge.Judge) { j.ValueType = judge.ValueType{Type: judge.Integer, Max: ptr(4.5)} }, "max 4.5 is not a whole number"},
		{"infinite bound", func(j *judge.Judge) { j.ValueType = judge.ValueType{Type: judge.Float, Max: ptr(math.Inf(1))} }, "max is not a finite number"},
		{"string with max", func(j *judge.Judge) { j.ValueType = judge.ValueType{Max: ptr(1)} }, "min or max is given for a string judge"},
		{"ordinal boolean", func(j *judge.Judge) { j.ValueType = judge.ValueType{Type: judge.Boolean, Ordinal: true} }, "ordinal is set for a boolean judge"},
		{"params not JSON", func(j *judge.Judge) { j.InferenceParams = map[string]any{"f": func() {}} }, "inference_params cannot be encoded as JSON"},
		{"params NaN", func(j *judge.Judge) { j.InferenceParams = map[string]any{"temperature": math.NaN()} }, "inference_params cannot be encoded as JSON"},
		{"negative k", func(j *judge.Judge) { j.Memory = &judge.Memory{Retrieval: judge.Retrieval{K: -1}} }, "memory.retrieval.k -1 is negative"},
		{"empty guideline", func(j *judge.Judge) { j.Memory = &judge.Memory{Guidelines: []judge.Guideline{{Text: " "}}} }, "memory.guidelines[0] is empty"},
		{"example value out of type", func(j *judge.Judge) {
			j.Memory = &judge.Memory{Examples: []judge.Example{{TraceID: "tr-1", Value: "yes"}, {TraceID: "tr-2", Value: "maybe"}}}
		}, `memory.examples[1] (trace tr-2): value "maybe" is not a yes/no answer`},
		{"embedding dimension", func(j *judge.Judge) {
			j.Memory = &judge.Memory{Retrieval: judge.Retrieval{Dimensions: 3},
				Examples: []judge.Example{{TraceID: "tr-1", Value: "no", Embedding: []float32{1, 2}}}}
		}, "embedding has 2 dimensions, want 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := valid()
			tt.modify(j)
			err := j.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Validate() = nil, want error containing %q", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Validate() = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestValidateTemplateErrorIsTyped(t *testing.T) {
	j := &judge.Judge{Name: "x", Instructions: "{{ question }} and {{ answer }}"}
	var te *judge.TemplateError
	if err := j.Validate(); !errors.As(err, &te) || !reflect.DeepEqual(te.Unknown, []string{"question", "answer"}) {
		t.Errorf("Validate() = %v, want *TemplateError with unknown question, answer", err)
	}
}

func TestParseVariablesErrors(t *testing.T) {
	tests := []struct {
		name, instructions, want string
	}{
		{"unknown lists allowed", "Rate {{ question }}.",
			"instructions use unknown template variable {{ question }}; allowed: {{ inputs }}, {{ outputs }}, {{ expectations }}, {{ trace }}, {{ conversation }}"},
		{"none", "Rate it.",
			"instructions: no template variable found; use at least one; allowed variables: {{ inputs }}, {{ outputs }}, {{ expectations }}, {{ trace }}, {{ conversation }}"},
		{"conversation with outputs", "Rate {{ conversation }} and {{outputs}}.",
			"{{ conversation }} can be combined only with {{ expectations }}, not with {{ outputs }}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := judge.ParseVariables(tt.instructions)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseVariables(%q) = %v, want error containing %q", tt.instructions, err, tt.want)
			}
		})
	}
	j := &judge.Judge{Instructions: "{{ expectations }} then {{trace}} then {{ inputs }}"}
	vars, err := j.Variables()
	if want := []judge.Variable{judge.Inputs, judge.Expectations, judge.Trace}; err != nil || !reflect.DeepEqual(vars, want) {
		t.Errorf("Variables() = %v, %v; want %v in fixed order", vars, err, want)
	}
}

func TestSessionLevel(t *testing.T) {
	tests := []struct {
		instructions string
		want         bool
	}{
		{"Did the user get help in {{ conversation }}?", true},
		{"Compare {{ conversation }} with {{ expectations }}.", true},
		{helpful, false},
		{"No variables at all.", false},
	}
	for _, tt := range tests {
		j := &judge.Judge{Name: "s", Instructions: tt.instructions}
		if got := j.SessionLevel(); got != tt.want {
			t.Errorf("SessionLevel(%q) = %v, want %v", tt.instructions, got, tt.want)
		}
	}
}

// fullJudge returns a judge with every field set, including memory and
// provenance, with values of the types JSON decoding produces.
func fullJudge() *judge.Judge {
	at := time.Date(2025, 6, 1, 12, 6, 0, 0, time.UTC)
	return &judge.Judge{
		Name:            "product_quality",
		Description:     "How good the answer is.",
		Instructions:    "Rate the answer in {{ outputs }}\nto the question in {{ inputs }},\nagainst {{ expectations }}.",
		Model:           "openai:/gpt-4.1",
		ValueType:       judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)},
		InferenceParams: map[string]any{"temperature": 0.0, "max_tokens": 800.0, "stop": []any{"END"}},
		Builtin:         "",
		Memory: &judge.Memory{
			Guidelines: []judge.Guideline{
				{Text: "Answers must name the product version.", SourceTraceIDs: []string{"tr-1", "tr-2"}},
				{Text: "Written by a person."},
			},
			Examples: []judge.Example{
				{
					TraceID: "tr-1", Inputs: "How do I reset it?", Outputs: "Hold the button.\nThen wait.",
					Expectations: map[string]any{
						"expected_facts":    []any{"hold the button", "wait 10 s"},
						"expected_response": "Hold the button for 10 seconds.",
						"nested":            map[string]any{"weight": 0.5, "ok": true, "list": []any{1.0, "two"}},
					},
					Value: int64(2), Rationale: "Misses the \"10 seconds\".", FeedbackTime: at,
					Embedding: []float32{0.1, -0.25, 1e-7},
				},
				{TraceID: "tr-2", Inputs: "Price?", Outputs: "$10", Value: int64(5),
					Expectations: map[string]any{"expected_response": "$10"}},
			},
			Retrieval: judge.Retrieval{K: 5, Embedder: "local:hash-v1@3", Dimensions: 3},
		},
		Provenance: &judge.Provenance{
			BaseJudge: "product_quality", BaseVersion: 2, Optimizer: "memalign", OptimizerVersion: "0.1.0",
			OptimizerSHA256: strings.Repeat("ab", 32), NumTraces: 2, AlignedAt: at,
		},
	}
}

func TestClone(t *testing.T) {
	orig := fullJudge()
	c := orig.Clone()
	if !reflect.DeepEqual(c, orig) {
		t.Fatalf("Clone differs:\n%+v\n%+v", c, orig)
	}
	// Change everything reachable in the clone; the original must not move.
	c.Values = append(c.Values, "x")
	*c.Min = 0
	*c.Max = 10
	c.InferenceParams["stop"].([]any)[0] = "STOP"
	c.InferenceParams["seed"] = 1.0
	c.Memory.Guidelines[0].Text = "changed"
	c.Memory.Guidelines[0].SourceTraceIDs[0] = "tr-9"
	ex := &c.Memory.Examples[0]
	ex.Expectations["expected_facts"].([]any)[0] = "changed"
	ex.Expectations["nested"].(map[string]any)["weight"] = 9.0
	ex.Embedding[0] = 42
	c.Memory.Retrieval.K = 1
	c.Provenance.NumTraces = 99
	if !reflect.DeepEqual(orig, fullJudge()) {
		t.Errorf("changing the clone changed the original:\n%+v", orig)
	}
}

func TestFingerprint(t *testing.T) {
	base := fullJudge()
	fp := base.Fingerprint()
	if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
		t.Fatalf("Fingerprint() = %q, want 64 hex digits", fp)
	}
	if again := fullJudge().Fingerprint(); again != fp {
		t.Errorf("Fingerprint not stable: %s then %s", fp, again)
	}
	if cl := base.Clone().Fingerprint(); cl != fp {
		t.Errorf("clone fingerprint %s, want %s", cl, fp)
	}

	same := map[string]func(*judge.Judge){
		"description":       func(j *judge.Judge) { j.Description = "other" },
		"name":              func(j *judge.Judge) { j.Name = "renamed" },
		"provenance":        func(j *judge.Judge) { j.Provenance = nil },
		"guideline sources": func(j *judge.Judge) { j.Memory.Guidelines[0].SourceTraceIDs = nil },
		"feedback time":     func(j *judge.Judge) { j.Memory.Examples[0].FeedbackTime = time.Time{} },
		"example value type": func(j *judge.Judge) {
			j.Memory.Examples[0].Value = 2.0 // as decoded from JSON without normalising
		},
		"params key order": func(j *judge.Judge) {
			j.InferenceParams = map[string]any{"stop": []any{"END"}, "max_tokens": 800.0, "temperature": 0.0}
		},
	}
	for name, modify := range same {
		j := fullJudge()
		modify(j)
		if got := j.Fingerprint(); got != fp {
			t.Errorf("changing %s changed the fingerprint", name)
		}
	}
	different := map[string]func(*judge.Judge){
		"instructions":  func(j *judge.Judge) { j.Instructions += " Be strict." },
		"model":         func(j *judge.Judge) { j.Model = "openai:/gpt-4.1-mini" },
		"max":           func(j *judge.Judge) { *j.Max = 10 },
		"kind":          func(j *judge.Judge) { j.Type = judge.Float },
		"params":        func(j *judge.Judge) { j.InferenceParams["temperature"] = 0.2 },
		"guideline":     func(j *judge.Judge) { j.Memory.Guidelines[1].Text = "Other." },
		"example label": func(j *judge.Judge) { j.Memory.Examples[1].Value = int64(4) },
		"retrieval k":   func(j *judge.Judge) { j.Memory.Retrieval.K = 3 },
		"no memory":     func(j *judge.Judge) { j.Memory = nil },
	}
	for name, modify := range different {
		j := fullJudge()
		modify(j)
		if got := j.Fingerprint(); got == fp {
			t.Errorf("changing %s did not change the fingerprint", name)
		}
	}

	// A categorical type given by its values alone asks the same question
	// as one whose type is spelt out.
	implicit := &judge.Judge{Name: "a", Instructions: helpful, ValueType: judge.ValueType{Values: []string{"a", "b"}}}
	explicit := &judge.Judge{Name: "a", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Categorical, Values: []string{"a", "b"}}}
	if implicit.Fingerprint() != explicit.Fingerprint() {
		t.Error("implicit and explicit categorical types fingerprint differently")
	}
}

func TestQueryVariable(t *testing.T) {
	tests := []struct {
		instructions string
		want         judge.Variable
	}{
		{"Judge {{ outputs }} for {{ inputs }}", judge.Inputs},
		{"Is {{ outputs }} fluent?", judge.Outputs},
		{"Compare {{ outputs }} with {{ expectations }}", judge.Outputs},
		{"Does {{ trace }} meet {{ expectations }}?", judge.Expectations},
		{"Review {{ trace }}", judge.Trace},
	}
	for _, tt := range tests {
		j := &judge.Judge{Name: "q", Instructions: tt.instructions}
		got, err := j.QueryVariable()
		if err != nil || got != tt.want {
			t.Errorf("%q: QueryVariable = %q, %v; want %q", tt.instructions, got, err, tt.want)
		}
	}
	conv := &judge.Judge{Name: "c", Instructions: "Rate {{ conversation }}"}
	if _, err := conv.QueryVariable(); err == nil {
		t.Error("a conversation judge has a query variable")
	}
	ex := judge.Example{Inputs: "in", Outputs: "out", Trace: "tr", Expectations: map[string]any{"b": 1, "a": "x"}}
	for v, want := range map[judge.Variable]string{judge.Inputs: "in", judge.Outputs: "out", judge.Trace: "tr", judge.Expectations: `{"a":"x","b":1}`} {
		if got := ex.Field(v); got != want {
			t.Errorf("Field(%s) = %q, want %q", v, got, want)
		}
	}
}
