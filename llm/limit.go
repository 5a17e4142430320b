package llm

import (
	"context"
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
