package judge

import (
	"reflect"
	"testing"
	"time"
)

func TestMemoryForget(t *testing.T) {
	memory := func() *Memory {
		return &Memory{
			Guidelines: []Guideline{
				{Text: "written by a person"},
				{Text: "from a only", SourceTraceIDs: []string{"a"}},
				{Text: "from a and b", SourceTraceIDs: []string{"a", "b"}},
				{Text: "from b and c", SourceTraceIDs: []string{"b", "c"}},
				{Text: "from c only", SourceTraceIDs: []string{"c"}},
			},
			Examples: []Example{
				{TraceID: "a", Value: "yes"},
				{TraceID: "b", Value: "no"},
				{TraceID: "c", Value: "yes"},
			},
			Retrieval: Retrieval{K: 5, Embedder: "local:hash-v1@8", Dimensions: 8},
		}
	}
	tests := []struct {
		name           string
		forget         []string
		wantExamples   []string
		wantGuidelines []Guideline
		removedEx      int
		removedGl      int
	}{
		{
			name:         "nothing",
			forget:       nil,
			wantExamples: []string{"a", "b", "c"},
			wantGuidelines: []Guideline{
				{Text: "written by a person"},
				{Text: "from a only", SourceTraceIDs: []string{"a"}},
				{Text: "from a and b", SourceTraceIDs: []string{"a", "b"}},
				{Text: "from b and c", SourceTraceIDs: []string{"b", "c"}},
				{Text: "from c only", SourceTraceIDs: []string{"c"}},
			},
		},
		{
			name:         "one trace trims shared sources and drops sole ones",
			forget:       []string{"a"},
			wantExamples: []string{"b", "c"},
			wantGuidelines: []Guideline{
				{Text: "written by a person"},
				{Text: "from a and b", SourceTraceIDs: []string{"b"}},
				{Text: "from b and c", SourceTraceIDs: []string{"b", "c"}},
				{Text: "from c only", SourceTraceIDs: []string{"c"}},
			},
			removedEx: 1, removedGl: 1,
		},
		{
			name:         "all sources of a shared guideline",
			forget:       []string{"b", "c"},
			wantExamples: []string{"a"},
			wantGuidelines: []Guideline{
				{Text: "written by a person"},
				{Text: "from a only", SourceTraceIDs: []string{"a"}},
				{Text: "from a and b", SourceTraceIDs: []string{"a"}},
			},
			removedEx: 2, removedGl: 2,
		},
		{
			name:           "everything keeps the person's guideline",
			forget:         []string{"a", "b", "c"},
			wantGuidelines: []Guideline{{Text: "written by a person"}},
			removedEx:      3, removedGl: 4,
		},
		{
			name:         "unknown trace",
			forget:       []string{"zzz"},
			wantExamples: []string{"a", "b", "c"},
			wantGuidelines: []Guideline{
				{Text: "written by a person"},
				{Text: "from a only", SourceTraceIDs: []string{"a"}},
				{Text: "from a and b", SourceTraceIDs: []string{"a", "b"}},
				{Text: "from b and c", SourceTraceIDs: []string{"b", "c"}},
				{Text: "from c only", SourceTraceIDs: []string{"c"}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := memory()
			before := m.Guidelines[2].SourceTraceIDs // shared with a caller's copy
			ex, gl := m.Forget(tt.forget...)
			if ex != tt.removedEx || gl != tt.removedGl {
				t.Errorf("Forget removed %d examples, %d guidelines; want %d, %d", ex, gl, tt.removedEx, tt.removedGl)
			}
			var ids []string
			for _, e := range m.Examples {
				ids = append(ids, e.TraceID)
			}
			if !reflect.DeepEqual(ids, tt.wantExamples) {
				t.Errorf("examples = %v, want %v", ids, tt.wantExamples)
			}
			if !reflect.DeepEqual(m.Guidelines, tt.wantGuidelines) {
				t.Errorf("guidelines = %+v\nwant %+v", m.Guidelines, tt.wantGuidelines)
			}
			if !reflect.DeepEqual(before, []string{"a", "b"}) {
				t.Errorf("Forget changed a source slice in place: %v", before)
			}
			if m.Retrieval.K != 5 || m.Retrieval.Embedder != "local:hash-v1@8" {
				t.Errorf("retrieval changed: %+v", m.Retrieval)
			}
		})
	}

	var nilMemory *Memory
	if ex, gl := nilMemory.Forget("a"); ex != 0 || gl != 0 {
		t.Errorf("nil memory forgot %d, %d", ex, gl)
	}
}

func TestFeedbackFingerprint(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	base := Example{TraceID: "tr-1", Inputs: "q", Value: "yes", Rationale: "fine", FeedbackTime: at}
	fp := base.FeedbackFingerprint()

	same := []struct {
		name string
		edit func(*Example)
	}{
		{"input text", func(e *Example) { e.Inputs = "another question" }},
		{"embedding", func(e *Example) { e.Embedding = []float32{1, 0} }},
		{"time zone", func(e *Example) { e.FeedbackTime = at.In(time.FixedZone("CET", 3600)) }},
	}
	for _, tt := range same {
		e := base
		tt.edit(&e)
		if got := e.FeedbackFingerprint(); got != fp {
			t.Errorf("%s changed the fingerprint", tt.name)
		}
	}
	differ := []struct {
		name string
		edit func(*Example)
	}{
		{"trace", func(e *Example) { e.TraceID = "tr-2" }},
		{"value", func(e *Example) { e.Value = "no" }},
		{"rationale", func(e *Example) { e.Rationale = "fine, mostly" }},
		{"time", func(e *Example) { e.FeedbackTime = at.Add(time.Millisecond) }},
		{"no time", func(e *Example) { e.FeedbackTime = time.Time{} }},
	}
	for _, tt := range differ {
		e := base
		tt.edit(&e)
		if e.FeedbackFingerprint() == fp {
			t.Errorf("%s did not change the fingerprint", tt.name)
		}
	}

	a := Example{TraceID: "x", Value: int64(4)}
	b := Example{TraceID: "x", Value: 4.0}
	if a.FeedbackFingerprint() != b.FeedbackFingerprint() {
		t.Error("int64(4) and 4.0 fingerprint differently")
	}
	// Field boundaries are not ambiguous.
	c := Example{TraceID: "x", Value: "a", Rationale: "b c"}
	d := Example{TraceID: "x", Value: "a b", Rationale: "c"}
	if c.FeedbackFingerprint() == d.FeedbackFingerprint() {
		t.Error("value/rationale boundary is ambiguous")
	}
}

func TestMemoryFingerprints(t *testing.T) {
	m := &Memory{Examples: []Example{{TraceID: "a", Value: "yes"}, {TraceID: "b", Value: "no"}}}
	got := m.Fingerprints()
	if len(got) != 2 || got["a"] != m.Examples[0].FeedbackFingerprint() || got["b"] != m.Examples[1].FeedbackFingerprint() {
		t.Errorf("Fingerprints = %v", got)
	}
	var nilMemory *Memory
	if got := nilMemory.Fingerprints(); len(got) != 0 {
		t.Errorf("nil memory fingerprints = %v", got)
	}
}
