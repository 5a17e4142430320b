package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// row builds an AssessmentRow at line from JSON.
func row(t *testing.T, line int, s string) store.AssessmentRow {
	t.Helper()
	var a trace.Assessment
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("decode assessment: %v\n%s", err, s)
	}
	return store.AssessmentRow{Line: line, Assessment: a}
}

const (
	goodRow = `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "HUMAN", "source_id": "ann"},
		"feedback": {"value": "ok"}}`
	goodRow2 = `{"trace_id": "tr-2", "assessment_name": "tone", "source": {"source_type": "HUMAN", "source_id": "ann"},
		"feedback": {"value": "bad"}, "rationale": "rude"}`
)

// badRows are invalid rows and what the reason each is refused says.
var badRows = []struct {
	name, json, reason string
}{
	{"unknown trace", `{"trace_id": "tr-nope", "assessment_name": "tone", "source": {"source_type": "HUMAN"},
		"feedback": {"value": 1}}`, "trace tr-nope is not in the store"},
	{"no trace id", `{"assessment_name": "tone", "source": {"source_type": "HUMAN"}, "feedback": {"value": 1}}`,
		"missing trace_id"},
	{"no name", `{"trace_id": "tr-1", "assessment_name": " ", "source": {"source_type": "HUMAN"},
		"feedback": {"value": 1}}`, "missing assessment_name"},
	{"no value", `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "HUMAN"}}`,
		"neither feedback nor expectation"},
	{"unknown source", `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "ROBOT"},
		"feedback": {"value": 1}}`, `unknown source type "ROBOT"`},
	{"overrides nothing", `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "HUMAN"},
		"feedback": {"value": 1}, "overrides": "a-missing"}`, "overrides a-missing, which is not an assessment of trace tr-1"},
}

func seededForLogging(t *testing.T) *store.Store {
	s := openStore(t)
	mustImport(t, s, "", decodeTrace(t, simpleTraceJSON("tr-1", "")), decodeTrace(t, simpleTraceJSON("tr-2", "")))
	return s
}

func TestLogAssessmentsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	for _, bad := range badRows {
		t.Run(bad.name, func(t *testing.T) {
			s := seededForLogging(t)
			before := storeState(t, s)
			rows := []store.AssessmentRow{row(t, 1, goodRow), row(t, 7, bad.json), row(t, 9, goodRow2)}
			res, err := s.LogAssessments(ctx, rows, store.LogOptions{})
			var rerr *store.RowError
			if !errors.As(err, &rerr) {
				t.Fatalf("LogAssessments error = %v, want a *RowError", err)
			}
			if rerr.Line != 7 || rerr.Index != 1 || !strings.Contains(rerr.Reason, bad.reason) {
				t.Errorf("RowError = %+v, want line 7, index 1, reason %q", rerr, bad.reason)
			}
			if !strings.Contains(err.Error(), "line 7") {
				t.Errorf("error %q does not name the line", err)
			}
			if !reflect.DeepEqual(res, store.LogResult{}) {
				t.Errorf("failed call returned %+v", res)
			}
			if after := storeState(t, s); after != before {
				t.Errorf("store changed by a refused batch\nbefore: %s\nafter:  %s", before, after)
			}
		})
	}
}

