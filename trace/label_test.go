package trace_test

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// fb builds a feedback assessment for label tests.
type fb struct {
	id, name, source, value, created, updated, overrides string
	valid                                                *bool
	errOnly                                              bool
	expectation                                          bool
}

func (f fb) assessment(t *testing.T) trace.Assessment {
	t.Helper()
	at := func(s string) trace.Timestamp {
		if s == "" {
			return trace.Timestamp{}
		}
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return trace.NewTimestamp(tm)
	}
	a := trace.Assessment{ID: f.id, Name: f.name, Source: trace.Source{Type: trace.SourceType(f.source), ID: f.source + "-id"},
		CreateTime: at(f.created), LastUpdateTime: at(f.updated), Overrides: f.overrides, Valid: f.valid, Rationale: "because " + f.id}
	switch {
	case f.expectation:
		a.Expectation = &trace.Expectation{Value: json.RawMessage(f.value)}
	case f.errOnly:
		a.Feedback = &trace.Feedback{Error: &trace.FeedbackError{Code: "RateLimitError"}}
	default:
		a.Feedback = &trace.Feedback{Value: json.RawMessage(f.value)}
	}
	return a
}

func TestHumanFeedback(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name      string
		feedback  []fb
		judge     string
		wantID    string // "" means no label
		wantWarns int
	}{
		{"single human label", []fb{{id: "a", name: "helpfulness", source: "HUMAN", value: `"yes"`}}, "helpfulness", "a", 0},
		{"no feedback", nil, "helpfulness", "", 0},
		{"other name", []fb{{id: "a", name: "correctness", source: "HUMAN", value: `"yes"`}}, "helpfulness", "", 0},
		{"name compared trimmed and ignoring case", []fb{{id: "a", name: "  Helpfulness ", source: "HUMAN", value: `"yes"`}}, " HELPFULNESS", "a", 0},
		{"source type compared ignoring case", []fb{{id: "a", name: "h", source: "human", value: `1`}}, "h", "a", 0},
		{"LLM judge and code ignored", []fb{
			{id: "j", name: "h", source: "LLM_JUDGE", value: `"no"`, created: "2025-01-03T00:00:00Z"},
			{id: "c", name: "h", source: "CODE", value: `"no"`, created: "2025-01-04T00:00:00Z"},
			{id: "a", name: "h", source: "HUMAN", value: `"yes"`, created: "2025-01-01T00:00:00Z"},
		}, "h", "a", 0},
		{"only a judge verdict", []fb{{id: "j", name: "h", source: "LLM_JUDGE", value: `"yes"`}}, "h", "", 0},
		{"expectation is not a label", []fb{{id: "e", name: "h", source: "HUMAN", value: `"yes"`, expectation: true}}, "h", "", 0},
		{"duplicates: most recent wins, with a warning", []fb{
			{id: "old", name: "h", source: "HUMAN", value: `"no"`, created: "2025-01-01T00:00:00Z"},
			{id: "new", name: "h", source: "HUMAN", value: `"yes"`, created: "2025-01-02T00:00:00Z"},
			{id: "mid", name: "h", source: "HUMAN", value: `"no"`, created: "2025-01-01T12:00:00Z"},
		}, "h", "new", 1},
		{"tie on create_time: later last_update_time wins", []fb{
			{id: "edited", name: "h", source: "HUMAN", value: `"no"`, created: "2025-01-01T00:00:00Z", updated: "2025-01-05T00:00:00Z"},
			{id: "plain", name: "h", source: "HUMAN", value: `"yes"`, created: "2025-01-01T00:00:00Z", updated: "2025-01-01T00:00:00Z"},
		}, "h", "edited", 1},
		{"full tie: later in the list wins", []fb{
			{id: "first", name: "h", source: "HUMAN", value: `"no"`},
			{id: "second", name: "h", source: "HUMAN", value: `"yes"`},
		}, "h", "second", 1},
		{"valid=false is ignored even when newest", []fb{
			{id: "kept", name: "h", source: "HUMAN", value: `"no"`, created: "2025-01-01T00:00:00Z"},
			{id: "invalid", name: "h", source: "HUMAN", value: `"yes"`, created: "2025-01-09T00:00:00Z", valid: &no},
		}, "h", "kept", 0},
		{"overridden assessment is ignored even when newest", []fb{
			{id: "overridden", name: "h", source: "HUMAN", value: `"no"`, created: "2025-01-09T00:00:00Z"},
			{id: "override", name: "h", source: "HUMAN", value: `"yes"`, created: "2025-01-01T00:00:00Z", overrides: "overridden", valid: &yes},
		}, "h", "override", 0},
		{"override by a judge does not count", []fb{
			{id: "human", name: "h", source: "HUMAN", value: `"no"`},
			{id: "judge", name: "h", source: "LLM_JUDGE", value: `"yes"`, overrides: "human"},
		}, "h", "human", 0},
		{"error without value is not a label", []fb{
			{id: "err", name: "h", source: "HUMAN", errOnly: true, created: "2025-01-09T00:00:00Z"},
			{id: "ok", name: "h", source: "HUMAN", value: `"yes"`, created: "2025-01-01T00:00:00Z"},
		}, "h", "ok", 0},
		{"null value is not a label", []fb{{id: "n", name: "h", source: "HUMAN", value: `null`}}, "h", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := trace.Trace{Info: trace.Info{TraceID: "tr-x"}}
			for _, f := range tc.feedback {
				tr.Info.Assessments = append(tr.Info.Assessments, f.assessment(t))
			}
			label, warnings, ok := tr.HumanFeedback(tc.judge)
			if tc.wantID == "" {
				if ok {
					t.Fatalf("HumanFeedback(%q) = %+v, want no label", tc.judge, label)
				}
				return
			}
			if !ok {
				t.Fatalf("HumanFeedback(%q) found no label, want %s", tc.judge, tc.wantID)
			}
			if label.AssessmentID != tc.wantID {
				t.Errorf("label from %s, want %s", label.AssessmentID, tc.wantID)
			}
			if label.Rationale != "because "+tc.wantID || !strings.EqualFold(label.SourceID, "human-id") {
				t.Errorf("label rationale %q, source %q", label.Rationale, label.SourceID)
			}
			if len(warnings) != tc.wantWarns {
				t.Errorf("warnings = %q, want %d", warnings, tc.wantWarns)
			}
			for _, w := range warnings {
				if !strings.Contains(w, "tr-x") || !strings.Contains(w, tc.wantID) {
					t.Errorf("warning %q does not name the trace and the chosen assessment", w)
				}
			}
		})
	}
}

