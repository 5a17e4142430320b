package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/alignhost/alignhost/agreement"
)

//go:embed report.html.tmpl
var pageTemplate string

// page is parsed once per call: parsing is cheap next to a comparison, and
// no package state is kept.
func parsePage() (*template.Template, error) {
	return template.New("page").Parse(pageTemplate)
}

// MaxHTMLDisagreements caps the disagreements listed on an HTML page; the
// rest are counted.
const MaxHTMLDisagreements = 1000

// Colours of the two judges and of the verdicts.
const (
	colorA     = "#64748b" // slate: the base
	colorB     = "#ea580c" // orange: the candidate
	colorRight = "#15803d" // diagonal of a confusion matrix
	colorWrong = "#b91c1c" // off the diagonal
)

// WriteHTML writes the comparison as a self-contained HTML page: inline
// CSS and SVG, no script, nothing loaded from the network. Every text from
// the data is escaped.
func WriteHTML(w io.Writer, p *Page) error {
	if err := p.check(); err != nil {
		return err
	}
	tmpl, err := parsePage()
	if err != nil {
		return fmt.Errorf("report: parse template: %w", err)
	}
	if err := tmpl.Execute(w, buildView(p)); err != nil {
		return fmt.Errorf("report: write html: %w", err)
	}
	return nil
}

// view is what the template shows; every number is formatted here.
type view struct {
	Title, Scope, Generated string
	A, B                    Judge
	ColorA, ColorB          string
	ErrorsA, ErrorsB        string
	Summary                 []string
	Figures                 []figureView
	Bootstrap               string
	McNemar                 mcnemarView
	Matrices                []matrixView
	Classes                 []classView
	Disagreements           []disagreementView
	DisagreementCount       int
	MoreDisagreements       int
	Notes                   []string
}

type figureView struct {
	Name, Help    string
	A, B, Delta   string
	Verdict       string // "better", "worse" or ""
	LowerIsBetter bool
	Chart         chart
}

// chart is an SVG drawing: its size and its shapes.
type chart struct {
	Width, Height int
	Lines         []line
	Dots          []dot
	Rects         []rect
	Texts         []text
}

type line struct {
	X1, Y1, X2, Y2 string
	Stroke         string
	Width          string
	Dash           bool
}

type dot struct {
	X, Y, R string
	Fill    string
	Title   string
}

type rect struct {
	X, Y, W, H string
	Fill       string
	Opacity    string
	Title      string
}

type text struct {
	X, Y    string
	Anchor  string // start, middle, end
	Size    string
	Fill    string
	Weight  string
	Rotate  bool
	Content string
	Title   string
}

type mcnemarView struct {
	Pairs, BothRight, OnlyA, OnlyB, BothWrong int
	P, Reading                                string
}

type matrixView struct {
	Who   string
	Judge Judge
	Chart chart
}

type classView struct {
	Label string
	Human int
	Chart chart
}

type disagreementView struct {
	TraceID, Outcome, OutcomeText string
	Human, A, B                   answerView
}

type answerView struct {
	Value, Rationale, Error string
}

