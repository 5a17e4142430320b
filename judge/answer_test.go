package judge_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/judge"
)

func TestParseAnswer(t *testing.T) {
	boolean := &judge.Judge{Name: "b", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Boolean}}
	quality := &judge.Judge{Name: "q", Instructions: helpful, ValueType: judge.ValueType{Values: []string{"excellent", "good", "fair", "poor"}}}
	score := &judge.Judge{Name: "s", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)}}

	tests := []struct {
		name      string
		j         *judge.Judge
		text      string
		value     any
		rationale string
	}{
		{"plain", boolean, `{"rationale": "Clear.", "result": "yes"}`, "yes", "Clear."},
		{"synonym", boolean, `{"result": "Pass", "rationale": "ok"}`, "yes", "ok"},
		{"JSON bool", boolean, `{"result": false, "rationale": "Wrong date."}`, "no", "Wrong date."},
		{"fence with json tag", quality, "```json\n{\"result\": \"Good\", \"rationale\": \"Minor gap.\"}\n```", "good", "Minor gap."},
		{"fence without tag", quality, "```\n{\"result\": \"fair\", \"rationale\": \"r\"}\n```", "fair", "r"},
		{"fence after prose", quality, "Here is my assessment:\n\n```JSON\n{\"result\": \"poor\", \"rationale\": \"Off topic.\"}\n```\nThanks!", "poor", "Off topic."},
		{"fence on one line", boolean, "```json {\"result\": \"no\", \"rationale\": \"x\"}```", "no", "x"},
		{"unclosed fence", boolean, "```json\n{\"result\": \"yes\", \"rationale\": \"x\"}", "yes", "x"},
		{"object in prose", score, `My verdict is {"result": 4, "rationale": "Mostly right."} as shown.`, int64(4), "Mostly right."},
		{"nested braces and braces in strings", score,
			`Note {not json}. {"rationale": "Uses {{ braces }} and \"quotes\" \\ fine", "details": {"a": {"b": 1}}, "result": "5"}`,
			int64(5), `Uses {{ braces }} and "quotes" \ fine`},
		{"alternative keys", score, `{"score": 3.0, "reasoning": "Average."}`, int64(3), "Average."},
		{"value key", boolean, `{"value": "y", "Reasoning": "Fine."}`, "yes", "Fine."},
		{"key case", boolean, `{"Result": "NO", "Rationale": "Nope."}`, "no", "Nope."},
		{"step by step stripped", boolean, `{"result": "yes", "rationale": "Let's think step by step. The answer cites the doc."}`, "yes", "The answer cites the doc."},
		{"no rationale", boolean, `{"result": "yes"}`, "yes", ""},
		{"large integer exact", &judge.Judge{Name: "n", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Integer}},
			`{"result": 9007199254740993, "rationale": ""}`, int64(9007199254740993), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value, rationale, err := tt.j.ParseAnswer(tt.text)
			if err != nil {
				t.Fatalf("ParseAnswer error: %v", err)
			}
			if !reflect.DeepEqual(value, tt.value) || rationale != tt.rationale {
				t.Errorf("ParseAnswer = %#v, %q; want %#v, %q", value, rationale, tt.value, tt.rationale)
			}
		})
	}
}

func TestParseAnswerErrors(t *testing.T) {
	boolean := &judge.Judge{Name: "b", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Boolean}}
	quality := &judge.Judge{Name: "q", Instructions: helpful, ValueType: judge.ValueType{Values: []string{"excellent", "good", "fair", "poor"}}}
	score := &judge.Judge{Name: "s", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Integer, Min: ptr(1), Max: ptr(5)}}

	tests := []struct {
		name      string
		j         *judge.Judge
		text      string
		reason    string
		valueErr  bool
		errString string
	}{
		{"empty", boolean, "  ", "the answer is empty", false, ""},
		{"garbage", boolean, "I think yes.", "no JSON object found", false, ""},
		{"broken JSON", boolean, `{"result": "yes", "rationale": }`, "no JSON object found", false, ""},
		{"array", boolean, `["yes"]`, "no JSON object found", false, ""},
		{"no result", boolean, `{"rationale": "hm"}`, `no "result" key in the JSON object`, false, ""},
		{"model error", boolean, `{"error": "content filtered"}`, "the model reported an error: content filtered", false, ""},
		{"out of set", quality, `{"result": "great", "rationale": "r"}`, `value "great" is not one of excellent, good, fair, poor`, true,
			`judge answer is unusable: value "great" is not one of excellent, good, fair, poor (answer "{\"result\": \"great\", \"rationale\": \"r\"}")`},
		{"out of range", score, "```json\n{\"result\": 9}\n```", "value 9 is not between 1 and 5", true, ""},
		{"not an integer", score, `{"result": 4.5}`, "value 4.5 is not an integer between 1 and 5", true, ""},
		{"not yes or no", boolean, `{"result": "maybe"}`, `value "maybe" is not a yes/no answer; expected one of yes, no`, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			value, _, err := tt.j.ParseAnswer(tt.text)
			var ae *judge.AnswerError
			if !errors.As(err, &ae) {
				t.Fatalf("ParseAnswer = %#v, %v; want *AnswerError", value, err)
			}
			if ae.Reason != tt.reason || ae.Text != tt.text {
				t.Errorf("AnswerError = {Text %q Reason %q}, want reason %q", ae.Text, ae.Reason, tt.reason)
			}
			var ve *judge.ValueError
			if got := errors.As(err, &ve); got != tt.valueErr {
				t.Errorf("errors.As(*ValueError) = %v, want %v", got, tt.valueErr)
			}
			if tt.errString != "" && err.Error() != tt.errString {
				t.Errorf("Error() = %s\nwant      %s", err, tt.errString)
			}
		})
	}
}

func TestAnswerErrorTruncatesText(t *testing.T) {
	j := &judge.Judge{Name: "b", Instructions: helpful, ValueType: judge.ValueType{Type: judge.Boolean}}
	_, _, err := j.ParseAnswer(strings.Repeat("x", 5000))
	if err == nil || len(err.Error()) > 300 {
		t.Errorf("error is %d bytes, want a truncated answer", len(err.Error()))
	}
}
