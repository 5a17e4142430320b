package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

const fixtureID = "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8"

// fixtureJSON is MLflow's trace_with_human_override.json example (a judge
// verdict overridden by a human) under the trace ID id, with keys package
// trace does not model added at every level, as a newer MLflow could write.
func fixtureJSON(id string) string {
	return strings.ReplaceAll(`{
  "info": {
    "trace_id": "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8",
    "trace_location": {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": "1"},
      "future_location_key": true},
    "request_preview": "{\"question\": \"How do I reset my password?\"}",
    "response_preview": "{\"answer\": \"Click 'Forgot password' on the login page.\"}",
    "request_time": "2025-06-01T12:00:00.000Z",
    "execution_duration_ms": 840,
    "state": "OK",
    "trace_metadata": {
      "mlflow.trace_schema.version": "3",
      "mlflow.traceInputs": "{\"question\": \"How do I reset my password?\"}",
      "mlflow.traceOutputs": "{\"answer\": \"Click 'Forgot password' on the login page.\"}",
      "mlflow.user": "alice",
      "mlflow.source.type": "LOCAL",
      "mlflow.trace.session": "session-42"
    },
    "assessments": [
      {
        "assessment_id": "a-1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
        "assessment_name": "expected_facts",
        "trace_id": "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8",
        "source": {"source_type": "HUMAN", "source_id": "expert@example.com"},
        "create_time": "2025-06-01T12:05:00.000Z",
        "last_update_time": "2025-06-01T12:05:00.000Z",
        "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                             "value": "[\"Use the 'Forgot password' link\"]"}}
      },
      {
        "assessment_id": "a-0aa1bb2cc3dd4ee5ff60718293a4b5c6",
        "assessment_name": "helpfulness",
        "trace_id": "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8",
        "source": {"source_type": "LLM_JUDGE", "source_id": "openai:/gpt-4.1-mini"},
        "create_time": "2025-06-01T12:01:00.000Z",
        "last_update_time": "2025-06-01T12:01:00.000Z",
        "feedback": {"value": "yes"},
        "rationale": "The answer tells the user exactly where to click.",
        "valid": false,
        "future_assessment_key": {"nested": [1, 2, 3]}
      },
      {
        "assessment_id": "a-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
        "assessment_name": "helpfulness",
        "trace_id": "tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8",
        "source": {"source_type": "HUMAN", "source_id": "expert@example.com"},
        "create_time": "2025-06-01T12:06:00.000Z",
        "last_update_time": "2025-06-01T12:06:00.000Z",
        "feedback": {"value": "no"},
        "rationale": "Users locked out by SSO cannot use that link; the answer must mention contacting IT.",
        "overrides": "a-0aa1bb2cc3dd4ee5ff60718293a4b5c6",
        "valid": true
      }
    ],
    "tags": {"mlflow.traceName": "answer_question"},
    "future_info_key": {"a": 1}
  },
  "data": {
    "spans": [
      {
        "name": "answer_question",
        "trace_id": "fxorPE1eb3CBkqO0xdbn+A==",
        "span_id": "obLD1OX2Bxg=",
        "parent_span_id": null,
        "start_time_unix_nano": 1748779200000000000,
        "end_time_unix_nano": 1748779200840000000,
        "events": [],
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {
          "mlflow.traceRequestId": "\"tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8\"",
          "mlflow.spanType": "\"CHAIN\"",
          "mlflow.spanFunctionName": "\"answer_question\"",
          "mlflow.spanInputs": "{\"question\": \"How do I reset my password?\"}",
          "mlflow.spanOutputs": "{\"answer\": \"Click 'Forgot password' on the login page.\"}"
        },
        "future_span_key": "kept"
      },
      {
        "name": "chat_completion",
        "trace_id": "fxorPE1eb3CBkqO0xdbn+A==",
        "span_id": "C63A/+4SNFY=",
        "parent_span_id": "obLD1OX2Bxg=",
        "start_time_unix_nano": 1748779200100000000,
        "end_time_unix_nano": 1748779200800000000,
        "events": [],
        "status": {"code": "STATUS_CODE_OK", "message": ""},
        "attributes": {
          "mlflow.traceRequestId": "\"tr-7f1a2b3c4d5e6f708192a3b4c5d6e7f8\"",
          "mlflow.spanType": "\"LLM\"",
          "mlflow.spanInputs": "{\"messages\": [{\"role\": \"user\", \"content\": \"How do I reset my password?\"}]}",
          "mlflow.spanOutputs": "\"Click 'Forgot password' on the login page.\""
        }
      }
    ],
    "future_data_key": [true]
  }
}`, fixtureID, id)
}

