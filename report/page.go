package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alignhost/alignhost/agreement"
)

// Judge identifies one judge of a comparison.
type Judge struct {
	// Ref is the judge's registry reference, "name@version".
	Ref string `json:"ref"`
	// Model is the model URI that answered for it.
	Model string `json:"model,omitempty"`
}

// Page is a comparison with what it is about. Its JSON form is what
// `alignhost compare --json` prints.
type Page struct {
	// Title heads the page; empty means "Judge comparison".
	Title string `json:"-"`
	// A is the base judge and B the candidate (typically the aligned one).
	A Judge `json:"judge_a"`
	B Judge `json:"judge_b"`
	// Label is the name of the HUMAN feedback the judges were measured
	// against.
	Label string `json:"label"`
	// Experiment is the experiment the traces came from; empty means every
	// experiment.
	Experiment string `json:"experiment,omitempty"`
	// Generated is when the comparison was made; zero leaves it out.
	Generated time.Time `json:"-"`
	// Comparison holds the figures.
	Comparison *agreement.Comparison `json:"comparison"`
}

func (p *Page) check() error {
	if p == nil || p.Comparison == nil || p.Comparison.A == nil || p.Comparison.B == nil {
		return errors.New("report: no comparison to render")
	}
	return nil
}

func (p *Page) title() string {
	if p.Title != "" {
		return p.Title
	}
	return "Judge comparison"
}

// scope describes the traces: `11 traces labelled "helpful" by humans, in
// experiment "support"`.
func (p *Page) scope() string {
	s := fmt.Sprintf("%s with HUMAN feedback %q", plural(p.Comparison.A.Pairs, "trace", "traces"), p.Label)
	if p.Experiment != "" {
		s += fmt.Sprintf(", experiment %q", p.Experiment)
	}
	return s
}

// bootstrapText says where the intervals come from.
func bootstrapText(r *agreement.Report) string {
	if r.Resamples == 0 {
		return "No confidence intervals: the bootstrap was not run."
	}
	return fmt.Sprintf("%s%% confidence intervals from %d bootstrap resamples of the traces (seed %d); "+
		"both judges are measured on the same resamples.", trimFloat(100*r.Level), r.Resamples, r.Seed)
}

// figureName is how a figure is called on a page.
func figureName(f agreement.Figure, w agreement.Weighting) string {
	switch f {
	case agreement.Accuracy:
		return "accuracy"
	case agreement.Kappa:
		if w == agreement.Linear || w == agreement.Quadratic {
			return "Cohen's kappa (" + string(w) + ")"
		}
		return "Cohen's kappa"
	case agreement.MacroF1:
		return "macro F1"
	case agreement.FailRecall:
		return "fail recall"
	case agreement.FalseFailureRate:
		return "false-failure rate"
	case agreement.MAE:
		return "mean absolute error"
	case agreement.Spearman:
		return "Spearman's rho"
	case agreement.CCC:
		return "concordance (CCC)"
	}
	return string(f)
}

// figureHelp says in a phrase what a figure measures.
func figureHelp(f agreement.Figure) string {
	switch f {
	case agreement.Accuracy:
		return "share of traces on which the judge gives the human's value"
	case agreement.Kappa:
		return "agreement corrected for chance: 0 is chance, 1 perfect"
	case agreement.MacroF1:
		return "F1 averaged over the classes, rare ones weighing as much as common ones"
	case agreement.FailRecall:
		return "share of the human fails the judge also fails: defects caught"
	case agreement.FalseFailureRate:
		return "share of the human passes the judge fails: false alarms (lower is better)"
	case agreement.MAE:
		return "mean distance between judge and human scores (lower is better)"
	case agreement.Spearman:
		return "do judge and humans rank the traces alike?"
	case agreement.CCC:
		return "do the scores fall on the line judge = human?"
	}
	return ""
}

// num formats a figure: three decimals, "—" when undefined.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatFloat(v, 'f', 3, 64)
	if s == "-0.000" { // a tiny negative is shown as zero
		return "0.000"
	}
	return s
}

// signed formats a change with its sign.
func signed(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	if v >= 0 || num(v) == "0.000" {
		return "+" + strconv.FormatFloat(math.Abs(v), 'f', 3, 64)
	}
	return num(v)
}

// hasInterval reports whether e has a defined interval.
func hasInterval(e agreement.Estimate) bool {
	return !math.IsNaN(e.Low) && !math.IsNaN(e.High)
}

