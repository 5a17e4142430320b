package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/termtext"
)

// DefaultTextDisagreements is how many disagreements [WriteText] lists when
// TextOptions.Disagreements is 0.
const DefaultTextDisagreements = 20

// rationaleWidth is how many characters of a rationale the text shows.
const rationaleWidth = 110

// TextOptions configures [WriteText].
type TextOptions struct {
	// Disagreements is the most disagreements listed, the rest being
	// counted; 0 means DefaultTextDisagreements and a negative number none.
	Disagreements int
}

// WriteText writes the comparison as plain text for a terminal: the
// headline figures side by side with their intervals and the change, the
// McNemar test, both confusion matrices, the per-class figures and the
// first disagreements. Rationales are shortened to one line.
func WriteText(w io.Writer, p *Page, opts TextOptions) error {
	if err := p.check(); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	t := &textWriter{w: bw, p: p, c: p.Comparison}
	t.header()
	t.figures()
	t.mcnemar()
	t.matrices()
	t.classes()
	limit := opts.Disagreements
	if limit == 0 {
		limit = DefaultTextDisagreements
	}
	t.disagreements(max(limit, 0))
	t.notes()
	return bw.Flush()
}

type textWriter struct {
	w *bufio.Writer
	p *Page
	c *agreement.Comparison
}

// printf writes to the terminal. Every string argument is escaped for it
// (package termtext): judge references, labels, trace IDs, values and
// rationales come from data. Escaping what grid already escaped changes
// nothing.
func (t *textWriter) printf(format string, args ...any) {
	for i, arg := range args {
		if s, ok := arg.(string); ok {
			args[i] = termtext.Line(s)
		}
	}
	fmt.Fprintf(t.w, format, args...)
}

func (t *textWriter) lines(lines []string) {
	for _, l := range lines {
		t.printf("%s\n", strings.TrimRight(l, " "))
	}
}

func (t *textWriter) header() {
	p, c := t.p, t.c
	t.printf("%s: %s\n", p.title(), p.scope())
	for _, j := range []struct {
		who string
		j   Judge
		r   *agreement.Report
	}{{"A", p.A, c.A}, {"B", p.B, c.B}} {
		line := fmt.Sprintf("  %s  %s", j.who, j.j.Ref)
		if j.j.Model != "" {
			line += "  " + j.j.Model
		}
		if j.r.Errors > 0 {
			line += fmt.Sprintf("  (no value on %s)", plural(j.r.Errors, "trace", "traces"))
		}
		t.printf("%s\n", line)
	}
	t.printf("\n")
	for _, s := range summary(p) {
		t.printf("%s\n", s)
	}
	t.printf("\n")
}

func (t *textWriter) figures() {
	c := t.c
	rows := [][]string{{"figure", "A", "B", "B − A", ""}}
	for _, d := range c.Deltas {
		v := verdict(d)
		if v != "" {
			v = "B " + v
		}
		if !d.Figure.HigherIsBetter() {
			v = strings.TrimSpace(v + " (lower is better)")
		}
		rows = append(rows, []string{figureName(d.Figure, c.A.Weighting), estimateText(d.A), estimateText(d.B), deltaText(d.Diff), v})
	}
	t.lines(grid(rows, func(col int) bool { return false }))
	t.printf("%s\n\n", bootstrapText(c.A))
}

func (t *textWriter) mcnemar() {
	m := t.c.McNemar
	t.printf("McNemar's exact test on the %d traces both judges answered: both right %d, only A right %d, only B right %d, both wrong %d\n",
		m.Pairs, m.BothRight, m.OnlyA, m.OnlyB, m.BothWrong)
	t.printf("  p = %s: %s\n\n", pValue(m.PValue), mcnemarReading(m))
}

// pValue formats a p-value: three decimals, or scientific notation below
// 0.001.
func pValue(p float64) string {
	if p > 0 && p < 0.001 {
		return fmt.Sprintf("%.2g", p)
	}
	return num(p)
}

