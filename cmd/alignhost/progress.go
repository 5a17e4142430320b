package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/alignhost/alignhost/eval"
)

// progress shows how far an evaluation has got. On a terminal it redraws
// one line in place: a bar, the count, the rate and the time left. Anywhere
// else (a log file, CI) it writes a plain line now and then:
//
//	eval: 120/2000 judged, 31.2/s, eta 1m0s
//
// It is driven by eval.Progress values, whose Elapsed is its clock, and is
// used from one goroutine at a time.
type progress struct {
	w     io.Writer
	tty   bool
	every time.Duration // between lines, or between redraws on a terminal
	bar   int           // bar width in cells

	next    time.Duration // Elapsed at which the next line is due
	lastLen int           // width of what is drawn on the terminal
}

// Defaults of the progress display.
const (
	plainEvery  = 5 * time.Second
	redrawEvery = 100 * time.Millisecond
	barWidth    = 24
)

func newProgress(w io.Writer, tty bool) *progress {
	p := &progress{w: w, tty: tty, every: plainEvery, bar: barWidth, next: plainEvery}
	if tty {
		p.every, p.next = redrawEvery, 0
	}
	return p
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// update shows pr if a line is due.
func (p *progress) update(pr eval.Progress) {
	if pr.Elapsed < p.next {
		return
	}
	p.next = pr.Elapsed + p.every
	if !p.tty {
		fmt.Fprintf(p.w, "eval: %s\n", progressText(pr))
		return
	}
	line := "eval " + progressBar(pr, p.bar) + progressText(pr)
	pad := max(0, p.lastLen-len(line))
	fmt.Fprintf(p.w, "\r%s%s", line, strings.Repeat(" ", pad))
	p.lastLen = len(line) + pad
}

// finish clears the line drawn on a terminal.
func (p *progress) finish() {
	if p.tty && p.lastLen > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.lastLen))
		p.lastLen = 0
	}
}

// progressText is "120/2000 judged, 31.2/s, eta 1m0s, 3 failed, 20
// skipped", without the total and eta when the total is unknown.
func progressText(pr eval.Progress) string {
	done := pr.Done()
	rate := 0.0
	if pr.Elapsed > 0 {
		rate = float64(done) / pr.Elapsed.Seconds()
	}
	var b strings.Builder
	if pr.Todo > 0 {
		fmt.Fprintf(&b, "%d/%d judged, %.1f/s, eta %s", done, pr.Todo, rate, eta(pr.Todo-done, rate))
	} else {
		fmt.Fprintf(&b, "%d judged, %.1f/s", done, rate)
	}
	if pr.Failed > 0 {
		fmt.Fprintf(&b, ", %d failed", pr.Failed)
	}
	if pr.Skipped > 0 {
		fmt.Fprintf(&b, ", %d skipped", pr.Skipped)
	}
	return b.String()
}

// eta is how long left judgements take at rate per second: "1m0s", or "-"
// while there is no rate.
func eta(left int, rate float64) string {
	if left <= 0 {
		return "0s"
	}
	if rate <= 0 {
		return "-"
	}
	return time.Duration(float64(left) / rate * float64(time.Second)).Round(time.Second).String()
}

// progressBar is "[#####-----] " for a known total, else "".
func progressBar(pr eval.Progress, width int) string {
	if pr.Todo <= 0 || width <= 0 {
		return ""
	}
	filled := min(width, width*pr.Done()/pr.Todo)
	return "[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "] "
}
