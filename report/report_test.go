package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/report"
)

// passFail is a comparison of a lenient base judge with a stricter one on
// 24 yes/no traces: humans yes on 14, no on 10. A says yes to all but one
// no. B misses 2 yeses and 1 no, and fails on another no. A rationale
// holds markup.
func passFail(t *testing.T, opts agreement.Options) *agreement.Comparison {
	t.Helper()
	ans := func(v, why string) agreement.Answer { return agreement.Answer{Value: v, Rationale: why} }
	var cases []agreement.Case
	add := func(n int, h, a, b string) {
		for range n {
			id := fmt.Sprintf("tr-%02d", len(cases))
			cases = append(cases, agreement.Case{TraceID: id, Human: ans(h, "human on "+id),
				A: ans(a, "A on "+id), B: ans(b, "B on "+id)})
		}
	}
	add(12, "yes", "yes", "yes")
	add(2, "yes", "yes", "no")
	add(7, "no", "yes", "no")
	add(1, "no", "no", "no")
	add(1, "no", "yes", "yes")
	add(1, "no", "yes", "no")
	cases[12].Human.Rationale = `<script>alert("x")</script> & <b>bold</b>`
	cases[23].B = agreement.Answer{Error: "PARSE_ERROR: judge answer is unusable"}
	c, err := agreement.Compare(cases, agreement.PassFailScale("yes", "no"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func page(c *agreement.Comparison) *report.Page {
	return &report.Page{
		A:          report.Judge{Ref: "helpful@1", Model: "openai:/gpt-4.1-mini"},
		B:          report.Judge{Ref: "helpful@2", Model: "openai:/gpt-4.1-mini"},
		Label:      "helpful",
		Experiment: "support",
		Generated:  time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		Comparison: c,
	}
}

func TestWriteTextShowsTheFiguresSideBySide(t *testing.T) {
	c := passFail(t, agreement.Options{Seed: 3, Resamples: 400})
	var buf bytes.Buffer
	if err := report.WriteText(&buf, page(c), report.TextOptions{Disagreements: 2}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	acc, _ := c.Delta(agreement.Accuracy)
	kappa, _ := c.Delta(agreement.Kappa)
	// By hand: A is right on 14 yes + 1 no of 24; B on 12 yes + 8 no of
	// the 23 it answered. McNemar on those 23: only A right on the 2
	// yeses B fails, only B right on the 7 noes A passes.
	if !near(acc.A.Value, 15.0/24) || !near(acc.B.Value, 20.0/23) {
		t.Fatalf("fixture: accuracy %v and %v, want 15/24 and 20/23", acc.A.Value, acc.B.Value)
	}
	for _, want := range []string{
		`Judge comparison: 24 traces with HUMAN feedback "helpful", experiment "support"`,
		"A  helpful@1  openai:/gpt-4.1-mini",
		"B  helpful@2  openai:/gpt-4.1-mini  (no value on 1 trace)",
		// the accuracy row: A, B and B − A, each with its interval
		fmt.Sprintf("accuracy            %s [%s, %s]", num(acc.A.Value), num(acc.A.Low), num(acc.A.High)),
		fmt.Sprintf("%s [%s, %s]", num(acc.B.Value), num(acc.B.Low), num(acc.B.High)),
		fmt.Sprintf("%+.3f [%+.3f, %+.3f]", acc.Diff.Value, acc.Diff.Low, acc.Diff.High),
		fmt.Sprintf("Cohen's kappa       %s", num(kappa.A.Value)),
		"fail recall", "false-failure rate", "(lower is better)",
		"95% confidence intervals from 400 bootstrap resamples of the traces (seed 3)",
		"McNemar's exact test on the 23 traces both judges answered: both right 13, only A right 2, only B right 7, both wrong 1",
		fmt.Sprintf("p = %.3f", agreement.McNemarExact(2, 7)),
		"human \\ judge  yes  no  no value",
		"yes             14   0         0      yes             12   2         0", // the yes row of both matrices
		"Disagreements: 11 (those B still gets wrong first)",
		"tr-12  regressed: A agreed, B does not",
		"… and 9 more",
		"B: the judge gave no value for 1 of 24 pairs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
	if verdict := "B better"; (kappa.Diff.Low > 0) != strings.Contains(out, verdict) {
		t.Errorf("kappa delta %+v, and the text says %q: %v", kappa.Diff, verdict, strings.Contains(out, verdict))
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func num(v float64) string { return fmt.Sprintf("%.3f", v) }

func TestWriteTextDisagreementLimit(t *testing.T) {
	c := passFail(t, agreement.Options{Resamples: agreement.NoBootstrap})
	for _, tc := range []struct {
		name   string
		limit  int
		listed int
		more   string
	}{
		{"default lists 20", 0, 11, ""},
		{"none", -1, 0, "… and 11 more"},
		{"five", 5, 5, "… and 6 more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := report.WriteText(&buf, page(c), report.TextOptions{Disagreements: tc.limit}); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if n := regexp.MustCompile(`(?m)^  tr-\d\d  `).FindAllStringIndex(out, -1); len(n) != tc.listed {
				t.Errorf("%d disagreements listed, want %d:\n%s", len(n), tc.listed, out)
			}
			if tc.more != "" && !strings.Contains(out, tc.more) {
				t.Errorf("text lacks %q", tc.more)
			}
			if tc.more == "" && strings.Contains(out, "more (all of them") {
				t.Errorf("text counts a rest although all are listed")
			}
			if !strings.Contains(out, "No confidence intervals") {
				t.Errorf("without a bootstrap the text does not say so")
			}
		})
	}
}

func TestWriteHTMLIsSelfContainedAndEscaped(t *testing.T) {
	c := passFail(t, agreement.Options{Seed: 3, Resamples: 400})
	var buf bytes.Buffer
	if err := report.WriteHTML(&buf, page(c)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	checkSelfContained(t, out)
	if strings.Contains(out, `<script>alert`) || !strings.Contains(out, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;`) {
		t.Errorf("the rationale's markup is not escaped")
	}
	// The charts: a forest plot per headline figure, a heat map per judge,
	// bars per class.
	nFigures, nClasses := len(c.Deltas), len(c.A.Classes)
	if n := strings.Count(out, "<svg "); n != nFigures+2+nClasses {
		t.Errorf("%d charts, want %d", n, nFigures+2+nClasses)
	}
	acc, _ := c.Delta(agreement.Accuracy)
	for _, want := range []string{
		"<title>Judge comparison: helpful@1 vs helpful@2</title>",
		"generated 2026-05-01 12:00 UTC",
		fmt.Sprintf("%s [%s, %s]", num(acc.A.Value), num(acc.A.Low), num(acc.A.High)),
		"human yes, judge no: 2 (14% of the row)", // B's heat map
		"human no, judge no value: 1 (10% of the row)",
		`<td class="worse">2</td>`, `<td class="better">7</td>`, // McNemar's discordant cells
		`<span class="badge regressed"`,
		"PARSE_ERROR: judge answer is unusable",
		"Disagreements (11)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("html lacks %q", want)
		}
	}
}

// checkSelfContained checks that a page loads nothing, runs nothing and
// closes what it opens.
func checkSelfContained(t *testing.T, page string) {
	t.Helper()
	for _, bad := range []string{"http://", "https://", "<script", "<link", "<img", "<iframe", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(page), "</html>") {
		t.Errorf("the page is not a whole HTML document")
	}
	// Every element opened is closed, in order (void and self-closed
	// elements aside).
	void := map[string]bool{"meta": true, "br": true, "hr": true, "img": true, "input": true, "link": true}
	var stack []string
	for _, m := range regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)[^<>]*?(/?)>`).FindAllStringSubmatch(page, -1) {
		closing, name, self := m[1] == "/", strings.ToLower(m[2]), m[3] == "/"
		switch {
		case void[name] || self:
		case !closing:
			stack = append(stack, name)
		case len(stack) == 0 || stack[len(stack)-1] != name:
			t.Fatalf("</%s> closes %v", name, stack)
		default:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 {
		t.Errorf("unclosed elements %v", stack)
	}
}

func TestWriteHTMLNumericJudges(t *testing.T) {
	// 30 traces with 30 distinct float scores: too many values for a
	// confusion matrix, so the page has the headline charts only.
	var cases []agreement.Case
	for i := range 30 {
		h := float64(i) / 10
		cases = append(cases, agreement.Case{TraceID: fmt.Sprintf("n%02d", i),
			Human: agreement.Answer{Value: h}, A: agreement.Answer{Value: h + 0.5}, B: agreement.Answer{Value: h + 0.05}})
	}
	c, err := agreement.Compare(cases, agreement.NumericScale(), agreement.Options{Seed: 1, Resamples: 200})
	if err != nil {
		t.Fatal(err)
	}
	var html, text bytes.Buffer
	if err := report.WriteHTML(&html, page(c)); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteText(&text, page(c), report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	checkSelfContained(t, html.String())
	if n, want := strings.Count(html.String(), "<svg "), len(c.Deltas); n != want {
		t.Errorf("%d charts, want %d (one per figure, no matrix)", n, want)
	}
	for _, out := range []string{html.String(), text.String()} {
		for _, want := range []string{"mean absolute error", "Spearman", "concordance (CCC)", "0.500", "0.050",
			"per-class figures and the confusion matrix are left out"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%.600s", want, out)
			}
		}
	}
	if strings.Contains(text.String(), "Confusion matrices") {
		t.Errorf("the text shows confusion matrices it does not have")
	}
}

func TestVerdicts(t *testing.T) {
	est := func(v, lo, hi float64) agreement.Estimate { return agreement.Estimate{Value: v, Low: lo, High: hi} }
	nan := math.NaN()
	for _, tc := range []struct {
		name string
		d    agreement.Delta
		want string
	}{
		{"kappa up, interval above zero", agreement.Delta{Figure: agreement.Kappa, Diff: est(0.3, 0.1, 0.5)}, "B better"},
		{"kappa up, interval holds zero", agreement.Delta{Figure: agreement.Kappa, Diff: est(0.3, -0.1, 0.5)}, ""},
		{"kappa down", agreement.Delta{Figure: agreement.Kappa, Diff: est(-0.3, -0.5, -0.1)}, "B worse"},
		{"false failures up is worse", agreement.Delta{Figure: agreement.FalseFailureRate, Diff: est(0.2, 0.1, 0.3)}, "B worse"},
		{"MAE down is better", agreement.Delta{Figure: agreement.MAE, Diff: est(-0.4, -0.6, -0.2)}, "B better"},
		{"no interval", agreement.Delta{Figure: agreement.Kappa, Diff: est(0.3, nan, nan)}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.d.A, tc.d.B = est(0.5, nan, nan), est(0.5, nan, nan)
			c := &agreement.Comparison{
				A:      &agreement.Report{Pairs: 1, Figures: []agreement.Metric{{Figure: tc.d.Figure}}},
				B:      &agreement.Report{Pairs: 1, Figures: []agreement.Metric{{Figure: tc.d.Figure}}},
				Deltas: []agreement.Delta{tc.d},
			}
			var buf bytes.Buffer
			if err := report.WriteText(&buf, page(c), report.TextOptions{}); err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, v := range []string{"B better", "B worse"} {
				if strings.Contains(buf.String(), v) {
					got = v
				}
			}
			if got != tc.want {
				t.Errorf("verdict %q, want %q:\n%s", got, tc.want, buf.String())
			}
		})
	}
}

func TestPageJSON(t *testing.T) {
	c := passFail(t, agreement.Options{Resamples: agreement.NoBootstrap})
	b, err := json.Marshal(page(c))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		A          report.Judge         `json:"judge_a"`
		B          report.Judge         `json:"judge_b"`
		Label      string               `json:"label"`
		Experiment string               `json:"experiment"`
		Comparison agreement.Comparison `json:"comparison"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.A.Ref != "helpful@1" || got.B.Model != "openai:/gpt-4.1-mini" || got.Label != "helpful" || got.Experiment != "support" ||
		got.Comparison.McNemar != c.McNemar || len(got.Comparison.Disagreements) != 11 {
		t.Errorf("round trip = %+v", got)
	}
	if strings.Contains(string(b), "generated") || strings.Contains(string(b), "title") {
		t.Errorf("JSON holds presentation fields: %s", b)
	}
}

func TestWriteRefusesAnEmptyPage(t *testing.T) {
	for _, p := range []*report.Page{nil, {}, {Comparison: &agreement.Comparison{}}} {
		if err := report.WriteHTML(&bytes.Buffer{}, p); err == nil {
			t.Errorf("WriteHTML(%+v) = nil error", p)
		}
		if err := report.WriteText(&bytes.Buffer{}, p, report.TextOptions{}); err == nil {
			t.Errorf("WriteText(%+v) = nil error", p)
		}
	}
}

// TestWriteTextEscapesControls renders a comparison whose labels, values,
// rationales, errors, trace IDs and judge references hold terminal
// controls, bidi overrides and invalid UTF-8: the text holds none of them
// raw.
func TestWriteTextEscapesControls(t *testing.T) {
	const bad = "\x1b]0;pwned\x07\x1b[31m\u202e\u009b\x9b\xff\r\x7f"
	ans := func(v, why string) agreement.Answer { return agreement.Answer{Value: v, Rationale: why} }
	var cases []agreement.Case
	for i := range 6 {
		h, a := "yes"+bad, "yes"+bad
		if i%2 == 1 {
			h = "no"
		}
		cases = append(cases, agreement.Case{TraceID: fmt.Sprintf("tr-%d%s", i, bad),
			Human: ans(h, "human "+bad), A: ans(a, "A "+bad), B: agreement.Answer{Error: "error " + bad}})
	}
	c, err := agreement.Compare(cases, agreement.PassFailScale("yes"+bad, "no"), agreement.Options{Resamples: agreement.NoBootstrap})
	if err != nil {
		t.Fatal(err)
	}
	p := page(c)
	p.A.Ref, p.B.Model, p.Label, p.Experiment, p.Title = "a"+bad, "m"+bad, "label"+bad, "exp"+bad, "title"+bad
	var buf bytes.Buffer
	if err := report.WriteText(&buf, p, report.TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRuneInString(out[i:])
		switch {
		case r == utf8.RuneError && size == 1,
			r < 0x20 && r != '\n' && r != '\t', r == 0x7f, r >= 0x80 && r <= 0x9f,
			r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
			t.Fatalf("raw %q at byte %d: %q", out[i:i+size], i, out[max(0, i-30):min(len(out), i+30)])
		}
		i += size
	}
	if want := `human \x1b]0;pwned\x07\x1b[31m\u202e\u009b\x9b\xff`; !strings.Contains(out, want) {
		t.Errorf("the rationale is not shown escaped as %s:\n%s", want, out)
	}
}
