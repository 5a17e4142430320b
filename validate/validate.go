package validate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/alignhost/alignhost/agreement"
	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// Options configures [Compare] and [Agreement]. The zero value is ready to
// use.
type Options struct {
	// Label is the name of the HUMAN feedback the judges are measured
	// against, matched as trace.Trace.HumanFeedback matches it. Empty means
	// the name of the judge (of judge A for Compare).
	Label string
	// Concurrency is how many judgements are made at once; 0 means
	// eval.DefaultConcurrency; a negative number is an error. The client's
	// per-endpoint limits still apply.
	Concurrency int
	// Agreement configures the statistics: kappa weighting, bootstrap
	// resamples, seed and confidence level.
	Agreement agreement.Options
	// Progress, when set, is called after every judgement with the counts
	// so far, from one goroutine at a time.
	Progress func(Progress)
}

// Progress is how far the judgements of a validation have got.
type Progress struct {
	// Judged and Failed count the judgements made so far, with a value and
	// with an error.
	Judged, Failed int
	// Total is the number of judgements to make: the labelled traces times
	// the number of judges.
	Total int
}

// NoLabelsError reports that no trace can be used: none carries a HUMAN
// feedback named Label, or none whose value fits the judge's value type.
type NoLabelsError struct {
	// Label is the feedback name that was looked for.
	Label string
	// Traces is the number of traces given.
	Traces int
	// Unfit lists the traces whose label did not fit, with the reason.
	Unfit []trace.Skip
}

func (e *NoLabelsError) Error() string {
	if len(e.Unfit) == 0 {
		return fmt.Sprintf("none of the %d traces carries HUMAN feedback named %q", e.Traces, e.Label)
	}
	return fmt.Sprintf("none of the %d traces carries usable HUMAN feedback named %q: %d labels do not fit the judge's value type (%s)",
		e.Traces, e.Label, len(e.Unfit), e.Unfit[0])
}

// ScaleFor returns the agreement scale a judge's values are compared on:
//
//   - boolean: agreement.PassFailScale("yes", "no"), so reports include
//     the fail recall and the false-failure rate;
//   - categorical: agreement.OrdinalScale of its values (best first) when
//     they are ordinal, else agreement.NominalScale of its values;
//   - integer and float: agreement.NumericScale;
//   - string: agreement.NominalScale with the labels found in the data.
func ScaleFor(vt judge.ValueType) agreement.Scale {
	switch vt.Effective() {
	case judge.Boolean:
		return agreement.PassFailScale(judge.Yes, judge.No)
	case judge.Categorical:
		if vt.Ordinal {
			return agreement.OrdinalScale(slices.Clone(vt.Values)...)
		}
		return agreement.NominalScale(slices.Clone(vt.Values)...)
	case judge.Integer, judge.Float:
		return agreement.NumericScale()
	}
	return agreement.NominalScale()
}