func TestHumanFeedbackFixtures(t *testing.T) {
	tests := []struct {
		file, judge   string
		wantValue     any
		wantRationale string
		wantTime      string
	}{
		// The LLM_JUDGE "yes" is ignored; the human "no" is the label.
		{"trace_with_human_override", "helpfulness", "no",
			"Users locked out by SSO cannot use that link; the answer must mention contacting IT.", "2025-06-01T12:06:00Z"},
		// The newest human "2" is valid=false and overridden by the "4"
		// (MLflow, ignoring those flags, would take the "2").
		{"agent_tool_error", "helpfulness", json.Number("4"), "Answers Paris and says plainly that Atlantis is unknown.", "2025-06-01T14:03:00Z"},
		// Two humans disagree: the later one (true) wins; the newer CODE
		// verdict is ignored.
		{"chat_openai", "correctness", true, "'Bonjour' is the right translation.", "2025-06-01T13:07:30Z"},
		// " Groundedness " matches "groundedness".
		{"rag_retriever", "groundedness", "yes", "Every claim is in the first retrieved document.", "2025-06-01T12:12:00Z"},
		{"expectations_and_extras", "accuracy", map[string]any{"score": json.Number("5"), "labels": []any{"tool", "concise"}}, "Names the right tool.", "2025-06-01T15:03:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			tr := loadTrace(t, filepath.Join(fixtures, "mlflow", tc.file+".json"))
			label, _, ok := tr.HumanFeedback(tc.judge)
			if !ok {
				t.Fatal("no label")
			}
			if !reflect.DeepEqual(label.Value, tc.wantValue) {
				t.Errorf("Value = %#v, want %#v", label.Value, tc.wantValue)
			}
			if label.Rationale != tc.wantRationale {
				t.Errorf("Rationale = %q, want %q", label.Rationale, tc.wantRationale)
			}
			if got := label.Time.UTC().Format(time.RFC3339); got != tc.wantTime {
				t.Errorf("Time = %s, want %s", got, tc.wantTime)
			}
		})
	}
}