// simpleTraceJSON is a minimal trace with the given assessments (a JSON
// array, or "" for none).
func simpleTraceJSON(id, assessments string) string {
	if assessments == "" {
		assessments = "[]"
	}
	return fmt.Sprintf(`{"info": {"trace_id": %q, "request_time": "2025-06-02T08:00:00.000Z", "state": "OK",
		"request_preview": "q", "response_preview": "a", "assessments": %s},
		"data": {"spans": [{"name": "root", "span_id": "AAAAAAAAAAE=", "parent_span_id": null,
		"start_time_unix_nano": 1, "end_time_unix_nano": 2, "events": [], "status": {"code": "STATUS_CODE_OK", "message": ""},
		"attributes": {"mlflow.spanInputs": "\"q\"", "mlflow.spanOutputs": "\"a\""}}]}}`, id, assessments)
}

// humanFeedback is the JSON of a HUMAN feedback without an ID.
func humanFeedback(name, value, source string) string {
	return fmt.Sprintf(`{"assessment_name": %q, "source": {"source_type": "HUMAN", "source_id": %q},
		"create_time": "2025-06-02T09:00:00.000Z", "feedback": {"value": %s}}`, name, source, value)
}

func decodeTrace(t testing.TB, s string) *trace.Trace {
	t.Helper()
	var tr trace.Trace
	if err := json.Unmarshal([]byte(s), &tr); err != nil {
		t.Fatalf("decode trace: %v\n%s", err, s)
	}
	return &tr
}