// Compare measures judges a (the base) and b (the candidate, typically the
// aligned judge) against the humans on the traces that carry a human label
// and compares them; see the package documentation. The human labels are
// those named opts.Label, or a's name.
//
// Both judges must answer on the same scale ([ScaleFor]). Traces left out
// (labels that do not fit the value type) and traces with several labels
// are described in the comparison's Notes.
//
// # Errors
//
// Compare fails with a *[NoLabelsError] when no trace has a usable label;
// when the judges' scales differ; when a judge cannot judge at all (see
// eval.Evaluator.Evaluate: not registered, its model cannot be resolved, a
// replay lacks an answer, …); and when ctx is done.
func Compare(ctx context.Context, ev *eval.Evaluator, a, b *store.RegisteredJudge, traces []*trace.Trace, opts Options) (*agreement.Comparison, error) {
	if ev == nil {
		return nil, errors.New("compare: no evaluator")
	}
	if err := checkJudge(a, "a"); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	if err := checkJudge(b, "b"); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	what := fmt.Sprintf("compare %s with %s", ref(a), ref(b))
	scale := ScaleFor(a.Judge.ValueType)
	if sb := ScaleFor(b.Judge.ValueType); !sameScale(scale, sb) {
		return nil, fmt.Errorf("%s: the judges answer on different scales (%s and %s); compare judges of one value type",
			what, scaleText(scale), scaleText(sb))
	}
	label := either(opts.Label, name(a))
	set, err := labelled(traces, label, a.Judge.ValueType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	answers, err := judgeAll(ctx, ev, []*store.RegisteredJudge{a, b}, set.traces, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	cases := make([]agreement.Case, len(set.traces))
	for i, t := range set.traces {
		cases[i] = agreement.Case{TraceID: t.Info.TraceID, Human: set.human[i], A: answers[0][i], B: answers[1][i]}
	}
	c, err := agreement.Compare(cases, scale, opts.Agreement)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	c.Notes = append(set.notes, c.Notes...)
	return c, nil
}

// Agreement measures judge j against the humans on the traces that carry a
// human label (named opts.Label, or j's name); see the package
// documentation. Errors are as for [Compare].
func Agreement(ctx context.Context, ev *eval.Evaluator, j *store.RegisteredJudge, traces []*trace.Trace, opts Options) (*agreement.Report, error) {
	if ev == nil {
		return nil, errors.New("agreement: no evaluator")
	}
	if err := checkJudge(j, ""); err != nil {
		return nil, fmt.Errorf("agreement: %w", err)
	}
	what := "agreement of " + ref(j)
	label := either(opts.Label, name(j))
	set, err := labelled(traces, label, j.Judge.ValueType)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	answers, err := judgeAll(ctx, ev, []*store.RegisteredJudge{j}, set.traces, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pairs := make([]agreement.Pair, len(set.traces))
	for i, t := range set.traces {
		pairs[i] = agreement.Pair{TraceID: t.Info.TraceID, Human: set.human[i], Judge: answers[0][i]}
	}
	r, err := agreement.Evaluate(pairs, ScaleFor(j.Judge.ValueType), opts.Agreement)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	r.Notes = append(set.notes, r.Notes...)
	return r, nil
}

func checkJudge(r *store.RegisteredJudge, which string) error {
	if r == nil || r.Judge == nil {
		if which == "" {
			return errors.New("no judge")
		}
		return fmt.Errorf("no judge %s", which)
	}
	return nil
}

// name is the name of a registered judge.
func name(r *store.RegisteredJudge) string {
	return either(r.Name, r.Judge.Name)
}

// ref is "name@version", or the name of an unregistered judge.
func ref(r *store.RegisteredJudge) string {
	if r.Version < 1 {
		return name(r)
	}
	return fmt.Sprintf("%s@%d", name(r), r.Version)
}

func either(s, fallback string) string {
	if strings.TrimSpace(s) != "" {
		return s
	}
	return fallback
}

func sameScale(x, y agreement.Scale) bool {
	return x.Kind == y.Kind && x.Fail == y.Fail && slices.Equal(x.Labels, y.Labels)
}

func scaleText(s agreement.Scale) string {
	if len(s.Labels) == 0 {
		return string(s.Kind)
	}
	return fmt.Sprintf("%s %s", s.Kind, strings.Join(s.Labels, "/"))
}

// labelSet is the traces that carry a usable human label, with the label.
type labelSet struct {
	traces []*trace.Trace
	human  []agreement.Answer
	notes  []string
}

// maxListed caps the trace IDs a note lists.
const maxListed = 5

// labelled selects the traces carrying a human label named label whose value
// fits vt, and says in notes what it left out.
func labelled(traces []*trace.Trace, label string, vt judge.ValueType) (*labelSet, error) {
	set := &labelSet{}
	var unfit []trace.Skip
	var several []string
	for _, t := range traces {
		if t == nil {
			continue
		}
		l, warnings, ok := t.HumanFeedback(label)
		if !ok {
			continue
		}
		v, err := vt.Normalize(l.Value)
		if err != nil {
			unfit = append(unfit, trace.Skip{TraceID: t.Info.TraceID, Reason: "human " + err.Error()})
			continue
		}
		if len(warnings) > 0 {
			several = append(several, t.Info.TraceID)
		}
		set.traces = append(set.traces, t)
		set.human = append(set.human, agreement.Answer{Value: v, Rationale: l.Rationale})
	}
	if len(set.traces) == 0 {
		return nil, &NoLabelsError{Label: label, Traces: countTraces(traces), Unfit: unfit}
	}
	if len(unfit) > 0 {
		reasons := make([]string, 0, min(len(unfit), maxListed))
		for _, s := range unfit[:min(len(unfit), maxListed)] {
			reasons = append(reasons, s.String())
		}
		more := ""
		if len(unfit) > maxListed {
			more = fmt.Sprintf("; and %d more", len(unfit)-maxListed)
		}
		set.notes = append(set.notes, fmt.Sprintf(
			"%s left out because %s human value does not fit the judge's value type: %s%s",
			count(len(unfit), "trace is", "traces are"), count0(len(unfit), "its", "their"), strings.Join(reasons, "; "), more))
	}
	if len(several) > 0 {
		set.notes = append(set.notes, fmt.Sprintf(
			"%s several HUMAN feedbacks named %q; the most recent was used (%s)",
			count(len(several), "trace carries", "traces carry"), label, listIDs(several)))
	}
	return set, nil
}

// count is "1 trace is" or "3 traces are": n and the phrase that agrees
// with it.
func count(n int, one, many string) string {
	return strconv.Itoa(n) + " " + count0(n, one, many)
}

// count0 is the phrase that agrees with n.
func count0(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func countTraces(traces []*trace.Trace) int {
	n := 0
	for _, t := range traces {
		if t != nil {
			n++
		}
	}
	return n
}

// listIDs lists up to maxListed IDs and says how many more there are.
func listIDs(ids []string) string {
	if len(ids) <= maxListed {
		return strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(ids[:maxListed], ", "), len(ids)-maxListed)
}

// judgeAll asks every judge for its judgement of every trace and returns
// answers[judge][trace]. The first error that is not a trace's own stops
// the work and is returned.
func judgeAll(ctx context.Context, ev *eval.Evaluator, judges []*store.RegisteredJudge, traces []*trace.Trace, opts Options) ([][]agreement.Answer, error) {
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("concurrency %d is negative", opts.Concurrency)
	}
	workers := opts.Concurrency
	if workers == 0 {
		workers = eval.DefaultConcurrency
	}
	answers := make([][]agreement.Answer, len(judges))
	for j := range answers {
		answers[j] = make([]agreement.Answer, len(traces))
	}
	type job struct{ j, t int }
	total := len(judges) * len(traces)
	workers = min(workers, total)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan job)
	var (
		mu       sync.Mutex
		progress = Progress{Total: total}
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for jb := range jobs {
				a, err := ev.Evaluate(ctx, judges[jb.j], traces[jb.t])
				if err != nil {
					cancel(err)
					continue
				}
				ans := answerOf(a, judges[jb.j].Judge.ValueType)
				answers[jb.j][jb.t] = ans
				mu.Lock()
				if ans.Missing() {
					progress.Failed++
				} else {
					progress.Judged++
				}
				if opts.Progress != nil {
					opts.Progress(progress)
				}
				mu.Unlock()
			}
		})
	}
	// Hand out the traces one by one, both judges of a trace together, so
	// that an interrupted comparison has judged whole traces.
send:
	for t := range traces {
		for j := range judges {
			select {
			case jobs <- job{j, t}:
			case <-ctx.Done():
				break send
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return answers, nil
}

// answerOf turns a judge's feedback into its answer: the value normalised
// with the judge's value type, or the feedback's error.
func answerOf(a trace.Assessment, vt judge.ValueType) agreement.Answer {
	ans := agreement.Answer{Rationale: a.Rationale}
	f := a.Feedback
	switch {
	case f == nil:
		ans.Error = "no feedback"
	case f.Error != nil:
		ans.Error = f.Error.Code
		if f.Error.Message != "" {
			ans.Error += ": " + f.Error.Message
		}
	default:
		raw, err := decodeValue(f.Value)
		if err != nil {
			ans.Error = "unreadable value: " + err.Error()
			break
		}
		v, err := vt.Normalize(raw)
		if err != nil {
			ans.Error = err.Error()
			break
		}
		ans.Value = v
	}
	return ans
}

// decodeValue decodes a JSON feedback value, numbers as json.Number.
func decodeValue(raw json.RawMessage) (any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, errors.New("no value")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
