package judge_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/judge"
)

// fullInput supplies every variable.
func fullInput() judge.Input {
	return judge.Input{
		Inputs:       map[string]any{"question": "How do I reset my password?"},
		Outputs:      "Click 'Forgot password' on the login page.",
		Expectations: map[string]any{"expected_response": "Use the 'Forgot password' link.", "guidelines": []any{"Mention SSO."}},
		Trace:        "request: How do I reset my password?\nspan retrieve (RETRIEVER): [doc-1] Reset via the login page.",
		Conversation: []judge.Message{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello!"}},
	}
}

func TestBuiltins(t *testing.T) {
	I, O, E, T := judge.Inputs, judge.Outputs, judge.Expectations, judge.Trace
	tests := []struct {
		name string
		vars []judge.Variable
		// keys are the expectation keys the instructions must name.
		keys []string
	}{
		{"relevance_to_query", []judge.Variable{I, O}, nil},
		{"correctness", []judge.Variable{I, O, E}, []string{"expected_response", "expected_facts"}},
		{"completeness", []judge.Variable{I, O}, nil},
		{"fluency", []judge.Variable{O}, nil},
		{"guidelines", []judge.Variable{I, O}, nil},
		{"expectations_guidelines", []judge.Variable{I, O, E}, []string{"guidelines"}},
		{"safety", []judge.Variable{O}, nil},
		{"equivalence", []judge.Variable{O, E}, []string{"expected_response"}},
		{"summarization", []judge.Variable{I, O}, nil},
		{"retrieval_groundedness", []judge.Variable{T}, nil},
		{"retrieval_relevance", []judge.Variable{T}, nil},
		{"retrieval_sufficiency", []judge.Variable{E, T}, []string{"expected_response", "expected_facts"}},
		{"tool_call_correctness", []judge.Variable{T}, nil},
		{"tool_call_efficiency", []judge.Variable{T}, nil},
	}
	var names []string
	for _, tt := range tests {
		names = append(names, tt.name)
	}
	if got := judge.BuiltinNames(); !reflect.DeepEqual(got, names) {
		t.Errorf("BuiltinNames() = %v\nwant %v", got, names)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []judge.Option
			if tt.name == "guidelines" {
				opts = append(opts, judge.WithGuidelines("Never promise a refund."))
			}
			j, err := judge.Builtin(tt.name, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if err := j.Validate(); err != nil {
				t.Fatal(err)
			}
			if j.Name != tt.name || j.Builtin != tt.name || j.Type != judge.Boolean || j.Description == "" || j.Model != "" {
				t.Errorf("judge = name %q builtin %q type %q description %q model %q",
					j.Name, j.Builtin, j.Type, j.Description, j.Model)
			}
			vars, err := j.Variables()
			if err != nil || !reflect.DeepEqual(vars, tt.vars) {
				t.Errorf("Variables() = %v, %v; want %v", vars, err, tt.vars)
			}
			for _, k := range tt.keys {
				if !strings.Contains(j.Instructions, `"`+k+`"`) {
					t.Errorf("instructions do not name expectation key %q", k)
				}
			}
			for _, s := range []string{`Answer "yes" if`, `Answer "no" if`} {
				if strings.Count(j.Instructions, s) != 1 {
					t.Errorf("instructions must state once what %s means", s)
				}
			}

			req, err := j.Request(fullInput())
			if err != nil {
				t.Fatal(err)
			}
			system, user := req.Messages[0].Content, req.Messages[1].Content
			for _, v := range judge.AllowedVariables() {
				used := slices.Contains(tt.vars, v)
				if got := strings.Contains(user, "<"+string(v)+">"); got != used {
					t.Errorf("user message has section <%s>: %v, want %v", v, got, used)
				}
				if used && !strings.Contains(system, "<"+string(v)+">") {
					t.Errorf("system message does not refer to <%s>", v)
				}
			}
			if strings.Contains(system, "{{") {
				t.Errorf("system message keeps a template placeholder:\n%s", system)
			}
			result := req.Schema["properties"].(map[string]any)["result"].(map[string]any)
			if !reflect.DeepEqual(result["enum"], []any{"yes", "no"}) || result["type"] != "string" {
				t.Errorf("result schema = %v, want a yes/no string enum", result)
			}
		})
	}
}

func TestBuiltinGuidelines(t *testing.T) {
	j, err := judge.Builtin("guidelines", judge.WithGuidelines("Never promise a refund.", " Address the customer by name. "))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"- Never promise a refund.\n", "- Address the customer by name.\n"} {
		if !strings.Contains(j.Instructions, want) {
			t.Errorf("instructions lack %q:\n%s", want, j.Instructions)
		}
	}

	tests := []struct {
		name string
		opts []judge.Option
		want string
	}{
		{"none", nil, `built-in judge "guidelines": no guidelines given`},
		{"empty option", []judge.Option{judge.WithGuidelines()}, "no guidelines given"},
		{"blank", []judge.Option{judge.WithGuidelines("ok", "  ")}, "guideline 2 is empty"},
		{"placeholder", []judge.Option{judge.WithGuidelines("Quote {{ inputs }}.")}, "would be read as a template variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := judge.Builtin("guidelines", tt.opts...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Builtin = %v, want error containing %q", err, tt.want)
			}
		})
	}
	if _, err := judge.Builtin("safety", judge.WithGuidelines("x")); err == nil ||
		!strings.Contains(err.Error(), `built-in judge "safety" takes no guidelines`) {
		t.Errorf("safety with guidelines: %v", err)
	}
}

func TestBuiltinOptions(t *testing.T) {
	j, err := judge.Builtin("correctness", judge.WithName("answer_correct"), judge.WithModel("openai:/gpt-4.1"),
		judge.WithInferenceParams(map[string]any{"temperature": 0.0}))
	if err != nil {
		t.Fatal(err)
	}
	if j.Name != "answer_correct" || j.Builtin != "correctness" || j.Model != "openai:/gpt-4.1" || j.InferenceParams["temperature"] != 0.0 {
		t.Errorf("judge = %+v", j)
	}
	if _, err := judge.Builtin("correctness", judge.WithName("bad@name")); err == nil {
		t.Error("WithName with '@' was accepted")
	}
}

func TestBuiltinUnknown(t *testing.T) {
	_, err := judge.Builtin("helpfulness")
	if err == nil {
		t.Fatal("unknown built-in accepted")
	}
	want := `unknown built-in judge "helpfulness"; known: ` + strings.Join(judge.BuiltinNames(), ", ")
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
}

// TestBuiltinsAreIndependent checks that each call returns a fresh judge.
func TestBuiltinsAreIndependent(t *testing.T) {
	a, _ := judge.Builtin("fluency")
	a.Instructions = "Changed {{ outputs }}."
	b, _ := judge.Builtin("fluency")
	if b.Instructions == a.Instructions {
		t.Error("changing one built-in judge changed the next one")
	}
}
