package host_test

import (
	"strings"
	"testing"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
)

func TestValidateJudge(t *testing.T) {
	lo, hi := 1.0, 5.0
	base, err := judge.New("quality", "Rate {{ outputs }} for {{ inputs }} from 1 to 5.",
		judge.WithValueType(judge.ValueType{Type: judge.Integer, Min: &lo, Max: &hi}), judge.WithModel("openai:/gpt-4.1-mini"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		change  func(*judge.Judge)
		allowed []string
		want    string
	}{
		{"unchanged", func(*judge.Judge) {}, nil, ""},
		{"new instructions and memory", func(j *judge.Judge) {
			j.Instructions += " Be strict."
			j.Memory = &judge.Memory{Guidelines: []judge.Guideline{{Text: "Penalise vague answers."}},
				Examples: []judge.Example{{TraceID: "t", Value: 4.0}}, Retrieval: judge.Retrieval{K: 1}}
		}, nil, ""},
		{"renamed", func(j *judge.Judge) { j.Name = "quality2" }, nil, `renamed from "quality" to "quality2"`},
		{"another kind", func(j *judge.Judge) { j.ValueType = judge.ValueType{Type: judge.Float, Min: &lo, Max: &hi} }, nil,
			"value type changed from integer [1, 5] to float [1, 5]"},
		{"another range", func(j *judge.Judge) { j.Max = nil }, nil, "value type changed from integer [1, 5] to integer [1, +inf]"},
		{"another model", func(j *judge.Judge) { j.Model = "openai:/gpt-4.1" }, nil, "which the user did not allow"},
		{"an allowed model", func(j *judge.Judge) { j.Model = "openai:/gpt-4.1" }, []string{"openai:/gpt-4.1"}, ""},
		{"broken template", func(j *judge.Judge) { j.Instructions = "Rate it." }, nil, "no template variable found"},
		{"memory value outside the range", func(j *judge.Judge) {
			j.Memory = &judge.Memory{Examples: []judge.Example{{TraceID: "t", Value: 9.0}}}
		}, nil, "memory.examples[0] (trace t)"},
		{"long instructions", func(j *judge.Judge) { j.Instructions += strings.Repeat("x", 64<<10) }, nil, "more than 65536"},
		{"too many guidelines", func(j *judge.Judge) {
			j.Memory = &judge.Memory{Guidelines: make([]judge.Guideline, 1001)}
			for i := range j.Memory.Guidelines {
				j.Memory.Guidelines[i].Text = "g"
			}
		}, nil, "1001 guidelines, more than 1000"},
		{"long guideline", func(j *judge.Judge) {
			j.Memory = &judge.Memory{Guidelines: []judge.Guideline{{Text: strings.Repeat("g", 5000)}}}
		}, nil, "guideline 0 is 5000 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := base.Clone()
			tc.change(got)
			err := host.ValidateJudge(base, got, tc.allowed)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ValidateJudge = %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ValidateJudge = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := host.ValidateJudge(base, nil, nil); err == nil {
		t.Error("a missing judge passed")
	}
}

func TestValidateJudgeKeepsOrdinal(t *testing.T) {
	base, err := judge.New("quality", "Rate {{ outputs }}.",
		judge.WithValueType(judge.ValueType{Values: []string{"good", "fair", "poor"}, Ordinal: true}))
	if err != nil {
		t.Fatal(err)
	}
	got := base.Clone()
	got.Ordinal = false
	err = host.ValidateJudge(base, got, nil)
	if err == nil || !strings.Contains(err.Error(), "ordinal categorical (good/fair/poor) to categorical (good/fair/poor)") {
		t.Errorf("dropping ordinal: err = %v", err)
	}
}

// TestValidateJudgeInferenceParams: a returned judge keeps its inference
// parameters, but for those the user allows.
func TestValidateJudgeInferenceParams(t *testing.T) {
	base := &judge.Judge{Name: "j", Instructions: "Rate {{ outputs }}", InferenceParams: map[string]any{"temperature": 0, "max_tokens": 200}}
	same := base.Clone()
	same.InferenceParams = map[string]any{"temperature": 0.0, "max_tokens": int64(200)} // the same as JSON
	if err := host.ValidateJudge(base, same, nil); err != nil {
		t.Errorf("equal parameters refused: %v", err)
	}
	hotter := base.Clone()
	hotter.InferenceParams["temperature"] = 2
	if err := host.ValidateJudge(base, hotter, nil); err == nil || !strings.Contains(err.Error(), "inference_params changed (temperature)") {
		t.Errorf("a raised temperature: %v", err)
	}
	if err := host.ValidateJudge(base, hotter, nil, "temperature"); err != nil {
		t.Errorf("an allowed temperature change refused: %v", err)
	}
	tier := hotter.Clone()
	tier.InferenceParams["service_tier"] = "priority"
	if err := host.ValidateJudge(base, tier, nil, "temperature"); err == nil || !strings.Contains(err.Error(), "(service_tier)") {
		t.Errorf("an added service_tier with only temperature allowed: %v", err)
	}
}
