package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/llm/llmtest"
)

// The base judge helpful@1 and the candidate helpful@2, which the scripted
// model tells apart by the word "strictly".
const (
	helpfulBase = `
name = "helpful"
model = "openai:/gpt-4.1-mini"
type = "boolean"
instructions = "Is {{ outputs }} a helpful answer to {{ inputs }}?"
`
	helpfulCandidate = `
name = "helpful"
model = "openai:/gpt-4.1-mini"
type = "boolean"
instructions = "Judge strictly: is {{ outputs }} a helpful answer to {{ inputs }}?"
`
)

// compareRows are the labelled traces: humans say yes to t0-t5 and no to
// t6-t9. The base judge says yes to everything; the candidate agrees with
// the humans except on t2 (no) and t8 (yes). t10 has no label and t11 a
// label of another name.
var compareRows = []struct {
	id, human, rationale, base, candidate string
}{
	{"t0", `"yes"`, "clear", "yes", "yes"},
	{"t1", `"pass"`, "fine", "yes", "yes"},
	{"t2", `true`, "answers the question", "yes", "no"},
	{"t3", `"yes"`, "", "yes", "yes"},
	{"t4", `"yes"`, "", "yes", "yes"},
	{"t5", `"yes"`, "", "yes", "yes"},
	{"t6", `"no"`, "quotes <script>alert(1)</script> back at the user", "yes", "no"},
	{"t7", `"fail"`, "wrong plan", "yes", "no"},
	{"t8", `false`, "misses the refund", "yes", "yes"},
	{"t9", `"no"`, "rude", "yes", "no"},
	{"t10", ``, "", "yes", "yes"},
	{"t11", ``, "", "yes", "yes"},
}

// compareCLI is a cli with both judges registered and compareRows imported,
// whose model is a fake server answering from compareRows.
func compareCLI(t *testing.T) (*cli, *llmtest.Server) {
	t.Helper()
	answers := map[string][2]string{}
	var lines []string
	for _, r := range compareRows {
		rec := map[string]any{"trace_id": r.id, "inputs": map[string]any{"question": "question " + r.id}, "outputs": "answer " + r.id}
		switch {
		case r.human != "":
			rec["feedback"] = map[string]any{"helpful": map[string]any{"value": json.RawMessage(r.human), "rationale": r.rationale}}
		case r.id == "t11":
			rec["feedback"] = map[string]any{"tone": "yes"}
		}
		b, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, string(b))
		answers["answer "+r.id] = [2]string{r.base, r.candidate}
	}
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(req openai.ChatCompletionRequest) llmtest.Reply {
		user := req.Messages[len(req.Messages)-1].Content
		_, rest, _ := strings.Cut(user, "<outputs>\n")
		out, _, _ := strings.Cut(rest, "\n</outputs>")
		ans, ok := answers[out]
		if !ok {
			return llmtest.Error(400, "no scripted answer for "+out)
		}
		value := ans[0]
		if strings.Contains(req.Messages[0].Content, "Judge strictly") {
			value = ans[1]
		}
		return llmtest.Content(fmt.Sprintf(`{"rationale":"the judge's view of %s","result":%q}`, out, value))
	}))
	c := newCLI(t)
	c.env["OPENAI_API_KEY"] = srv.APIKey()
	c.env["OPENAI_BASE_URL"] = srv.BaseURL()
	c.ok("judges", "create", c.write("base.toml", helpfulBase))
	c.ok("judges", "create", c.write("candidate.toml", helpfulCandidate))
	c.ok("traces", "import", c.write("traces.jsonl", strings.Join(lines, "\n")+"\n"))
	return c, srv
}

// compareOutput is the part of `compare --json` the tests read.
type compareOutput struct {
	JudgeA struct {
		Ref   string `json:"ref"`
		Model string `json:"model"`
	} `json:"judge_a"`
	JudgeB struct {
		Ref string `json:"ref"`
	} `json:"judge_b"`
	Label      string `json:"label"`
	Comparison struct {
		A struct {
			Pairs   int `json:"pairs"`
			Figures []struct {
				Figure string   `json:"figure"`
				Value  *float64 `json:"value"`
				Low    *float64 `json:"low"`
				High   *float64 `json:"high"`
			} `json:"figures"`
		} `json:"a"`
		McNemar struct {
			OnlyA  int     `json:"only_a_right"`
			OnlyB  int     `json:"only_b_right"`
			PValue float64 `json:"p_value"`
		} `json:"mcnemar"`
		Disagreements []struct {
			TraceID string `json:"trace_id"`
			Outcome string `json:"outcome"`
		} `json:"disagreements"`
	} `json:"comparison"`
	Usage struct {
		Calls  int `json:"model_calls"`
		Cached int `json:"cached_calls"`
	} `json:"usage"`
}

