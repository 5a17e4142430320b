package eval

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// WithClock sets the evaluator's clock (default time.Now): the time
// stamped on feedback and runs, and the clock against which claims on
// traces expire (see [RunSpec].Lease). Tests use it to let a lease run out
// without waiting.
func WithClock(now func() time.Time) Option { return func(e *Evaluator) { e.now = now } }

// ResumeInfo says what a run of a judge version over a set of traces would
// pick up, before it starts: see [Evaluator.Resume].
type ResumeInfo struct {
	Judge   string
	Version int
	// Total is how many traces the query selects; Judged, how many of them
	// this judge version (with the same fingerprint) has already judged:
	// a run skips them unless forced. ToJudge is the difference.
	Total, Judged, ToJudge int
	// InFlight is how many traces of this judge version other live runs
	// hold a claim on: a run skips them while their lease lasts.
	InFlight int
	// Last is the judge version's latest run, nil if there is none, and
	// LastState its state now (a running run whose process is gone is
	// interrupted; see store.EvalRun.StateAt).
	Last      *store.EvalRun
	LastState store.RunStatus
}

// Resuming reports whether a run would pick up after earlier work: some
// traces are already judged.
func (ri *ResumeInfo) Resuming() bool { return ri.Judged > 0 }

// Resume says what [Evaluator.Run] of judge version r over the traces q
// selects would pick up: how many are judged already, how many are left,
// how many are in flight in another run, and how the last run ended.
func (e *Evaluator) Resume(ctx context.Context, r *store.RegisteredJudge, q store.TraceQuery) (*ResumeInfo, error) {
	if e.store == nil {
		return nil, errors.New("resume: the evaluator has no store")
	}
	p, err := e.prepare(r, false)
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	ri := &ResumeInfo{Judge: p.name, Version: p.version}
	if ri.Total, err = e.store.CountTraces(ctx, q); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	ri.Judged, err = e.store.CountWithFeedback(ctx, q, store.FeedbackMatch{
		Name: p.name, SourceType: trace.SourceLLMJudge,
		Metadata: map[string]string{MetaJudgeVersion: strconv.Itoa(p.version), MetaJudgeFingerprint: p.fingerprint},
	})
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	ri.ToJudge = ri.Total - ri.Judged
	now := e.now()
	if ri.InFlight, err = e.store.LiveClaims(ctx, p.name, p.version, store.ClaimOwner{}, now); err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	runs, err := e.store.EvalRuns(ctx, store.EvalRunQuery{Judge: p.name, Version: p.version, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("resume: %w", err)
	}
	if len(runs) > 0 {
		ri.Last = &runs[0]
		ri.LastState = runs[0].StateAt(now)
	}
	return ri, nil
}
