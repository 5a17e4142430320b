package trace

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Label is a human's judgement of a trace: the value to align a judge with.
type Label struct {
	// AssessmentID is the feedback assessment the label comes from ("" when
	// the assessment has none).
	AssessmentID string
	// Value is the feedback value decoded from JSON (numbers as
	// json.Number), not yet normalised to a judge's value type.
	Value     any
	Rationale string
	SourceID  string
	// Time is the assessment's create_time (zero when unknown).
	Time time.Time
}

// HumanFeedback returns the human label for a judge name: among the
// trace's feedback assessments (expectations are not labels) with source
// HUMAN whose name equals name after trimming spaces and ignoring case, the
// most recent by create_time (ties: last_update_time, then the later in the
// list). It reports false when there is none.
//
// Unlike MLflow, which ignores them, alignhost honours overrides: a feedback
// marked valid=false, or whose assessment_id is named in the overrides of
// another HUMAN assessment, is not a label. A feedback with no value (for
// example one that records only an error) is not a label either. Feedback
// from LLM_JUDGE and CODE sources is ignored.
//
// The warnings say when several labels remained and which one was used.
func (t *Trace) HumanFeedback(name string) (Label, []string, bool) {
	i, value, warnings, ok := t.humanLabel(name)
	if !ok {
		return Label{}, nil, false
	}
	a := &t.Info.Assessments[i]
	return Label{
		AssessmentID: a.ID,
		Value:        value,
		Rationale:    a.Rationale,
		SourceID:     a.Source.ID,
		Time:         a.CreateTime.Time,
	}, warnings, true
}

// humanLabel implements HumanFeedback: it returns the index of the chosen
// assessment and its decoded value.
func (t *Trace) humanLabel(name string) (int, any, []string, bool) {
	want := normalizeName(name)
	overridden := map[string]bool{}
	for _, a := range t.Info.Assessments {
		if isHuman(&a) && a.Overrides != "" {
			overridden[a.Overrides] = true
		}
	}
	type candidate struct {
		index int
		value any
	}
	var cands []candidate
	for i := range t.Info.Assessments {
		a := &t.Info.Assessments[i]
		if a.Feedback == nil || !isHuman(a) || normalizeName(a.Name) != want {
			continue
		}
		if a.Valid != nil && !*a.Valid {
			continue
		}
		if a.ID != "" && overridden[a.ID] {
			continue
		}
		if len(a.Feedback.Value) == 0 || string(a.Feedback.Value) == "null" {
			continue
		}
		v, err := decodeAny(a.Feedback.Value)
		if err != nil {
			continue
		}
		cands = append(cands, candidate{i, v})
	}
	if len(cands) == 0 {
		return 0, nil, nil, false
	}
	as := t.Info.Assessments
	sort.SliceStable(cands, func(x, y int) bool {
		i, j := cands[x].index, cands[y].index
		return newer(&as[i], i, &as[j], j)
	})
	best := &as[cands[0].index]
	var warnings []string
	if len(cands) > 1 {
		which := best.ID
		if which == "" {
			which = fmt.Sprintf("assessment %d", cands[0].index+1)
		}
		if !best.CreateTime.IsZero() {
			which += " created " + best.CreateTime.UTC().Format(time.RFC3339)
		}
		warnings = append(warnings, fmt.Sprintf("trace %s has %d HUMAN feedbacks named %q; using the most recent (%s)",
			t.Info.TraceID, len(cands), strings.TrimSpace(name), which))
	}
	return cands[0].index, cands[0].value, warnings, true
}

// normalizeName is how assessment names are compared with judge names.
func normalizeName(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// isHuman reports whether a human made the assessment.
func isHuman(a *Assessment) bool {
	return strings.EqualFold(strings.TrimSpace(string(a.Source.Type)), string(SourceHuman))
}