func mustImport(t testing.TB, s *store.Store, experiment string, traces ...*trace.Trace) store.ImportResult {
	t.Helper()
	res, err := s.ImportTraces(context.Background(), experiment, traces)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustTrace(t testing.TB, s *store.Store, id string) *trace.Trace {
	t.Helper()
	tr, err := s.Trace(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// assertSameJSON compares two JSON documents by value, ignoring key order
// and spacing.
func assertSameJSON(t testing.TB, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s: JSON differs\ngot:  %s\nwant: %s", what, got, want)
	}
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	in := fixtureJSON(fixtureID)
	tr := decodeTrace(t, in)
	before := marshal(t, tr)

	res := mustImport(t, s, "", tr)
	if want := (store.ImportResult{Added: 1, Assessments: 3}); res != want {
		t.Errorf("ImportTraces = %+v, want %+v", res, want)
	}
	assertSameJSON(t, "trace passed to ImportTraces after the import", marshal(t, tr), before)

	got := marshal(t, mustTrace(t, s, fixtureID))
	// What the store returns is what package trace encodes…
	assertSameJSON(t, "Trace() vs the imported value", got, before)
	// …and so the MLflow export itself, unknown keys included.
	assertSameJSON(t, "Trace() vs the MLflow JSON", got, []byte(in))

	var n int
	for tr, err := range s.Traces(ctx, store.TraceQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		assertSameJSON(t, "Traces() vs the MLflow JSON", marshal(t, tr), []byte(in))
	}
	if n != 1 {
		t.Errorf("Traces() yielded %d traces, want 1", n)
	}
}

func TestImportAssignsAssessmentIDs(t *testing.T) {
	s := openStore(t)
	tr := decodeTrace(t, simpleTraceJSON("tr-1", "["+humanFeedback("tone", `"ok"`, "ann")+","+
		humanFeedback("tone", `"bad"`, "ann")+"]"))
	mustImport(t, s, "", tr)
	if tr.Info.Assessments[0].ID != "" {
		t.Error("ImportTraces set an ID on the caller's assessment")
	}

	got := mustTrace(t, s, "tr-1").Info.Assessments
	if len(got) != 2 {
		t.Fatalf("stored %d assessments, want 2", len(got))
	}
	for i, a := range got {
		want, err := store.AssessmentID("tr-1", &tr.Info.Assessments[i])
		if err != nil {
			t.Fatal(err)
		}
		if a.ID != want || len(a.ID) != len("a-")+32 || !strings.HasPrefix(a.ID, "a-") {
			t.Errorf("assessment %d: ID %q, want %q (a- and 32 hex digits)", i, a.ID, want)
		}
	}
	if got[0].ID == got[1].ID {
		t.Errorf("assessments with different values share ID %s", got[0].ID)
	}
	// The same assessment on another trace is another assessment.
	other, err := store.AssessmentID("tr-2", &tr.Info.Assessments[0])
	if err != nil {
		t.Fatal(err)
	}
	if other == got[0].ID {
		t.Error("AssessmentID ignores the trace ID")
	}
}

func TestImportIsIdempotentAndMerges(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	fresh := func() []*trace.Trace {
		return []*trace.Trace{
			decodeTrace(t, fixtureJSON(fixtureID)),
			decodeTrace(t, simpleTraceJSON("tr-plain", "["+humanFeedback("tone", `"ok"`, "ann")+"]")),
		}
	}
	if res := mustImport(t, s, "", fresh()...); res != (store.ImportResult{Added: 2, Assessments: 4}) {
		t.Errorf("first import = %+v", res)
	}
	snapshot := marshal(t, mustTrace(t, s, "tr-plain"))
	if res := mustImport(t, s, "", fresh()...); res != (store.ImportResult{Unchanged: 2, Assessments: 4}) {
		t.Errorf("re-import = %+v, want both unchanged", res)
	}
	assertSameJSON(t, "trace with a derived assessment ID after re-import", marshal(t, mustTrace(t, s, "tr-plain")), snapshot)

	// Feedback logged in the store survives re-importing the file, and the
	// human override it makes stays in force.
	var a trace.Assessment
	if err := json.Unmarshal([]byte(humanFeedback("helpfulness", `"yes"`, "expert@example.com")), &a); err != nil {
		t.Fatal(err)
	}
	a.TraceID = fixtureID
	if _, err := s.LogAssessments(ctx, []store.AssessmentRow{{Assessment: a}},
		store.LogOptions{SupersedeSameSource: true}); err != nil {
		t.Fatal(err)
	}
	logged := marshal(t, mustTrace(t, s, fixtureID))
	if res := mustImport(t, s, "", fresh()...); res != (store.ImportResult{Unchanged: 2, Assessments: 4}) {
		t.Errorf("re-import after logging feedback = %+v, want both unchanged", res)
	}
	assertSameJSON(t, "trace after re-import", marshal(t, mustTrace(t, s, fixtureID)), logged)
	got := mustTrace(t, s, fixtureID).Info.Assessments
	if len(got) != 4 || got[3].Name != "helpfulness" || got[2].Valid == nil || *got[2].Valid {
		t.Errorf("after re-import: %d assessments, want 4 with the logged one last and the superseded one invalid", len(got))
	}

	// A changed trace is replaced, its assessments merged by ID, and it
	// moves to the experiment it was imported into.
	changed := decodeTrace(t, fixtureJSON(fixtureID))
	changed.Info.ResponsePreview = "changed"
	changed.Info.Assessments[1].Rationale = "re-judged"
	changed.Info.Assessments = changed.Info.Assessments[:2]
	if res := mustImport(t, s, "other", changed); res != (store.ImportResult{Updated: 1, Assessments: 2}) {
		t.Errorf("import of a changed trace = %+v, want one updated", res)
	}
	after := mustTrace(t, s, fixtureID)
	if after.Info.ResponsePreview != "changed" {
		t.Errorf("response preview = %q, want the re-imported one", after.Info.ResponsePreview)
	}
	var ids []string
	for _, a := range after.Info.Assessments {
		ids = append(ids, a.ID)
	}
	wantIDs := []string{"a-1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f", "a-0aa1bb2cc3dd4ee5ff60718293a4b5c6",
		"a-9f8e7d6c5b4a39281706f5e4d3c2b1a0", got[3].ID}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("assessment IDs after merge = %v, want imported ones first, then stored ones: %v", ids, wantIDs)
	}
	if r := after.Info.Assessments[1].Rationale; r != "re-judged" {
		t.Errorf("re-imported assessment rationale = %q, want the new one", r)
	}
	sums, err := s.TraceSummaries(ctx, store.TraceQuery{Experiment: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 1 || sums[0].TraceID != fixtureID {
		t.Errorf("experiment other holds %+v, want the re-imported trace", sums)
	}
}

// cancelingCtx is canceled when package store has checked it n times. The
// store checks its context before each trace it imports, so this cancels
// an import part-way through: after n-1 traces were written in its
// transaction. Checks made by database/sql, some from its own goroutines,
// are not counted, to keep the count deterministic.
type cancelingCtx struct {
	context.Context
	cancel context.CancelFunc
	checks atomic.Int64
	n      int64
}

func newCancelingCtx(n int64) *cancelingCtx {
	ctx, cancel := context.WithCancel(context.Background())
	return &cancelingCtx{Context: ctx, cancel: cancel, n: n}
}

func (c *cancelingCtx) Err() error {
	if pc, _, _, ok := runtime.Caller(1); ok &&
		strings.HasPrefix(runtime.FuncForPC(pc).Name(), "github.com/alignhost/alignhost/store.") {
		if c.checks.Add(1) == c.n {
			c.cancel()
		}
	}
	return c.Context.Err()
}

// storeState is everything observable in a store's traces and experiments.
func storeState(t *testing.T, s *store.Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for tr, err := range s.Traces(ctx, store.TraceQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		b.Write(marshal(t, tr))
		b.WriteByte('\n')
	}
	exps, err := s.Experiments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range exps {
		fmt.Fprintf(&b, "experiment %d %s\n", e.ID, e.Name)
	}
	sums, err := s.TraceSummaries(ctx, store.TraceQuery{})
	if err != nil {
		t.Fatal(err)
	}
	b.Write(marshal(t, sums))
	return b.String()
}

func TestImportFailureLeavesStoreUnchanged(t *testing.T) {
	// batch is an import that adds traces, changes a stored one and adds
	// assessments before it reaches the bad trace at position 3.
	batch := func(t *testing.T, bad *trace.Trace) []*trace.Trace {
		changed := decodeTrace(t, fixtureJSON(fixtureID))
		changed.Info.State = trace.StateError
		changed.Info.Assessments[2].Rationale = "changed"
		list := []*trace.Trace{
			decodeTrace(t, simpleTraceJSON("tr-new-1", "["+humanFeedback("tone", `"ok"`, "ann")+"]")),
			changed,
			decodeTrace(t, simpleTraceJSON("tr-new-2", "")),
		}
		if bad != nil {
			list = append(list, bad)
		}
		return append(list, decodeTrace(t, simpleTraceJSON("tr-new-3", "")))
	}
	withSeed := func(t *testing.T) *store.Store {
		s := openStore(t)
		mustImport(t, s, "", decodeTrace(t, fixtureJSON(fixtureID)),
			decodeTrace(t, simpleTraceJSON("tr-seed", "["+humanFeedback("tone", `"ok"`, "ann")+"]")))
		return s
	}

	tests := []struct {
		name    string
		ctx     func() context.Context
		bad     func(t *testing.T) *trace.Trace
		wantErr string
	}{
		{
			name:    "invalid trace id",
			bad:     func(t *testing.T) *trace.Trace { return decodeTrace(t, simpleTraceJSON("tr bad", "")) },
			wantErr: "space or control character",
		},
		{
			name:    "empty trace id",
			bad:     func(t *testing.T) *trace.Trace { return decodeTrace(t, simpleTraceJSON("", "")) },
			wantErr: "empty trace id",
		},
		{
			name: "assessment without a value",
			bad: func(t *testing.T) *trace.Trace {
				return decodeTrace(t, simpleTraceJSON("tr-x", `[{"assessment_name": "tone", "source": {"source_type": "HUMAN"}}]`))
			},
			wantErr: "neither feedback nor expectation",
		},
		{
			name: "assessment of another trace",
			bad: func(t *testing.T) *trace.Trace {
				return decodeTrace(t, simpleTraceJSON("tr-x", `[{"assessment_id": "a-9f8e7d6c5b4a39281706f5e4d3c2b1a0",
					"assessment_name": "tone", "source": {"source_type": "HUMAN"}, "feedback": {"value": 1}}]`))
			},
			wantErr: "already belongs to trace " + fixtureID,
		},
		{
			name:    "context canceled at the third trace",
			ctx:     func() context.Context { return newCancelingCtx(3) },
			wantErr: context.Canceled.Error(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := withSeed(t)
			before := storeState(t, s)
			ctx := context.Background()
			if tc.ctx != nil {
				ctx = tc.ctx()
			}
			var bad *trace.Trace
			if tc.bad != nil {
				bad = tc.bad(t)
			}
			res, err := s.ImportTraces(ctx, "failed", batch(t, bad))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ImportTraces error = %v, want one containing %q", err, tc.wantErr)
			}
			if res != (store.ImportResult{}) {
				t.Errorf("failed import returned counts %+v", res)
			}
			if after := storeState(t, s); after != before {
				t.Errorf("store changed by a failed import\nbefore: %s\nafter:  %s", before, after)
			}
		})
	}
}

func TestTraceNotFound(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	_, err := s.Trace(ctx, "tr-missing")
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "tr-missing") {
		t.Errorf("Trace of a missing ID: error %v, want ErrNotFound naming the trace", err)
	}
	if _, err := s.Assessments(ctx, "tr-missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Assessments of a missing trace: error %v, want ErrNotFound", err)
	}
}

