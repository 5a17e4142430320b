package llm

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock is the time source of retries and rate limits. Tests inject one
// that records waits instead of sleeping.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done and then returns ctx's error.
	Sleep(ctx context.Context, d time.Duration) error
}

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// semaphore caps the requests in flight to one endpoint.
type semaphore chan struct{}

func (s semaphore) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s semaphore) release() { <-s }

// tryAcquire takes a slot if one is free.
func (s semaphore) tryAcquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

// bucket is a token bucket holding one minute's allowance, refilled
// continuously. A request larger than the whole bucket waits for a full
// bucket and leaves it in debt, so oversized requests pass without
// starving.
type bucket struct {
	clock    Clock
	perSec   float64
	capacity float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(perMinute int, clock Clock) *bucket {
	return &bucket{
		clock:    clock,
		perSec:   float64(perMinute) / 60,
		capacity: float64(perMinute),
		tokens:   float64(perMinute),
		last:     clock.Now(),
	}
}

// refill adds what accrued since the last refill; b.mu must be held.
func (b *bucket) refill() {
	now := b.clock.Now()
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(b.capacity, b.tokens+dt*b.perSec)
	}
	b.last = now
}

// wait takes n tokens, sleeping until they are available.
func (b *bucket) wait(ctx context.Context, n float64) error {
	for {
		b.mu.Lock()
		b.refill()
		need := min(n, b.capacity)
		if b.tokens >= need {
			b.tokens -= n
			b.mu.Unlock()
			return nil
		}
		d := time.Duration((need - b.tokens) / b.perSec * float64(time.Second))
		b.mu.Unlock()
		if err := b.clock.Sleep(ctx, max(d, time.Millisecond)); err != nil {
			return err
		}
	}
}

// adjust corrects the balance by delta tokens: negative when a request used
// more than its estimate, positive to refund.
func (b *bucket) adjust(delta float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	b.tokens = min(b.capacity, b.tokens+delta)
}

// gate holds every request to an endpoint back until a time: after a 429,
// the wait the endpoint asked for (Retry-After) or the backoff delay
// applies to all requests to it, not only to the one that was refused.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

// hold closes the gate until t, unless it is already closed for longer.
func (g *gate) hold(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until) {
		g.until = t
	}
}

// wait returns once the gate is open, or ctx's error.
func (g *gate) wait(ctx context.Context, clock Clock) error {
	for {
		g.mu.Lock()
		d := g.until.Sub(clock.Now())
		g.mu.Unlock()
		if d <= 0 {
			return ctx.Err()
		}
		if err := clock.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Hedging: an attempt unanswered after hedgeFactor times the endpoint's
// 95th-percentile latency (at least minHedgeDelay), once hedgeMinSamples
// successes were seen, gets a twin.
const (
	hedgeFactor     = 3
	minHedgeDelay   = 10 * time.Millisecond
	hedgeMinSamples = 20
)

// latencies keeps the last successful attempt latencies of an endpoint and
// their 95th percentile.
type latencies struct {
	mu   sync.Mutex
	ring [128]time.Duration
	n    int
	p95  time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.n%len(l.ring)] = d
	l.n++
	if l.n >= hedgeMinSamples && (l.n < len(l.ring) || l.n%16 == 0) {
		held := slices.Clone(l.ring[:min(l.n, len(l.ring))])
		slices.Sort(held)
		l.p95 = held[(len(held)*95)/100]
	}
}

// p95 returns the 95th-percentile latency, and false before enough
// samples.
func (l *latencies) quantile() (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p95, l.n >= hedgeMinSamples
}

// hedgeDelay is how long an attempt runs before it is hedged, and false
// when it is not.
func (ep *endpoint) hedgeDelay() (time.Duration, bool) {
	if !ep.hedge {
		return 0, false
	}
	q, ok := ep.latencies.quantile()
	if !ok {
		return 0, false
	}
	d := max(hedgeFactor*q, minHedgeDelay)
	return d, d < ep.timeout
}
