package eval

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// Batching of feedback writes: a batch is written when it holds batchRows
// rows or has waited flushEvery, whichever comes first.
const (
	batchRows  = 64
	flushEvery = 250 * time.Millisecond
)

// maxErrorSamples caps RunSummary.ErrorSamples.
const maxErrorSamples = 10

// RunSpec says what [Evaluator.Run] judges.
type RunSpec struct {
	// Judge is the registered judge version to judge with.
	Judge *store.RegisteredJudge
	// Traces yields the traces to judge with their assessments, as
	// store.Store.Traces does ([Slice] adapts a slice). An error ends the
	// run as failed, unless the run's context is done.
	Traces iter.Seq2[*trace.Trace, error]
	// Total is how many traces Traces yields, if known: it gives progress
	// an end, and counts the traces an interrupted run did not read.
	Total int
	// Concurrency is how many judgements are made at once; 0 means the
	// evaluator's ([WithConcurrency]).
	Concurrency int
	// Limit is the most traces to judge (traces skipped as already judged
	// do not count); 0 means no limit.
	Limit int
	// Force judges traces that already have feedback from this judge
	// version, replacing it.
	Force bool
}

// Slice returns an iterator over traces for [RunSpec].Traces.
func Slice(traces []*trace.Trace) iter.Seq2[*trace.Trace, error] {
	return func(yield func(*trace.Trace, error) bool) {
		for _, t := range traces {
			if !yield(t, nil) {
				return
			}
		}
	}
}

// Progress is how far a run has got.
type Progress struct {
	// Judged, Failed and Skipped count the traces stored with a value, with
	// an error, and skipped as already judged.
	Judged, Failed, Skipped int
	// Todo is how many judgements the run expects to make in all: Total
	// less the skipped traces found so far, capped by Limit. 0 means
	// unknown.
	Todo int
	// Elapsed is the time since the run started.
	Elapsed time.Duration
}

// Done is how many judgements were made and stored, successful or not.
func (p Progress) Done() int { return p.Judged + p.Failed }

// TraceError is one failed judgement.
type TraceError struct {
	TraceID string
	Code    string
	Message string
}

// RunSummary is what a run did.
type RunSummary struct {
	// ID is the run's eval_runs ID in the store.
	ID          int64
	Judge       string
	Version     int
	Fingerprint string
	Model       string
	Status      store.RunStatus
	StartedAt   time.Time
	FinishedAt  time.Time
	// Judged counts traces stored with a value; Failed, with an error;
	// Skipped, traces already judged by this judge version; Cached, the
	// judgements (of Judged) answered entirely from the cache or a replay.
	Judged, Failed, Skipped, Cached int
	// Remaining counts traces the run did not get to: those left by an
	// interruption, a failure or Limit, and, when the run stopped before
	// reading every trace and RunSpec.Total was given, those it did not
	// read (which may include traces already judged). Failed traces are
	// not remaining, although a new run tries them again.
	Remaining int
	// Errors counts failed judgements by error code.
	Errors map[string]int
	// ErrorSamples are the first few failed judgements.
	ErrorSamples []TraceError
	// Values counts judged traces by value (strings as they are, other
	// values as JSON).
	Values map[string]int
	// Usage is what the run's model calls cost: calls, cached calls,
	// failures and billed tokens (retries are counted by the client's
	// meter only).
	Usage llm.ModelUsage
	// CostUSD is the estimated cost of Usage, nil when tokens were billed
	// for a model without a price (see [WithPrices]).
	CostUSD *float64
}

// Wall is how long the run took.
func (s *RunSummary) Wall() time.Duration { return s.FinishedAt.Sub(s.StartedAt) }

// event is what the producer and workers tell the writer.
type event struct {
	kind eventKind
	out  *outcome // evJudgement only
}

type eventKind int

const (
	evJudgement eventKind = iota // a judgement to store
	evSkipped                    // a trace already judged
	evPending                    // a trace not judged: interrupted, failed run, or Limit
)

