package validate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
	"github.com/alignhost/alignhost/validate"
)

const model = "openai:/gpt-4.1-mini"

// candidateMark is in the instructions of every candidate (B) judge of these
// tests: the scripted model tells the judges apart by it.
const candidateMark = "Be strict."

// row is one trace of a scripted comparison: the human label and what each
// judge answers.
type row struct {
	id string
	// human is the label's JSON value; empty means the trace has no label.
	human     string
	rationale string
	// a and b are the result JSON each judge answers with; empty means an
	// unusable answer ("no idea"), every time it is asked.
	a, b string
}

// answers maps a trace's outputs text to the answers of judge A and B.
type answers map[string][2]string

// responder answers a judgement from the table: the trace is recognised by
// the text of its <outputs> section, the judge by candidateMark.
func (t answers) responder() llmtest.Responder {
	return func(req openai.ChatCompletionRequest) llmtest.Reply {
		if len(req.Messages) < 2 {
			return llmtest.Error(400, "want a system and a user message")
		}
		out := section(req.Messages[1].Content, "outputs")
		ans, ok := t[out]
		if !ok {
			return llmtest.Error(400, "no scripted answer for outputs "+out)
		}
		result := ans[0]
		if strings.Contains(req.Messages[0].Content, candidateMark) {
			result = ans[1]
		}
		if result == "" {
			return llmtest.Content("no idea")
		}
		return llmtest.Content(fmt.Sprintf(`{"rationale":%q,"result":%s}`, "because of "+out, result))
	}
}

// section returns the text of the <name> section of a judge's user message.
func section(user, name string) string {
	_, rest, ok := strings.Cut(user, "<"+name+">\n")
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "\n</"+name+">")
	return text
}