func (t *textWriter) matrices() {
	a, b := t.c.A.Confusion, t.c.B.Confusion
	if a == nil || b == nil {
		return
	}
	t.printf("Confusion matrices (rows: human value, columns: judge value)\n")
	errs := sum(a.Errors)+sum(b.Errors) > 0
	left := matrixLines("A  "+t.p.A.Ref, a, errs)
	right := matrixLines("B  "+t.p.B.Ref, b, errs)
	width := 0
	for _, l := range left {
		width = max(width, utf8.RuneCountInString(l))
	}
	for i := range max(len(left), len(right)) {
		var l, r string
		if i < len(left) {
			l = left[i]
		}
		if i < len(right) {
			r = right[i]
		}
		t.printf("%s\n", strings.TrimRight("  "+pad(l, width)+"      "+r, " "))
	}
	t.printf("\n")
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// matrixLines renders a confusion matrix under a title.
func matrixLines(title string, m *agreement.Matrix, errs bool) []string {
	head := append([]string{"human \\ judge"}, m.Labels...)
	if errs {
		head = append(head, "no value")
	}
	rows := [][]string{head}
	for h, label := range m.Labels {
		row := []string{label}
		for _, n := range m.Counts[h] {
			row = append(row, fmt.Sprint(n))
		}
		if errs {
			row = append(row, fmt.Sprint(m.Errors[h]))
		}
		rows = append(rows, row)
	}
	return append([]string{termtext.Line(title)}, grid(rows, func(col int) bool { return col > 0 })...)
}

func (t *textWriter) classes() {
	a, b := t.c.A, t.c.B
	if len(a.Classes) == 0 || len(a.Classes) != len(b.Classes) {
		return
	}
	t.printf("Per class (the human value is the truth)\n")
	rows := [][]string{{"class", "human", "A precision", "recall", "F1", "B precision", "recall", "F1"}}
	for i, ca := range a.Classes {
		cb := b.Classes[i]
		humans := ca.Support
		if a.Confusion != nil && i < len(a.Confusion.Errors) {
			humans += a.Confusion.Errors[i]
		}
		rows = append(rows, []string{ca.Label, fmt.Sprint(humans),
			num(ca.Precision.Value), num(ca.Recall.Value), num(ca.F1.Value),
			num(cb.Precision.Value), num(cb.Recall.Value), num(cb.F1.Value)})
	}
	for _, l := range grid(rows, func(col int) bool { return col > 0 }) {
		t.printf("  %s\n", strings.TrimRight(l, " "))
	}
	t.printf("\n")
}

func (t *textWriter) disagreements(limit int) {
	ds := t.c.Disagreements
	if len(ds) == 0 {
		t.printf("No disagreements: both judges agree with the humans on every trace.\n")
		return
	}
	t.printf("Disagreements: %d (those B still gets wrong first)\n", len(ds))
	for _, d := range ds[:min(limit, len(ds))] {
		t.printf("  %s  %s\n", d.TraceID, outcomeText(d.Outcome))
		rows := [][]string{
			{"human", answerValue(d.Human), answerNote(d.Human)},
			{"A", answerValue(d.A), answerNote(d.A)},
			{"B", answerValue(d.B), answerNote(d.B)},
		}
		for _, l := range grid(rows, func(int) bool { return false }) {
			t.printf("    %s\n", strings.TrimRight(l, " "))
		}
	}
	if rest := len(ds) - limit; rest > 0 {
		t.printf("  … and %d more (all of them are in the JSON and HTML reports)\n", rest)
	}
}

// answerNote is an answer's rationale, or its error, on one line escaped
// for the terminal.
func answerNote(a agreement.Answer) string {
	if a.Error != "" {
		return clip(oneLine("error: "+a.Error), rationaleWidth)
	}
	return clip(oneLine(a.Rationale), rationaleWidth)
}

// oneLine folds s into one line and escapes it for the terminal.
func oneLine(s string) string { return termtext.Line(strings.Join(strings.Fields(s), " ")) }

func (t *textWriter) notes() {
	ns := notes(t.c)
	if len(ns) == 0 {
		return
	}
	t.printf("\nNotes\n")
	for _, n := range ns {
		t.printf("  - %s\n", n)
	}
}

// grid lays rows out in columns two spaces apart, right-aligning the
// columns for which right is true. Cells are escaped for the terminal
// (package termtext) before they are measured; widths count runes.
func grid(rows [][]string, right func(col int) bool) []string {
	escaped := make([][]string, len(rows))
	for k, r := range rows {
		escaped[k] = make([]string, len(r))
		for i, cell := range r {
			escaped[k][i] = termtext.Line(cell)
		}
	}
	rows = escaped
	var widths []int
	for _, r := range rows {
		for i, cell := range r {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	out := make([]string, len(rows))
	for k, r := range rows {
		var b strings.Builder
		for i, cell := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			fill := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(cell))
			if right(i) {
				b.WriteString(fill + cell)
			} else {
				b.WriteString(cell + fill)
			}
		}
		out[k] = strings.TrimRight(b.String(), " ")
	}
	return out
}

// pad right-pads s with spaces to width runes.
func pad(s string, width int) string {
	return s + strings.Repeat(" ", max(0, width-utf8.RuneCountInString(s)))
}