// Run judges the traces of spec and stores each feedback as soon as it is
// made; see the package documentation for resuming, interruption and
// caching. The run is recorded in the store's eval_runs table.
//
// Run returns a summary once the run has started, whatever its outcome.
// Failed judgements are counted in it, not returned as errors.
//
// # Errors
//
// Run fails before starting when the evaluator has no store ([WithStore]),
// spec is incomplete, or the judge cannot judge (see [Evaluator.Evaluate]).
// Once started, it returns an error with the summary when the run did not
// finish: ctx's error when it was interrupted (Status interrupted), or what
// stopped it (Status failed) — reading traces or storing feedback failed,
// or a failure that every trace would share, such as a replay without the
// answer.
func (e *Evaluator) Run(ctx context.Context, spec RunSpec) (*RunSummary, error) {
	if e.store == nil {
		return nil, errors.New("run: the evaluator has no store")
	}
	if spec.Traces == nil {
		return nil, errors.New("run: no traces")
	}
	if spec.Limit < 0 || spec.Concurrency < 0 || spec.Total < 0 {
		return nil, errors.New("run: limit, concurrency and total must not be negative")
	}
	p, err := e.prepare(spec.Judge, false)
	if err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	workers := spec.Concurrency
	if workers == 0 {
		workers = e.concurrency
	}

	r := &runner{
		e:      e,
		p:      p,
		spec:   spec,
		writes: context.WithoutCancel(ctx),
		sum: &RunSummary{
			Judge: p.name, Version: p.version, Fingerprint: p.fingerprint, Model: p.model,
			Status: store.RunRunning, StartedAt: e.now(),
			Errors: map[string]int{}, Values: map[string]int{},
		},
	}
	r.rec = &store.EvalRun{Judge: p.name, Version: p.version, Fingerprint: p.fingerprint, Model: p.model,
		StartedAt: r.sum.StartedAt}
	if err := e.store.StartEvalRun(ctx, r.rec); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	r.sum.ID = r.rec.ID
	r.runID = strconv.FormatInt(r.rec.ID, 10)
	e.log.LogAttrs(ctx, slog.LevelDebug, "eval run started", slog.Int64("run", r.rec.ID),
		slog.String("judge", p.name), slog.Int("version", p.version), slog.String("model", p.model),
		slog.Int("concurrency", workers))

	// dispatch ends when the run is interrupted or fails: no more traces
	// are handed out. calls ends the requests in flight: when the run
	// fails, or a grace period after it is interrupted.
	dispatch, stopDispatch := context.WithCancel(ctx)
	calls, endCalls := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDispatch()
	defer endCalls()
	r.fail = func(err error) {
		r.failOnce.Do(func() {
			r.fatal = err
			stopDispatch()
			endCalls()
		})
	}

	jobs := make(chan *trace.Trace)
	events := make(chan event, 2*workers)
	var producer, pool sync.WaitGroup
	producer.Go(func() { r.produce(ctx, dispatch, jobs, events) })
	for range workers {
		pool.Go(func() { r.work(dispatch, calls, jobs, events) })
	}
	workersDone := make(chan struct{})
	go func() {
		producer.Wait()
		pool.Wait()
		close(workersDone)
		close(events)
	}()
	go func() {
		select {
		case <-ctx.Done():
			grace := time.NewTimer(e.grace)
			defer grace.Stop()
			select {
			case <-grace.C:
				endCalls()
			case <-workersDone:
			}
		case <-workersDone:
		}
	}()

	r.write(events)
	return r.finish(ctx)
}

// runner is the state of one Run.
type runner struct {
	e      *Evaluator
	p      *prepared
	spec   RunSpec
	rec    *store.EvalRun
	runID  string
	writes context.Context // for storing: not cancelled with the run
	sum    *RunSummary

	fail     func(error)
	failOnce sync.Once
	fatal    error // set once, through fail; read after every goroutine ended

	// Owned by the producer until events is closed.
	seen         int
	stoppedEarly bool

	// Owned by the writer.
	pending int
	batch   []*outcome
}

