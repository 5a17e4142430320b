package eval

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
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

// Claims and storage retries.
const (
	// DefaultLease is how long a run's claim on a trace lasts without a
	// heartbeat when RunSpec.Lease does not say; the run renews it every
	// third of that.
	DefaultLease = 30 * time.Second
	// DefaultStoreRetry is how long a run keeps retrying feedback the
	// store refuses (locked, full) when RunSpec.StoreRetry does not say.
	DefaultStoreRetry = 5 * time.Minute
	// maxBacklog is how many judgements that could not be stored yet a
	// run keeps in memory while it goes on judging; beyond it, the writer
	// waits for the store before it takes more.
	maxBacklog = 1024
	// Retry delays for feedback the store refused.
	firstStoreDelay = 100 * time.Millisecond
	maxStoreDelay   = 5 * time.Second
)

// CodeCorruptTrace is the error code, in a run's errors, of a trace the
// store cannot decode (see store.CorruptTraceError); it is counted as failed
// and the run goes on.
const CodeCorruptTrace = "CORRUPT_TRACE"

// CodeNotStored is the error code, in a run's errors, of a judgement the
// store refused as invalid (the trace was deleted meanwhile).
const CodeNotStored = "NOT_STORED"

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
	// Lease is how long the run's claim on a trace lasts without a
	// heartbeat: how long another run skips a trace this one claimed
	// after this one's process died. 0 means [DefaultLease].
	Lease time.Duration
	// StoreRetry is how long the run keeps retrying feedback that the
	// store refuses (another writer holds the lock past its lock timeout,
	// the disk is full) before it gives up: the judgements not stored are
	// then counted in RunSummary.Unstored and the run fails. 0 means
	// [DefaultStoreRetry].
	StoreRetry time.Duration
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
	// less the skipped and held traces found so far, capped by Limit. 0 means
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
	// Held counts traces skipped because another run held a live claim on
	// them: they were in flight in another run.
	Held int
	// Unstored counts judgements made (and paid for) that the store never
	// accepted, after retrying for RunSpec.StoreRetry; the run then failed.
	// Their answers are in the response cache if it could be written, so
	// the next run gets them for free.
	Unstored int
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
	kind    eventKind
	out     *outcome // evJudgement only
	traceID string   // evPending of a claimed trace, evCorrupt
	err     error    // evCorrupt only
}

type eventKind int