func TestLogAssessmentsSkipInvalid(t *testing.T) {
	ctx := context.Background()
	s := seededForLogging(t)
	rows := []store.AssessmentRow{row(t, 1, goodRow)}
	for i, bad := range badRows {
		rows = append(rows, row(t, 10+i, bad.json))
	}
	rows = append(rows, row(t, 99, goodRow2))

	res, err := s.LogAssessments(ctx, rows, store.LogOptions{SkipInvalid: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 2 || len(res.Rejected) != len(badRows) {
		t.Fatalf("LogAssessments = %+v, want 2 added and %d rejected", res, len(badRows))
	}
	for i, bad := range badRows {
		r := res.Rejected[i]
		if r.Line != 10+i || r.Index != 1+i || !strings.Contains(r.Reason, bad.reason) {
			t.Errorf("rejected[%d] = %+v, want line %d, reason %q", i, r, 10+i, bad.reason)
		}
	}
	for _, id := range []string{"tr-1", "tr-2"} {
		as, err := s.Assessments(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(as) != 1 || as[0].Name != "tone" || as[0].CreateTime.IsZero() || as[0].ID == "" {
			t.Errorf("trace %s assessments = %+v, want the one valid row, with an ID and create time", id, as)
		}
	}
}

func TestLogAssessmentsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := seededForLogging(t)
	rows := []store.AssessmentRow{row(t, 1, goodRow), row(t, 2, goodRow2)}
	if res, err := s.LogAssessments(ctx, rows, store.LogOptions{}); err != nil || res.Added != 2 {
		t.Fatalf("first log = %+v, %v; want 2 added", res, err)
	}
	before := storeState(t, s)
	res, err := s.LogAssessments(ctx, rows, store.LogOptions{SupersedeSameSource: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, store.LogResult{Unchanged: 2}) {
		t.Errorf("logging the same rows again = %+v, want 2 unchanged", res)
	}
	if after := storeState(t, s); after != before {
		t.Errorf("store changed by logging the same rows again\nbefore: %s\nafter:  %s", before, after)
	}

	// Same ID, new content: replaced in place.
	as, err := s.Assessments(ctx, "tr-1")
	if err != nil {
		t.Fatal(err)
	}
	changed := as[0]
	changed.Rationale = "on reflection"
	res, err = s.LogAssessments(ctx, []store.AssessmentRow{{Assessment: changed}}, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, store.LogResult{Updated: 1}) {
		t.Errorf("logging a changed assessment = %+v, want 1 updated", res)
	}
	if as, _ := s.Assessments(ctx, "tr-1"); len(as) != 1 || as[0].Rationale != "on reflection" {
		t.Errorf("after update: %+v, want one assessment with the new rationale", as)
	}

	// An assessment ID belongs to one trace.
	moved := changed
	moved.TraceID = "tr-2"
	_, err = s.LogAssessments(ctx, []store.AssessmentRow{{Line: 3, Assessment: moved}}, store.LogOptions{})
	var rerr *store.RowError
	if !errors.As(err, &rerr) || !strings.Contains(rerr.Reason, "belongs to trace tr-1") {
		t.Errorf("logging an assessment ID onto another trace: error %v, want a RowError", err)
	}
}

func TestLogAssessmentsSupersede(t *testing.T) {
	ctx := context.Background()
	s := seededForLogging(t)
	first := `{"trace_id": "tr-1", "assessment_name": "Tone", "source": {"source_type": "HUMAN", "source_id": "ann"},
		"create_time": "2025-06-01T10:00:00.000Z", "feedback": {"value": "ok"}}`
	others := []store.AssessmentRow{
		// Another annotator, a judge and an expectation are not superseded.
		row(t, 2, `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "HUMAN", "source_id": "bob"},
			"create_time": "2025-06-01T10:00:00.000Z", "feedback": {"value": "ok"}}`),
		row(t, 3, `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "LLM_JUDGE", "source_id": "ann"},
			"create_time": "2025-06-01T10:00:00.000Z", "feedback": {"value": "ok"}}`),
		row(t, 4, `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "HUMAN", "source_id": "ann"},
			"create_time": "2025-06-01T10:00:00.000Z", "expectation": {"value": "ok"}}`),
	}
	if _, err := s.LogAssessments(ctx, append([]store.AssessmentRow{row(t, 1, first)}, others...), store.LogOptions{}); err != nil {
		t.Fatal(err)
	}
	second := `{"trace_id": "tr-1", "assessment_name": " TONE", "source": {"source_type": "HUMAN", "source_id": "ann"},
		"create_time": "2025-06-01T11:00:00.000Z", "feedback": {"value": "bad"}}`

	// Without the option, both stay valid.
	plain := seededForLogging(t)
	if _, err := plain.LogAssessments(ctx, []store.AssessmentRow{row(t, 1, first), row(t, 2, second)}, store.LogOptions{}); err != nil {
		t.Fatal(err)
	}
	as, _ := plain.Assessments(ctx, "tr-1")
	if len(as) != 2 || as[0].Valid != nil || as[1].Overrides != "" {
		t.Errorf("without SupersedeSameSource: %+v, want two independent assessments", as)
	}

	res, err := s.LogAssessments(ctx, []store.AssessmentRow{row(t, 5, second)}, store.LogOptions{SupersedeSameSource: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, store.LogResult{Added: 1, Superseded: 1}) {
		t.Errorf("LogAssessments = %+v, want 1 added, 1 superseded", res)
	}
	as, err = s.Assessments(ctx, "tr-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 5 {
		t.Fatalf("%d assessments, want 5", len(as))
	}
	old, newest := as[0], as[4]
	if old.Valid == nil || *old.Valid {
		t.Errorf("superseded assessment valid = %v, want false", old.Valid)
	}
	if newest.Overrides != old.ID || newest.Valid == nil || !*newest.Valid {
		t.Errorf("new assessment overrides %q (valid %v), want %q (valid true)", newest.Overrides, newest.Valid, old.ID)
	}
	for i, a := range as[1:4] {
		if a.Valid != nil {
			t.Errorf("assessment %d (%s %s) was touched: valid %v", i+1, a.Source.Type, a.Source.ID, *a.Valid)
		}
	}
	// Human labels for alignment still see only the valid HUMAN feedback
	// via the filter, which matches names case-insensitively.
	if n, _ := s.CountTraces(ctx, store.TraceQuery{WithFeedback: "tone"}); n != 1 {
		t.Errorf("traces with human feedback tone = %d, want 1", n)
	}

	// An explicit override marks its target invalid too.
	explicit := `{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "HUMAN", "source_id": "carol"},
		"feedback": {"value": "fine"}, "overrides": "` + as[1].ID + `"}`
	res, err = s.LogAssessments(ctx, []store.AssessmentRow{row(t, 6, explicit)}, store.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Superseded != 1 {
		t.Errorf("explicit override superseded %d, want 1", res.Superseded)
	}
	as, _ = s.Assessments(ctx, "tr-1")
	if as[1].Valid == nil || *as[1].Valid {
		t.Errorf("explicitly overridden assessment valid = %v, want false", as[1].Valid)
	}
}

// The same person giving the same value and rationale again changes
// nothing: re-importing a feedback file is idempotent even though each
// import stamps its rows with a new time.
func TestLogAssessmentsSameJudgementAgainIsUnchanged(t *testing.T) {
	ctx := context.Background()
	s := seededForLogging(t)
	at := func(hour int, value, rationale string) store.AssessmentRow {
		return row(t, 1, fmt.Sprintf(`{"trace_id": "tr-1", "assessment_name": "tone", "source": {"source_type": "HUMAN", "source_id": "ann"},
			"create_time": "2025-06-01T%02d:00:00.000Z", "feedback": {"value": %s}, "rationale": %q}`, hour, value, rationale))
	}
	opts := store.LogOptions{SupersedeSameSource: true}
	for i, step := range []struct {
		row  store.AssessmentRow
		want store.LogResult
	}{
		{at(10, `"ok"`, "polite"), store.LogResult{Added: 1}},
		{at(11, `"ok"`, "polite"), store.LogResult{Unchanged: 1}},                  // same judgement, later
		{at(12, ` "ok" `, "polite"), store.LogResult{Unchanged: 1}},                // same JSON value, other spacing
		{at(13, `"ok"`, "very polite"), store.LogResult{Added: 1, Superseded: 1}},  // new rationale
		{at(14, `"bad"`, "very polite"), store.LogResult{Added: 1, Superseded: 1}}, // new value
	} {
		res, err := s.LogAssessments(ctx, []store.AssessmentRow{step.row}, opts)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(res, step.want) {
			t.Errorf("step %d: %+v, want %+v", i, res, step.want)
		}
	}
	as, _ := s.Assessments(ctx, "tr-1")
	valid := 0
	for _, a := range as {
		if a.Valid == nil || *a.Valid {
			valid++
		}
	}
	if len(as) != 3 || valid != 1 {
		t.Errorf("%d assessments (%d valid), want 3 with 1 valid", len(as), valid)
	}
}