func TestCompareEndToEnd(t *testing.T) {
	c, srv := compareCLI(t)

	// First run: 10 labelled traces, 2 judges, 20 model calls. By hand:
	// A (yes to all) is right on the 6 yeses: accuracy 0.6, kappa 0, fail
	// recall 0. B is right on 8: accuracy 0.8; chance agreement
	// .6·.6 + .4·.4 = .52, kappa (.8-.52)/.48 = 0.583; fail recall 3/4;
	// false failures 1/6. McNemar: only A right on t2, only B right on t6,
	// t7, t9: p = 2·5/16 = 0.625.
	out := c.ok("compare", "--judge", "helpful@1", "--judge", "helpful@2", "--seed", "7", "--resamples", "500")
	if srv.Calls() != 20 {
		t.Errorf("first compare made %d model calls, want 20", srv.Calls())
	}
	for _, want := range []string{
		`Judge comparison: 10 traces with HUMAN feedback "helpful"`,
		"A  helpful@1  openai:/gpt-4.1-mini",
		"B  helpful@2  openai:/gpt-4.1-mini",
		"kappa 0.000 → 0.583",
		"fail recall         0.000",
		"0.750 [",
		"false-failure rate  0.000",
		"0.167 [",
		"500 bootstrap resamples of the traces (seed 7)",
		"both right 5, only A right 1, only B right 3, both wrong 1",
		"p = 0.625",
		"yes              6   0      yes              5   1",
		"no               4   0      no               1   3",
		"Disagreements: 5 (those B still gets wrong first)",
		"t2  regressed: A agreed, B does not",
		"human  yes  answers the question",
		"B      no   the judge's view of answer t2",
		"model calls: 20 (0 answered from the cache)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	accuracy := regexp.MustCompile(`(?m)^accuracy +0\.600 \[[0-9.]+, [0-9.]+\] +0\.800 \[[0-9.]+, [0-9.]+\] +\+0\.200 \[[-+][0-9.]+, \+[0-9.]+\]`)
	if !accuracy.MatchString(out) {
		t.Errorf("no accuracy row with A 0.600, B 0.800 and +0.200, each with an interval:\n%s", out)
	}
	// The disagreements B still gets wrong come first.
	if i, j := strings.Index(out, "t8  unresolved"), strings.Index(out, "t6  fixed"); i < 0 || j < 0 || i > j {
		t.Errorf("t8 (unresolved) is not listed before t6 (fixed):\n%s", out)
	}

	// Second run, as JSON: every answer from the cache.
	var got compareOutput
	c.jsonOut(&got, "compare", "--judge", "helpful@1", "--judge", "helpful@2", "--seed", "7", "--resamples", "500")
	if srv.Calls() != 20 {
		t.Errorf("second compare made %d model calls, want none", srv.Calls()-20)
	}
	if got.Usage.Calls != 20 || got.Usage.Cached != 20 {
		t.Errorf("usage = %+v, want 20 calls, all cached", got.Usage)
	}
	if got.JudgeA.Ref != "helpful@1" || got.JudgeA.Model != "openai:/gpt-4.1-mini" || got.JudgeB.Ref != "helpful@2" || got.Label != "helpful" {
		t.Errorf("judges = %+v %+v, label %q", got.JudgeA, got.JudgeB, got.Label)
	}
	want := map[string]float64{"accuracy": 0.6, "kappa": 0, "fail_recall": 0, "false_failure_rate": 0}
	for _, f := range got.Comparison.A.Figures {
		if w, ok := want[f.Figure]; ok && (f.Value == nil || *f.Value != w || f.Low == nil || f.High == nil) {
			t.Errorf("A %s = %v [%v, %v], want %v with an interval", f.Figure, f.Value, f.Low, f.High, w)
		}
		delete(want, f.Figure)
	}
	if len(want) > 0 {
		t.Errorf("JSON lacks figures %v", want)
	}
	m := got.Comparison.McNemar
	if m.OnlyA != 1 || m.OnlyB != 3 || math.Abs(m.PValue-0.625) > 1e-12 || got.Comparison.A.Pairs != 10 {
		t.Errorf("McNemar = %+v on %d pairs, want 1, 3, p 0.625 on 10", m, got.Comparison.A.Pairs)
	}
	if d := got.Comparison.Disagreements; len(d) != 5 || d[0].TraceID != "t2" || d[0].Outcome != "regressed" {
		t.Errorf("disagreements = %+v", d)
	}

	// Third run, with an HTML report: still free.
	page := filepath.Join(c.dir, "report.html")
	_, errOut, code := c.run("compare", "--judge", "helpful@1", "--judge", "helpful@2", "--html", page)
	if code != exitOK || !strings.Contains(errOut, "wrote the HTML report to "+page) {
		t.Fatalf("compare --html: exit %d\n%s", code, errOut)
	}
	if srv.Calls() != 20 {
		t.Errorf("compare --html made %d model calls, want none", srv.Calls()-20)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	// The report holds what the private store holds (issue 9, defect 11).
	if fi, err := os.Stat(page); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("report mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	html := string(b)
	if !strings.HasPrefix(html, "<!DOCTYPE html>") || strings.Count(html, "<svg") < 4 {
		t.Errorf("the report is not an HTML page with charts:\n%.500s", html)
	}
	// No reference leaves the page; xmlns attributes would be the only
	// allowed URLs.
	for _, m := range regexp.MustCompile(`[a-zA-Z:-]*=?"?https?://`).FindAllString(html, -1) {
		if !strings.HasPrefix(m, "xmlns") {
			t.Errorf("the report refers to the network: %q", m)
		}
	}
	if strings.Contains(html, "<script") {
		t.Errorf("the report holds a <script> element")
	}
	if !strings.Contains(html, "quotes &lt;script&gt;alert(1)&lt;/script&gt; back at the user") {
		t.Errorf("the human rationale holding <script> is not shown escaped")
	}
	for _, want := range []string{"helpful@1", "helpful@2", "0.583", "p = 0.625", "human no, judge yes: 4 (100% of the row)"} {
		if !strings.Contains(html, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

func TestCompareWithoutLabelledTraces(t *testing.T) {
	c, srv := compareCLI(t)
	c.ok("traces", "import", "--experiment", "unlabelled", c.write("more.jsonl", `{"trace_id": "u1", "inputs": "q", "outputs": "a"}`+"\n"))
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"label nobody gave", []string{"--label", "politeness"},
			[]string{`no trace carries HUMAN feedback named "politeness"`, "--label"}},
		{"experiment without labels", []string{"--experiment", "unlabelled"},
			[]string{`no trace in experiment "unlabelled" carries HUMAN feedback named "helpful"`}},
		{"traces without labels", []string{"--traces", "t10,t11"},
			[]string{`among the 2 traces given with --traces carries HUMAN feedback named "helpful"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errOut := c.fail(exitFailure, append([]string{"compare", "--judge", "helpful@1", "--judge", "helpful@2"}, tc.args...)...)
			for _, want := range tc.want {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr %q lacks %q", errOut, want)
				}
			}
		})
	}
	// Some of the traces asked for are labelled: the others are named.
	_, errOut, code := c.run("compare", "--judge", "helpful@1", "--judge", "helpful@2", "--traces", "t0,t6,t10,nope", "--resamples", "0")
	if code != exitOK || !strings.Contains(errOut, `2 of the traces given with --traces are not in the store or carry no HUMAN feedback named "helpful": t10, nope`) {
		t.Errorf("compare --traces: exit %d, stderr %q", code, errOut)
	}
	if srv.Calls() != 4 {
		t.Errorf("%d model calls, want 4 (two traces, two judges)", srv.Calls())
	}
}

func TestCompareUsageErrors(t *testing.T) {
	c, srv := compareCLI(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"compare"}, exitUsage, "judge"},
		{[]string{"compare", "--judge", "helpful@1"}, exitUsage, "give it twice"},
		{[]string{"compare", "--judge", "helpful@1", "--judge", "helpful@2", "--judge", "helpful"}, exitUsage, "3 times"},
		{[]string{"compare", "--judge", "helpful@1", "--judge", "helpful@x"}, exitUsage, "version"},
		{[]string{"compare", "--judge", "helpful@1", "--judge", "helpful@2", "--traces", "t1", "--limit", "3"}, exitUsage, "together"},
		{[]string{"compare", "--judge", "helpful@1", "--judge", "helpful@2", "--resamples", "-5"}, exitUsage, "resamples"},
		{[]string{"compare", "--judge", "helpful@1", "--judge", "helpful@2", "--concurrency", "0"}, exitUsage, "concurrency"},
		{[]string{"compare", "--judge", "helpful@1", "--judge", "nobody"}, exitFailure, "not found"},
		{[]string{"compare", "--judge", "helpful@1", "--judge", "helpful@2", "--replay", filepath.Join(c.dir, "missing.jsonl")}, exitFailure, "replay"},
	} {
		if errOut := c.fail(tc.code, tc.args...); !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: stderr %q lacks %q", tc.args, errOut, tc.want)
		}
	}
	if srv.Calls() != 0 {
		t.Errorf("%d model calls from refused comparisons", srv.Calls())
	}
}

// A judge whose model answers nothing usable makes compare fail, after the
// report, so that a CI job does not pass on an empty comparison.
func TestCompareFailsWhenAJudgeAnsweredNothing(t *testing.T) {
	c, _ := compareCLI(t)
	c.write("broken.toml", strings.Replace(helpfulBase, "openai:/gpt-4.1-mini", "azure:/judge-deployment", 1))
	c.ok("judges", "create", filepath.Join(c.dir, "broken.toml"))
	// Behind Azure, a server that refuses every request (404: no retry; a
	// 401 would stop the whole comparison instead).
	broken := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Sequence(llmtest.Error(http.StatusNotFound, "deployment not found"))))
	c.env["AZURE_OPENAI_ENDPOINT"] = broken.URL
	c.env["AZURE_OPENAI_API_KEY"] = broken.APIKey()
	errOut := c.fail(exitFailure, "compare", "--judge", "helpful@1", "--judge", "helpful@3", "--resamples", "0")
	if !strings.Contains(errOut, "judge helpful@3 gave no value on any of the 10 traces") {
		t.Errorf("stderr %q", errOut)
	}
}