// corpus imports n traces: the first half in experiment "a", the rest in
// "b"; every third has HUMAN feedback "Helpfulness", every fifth LLM_JUDGE
// feedback "helpfulness". It returns the trace IDs in import order.
func corpus(t *testing.T, s *store.Store, n int) []string {
	var ids []string
	var a, b []*trace.Trace
	for i := range n {
		id := fmt.Sprintf("tr-%04d", i)
		ids = append(ids, id)
		var as []string
		if i%3 == 0 {
			as = append(as, humanFeedback("Helpfulness", `"yes"`, "ann"))
		}
		if i%5 == 0 {
			as = append(as, `{"assessment_name": "helpfulness", "source": {"source_type": "LLM_JUDGE", "source_id": "m"},
				"feedback": {"value": "no"}}`)
		}
		tr := decodeTrace(t, simpleTraceJSON(id, "["+strings.Join(as, ",")+"]"))
		if i < n/2 {
			a = append(a, tr)
		} else {
			b = append(b, tr)
		}
	}
	mustImport(t, s, "a", a...)
	mustImport(t, s, "b", b...)
	return ids
}

func TestTracesQuery(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	const n = 600 // more than two pages
	ids := corpus(t, s, n)
	pick := func(keep func(i int) bool) []string {
		var out []string
		for i, id := range ids {
			if keep(i) {
				out = append(out, id)
			}
		}
		return out
	}
	human := func(i int) bool { return i%3 == 0 }

	tests := []struct {
		name  string
		q     store.TraceQuery
		want  []string
		count int // CountTraces, which ignores Limit and Offset
	}{
		{"all", store.TraceQuery{}, ids, n},
		{"experiment", store.TraceQuery{Experiment: "b"}, ids[n/2:], n / 2},
		{"human feedback, any case", store.TraceQuery{WithFeedback: " HELPFULNESS "}, pick(human), len(pick(human))},
		{"feedback name nobody gave", store.TraceQuery{WithFeedback: "tone"}, nil, 0},
		{"experiment and feedback", store.TraceQuery{Experiment: "a", WithFeedback: "helpfulness"},
			pick(func(i int) bool { return i < n/2 && human(i) }), len(pick(func(i int) bool { return i < n/2 && human(i) }))},
		{"ids in import order", store.TraceQuery{IDs: []string{ids[5], ids[1], "tr-missing"}}, []string{ids[1], ids[5]}, 2},
		{"limit and offset across a page", store.TraceQuery{Limit: 300, Offset: 100}, ids[100:400], n},
		{"offset in experiment", store.TraceQuery{Experiment: "b", Offset: 290}, ids[590:], n / 2},
		{"limit", store.TraceQuery{Limit: 3}, ids[:3], n},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for tr, err := range s.Traces(ctx, tc.q) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, tr.Info.TraceID)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Traces(%+v) = %d traces %v…, want %d", tc.q, len(got), head(got), len(tc.want))
			}
			sums, err := s.TraceSummaries(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var sumIDs []string
			for _, s := range sums {
				sumIDs = append(sumIDs, s.TraceID)
			}
			if !slices.Equal(sumIDs, tc.want) {
				t.Errorf("TraceSummaries(%+v) = %d summaries %v…, want %d", tc.q, len(sumIDs), head(sumIDs), len(tc.want))
			}
			count, err := s.CountTraces(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if count != tc.count {
				t.Errorf("CountTraces(%+v) = %d, want %d", tc.q, count, tc.count)
			}
		})
	}

	t.Run("assessments come with each trace", func(t *testing.T) {
		for tr, err := range s.Traces(ctx, store.TraceQuery{IDs: []string{ids[15]}}) {
			if err != nil {
				t.Fatal(err)
			}
			got := tr.Info.Assessments
			if len(got) != 2 || got[0].Source.Type != trace.SourceHuman || got[1].Source.Type != trace.SourceLLMJudge {
				t.Errorf("trace %s assessments = %+v, want HUMAN then LLM_JUDGE", ids[15], got)
			}
		}
	})

	t.Run("unknown experiment", func(t *testing.T) {
		for _, err := range s.Traces(ctx, store.TraceQuery{Experiment: "nope"}) {
			if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), `experiment "nope"`) {
				t.Errorf("Traces in an unknown experiment: error %v, want ErrNotFound naming it", err)
			}
		}
		if _, err := s.CountTraces(ctx, store.TraceQuery{Experiment: "nope"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CountTraces in an unknown experiment: error %v, want ErrNotFound", err)
		}
	})

	t.Run("loop body writes and stops early", func(t *testing.T) {
		// Deleting a trace of a later page from inside the loop neither
		// deadlocks nor yields the deleted trace.
		var got int
		for tr, err := range s.Traces(ctx, store.TraceQuery{}) {
			if err != nil {
				t.Fatal(err)
			}
			if got == 0 {
				if _, err := s.DeleteTraces(ctx, ids[n-1]); err != nil {
					t.Fatal(err)
				}
			}
			if tr.Info.TraceID == ids[n-1] {
				t.Error("iteration yielded a trace deleted before its page was read")
			}
			got++
		}
		if got != n-1 {
			t.Errorf("yielded %d traces, want %d", got, n-1)
		}
		got = 0
		for range s.Traces(ctx, store.TraceQuery{}) {
			got++
			if got == 3 {
				break
			}
		}
		if got != 3 {
			t.Errorf("break after 3 traces: iterated %d", got)
		}
	})
}

