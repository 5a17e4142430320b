package trace_test

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/trace"
)

func boolJudge(name, instructions string) *judge.Judge {
	return &judge.Judge{Name: name, Instructions: instructions, ValueType: judge.ValueType{Type: judge.Boolean}}
}

func TestExampleFor(t *testing.T) {
	override := loadTrace(t, filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	rag := loadTrace(t, filepath.Join(fixtures, "mlflow", "rag_retriever.json"))
	agent := loadTrace(t, filepath.Join(fixtures, "mlflow", "agent_tool_error.json"))
	noOutputs := loadTrace(t, filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	delete(noOutputs.Data.Spans[0].Attributes, "mlflow.spanOutputs")
	blankInputs := loadTrace(t, filepath.Join(fixtures, "mlflow", "trace_with_human_override.json"))
	blankInputs.Data.Spans[0].Attributes["mlflow.spanInputs"] = []byte(`"\"  \""`)

	tests := []struct {
		name  string
		judge *judge.Judge
		trace *trace.Trace
		want  judge.Example // compared when wantSkip is ""
		skip  string
	}{
		{
			name:  "inputs and outputs, label from the human override",
			judge: boolJudge("helpfulness", "Is {{ outputs }} a helpful answer to {{ inputs }}?"),
			trace: override,
			want: judge.Example{
				TraceID:      "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8",
				Inputs:       `{"question": "How do I reset my password?"}`,
				Outputs:      `{"answer": "Click 'Forgot password' on the login page."}`,
				Value:        judge.No,
				Rationale:    "Users locked out by SSO cannot use that link; the answer must mention contacting IT.",
				FeedbackTime: time.Date(2025, 6, 1, 12, 6, 0, 0, time.UTC),
			},
		},
		{
			name:  "expectations only",
			judge: boolJudge("helpfulness", "Does the answer cover {{ expectations }}?"),
			trace: override,
			want: judge.Example{
				TraceID:      "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8",
				Expectations: map[string]any{"expected_facts": []any{"Use the 'Forgot password' link"}},
				Value:        judge.No,
				Rationale:    "Users locked out by SSO cannot use that link; the answer must mention contacting IT.",
				FeedbackTime: time.Date(2025, 6, 1, 12, 6, 0, 0, time.UTC),
			},
		},
		{
			name:  "categorical value normalised to the allowed spelling",
			judge: &judge.Judge{Name: "groundedness", Instructions: "{{ inputs }} {{ outputs }}", ValueType: judge.ValueType{Values: []string{"Yes", "No"}}},
			trace: rag,
			want: judge.Example{
				TraceID:      "tr-3b0c5d1e2f3a4b5c6d7e8f9a0b1c2d3e",
				Inputs:       `{"query": "What is the refund window for annual plans?"}`,
				Outputs:      "Annual plans can be refunded in full within 30 days of purchase.",
				Value:        "Yes",
				Rationale:    "Every claim is in the first retrieved document.",
				FeedbackTime: time.Date(2025, 6, 1, 12, 12, 0, 0, time.UTC),
			},
		},
		{
			name:  "integer value",
			judge: &judge.Judge{Name: "helpfulness", Instructions: "{{ outputs }}", ValueType: judge.ValueType{Type: judge.Integer}},
			trace: agent,
			want: judge.Example{
				TraceID:      "tr-8e9f0a1b2c3d4e5f60718293a4b5c6d7",
				Outputs:      "Paris is sunny at 22°C. I could not find weather for Atlantis.",
				Value:        int64(4),
				Rationale:    "Answers Paris and says plainly that Atlantis is unknown.",
				FeedbackTime: time.Date(2025, 6, 1, 14, 3, 0, 0, time.UTC),
			},
		},
		{
			name:  "no human feedback of that name",
			judge: boolJudge("Politeness", "{{ outputs }}"),
			trace: override,
			skip:  `no HUMAN feedback named "Politeness"`,
		},
		{
			name:  "missing outputs",
			judge: boolJudge("helpfulness", "{{ inputs }} {{ outputs }}"),
			trace: noOutputs,
			skip:  "missing outputs",
		},
		{
			name:  "blank inputs",
			judge: boolJudge("helpfulness", "{{ inputs }}"),
			trace: blankInputs,
			skip:  "missing inputs",
		},
		{
			name:  "missing expectations",
			judge: boolJudge("groundedness", "{{ outputs }} vs {{ expectations }}"),
			trace: agent,
			skip:  `no HUMAN feedback named "groundedness"`,
		},
		{
			name:  "missing expectations with a label",
			judge: &judge.Judge{Name: "helpfulness", Instructions: "{{ outputs }} vs {{ expectations }}", ValueType: judge.ValueType{Type: judge.Integer}},
			trace: agent,
			skip:  "missing expectations",
		},
		{
			name:  "human value outside the value type",
			judge: &judge.Judge{Name: "helpfulness", Instructions: "{{ outputs }}", ValueType: judge.ValueType{Values: []string{"great", "poor"}}},
			trace: override,
			skip:  `human value "no" is not one of great, poor`,
		},
		{
			name:  "session-level judge",
			judge: boolJudge("helpfulness", "Was {{ conversation }} resolved?"),
			trace: override,
			skip:  "session-level",
		},
		{
			name:  "bad template",
			judge: boolJudge("helpfulness", "{{ question }}"),
			trace: override,
			skip:  "unknown template variable {{ question }}",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skip := trace.ExampleFor(tc.judge, tc.trace)
			if tc.skip != "" {
				if skip == nil {
					t.Fatalf("ExampleFor = %+v, want skip %q", got, tc.skip)
				}
				if !strings.Contains(skip.Reason, tc.skip) {
					t.Errorf("skip reason %q, want it to contain %q", skip.Reason, tc.skip)
				}
				if skip.TraceID != tc.trace.Info.TraceID {
					t.Errorf("skip TraceID = %q, want %q", skip.TraceID, tc.trace.Info.TraceID)
				}
				return
			}
			if skip != nil {
				t.Fatalf("skipped: %s", skip)
			}
			if !got.FeedbackTime.Equal(tc.want.FeedbackTime) {
				t.Errorf("FeedbackTime = %v, want %v", got.FeedbackTime, tc.want.FeedbackTime)
			}
			got.FeedbackTime, tc.want.FeedbackTime = time.Time{}, time.Time{}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ExampleFor =\n%#v\nwant\n%#v", got, tc.want)
			}
		})
	}
}

