package llm

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how transient failures are retried: 429, 408, 409, 5xx,
// timeouts, connection errors and truncated answers. Other failures (400,
// 401, 403, 404, 422, …) are returned at once.
//
// The wait before retry n is the server's Retry-After (retry-after-ms, or
// Retry-After in seconds or as an HTTP date) when it sends one, and
// otherwise a random duration in [0, min(MaxDelay, BaseDelay·2^(n-1))]
// ("full jitter"). Either way it is capped at MaxDelay.
type RetryPolicy struct {
	// MaxAttempts is how many times a request is sent at most, the first
	// included. 0 means 6; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the backoff ceiling of the first retry. 0 means 500ms.
	BaseDelay time.Duration
	// MaxDelay caps every wait, Retry-After included. 0 means 60s.
	MaxDelay time.Duration
}

// DefaultRetryPolicy returns the policy of a client built without
// [WithRetry]: 6 attempts, 500ms base, 60s cap.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 6, BaseDelay: 500 * time.Millisecond, MaxDelay: time.Minute}
}

// withDefaults fills zero fields from [DefaultRetryPolicy].
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = d.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = d.MaxDelay
	}
	return p
}

// delay is the wait before the retry that follows failed attempt n (from 1).
func (p RetryPolicy) delay(attempt int, retryAfter time.Duration, hasRetryAfter bool) time.Duration {
	if hasRetryAfter {
		return min(max(retryAfter, 0), p.MaxDelay)
	}
	ceiling := p.MaxDelay
	if shift := attempt - 1; shift < 32 {
		if c := p.BaseDelay << shift; c > 0 && c < ceiling {
			ceiling = c
		}
	}
	return rand.N(ceiling + 1)
}

// retryableStatus reports whether an HTTP status is worth retrying.
func retryableStatus(status int) bool {
	switch {
	case status == http.StatusTooManyRequests, status == http.StatusRequestTimeout, status == http.StatusConflict:
		return true
	case status >= 500:
		return true
	}
	return false
}

// maxRetryAfter caps what parseRetryAfter returns: a server asking for
// more (or for "Inf", or a number past time.Duration's range) gets this, not
// an overflowed, negative wait.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads retry-after-ms, then Retry-After (seconds, possibly
// fractional, or an HTTP date relative to now), capped at maxRetryAfter.
func parseRetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 {
			return capRetryAfter(ms, time.Millisecond), true
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return capRetryAfter(s, time.Second), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter), true
	}
	return 0, false
}

// capRetryAfter is n units, at most maxRetryAfter; n is not negative
// (ParseFloat's NaN fails n >= 0).
func capRetryAfter(n float64, unit time.Duration) time.Duration {
	if n >= float64(maxRetryAfter/unit) {
		return maxRetryAfter
	}
	return time.Duration(n * float64(unit))
}