func head(ids []string) []string { return ids[:min(len(ids), 5)] }

func TestTraceSummaries(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	mustImport(t, s, "", decodeTrace(t, fixtureJSON(fixtureID)),
		decodeTrace(t, `{"info": {"trace_id": "tr-bare"}, "data": {"spans": []}}`))
	sums, err := s.TraceSummaries(ctx, store.TraceQuery{})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.TraceSummary{
		{
			TraceID:            fixtureID,
			Experiment:         store.DefaultExperiment,
			RequestTime:        time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
			State:              trace.StateOK,
			RequestPreview:     `{"question": "How do I reset my password?"}`,
			ResponsePreview:    `{"answer": "Click 'Forgot password' on the login page."}`,
			SessionID:          "session-42",
			Assessments:        3,
			FeedbackNames:      []string{"helpfulness"},
			HumanFeedbackNames: []string{"helpfulness"},
		},
		{TraceID: "tr-bare", Experiment: store.DefaultExperiment},
	}
	if !reflect.DeepEqual(sums, want) {
		t.Errorf("TraceSummaries =\n%+v\nwant\n%+v", sums, want)
	}
}

func TestDeleteTraces(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	mustImport(t, s, "", decodeTrace(t, fixtureJSON(fixtureID)), decodeTrace(t, simpleTraceJSON("tr-keep", "")))

	n, err := s.DeleteTraces(ctx, fixtureID, "tr-missing")
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("DeleteTraces = %d, want 1", n)
	}
	if _, err := s.Trace(ctx, fixtureID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Trace after delete: error %v, want ErrNotFound", err)
	}
	var left int
	if err := rawDB(t, s.Path()).QueryRow(`SELECT count(*) FROM assessments WHERE trace_id = ?`, fixtureID).
		Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d assessments of the deleted trace remain", left)
	}
	if count, _ := s.CountTraces(ctx, store.TraceQuery{}); count != 1 {
		t.Errorf("%d traces left, want 1", count)
	}
	// The assessment IDs are free again.
	if res := mustImport(t, s, "", decodeTrace(t, fixtureJSON(fixtureID))); res.Added != 1 {
		t.Errorf("re-import after delete = %+v, want added", res)
	}
}