func buildView(p *Page) *view {
	c := p.Comparison
	v := &view{
		Title:   p.title(),
		Scope:   p.scope(),
		A:       p.A,
		B:       p.B,
		ColorA:  colorA,
		ColorB:  colorB,
		ErrorsA: noValue(c.A.Errors),
		ErrorsB: noValue(c.B.Errors),
		Summary: summary(p),
		McNemar: mcnemarView{
			Pairs: c.McNemar.Pairs, BothRight: c.McNemar.BothRight, OnlyA: c.McNemar.OnlyA,
			OnlyB: c.McNemar.OnlyB, BothWrong: c.McNemar.BothWrong,
			P: pValue(c.McNemar.PValue), Reading: mcnemarReading(c.McNemar),
		},
		Bootstrap:         bootstrapText(c.A),
		DisagreementCount: len(c.Disagreements),
		Notes:             notes(c),
	}
	if !p.Generated.IsZero() {
		v.Generated = p.Generated.UTC().Format("2006-01-02 15:04 UTC")
	}
	for _, d := range c.Deltas {
		v.Figures = append(v.Figures, figureView{
			Name:          figureName(d.Figure, c.A.Weighting),
			Help:          figureHelp(d.Figure),
			A:             estimateText(d.A),
			B:             estimateText(d.B),
			Delta:         deltaText(d.Diff),
			Verdict:       verdict(d),
			LowerIsBetter: !d.Figure.HigherIsBetter(),
			Chart:         forest(d),
		})
	}
	if c.A.Confusion != nil && c.B.Confusion != nil {
		errs := sum(c.A.Confusion.Errors)+sum(c.B.Confusion.Errors) > 0
		v.Matrices = []matrixView{
			{Who: "A", Judge: p.A, Chart: heatmap(c.A.Confusion, errs)},
			{Who: "B", Judge: p.B, Chart: heatmap(c.B.Confusion, errs)},
		}
	}
	if len(c.A.Classes) > 0 && len(c.A.Classes) == len(c.B.Classes) {
		for i, ca := range c.A.Classes {
			humans := ca.Support
			if c.A.Confusion != nil && i < len(c.A.Confusion.Errors) {
				humans += c.A.Confusion.Errors[i]
			}
			v.Classes = append(v.Classes, classView{Label: ca.Label, Human: humans, Chart: classBars(ca, c.B.Classes[i])})
		}
	}
	shown := c.Disagreements[:min(len(c.Disagreements), MaxHTMLDisagreements)]
	v.MoreDisagreements = len(c.Disagreements) - len(shown)
	for _, d := range shown {
		v.Disagreements = append(v.Disagreements, disagreementView{
			TraceID:     d.TraceID,
			Outcome:     string(d.Outcome),
			OutcomeText: outcomeText(d.Outcome),
			Human:       answerOf(d.Human),
			A:           answerOf(d.A),
			B:           answerOf(d.B),
		})
	}
	return v
}

// noValue says on how many traces a judge gave no value, "" on none.
func noValue(n int) string {
	if n == 0 {
		return ""
	}
	return "no value on " + plural(n, "trace", "traces")
}

func answerOf(a agreement.Answer) answerView {
	return answerView{Value: answerValue(a), Rationale: a.Rationale, Error: a.Error}
}

// f formats a coordinate.
func f(x float64) string { return strconv.FormatFloat(x, 'f', 1, 64) }

// domain is the axis range of a figure's chart.
func domain(d agreement.Delta) (lo, hi float64) {
	values := []float64{d.A.Value, d.A.Low, d.A.High, d.B.Value, d.B.Low, d.B.High}
	switch d.Figure {
	case agreement.Kappa, agreement.Spearman, agreement.CCC:
		// From 0, or from -0.5 or -1 when a value is clearly negative.
		low := 0.0
		for _, x := range values {
			if !math.IsNaN(x) {
				low = min(low, x)
			}
		}
		if low > -1e-9 {
			return 0, 1
		}
		return math.Max(-1, math.Floor(low*2)/2), 1
	case agreement.MAE:
		top := 0.0
		for _, x := range values {
			if !math.IsNaN(x) {
				top = max(top, x)
			}
		}
		return 0, niceCeil(top)
	}
	return 0, 1
}