// fixture turns rows into traces (outputs "answer <id>", the label under
// label) and the answer table.
func fixture(t testing.TB, label string, rows []row) ([]*trace.Trace, answers) {
	t.Helper()
	table := answers{}
	var lines []string
	for _, r := range rows {
		rec := map[string]any{"trace_id": r.id, "inputs": map[string]any{"question": "question " + r.id}, "outputs": "answer " + r.id}
		if r.human != "" {
			rec["feedback"] = map[string]any{label: map[string]any{"value": json.RawMessage(r.human), "rationale": r.rationale}}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
		table["answer "+r.id] = [2]string{r.a, r.b}
	}
	return readTraces(t, lines...), table
}

func readTraces(t testing.TB, lines ...string) []*trace.Trace {
	t.Helper()
	recs, err := trace.Read(strings.NewReader(strings.Join(lines, "\n")), "test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var out []*trace.Trace
	for _, r := range recs {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		out = append(out, r.Trace)
	}
	return out
}

// env is a fake model server and an evaluator asking it, with the response
// cache of a fresh store.
type env struct {
	srv *llmtest.Server
	ev  *eval.Evaluator
}

func newEnv(t testing.TB, r llmtest.Responder) *env {
	t.Helper()
	srv := llmtest.NewServer(t, llmtest.WithResponder(r))
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "alignhost.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client, err := llm.New(llm.WithGetenv(srv.Getenv), llm.WithCache(st.ResponseCache()), llm.WithTimeout(5*time.Second),
		llm.WithRetry(llm.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	ev, err := eval.New(client)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, ev: ev}
}

// registered returns judge version v of a judge named name; a candidate
// judge's instructions carry candidateMark.
func registered(t testing.TB, name string, v int, vt judge.ValueType, candidate bool) *store.RegisteredJudge {
	t.Helper()
	instructions := "Is {{ outputs }} a good answer to {{ inputs }}?"
	if candidate {
		instructions += " " + candidateMark
	}
	j, err := judge.New(name, instructions, judge.WithModel(model), judge.WithValueType(vt))
	if err != nil {
		t.Fatal(err)
	}
	return &store.RegisteredJudge{Name: name, Version: v, Judge: j}
}

var boolean = judge.ValueType{Type: judge.Boolean}

// yesNoRows: humans say yes to t0-t5 and no to t6-t10, in assorted
// spellings. A says yes to everything. B agrees with the humans except on
// t2 (no for yes) and t8 (yes for no), and gives no usable answer on t10.
// t11 has no label, t12 a label that is not yes/no.
var yesNoRows = []row{
	{id: "t0", human: `"PASS"`, rationale: "fine", a: `"yes"`, b: `"yes"`},
	{id: "t1", human: `true`, rationale: "good", a: `"yes"`, b: `"yes"`},
	{id: "t2", human: `"yes"`, rationale: "covers it", a: `"yes"`, b: `"no"`},
	{id: "t3", human: `"Yes"`, a: `"yes"`, b: `"yes"`},
	{id: "t4", human: `"yes"`, a: `"yes"`, b: `"yes"`},
	{id: "t5", human: `"correct"`, a: `"yes"`, b: `"yes"`},
	{id: "t6", human: `"no"`, rationale: "wrong price", a: `"yes"`, b: `"no"`},
	{id: "t7", human: `false`, rationale: "off topic", a: `"yes"`, b: `"no"`},
	{id: "t8", human: `"fail"`, rationale: "misses the refund", a: `"yes"`, b: `"yes"`},
	{id: "t9", human: `"No"`, a: `"yes"`, b: `"no"`},
	{id: "t10", human: `"no"`, rationale: "<script>alert(1)</script>", a: `"yes"`, b: ""},
	{id: "t11", a: `"yes"`, b: `"yes"`},
	{id: "t12", human: `"maybe"`, a: `"yes"`, b: `"yes"`},
}

// yesNoCases is the table of yesNoRows as the statistics see it, written
// out by hand.
func yesNoCases() []agreement.Case {
	yes := func(r string) agreement.Answer { return agreement.Answer{Value: "yes", Rationale: r} }
	no := func(r string) agreement.Answer { return agreement.Answer{Value: "no", Rationale: r} }
	j := func(id, v string) agreement.Answer {
		return agreement.Answer{Value: v, Rationale: "because of answer " + id}
	}
	c := func(id string, h agreement.Answer, a, b string) agreement.Case {
		cs := agreement.Case{TraceID: id, Human: h, A: j(id, a), B: j(id, b)}
		if b == "" {
			cs.B = agreement.Answer{Error: "PARSE_ERROR"}
		}
		return cs
	}
	return []agreement.Case{
		c("t0", yes("fine"), "yes", "yes"),
		c("t1", yes("good"), "yes", "yes"),
		c("t2", yes("covers it"), "yes", "no"),
		c("t3", yes(""), "yes", "yes"),
		c("t4", yes(""), "yes", "yes"),
		c("t5", yes(""), "yes", "yes"),
		c("t6", no("wrong price"), "yes", "no"),
		c("t7", no("off topic"), "yes", "no"),
		c("t8", no("misses the refund"), "yes", "yes"),
		c("t9", no(""), "yes", "no"),
		c("t10", no("<script>alert(1)</script>"), "yes", ""),
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func figure(t *testing.T, r *agreement.Report, f agreement.Figure) float64 {
	t.Helper()
	e, ok := r.Figure(f)
	if !ok {
		t.Fatalf("report has no %s", f)
	}
	return e.Value
}

func near(got, want float64) bool { return math.Abs(got-want) < 1e-9 }

func TestCompareMatchesHandComputation(t *testing.T) {
	traces, table := fixture(t, "helpful", yesNoRows)
	e := newEnv(t, table.responder())
	a := registered(t, "helpful", 1, boolean, false)
	b := registered(t, "helpful", 2, boolean, true)
	opts := validate.Options{Concurrency: 4, Agreement: agreement.Options{Resamples: 500, Seed: 7}}

	got, err := validate.Compare(context.Background(), e.ev, a, b, traces, opts)
	if err != nil {
		t.Fatal(err)
	}
	want, err := agreement.Compare(yesNoCases(), agreement.PassFailScale("yes", "no"), opts.Agreement)
	if err != nil {
		t.Fatal(err)
	}

	// Every figure, interval, class, matrix and delta is what the
	// statistics give on the hand-written table.
	for _, part := range []struct {
		name      string
		got, want any
	}{
		{"report A", got.A, want.A},
		{"report B", got.B, want.B},
		{"deltas", got.Deltas, want.Deltas},
		{"McNemar", got.McNemar, want.McNemar},
	} {
		if g, w := jsonOf(t, part.got), jsonOf(t, part.want); g != w {
			t.Errorf("%s:\n got %s\nwant %s", part.name, g, w)
		}
	}

	// And the table is what a hand computation says. A passes all 11:
	// accuracy 6/11, kappa 0, fail recall 0. B answered 10 (not t10):
	// 8 right; pe = .6·.6 + .4·.4 = .52, kappa = (.8-.52)/.48; fail recall
	// 3/4; false failures 1/6. McNemar on the 10 both answered: only A right
	// t2, only B right t6 t7 t9: p = 2·(1+4)/16.
	for _, tc := range []struct {
		r    *agreement.Report
		f    agreement.Figure
		want float64
	}{
		{got.A, agreement.Accuracy, 6.0 / 11},
		{got.A, agreement.Kappa, 0},
		{got.A, agreement.FailRecall, 0},
		{got.A, agreement.FalseFailureRate, 0},
		{got.B, agreement.Accuracy, 0.8},
		{got.B, agreement.Kappa, 0.28 / 0.48},
		{got.B, agreement.FailRecall, 0.75},
		{got.B, agreement.FalseFailureRate, 1.0 / 6},
	} {
		if v := figure(t, tc.r, tc.f); !near(v, tc.want) {
			t.Errorf("%s = %v, want %v", tc.f, v, tc.want)
		}
	}
	m := got.McNemar
	if m.Pairs != 10 || m.BothRight != 5 || m.OnlyA != 1 || m.OnlyB != 3 || m.BothWrong != 1 || !near(m.PValue, 10.0/16) {
		t.Errorf("McNemar = %+v, want 10 pairs: 5 both right, 1 only A, 3 only B, 1 both wrong, p 0.625", m)
	}
	if got.B.Errors != 1 || len(got.B.ErrorTraceIDs) != 1 || got.B.ErrorTraceIDs[0] != "t10" {
		t.Errorf("B errors = %d %v, want t10", got.B.Errors, got.B.ErrorTraceIDs)
	}

	// Disagreements: B still wrong first (t8 both wrong, t10 no value),
	// then what B fixed; the judge error is kept with its code.
	var ids []string
	for _, d := range got.Disagreements {
		ids = append(ids, fmt.Sprintf("%s:%s", d.TraceID, d.Outcome))
	}
	if g, w := strings.Join(ids, " "), "t2:regressed t10:unresolved t8:unresolved t6:fixed t7:fixed t9:fixed"; g != w {
		t.Errorf("disagreements = %s, want %s", g, w)
	}
	for _, d := range got.Disagreements {
		switch d.TraceID {
		case "t10":
			if !strings.HasPrefix(d.B.Error, eval.CodeParseError+": ") || d.Human.Rationale != "<script>alert(1)</script>" {
				t.Errorf("t10 = %+v, want B's parse error and the human rationale", d)
			}
		case "t8":
			if d.Human.Value != "no" || d.Human.Rationale != "misses the refund" || d.B.Value != "yes" ||
				d.B.Rationale != "because of answer t8" {
				t.Errorf("t8 = %+v", d)
			}
		}
	}

	// The unfit label is noted, with its trace.
	if !containsNote(got.Notes, "t12") || !containsNote(got.Notes, "1 trace is left out") {
		t.Errorf("notes %q do not mention the unfit label of t12", got.Notes)
	}
}

func containsNote(notes []string, s string) bool {
	for _, n := range notes {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func TestCompareTwiceAsksTheModelOnce(t *testing.T) {
	rows := slicesWithout(yesNoRows, "t10") // a parse error is retried past the cache
	traces, table := fixture(t, "helpful", rows)
	e := newEnv(t, table.responder())
	a := registered(t, "helpful", 1, boolean, false)
	b := registered(t, "helpful", 2, boolean, true)
	first, err := validate.Compare(context.Background(), e.ev, a, b, traces, validate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	calls := e.srv.Calls()
	if calls != 2*10 {
		t.Errorf("first comparison made %d model calls, want 20 (10 labelled traces, 2 judges)", calls)
	}
	second, err := validate.Compare(context.Background(), e.ev, a, b, traces, validate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if e.srv.Calls() != calls {
		t.Errorf("second comparison made %d model calls, want 0", e.srv.Calls()-calls)
	}
	if g, w := jsonOf(t, second), jsonOf(t, first); g != w {
		t.Errorf("second comparison differs from the first:\n%s\n%s", g, w)
	}
}

func slicesWithout(rows []row, id string) []row {
	var out []row
	for _, r := range rows {
		if r.id != id {
			out = append(out, r)
		}
	}
	return out
}

func TestScaleFor(t *testing.T) {
	one, five := 1.0, 5.0
	for _, tc := range []struct {
		name string
		vt   judge.ValueType
		want agreement.Scale
	}{
		{"boolean", judge.ValueType{Type: judge.Boolean}, agreement.PassFailScale("yes", "no")},
		{"nominal", judge.ValueType{Values: []string{"refund", "exchange", "none"}}, agreement.NominalScale("refund", "exchange", "none")},
		{"ordinal", judge.ValueType{Type: judge.Categorical, Values: []string{"excellent", "good", "poor"}, Ordinal: true},
			agreement.OrdinalScale("excellent", "good", "poor")},
		{"integer", judge.ValueType{Type: judge.Integer, Min: &one, Max: &five}, agreement.NumericScale()},
		{"float", judge.ValueType{Type: judge.Float}, agreement.NumericScale()},
		{"string", judge.ValueType{}, agreement.NominalScale()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := validate.ScaleFor(tc.vt)
			if jsonOf(t, got) != jsonOf(t, tc.want) {
				t.Errorf("ScaleFor = %+v, want %+v", got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("scale is invalid: %v", err)
			}
		})
	}
}

func TestCompareOrdinalAndNumericJudges(t *testing.T) {
	one, five := 1.0, 5.0
	for _, tc := range []struct {
		name   string
		vt     judge.ValueType
		rows   []row
		kind   agreement.Kind
		checks map[agreement.Figure][2]float64 // figure → want A, want B
	}{
		{
			// Human, A, B: excellent good good | good good good | fair
			// excellent fair | poor poor fair. A: 3/4 right, B: 2/4.
			// Linear weights on positions 0-3 (max distance 3), as the
			// agreement package weighs them; checked there by hand.
			name: "ordinal",
			vt:   judge.ValueType{Type: judge.Categorical, Values: []string{"excellent", "good", "fair", "poor"}, Ordinal: true},
			rows: []row{
				{id: "o1", human: `"Excellent"`, a: `"excellent"`, b: `"good"`},
				{id: "o2", human: `"good"`, a: `"good"`, b: `"good"`},
				{id: "o3", human: `"fair"`, a: `"excellent"`, b: `"fair"`},
				{id: "o4", human: `"poor"`, a: `"poor"`, b: `"fair"`},
			},
			kind:   agreement.Ordinal,
			checks: map[agreement.Figure][2]float64{agreement.Accuracy: {0.75, 0.5}},
		},
		{
			// Human 1 2 4 5; A 1 3 4 4 (MAE 2/4); B 2 3 5 5 (MAE 3/4).
			name: "integer",
			vt:   judge.ValueType{Type: judge.Integer, Min: &one, Max: &five},
			rows: []row{
				{id: "n1", human: `1`, a: `1`, b: `2`},
				{id: "n2", human: `"2"`, a: `3`, b: `3`},
				{id: "n3", human: `4.0`, a: `4`, b: `5`},
				{id: "n4", human: `5`, a: `4`, b: `5`},
			},
			kind: agreement.Numeric,
			checks: map[agreement.Figure][2]float64{
				agreement.Accuracy: {0.5, 0.25},
				agreement.MAE:      {0.5, 0.75},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			traces, table := fixture(t, "quality", tc.rows)
			e := newEnv(t, table.responder())
			a := registered(t, "quality", 1, tc.vt, false)
			b := registered(t, "quality", 2, tc.vt, true)
			opts := validate.Options{Agreement: agreement.Options{Resamples: agreement.NoBootstrap}}
			got, err := validate.Compare(context.Background(), e.ev, a, b, traces, opts)
			if err != nil {
				t.Fatal(err)
			}
			if got.A.Scale.Kind != tc.kind || got.A.Weighting != agreement.Linear {
				t.Errorf("scale %s, weighting %s; want %s, linear", got.A.Scale.Kind, got.A.Weighting, tc.kind)
			}
			for f, want := range tc.checks {
				if g := figure(t, got.A, f); !near(g, want[0]) {
					t.Errorf("A %s = %v, want %v", f, g, want[0])
				}
				if g := figure(t, got.B, f); !near(g, want[1]) {
					t.Errorf("B %s = %v, want %v", f, g, want[1])
				}
			}
			// Human values were normalised, so the same table by hand
			// gives the same kappa.
			cases := make([]agreement.Case, len(tc.rows))
			for i, r := range tc.rows {
				h, _ := tc.vt.Normalize(decode(t, r.human))
				av, _ := tc.vt.Normalize(decode(t, r.a))
				bv, _ := tc.vt.Normalize(decode(t, r.b))
				cases[i] = agreement.Case{TraceID: r.id, Human: agreement.Answer{Value: h},
					A: agreement.Answer{Value: av}, B: agreement.Answer{Value: bv}}
			}
			want, err := agreement.Compare(cases, validate.ScaleFor(tc.vt), opts.Agreement)
			if err != nil {
				t.Fatal(err)
			}
			if g, w := jsonOf(t, got.Deltas), jsonOf(t, want.Deltas); g != w {
				t.Errorf("deltas:\n got %s\nwant %s", g, w)
			}
		})
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCompareRefusals(t *testing.T) {
	traces, table := fixture(t, "helpful", yesNoRows)
	unfit, _ := fixture(t, "helpful", []row{{id: "u1", human: `"maybe"`}, {id: "u2", human: `"perhaps"`}})
	e := newEnv(t, table.responder())
	a := registered(t, "helpful", 1, boolean, false)
	b := registered(t, "helpful", 2, boolean, true)
	graded := registered(t, "helpful", 3, judge.ValueType{Values: []string{"good", "bad"}}, true)
	unregistered := registered(t, "helpful", -1, boolean, true) // version 0 is a candidate; negative is nonsense
	other := registered(t, "tone", 1, boolean, false)
	ctx := context.Background()

	for _, tc := range []struct {
		name     string
		a, b     *store.RegisteredJudge
		traces   []*trace.Trace
		opts     validate.Options
		want     string
		noLabels bool
		// asks says the model may be asked before the refusal (judge A's
		// judgements in flight when B's fails).
		asks bool
	}{
		{name: "different scales", a: a, b: graded, traces: traces, want: "different scales"},
		{name: "no label of that name", a: other, b: b, traces: traces, want: `named "tone"`, noLabels: true},
		{name: "label option names a missing label", a: a, b: b, traces: traces, opts: validate.Options{Label: "Tone"}, want: `"Tone"`, noLabels: true},
		{name: "no trace", a: a, b: b, want: "none of the 0 traces", noLabels: true},
		{name: "only unfit labels", a: a, b: b, traces: unfit, want: `2 labels do not fit the judge's value type (trace u1: human value "maybe"`, noLabels: true},
		{name: "negative version", a: a, b: unregistered, traces: traces, want: "register the judge first", asks: true},
		{name: "no judge", a: a, traces: traces, want: "no judge b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.srv.Calls()
			_, err := validate.Compare(ctx, e.ev, tc.a, tc.b, tc.traces, tc.opts)
			if calls := e.srv.Calls() - before; calls > 0 && !tc.asks {
				t.Errorf("%d model calls before the refusal", calls)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to say %q", err, tc.want)
			}
			var nl *validate.NoLabelsError
			if errors.As(err, &nl) != tc.noLabels {
				t.Errorf("errors.As(*NoLabelsError) = %v, want %v", !tc.noLabels, tc.noLabels)
			}
		})
	}
}

func TestCompareJudgesWithDifferentNamesOnOneLabel(t *testing.T) {
	traces, table := fixture(t, "helpful", yesNoRows)
	e := newEnv(t, table.responder())
	base := registered(t, "helpful_base", 1, boolean, false)
	aligned := registered(t, "helpful_aligned", 1, boolean, true)
	_, err := validate.Compare(context.Background(), e.ev, base, aligned, traces, validate.Options{})
	var nl *validate.NoLabelsError
	if !errors.As(err, &nl) || nl.Label != "helpful_base" || nl.Traces != len(traces) {
		t.Fatalf("without Label: err = %v, want a NoLabelsError for helpful_base over %d traces", err, len(traces))
	}
	c, err := validate.Compare(context.Background(), e.ev, base, aligned, traces,
		validate.Options{Label: " HELPFUL ", Agreement: agreement.Options{Resamples: agreement.NoBootstrap}})
	if err != nil {
		t.Fatal(err)
	}
	if c.A.Pairs != 11 || !near(figure(t, c.B, agreement.Accuracy), 0.8) {
		t.Errorf("with Label: %d pairs, B accuracy %v; want 11 and 0.8", c.A.Pairs, figure(t, c.B, agreement.Accuracy))
	}
}

func TestAgreementOfOneJudge(t *testing.T) {
	traces, table := fixture(t, "helpful", yesNoRows)
	e := newEnv(t, table.responder())
	b := registered(t, "helpful", 2, boolean, true)
	var (
		mu   sync.Mutex
		last validate.Progress
	)
	opts := validate.Options{
		Concurrency: 3,
		Agreement:   agreement.Options{Resamples: 200, Seed: 3},
		Progress: func(p validate.Progress) {
			mu.Lock()
			defer mu.Unlock()
			if p.Judged+p.Failed < last.Judged+last.Failed {
				t.Errorf("progress went back: %+v after %+v", p, last)
			}
			last = p
		},
	}
	r, err := validate.Agreement(context.Background(), e.ev, b, traces, opts)
	if err != nil {
		t.Fatal(err)
	}
	var pairs []agreement.Pair
	for _, c := range yesNoCases() {
		pairs = append(pairs, agreement.Pair{TraceID: c.TraceID, Human: c.Human, Judge: c.B})
	}
	want, err := agreement.Evaluate(pairs, agreement.PassFailScale("yes", "no"), opts.Agreement)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := jsonOf(t, r.Figures), jsonOf(t, want.Figures); g != w {
		t.Errorf("figures:\n got %s\nwant %s", g, w)
	}
	if g, w := jsonOf(t, r.Confusion), jsonOf(t, want.Confusion); g != w {
		t.Errorf("confusion: got %s, want %s", g, w)
	}
	if last != (validate.Progress{Judged: 10, Failed: 1, Total: 11}) {
		t.Errorf("last progress = %+v, want 10 judged, 1 failed of 11", last)
	}
}

func TestCompareStopsWhenCancelled(t *testing.T) {
	traces, table := fixture(t, "helpful", yesNoRows)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	next := table.responder()
	e := newEnv(t, func(req openai.ChatCompletionRequest) llmtest.Reply {
		once.Do(cancel)
		return next(req)
	})
	_, err := validate.Compare(ctx, e.ev, registered(t, "helpful", 1, boolean, false),
		registered(t, "helpful", 2, boolean, true), traces, validate.Options{Concurrency: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := e.srv.Calls(); n > 4 {
		t.Errorf("%d model calls after the cancellation; want the work to stop", n)
	}
}