func TestExampleForTraceVariable(t *testing.T) {
	tr := loadTrace(t, filepath.Join(fixtures, "mlflow", "agent_tool_error.json"))
	j := &judge.Judge{Name: "helpfulness", Instructions: "Judge {{ trace }}", ValueType: judge.ValueType{Type: judge.Integer}}
	ex, skip := trace.ExampleFor(j, tr)
	if skip != nil {
		t.Fatal(skip)
	}
	if ex.Trace != tr.Text() {
		t.Errorf("Example.Trace is not Trace.Text()")
	}
	if ex.Inputs != "" || ex.Outputs != "" || ex.Expectations != nil {
		t.Errorf("fields the judge does not use are set: %+v", ex)
	}
}

func TestExamples(t *testing.T) {
	var traces []*trace.Trace
	for _, f := range []string{"trace_with_human_override", "rag_retriever", "chat_openai"} {
		traces = append(traces, loadTrace(t, filepath.Join(fixtures, "mlflow", f+".json")))
	}
	traces = append(traces, nil)
	j := boolJudge("helpfulness", "{{ inputs }} {{ outputs }}")
	examples, skips, err := trace.Examples(j, traces)
	if err != nil {
		t.Fatal(err)
	}
	if len(examples) != 1 || examples[0].TraceID != "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8" {
		t.Errorf("examples = %+v, want the override trace only", examples)
	}
	if len(skips) != 3 {
		t.Fatalf("skips = %v, want 3", skips)
	}
	if got := skips[0].String(); got != `trace tr-3b0c5d1e2f3a4b5c6d7e8f9a0b1c2d3e: no HUMAN feedback named "helpfulness"` {
		t.Errorf("skip = %q", got)
	}

	_, _, err = trace.Examples(boolJudge("s", "{{ conversation }}"), traces)
	if !errors.Is(err, trace.ErrSessionJudge) {
		t.Errorf("session judge: error %v, want ErrSessionJudge", err)
	}
	var te *judge.TemplateError
	if _, _, err := trace.Examples(boolJudge("s", "no variables"), traces); !errors.As(err, &te) {
		t.Errorf("judge without variables: error %v, want a *judge.TemplateError", err)
	}
}