const (
	evJudgement eventKind = iota // a judgement to store
	evSkipped                    // a trace already judged
	evPending                    // a trace not judged: interrupted, failed run, or Limit
	evHeld                       // a trace another run holds
	evCorrupt                    // a trace the store cannot decode
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
	if spec.Lease < 0 || spec.StoreRetry < 0 {
		return nil, errors.New("run: lease and store retry must not be negative")
	}
	if spec.Lease == 0 {
		spec.Lease = DefaultLease
	}
	if spec.StoreRetry == 0 {
		spec.StoreRetry = DefaultStoreRetry
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
	host, _ := os.Hostname()
	r.rec = &store.EvalRun{Judge: p.name, Version: p.version, Fingerprint: p.fingerprint, Model: p.model,
		StartedAt: r.sum.StartedAt, Owner: store.NewOwnerToken(), PID: os.Getpid(), Host: host, Lease: spec.Lease}
	if err := e.store.StartEvalRun(ctx, r.rec); err != nil {
		return nil, fmt.Errorf("run: %w", err)
	}
	r.sum.ID = r.rec.ID
	r.runID = strconv.FormatInt(r.rec.ID, 10)
	r.owner = store.ClaimOwner{RunID: r.rec.ID, Token: r.rec.Owner}
	stopHeartbeat := r.heartbeat()
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
	stopHeartbeat()
	return r.finish(ctx)
}

// heartbeat renews the run's claims and heartbeat every third of the
// lease until the returned function is called.
func (r *runner) heartbeat() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(max(r.spec.Lease/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := r.e.store.Heartbeat(r.writes, r.owner, r.e.now(), r.spec.Lease); err != nil {
					r.e.log.Warn("eval run heartbeat not stored", "run", r.rec.ID, "error", err)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// runner is the state of one Run.
type runner struct {
	e      *Evaluator
	p      *prepared
	spec   RunSpec
	rec    *store.EvalRun
	runID  string
	owner  store.ClaimOwner
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
	// backlog holds judgements the store refused so far, oldest first;
	// storeErr is the last refusal, failingSince when the store began
	// refusing and retryAt when to try again.
	backlog      []*outcome
	storeErr     error
	failingSince time.Time
	retryAt      time.Time
	storeDelay   time.Duration
}

// produce reads the traces, skips those already judged, claims the others
// a few at a time and hands out those it claimed.
func (r *runner) produce(ctx, dispatch context.Context, jobs chan<- *trace.Trace, events chan<- event) {
	defer close(jobs)
	chunk := max(1, cap(events)/2) // the workers: one claim transaction per round of work
	var (
		dispatched int
		todo       []*trace.Trace
	)
	// hand claims todo and dispatches what it got; it reports false when
	// the run stopped handing out traces.
	hand := func() bool {
		defer func() { todo = todo[:0] }()
		if len(todo) == 0 {
			return true
		}
		if dispatch.Err() != nil {
			for range todo {
				events <- event{kind: evPending}
			}
			return false
		}
		req := store.ClaimRequest{Judge: r.p.name, Version: r.p.version, Owner: r.owner,
			Now: r.e.now(), Lease: r.spec.Lease, Items: make([]store.ClaimItem, len(todo))}
		for i, t := range todo {
			req.Items[i].TraceID = t.Info.TraceID
			if !r.spec.Force {
				req.Items[i].DoneID = feedbackID(t.Info.TraceID, r.p.name, r.p.version, r.p.fingerprint)
			}
		}
		res, err := r.claim(dispatch, req)
		if err != nil {
			if dispatch.Err() == nil {
				r.fail(fmt.Errorf("claim traces: %w", err))
			}
			for range todo {
				events <- event{kind: evPending}
			}
			return false
		}
		for i, t := range todo {
			switch res[i].State {
			case store.ClaimDone:
				events <- event{kind: evSkipped}
				continue
			case store.ClaimHeld:
				events <- event{kind: evHeld}
				continue
			}
			select {
			case jobs <- t:
				dispatched++
			case <-dispatch.Done():
				for range todo[i:] {
					events <- event{kind: evPending}
				}
				return false
			}
		}
		return true
	}
	for t, err := range r.spec.Traces {
		var corrupt *store.CorruptTraceError
		if errors.As(err, &corrupt) {
			r.seen++
			events <- event{kind: evCorrupt, traceID: corrupt.TraceID, err: corrupt}
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				r.fail(fmt.Errorf("read traces: %w", err))
			}
			hand()
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
			hand()
			events <- event{kind: evPending}
			r.stoppedEarly = true
			return
		}
		if r.spec.Limit > 0 && dispatched+len(todo) >= r.spec.Limit {
			// Read on, without judging, to count what is left.
			events <- event{kind: evPending}
			continue
		}
		todo = append(todo, t)
		if len(todo) >= chunk {
			if !hand() {
				r.stoppedEarly = true
				return
			}
		}
	}
	if !hand() {
		r.stoppedEarly = true
	}
}

// claim claims traces, retrying while the store refuses (another writer
// holds the lock past the store's lock timeout) for up to
// [RunSpec].StoreRetry, or until dispatch ends.
func (r *runner) claim(dispatch context.Context, req store.ClaimRequest) ([]store.ClaimResult, error) {
	start := time.Now()
	delay := firstStoreDelay
	for {
		res, err := r.e.store.ClaimTraces(r.writes, req)
		if err == nil || !errors.Is(err, store.ErrLocked) || time.Since(start) >= r.spec.StoreRetry {
			return res, err
		}
		r.e.log.Warn("eval traces not claimed yet; retrying", "run", r.rec.ID, "retry_in", delay, "error", err)
		select {
		case <-dispatch.Done():
			return nil, dispatch.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, maxStoreDelay)
		req.Now = r.e.now()
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
				r.drain()
				r.report()
				return
			}
			switch ev.kind {
			case evSkipped:
				r.sum.Skipped++
			case evPending:
				r.pending++
			case evHeld:
				r.sum.Held++
			case evCorrupt:
				r.e.log.Warn("eval trace unreadable", "trace", ev.traceID, "error", ev.err)
				r.countError(TraceError{TraceID: ev.traceID, Code: CodeCorruptTrace, Message: ev.err.Error()})
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

// flush stores the batch, after the judgements the store refused before,
// and counts what it stored. What the store refuses now is kept for a later
// try; when that backlog is full, flush waits for the store.
func (r *runner) flush() {
	r.backlog = append(r.backlog, r.batch...)
	r.batch = nil
	for len(r.backlog) > 0 {
		now := time.Now()
		if now.Before(r.retryAt) {
			if len(r.backlog) < maxBacklog {
				return
			}
			time.Sleep(r.retryAt.Sub(now))
		}
		n := min(len(r.backlog), batchRows)
		if err := r.store(r.backlog[:n]); err != nil {
			r.refused(err)
			if r.storeGaveUp() {
				r.fail(fmt.Errorf("store feedback: %d judgements not stored after retrying for %s: %w",
					len(r.backlog), r.spec.StoreRetry, err))
				return
			}
			continue
		}
		r.backlog = r.backlog[n:]
		r.storeErr, r.failingSince, r.retryAt, r.storeDelay = nil, time.Time{}, time.Time{}, 0
	}
	r.backlog = nil
}

// drain stores the backlog at the end of the run, retrying until the store
// accepts it or [RunSpec].StoreRetry has passed since it began refusing.
func (r *runner) drain() {
	for len(r.backlog) > 0 && !r.storeGaveUp() {
		if d := time.Until(r.retryAt); d > 0 {
			time.Sleep(d)
		}
		r.flush()
	}
	r.sum.Unstored = len(r.backlog)
	if r.sum.Unstored > 0 {
		r.fail(fmt.Errorf("store feedback: %d judgements not stored after retrying for %s: %w",
			r.sum.Unstored, r.spec.StoreRetry, r.storeErr))
	}
}

// refused notes that the store refused feedback, and when to try again.
func (r *runner) refused(err error) {
	now := time.Now()
	if r.storeErr == nil {
		r.failingSince = now
	}
	r.storeErr = err
	r.storeDelay = min(max(2*r.storeDelay, firstStoreDelay), maxStoreDelay)
	r.retryAt = now.Add(r.storeDelay)
	r.e.log.Warn("eval feedback not stored yet; keeping it to retry", "run", r.rec.ID,
		"judgements", len(r.backlog), "retry_in", r.storeDelay, "error", err)
}

// storeGaveUp reports whether the store has refused feedback for longer
// than [RunSpec].StoreRetry.
func (r *runner) storeGaveUp() bool {
	return r.storeErr != nil && time.Since(r.failingSince) >= r.spec.StoreRetry
}

// store writes one batch of judgements, counts them and releases their
// claims. An error means nothing of the batch was stored.
func (r *runner) store(batch []*outcome) error {
	rows := make([]store.AssessmentRow, len(batch))
	for i, o := range batch {
		rows[i] = store.AssessmentRow{Assessment: o.assessment}
	}
	// LLM_JUDGE feedback never supersedes: no SupersedeSameSource, no
	// Overrides. SkipInvalid keeps a trace deleted meanwhile from failing
	// the batch.
	res, err := r.e.store.LogAssessments(r.writes, rows, store.LogOptions{SkipInvalid: true})
	if err != nil {
		return err
	}
	rejected := make(map[int]string, len(res.Rejected))
	for _, re := range res.Rejected {
		rejected[re.Index] = re.Reason
	}
	for i, o := range batch {
		if reason, ok := rejected[i]; ok {
			r.e.log.Warn("eval feedback not stored", "trace", o.assessment.TraceID, "reason", reason)
			r.countError(TraceError{TraceID: o.assessment.TraceID, Code: CodeNotStored, Message: reason})
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
	ids := make([]string, len(batch))
	for i, o := range batch {
		ids[i] = o.assessment.TraceID
	}
	if err := r.e.store.ReleaseClaims(r.writes, r.p.name, r.p.version, r.owner, ids); err != nil {
		// The feedback is stored, so another run finds the traces done.
		r.e.log.Warn("eval claims not released", "run", r.rec.ID, "error", err)
	}
	if err := r.e.store.UpdateEvalRun(r.writes, r.record(store.RunRunning)); err != nil {
		r.e.log.Warn("eval run record not updated", "run", r.rec.ID, "error", err)
	}
	return nil
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
		todo = max(0, r.spec.Total-r.sum.Skipped-r.sum.Held)
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
	r.rec.Unstored, r.rec.Held = r.sum.Unstored, r.sum.Held
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
	sum.Remaining = r.pending + r.sum.Unstored
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
	// Claims not released yet are those of traces not judged or not
	// stored: free them for the next run.
	if rerr := r.e.store.ReleaseOwner(r.writes, r.owner); rerr != nil {
		r.e.log.Warn("eval claims not released; they expire with their lease", "run", r.rec.ID, "error", rerr)
	}
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