// produce reads the traces, skips those already judged and hands out the
// others.
func (r *runner) produce(ctx, dispatch context.Context, jobs chan<- *trace.Trace, events chan<- event) {
	defer close(jobs)
	dispatched := 0
	for t, err := range r.spec.Traces {
		if err != nil {
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("read traces: %w", err))
			}
			r.stoppedEarly = true
			return
		}
		if t == nil {
			continue
		}
		r.seen++
		if !r.spec.Force && r.p.judged(t) {
			events <- event{kind: evSkipped}
			continue
		}
		if dispatch.Err() != nil {
			events <- event{kind: evPending}
			r.stoppedEarly = true
			return
		}
		if r.spec.Limit > 0 && dispatched >= r.spec.Limit {
			// Read on, without judging, to count what is left.
			events <- event{kind: evPending}
			continue
		}
		select {
		case jobs <- t:
			dispatched++
		case <-dispatch.Done():
			events <- event{kind: evPending}
			r.stoppedEarly = true
			return
		}
	}
}

// work judges the traces it is handed.
func (r *runner) work(dispatch, calls context.Context, jobs <-chan *trace.Trace, events chan<- event) {
	for t := range jobs {
		if dispatch.Err() != nil {
			events <- event{kind: evPending}
			continue
		}
		o, err := r.e.judge(calls, r.p, t)
		if err != nil {
			if calls.Err() == nil {
				r.fail(fmt.Errorf("trace %s: %w", t.Info.TraceID, err))
			}
			events <- event{kind: evPending}
			continue
		}
		o.assessment.Metadata[MetaRunID] = r.runID
		events <- event{kind: evJudgement, out: o}
	}
}

// write stores judgements in batches and reports progress until events is
// closed.
func (r *runner) write(events <-chan event) {
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				r.flush()
				r.report()
				return
			}
			switch ev.kind {
			case evSkipped:
				r.sum.Skipped++
			case evPending:
				r.pending++
			case evJudgement:
				addUsage(&r.sum.Usage, ev.out.usage)
				r.batch = append(r.batch, ev.out)
				if len(r.batch) >= batchRows {
					r.flush()
					r.report()
				}
			}
		case <-tick.C:
			r.flush()
			r.report()
		}
	}
}

// flush stores the batch and counts it.
func (r *runner) flush() {
	if len(r.batch) == 0 {
		return
	}
	batch := r.batch
	r.batch = nil
	rows := make([]store.AssessmentRow, len(batch))
	for i, o := range batch {
		rows[i] = store.AssessmentRow{Assessment: o.assessment}
	}
	// LLM_JUDGE feedback never supersedes: no SupersedeSameSource, no
	// Overrides. SkipInvalid keeps a trace deleted meanwhile from failing
	// the batch.
	res, err := r.e.store.LogAssessments(r.writes, rows, store.LogOptions{SkipInvalid: true})
	if err != nil {
		r.pending += len(batch)
		r.fail(fmt.Errorf("store feedback: %w", err))
		return
	}
	rejected := make(map[int]string, len(res.Rejected))
	for _, re := range res.Rejected {
		rejected[re.Index] = re.Reason
	}
	for i, o := range batch {
		if reason, ok := rejected[i]; ok {
			r.e.log.Warn("eval feedback not stored", "trace", o.assessment.TraceID, "reason", reason)
			r.countError(TraceError{TraceID: o.assessment.TraceID, Code: "NOT_STORED", Message: reason})
			continue
		}
		if o.code != "" {
			r.countError(TraceError{TraceID: o.assessment.TraceID, Code: o.code, Message: o.assessment.Feedback.Error.Message})
			continue
		}
		r.sum.Judged++
		r.sum.Values[o.value]++
		if o.cached {
			r.sum.Cached++
		}
	}
	if err := r.e.store.UpdateEvalRun(r.writes, r.record(store.RunRunning)); err != nil {
		r.e.log.Warn("eval run record not updated", "run", r.rec.ID, "error", err)
	}
}