// estimateText is "0.830 [0.760, 0.900]", or the value alone without an
// interval.
func estimateText(e agreement.Estimate) string {
	if !hasInterval(e) || math.IsNaN(e.Value) {
		return num(e.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", num(e.Value), num(e.Low), num(e.High))
}

// deltaText is "+0.070 [+0.010, +0.130]".
func deltaText(e agreement.Estimate) string {
	if !hasInterval(e) || math.IsNaN(e.Value) {
		return signed(e.Value)
	}
	return fmt.Sprintf("%s [%s, %s]", signed(e.Value), signed(e.Low), signed(e.High))
}

// verdict reads a delta: "better" or "worse" when the interval of the
// change lies on one side of zero, "" otherwise (no interval, or it holds
// zero).
func verdict(d agreement.Delta) string {
	if math.IsNaN(d.Diff.Value) || !hasInterval(d.Diff) {
		return ""
	}
	lo, hi := d.Diff.Low, d.Diff.High
	if !d.Figure.HigherIsBetter() {
		lo, hi = -hi, -lo
	}
	switch {
	case lo > 0:
		return "better"
	case hi < 0:
		return "worse"
	}
	return ""
}

// valueText shows a value: labels as they are, numbers in their shortest
// form.
func valueText(v any) string {
	switch v := v.(type) {
	case nil:
		return "—"
	case string:
		return v
	case json.Number:
		return v.String()
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'g', -1, 32)
	}
	return fmt.Sprint(v)
}

// answerValue is an answer's value, or "no value" for a judge that failed.
func answerValue(a agreement.Answer) string {
	if a.Missing() {
		return "no value"
	}
	return valueText(a.Value)
}

// outcomeText says what an outcome means.
func outcomeText(o agreement.Outcome) string {
	switch o {
	case agreement.Regressed:
		return "regressed: A agreed, B does not"
	case agreement.Unresolved:
		return "unresolved: neither agrees"
	case agreement.Fixed:
		return "fixed: B agrees, A did not"
	}
	return string(o)
}

// mcnemarReading reads the p-value of McNemar's test in words.
func mcnemarReading(m agreement.McNemar) string {
	switch {
	case m.OnlyA+m.OnlyB == 0:
		return "the judges are right on the same traces"
	case m.PValue < 0.05:
		return "a difference this large is unlikely to be chance (p < 0.05)"
	}
	return "the difference in accuracy could well be chance"
}

// notes gathers every note of a comparison, each once, with whose it is.
func notes(c *agreement.Comparison) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, n := range c.Notes {
		add(n)
	}
	for _, j := range []struct {
		who string
		r   *agreement.Report
	}{{"A", c.A}, {"B", c.B}} {
		for _, n := range j.r.Notes {
			add(j.who + ": " + n)
		}
		for _, m := range j.r.Figures {
			if m.Note != "" {
				add(fmt.Sprintf("%s %s: %s", j.who, figureName(m.Figure, j.r.Weighting), m.Note))
			}
		}
	}
	for _, d := range c.Deltas {
		if d.Note != "" {
			add(fmt.Sprintf("B − A %s: %s", figureName(d.Figure, c.A.Weighting), d.Note))
		}
	}
	return out
}

// outcomeCounts counts disagreements by outcome.
func outcomeCounts(c *agreement.Comparison) map[agreement.Outcome]int {
	n := map[agreement.Outcome]int{}
	for _, d := range c.Disagreements {
		n[d.Outcome]++
	}
	return n
}

// summary is the page's lead: what kappa did and what the disagreements
// come to.
func summary(p *Page) []string {
	c := p.Comparison
	var out []string
	if d, ok := c.Delta(agreement.Kappa); ok && !math.IsNaN(d.Diff.Value) {
		ci := ""
		if hasInterval(d.Diff) {
			ci = fmt.Sprintf(", %s%% interval %s to %s", trimFloat(100*c.A.Level), signed(d.Diff.Low), signed(d.Diff.High))
		}
		var lead string
		switch verdict(d) {
		case "better":
			lead = "B agrees with the humans better than A"
		case "worse":
			lead = "B agrees with the humans worse than A"
		default:
			lead = "B and A agree with the humans about as well"
			if !hasInterval(d.Diff) {
				lead = "Without intervals, the change cannot be told from noise"
			}
		}
		out = append(out, fmt.Sprintf("%s: kappa %s → %s (%s%s).", lead, num(d.A.Value), num(d.B.Value), signed(d.Diff.Value), ci))
	}
	n := outcomeCounts(c)
	out = append(out, fmt.Sprintf("Of the %d traces, B fixes %d of A's disagreements with the humans and regresses on %d that A had right; on %d neither judge agrees.",
		c.A.Pairs, n[agreement.Fixed], n[agreement.Regressed], n[agreement.Unresolved]))
	return out
}

// plural is "1 trace" or "3 traces".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// trimFloat formats a level without trailing zeros: 95, 99.5.
func trimFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// clip shortens s to at most n runes on one line, ending with "…" when cut.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