// niceCeil rounds x up to 1, 2 or 5 times a power of ten (1 for x ≤ 0).
func niceCeil(x float64) float64 {
	if !(x > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if x <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// forest draws a figure of both judges as dots with interval whiskers on
// one axis.
func forest(d agreement.Delta) chart {
	const (
		width, height = 260, 58
		left, right   = 12.0, 248.0
		axisY         = 44.0
	)
	lo, hi := domain(d)
	x := func(v float64) float64 {
		v = math.Max(lo, math.Min(hi, v))
		return left + (v-lo)/(hi-lo)*(right-left)
	}
	c := chart{Width: width, Height: height}
	c.Lines = append(c.Lines, line{X1: f(left), Y1: f(axisY), X2: f(right), Y2: f(axisY), Stroke: "#cbd5e1", Width: "1"})
	for _, t := range []float64{lo, (lo + hi) / 2, hi} {
		c.Lines = append(c.Lines, line{X1: f(x(t)), Y1: f(axisY - 3), X2: f(x(t)), Y2: f(axisY + 3), Stroke: "#94a3b8", Width: "1"})
		c.Texts = append(c.Texts, text{X: f(x(t)), Y: f(axisY + 12), Anchor: "middle", Size: "9", Fill: "#64748b", Content: trimFloat(t)})
	}
	if lo < 0 {
		c.Lines = append(c.Lines, line{X1: f(x(0)), Y1: "4", X2: f(x(0)), Y2: f(axisY), Stroke: "#cbd5e1", Width: "1", Dash: true})
	}
	for _, j := range []struct {
		who   string
		e     agreement.Estimate
		y     float64
		color string
	}{{"A", d.A, 14, colorA}, {"B", d.B, 30, colorB}} {
		if math.IsNaN(j.e.Value) {
			c.Texts = append(c.Texts, text{X: f(left), Y: f(j.y + 3), Size: "10", Fill: j.color, Content: j.who + ": undefined"})
			continue
		}
		if hasInterval(j.e) {
			x1, x2 := x(j.e.Low), x(j.e.High)
			c.Lines = append(c.Lines,
				line{X1: f(x1), Y1: f(j.y), X2: f(x2), Y2: f(j.y), Stroke: j.color, Width: "2"},
				line{X1: f(x1), Y1: f(j.y - 4), X2: f(x1), Y2: f(j.y + 4), Stroke: j.color, Width: "2"},
				line{X1: f(x2), Y1: f(j.y - 4), X2: f(x2), Y2: f(j.y + 4), Stroke: j.color, Width: "2"})
		}
		c.Dots = append(c.Dots, dot{X: f(x(j.e.Value)), Y: f(j.y), R: "4.5", Fill: j.color,
			Title: fmt.Sprintf("%s: %s", j.who, estimateText(j.e))})
	}
	return c
}

// heatmap draws a confusion matrix: a cell per human (row) and judge
// (column) value, shaded by its share of the row, green on the diagonal
// and red off it; with errs, a last column counts the traces the judge
// gave no value for.
func heatmap(m *agreement.Matrix, errs bool) chart {
	k := len(m.Labels)
	cols := k
	if errs {
		cols++
	}
	cell := 56.0
	if cols > 6 {
		cell = 40
	}
	labelChars := 4
	for _, l := range m.Labels {
		labelChars = max(labelChars, min(utf8.RuneCountInString(l), 16))
	}
	left := 22 + 7*float64(labelChars) // room for the axis title and row labels
	top := 40.0
	c := chart{
		Width:  int(left + cell*float64(cols) + 8),
		Height: int(top + cell*float64(k) + 8),
	}
	c.Texts = append(c.Texts,
		text{X: f(left + cell*float64(cols)/2), Y: "12", Anchor: "middle", Size: "11", Fill: "#475569", Content: "judge →"},
		text{X: "12", Y: f(top + cell*float64(k)/2), Anchor: "middle", Size: "11", Fill: "#475569", Rotate: true, Content: "human →"})
	colLabel := func(i int, s, full string) {
		c.Texts = append(c.Texts, text{X: f(left + cell*(float64(i)+0.5)), Y: f(top - 8), Anchor: "middle", Size: "11",
			Fill: "#0f172a", Weight: "600", Content: clip(s, int(cell/7)), Title: full})
	}
	for i, l := range m.Labels {
		colLabel(i, l, l)
		c.Texts = append(c.Texts, text{X: f(left - 6), Y: f(top + cell*(float64(i)+0.5) + 4), Anchor: "end", Size: "11",
			Fill: "#0f172a", Weight: "600", Content: clip(l, 16), Title: l})
	}
	if errs {
		colLabel(k, "none", "no value: the judge failed")
	}
	for h := range k {
		total := sum(m.Counts[h]) + m.Errors[h]
		for j := range cols {
			n, fill := 0, colorWrong
			switch {
			case j == k:
				n, fill = m.Errors[h], "#475569"
			default:
				n = m.Counts[h][j]
				if j == h {
					fill = colorRight
				}
			}
			share := 0.0
			if total > 0 {
				share = float64(n) / float64(total)
			}
			opacity := 0.0
			if n > 0 {
				opacity = 0.12 + 0.78*share
			}
			x, y := left+cell*float64(j), top+cell*float64(h)
			col := "no value"
			if j < k {
				col = m.Labels[j]
			}
			title := fmt.Sprintf("human %s, judge %s: %d (%.0f%% of the row)", m.Labels[h], col, n, 100*share)
			c.Rects = append(c.Rects, rect{X: f(x + 1), Y: f(y + 1), W: f(cell - 2), H: f(cell - 2), Fill: "#f1f5f9", Opacity: "1", Title: title})
			if n > 0 {
				c.Rects = append(c.Rects, rect{X: f(x + 1), Y: f(y + 1), W: f(cell - 2), H: f(cell - 2), Fill: fill,
					Opacity: strconv.FormatFloat(opacity, 'f', 2, 64), Title: title})
			}
			ink := "#0f172a"
			if opacity > 0.55 {
				ink = "#ffffff"
			}
			c.Texts = append(c.Texts, text{X: f(x + cell/2), Y: f(y + cell/2 + 4), Anchor: "middle", Size: "13",
				Fill: ink, Weight: "600", Content: strconv.Itoa(n), Title: title})
		}
	}
	return c
}

// classBars draws precision, recall and F1 of one class, a bar per judge,
// with interval whiskers.
func classBars(a, b agreement.Class) chart {
	const (
		left, barW = 70.0, 200.0
		rowH       = 34.0
		top        = 6.0
	)
	c := chart{Width: int(left + barW + 60), Height: int(top + 3*rowH + 4)}
	for i, m := range []struct {
		name string
		a, b agreement.Estimate
	}{{"precision", a.Precision, b.Precision}, {"recall", a.Recall, b.Recall}, {"F1", a.F1, b.F1}} {
		y := top + rowH*float64(i)
		c.Texts = append(c.Texts, text{X: f(left - 8), Y: f(y + 17), Anchor: "end", Size: "11", Fill: "#334155", Content: m.name})
		c.Rects = append(c.Rects, rect{X: f(left), Y: f(y + 2), W: f(barW), H: f(rowH - 6), Fill: "#f8fafc", Opacity: "1"})
		for k, j := range []struct {
			who   string
			e     agreement.Estimate
			color string
		}{{"A", m.a, colorA}, {"B", m.b, colorB}} {
			by := y + 4 + 13*float64(k)
			if math.IsNaN(j.e.Value) {
				c.Texts = append(c.Texts, text{X: f(left + 4), Y: f(by + 9), Size: "10", Fill: j.color, Content: j.who + ": undefined"})
				continue
			}
			title := fmt.Sprintf("%s %s: %s", j.who, m.name, estimateText(j.e))
			c.Rects = append(c.Rects, rect{X: f(left), Y: f(by), W: f(math.Max(0.5, barW*j.e.Value)), H: "11", Fill: j.color, Opacity: "0.9", Title: title})
			if hasInterval(j.e) {
				c.Lines = append(c.Lines, line{X1: f(left + barW*j.e.Low), Y1: f(by + 5.5), X2: f(left + barW*j.e.High), Y2: f(by + 5.5), Stroke: "#0f172a", Width: "1"})
			}
			c.Texts = append(c.Texts, text{X: f(left + barW + 6), Y: f(by + 9.5), Size: "10", Fill: j.color, Weight: "600", Content: num(j.e.Value), Title: title})
		}
	}
	return c
}