func (r *runner) countError(te TraceError) {
	r.sum.Failed++
	r.sum.Errors[te.Code]++
	if len(r.sum.ErrorSamples) < maxErrorSamples {
		r.sum.ErrorSamples = append(r.sum.ErrorSamples, te)
	}
}

// report calls the progress callback.
func (r *runner) report() {
	if r.e.progress == nil {
		return
	}
	todo := r.spec.Limit
	if r.spec.Total > 0 {
		todo = max(0, r.spec.Total-r.sum.Skipped)
		if r.spec.Limit > 0 {
			todo = min(todo, r.spec.Limit)
		}
	}
	r.e.progress(Progress{
		Judged:  r.sum.Judged,
		Failed:  r.sum.Failed,
		Skipped: r.sum.Skipped,
		Todo:    todo,
		Elapsed: r.e.now().Sub(r.sum.StartedAt),
	})
}

// record is the run's eval_runs row with the counts so far.
func (r *runner) record(status store.RunStatus) *store.EvalRun {
	r.rec.Status = status
	r.rec.Judged, r.rec.Skipped, r.rec.Failed, r.rec.Cached = r.sum.Judged, r.sum.Skipped, r.sum.Failed, r.sum.Cached
	r.rec.PromptTokens, r.rec.CompletionTokens = r.sum.Usage.PromptTokens, r.sum.Usage.CompletionTokens
	r.rec.CostUSD = r.cost()
	return r.rec
}

// cost estimates the cost of the usage so far.
func (r *runner) cost() *float64 {
	usd, unpriced := r.e.prices.Cost(map[string]llm.ModelUsage{r.p.model: r.sum.Usage})
	if len(unpriced) > 0 {
		return nil
	}
	return &usd
}

// finish settles the run's status, records it and returns the summary.
func (r *runner) finish(ctx context.Context) (*RunSummary, error) {
	sum := r.sum
	sum.Remaining = r.pending
	if r.stoppedEarly && r.spec.Total > 0 {
		sum.Remaining += max(0, r.spec.Total-r.seen)
	}
	var err error
	switch {
	case r.fatal != nil:
		sum.Status = store.RunFailed
		err = fmt.Errorf("run of %s@%d: %w", sum.Judge, sum.Version, r.fatal)
	case ctx.Err() != nil && (r.pending > 0 || r.stoppedEarly):
		sum.Status = store.RunInterrupted
		err = fmt.Errorf("run of %s@%d interrupted: %w", sum.Judge, sum.Version, ctx.Err())
	default:
		sum.Status = store.RunDone
	}
	sum.CostUSD = r.cost()
	rec := r.record(sum.Status)
	if r.fatal != nil {
		rec.Error = r.fatal.Error()
	}
	sum.FinishedAt = r.e.now()
	rec.FinishedAt = sum.FinishedAt
	if uerr := r.e.store.UpdateEvalRun(r.writes, rec); uerr != nil {
		err = errors.Join(err, fmt.Errorf("run of %s@%d: %w", sum.Judge, sum.Version, uerr))
	}
	r.e.log.LogAttrs(ctx, slog.LevelDebug, "eval run finished", slog.Int64("run", sum.ID),
		slog.String("status", string(sum.Status)), slog.Int("judged", sum.Judged), slog.Int("failed", sum.Failed),
		slog.Int("skipped", sum.Skipped), slog.Int("remaining", sum.Remaining))
	return sum, err
}

func addUsage(total *llm.ModelUsage, u llm.ModelUsage) {
	total.Calls += u.Calls
	total.Cached += u.Cached
	total.Retries += u.Retries
	total.Failures += u.Failures
	total.PromptTokens += u.PromptTokens
	total.CompletionTokens += u.CompletionTokens
}
