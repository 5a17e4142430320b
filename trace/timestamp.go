package trace

import (
	"encoding/json"
	"fmt"
	"time"
)

// timeLayout is how MLflow writes times: RFC 3339, UTC, milliseconds.
const timeLayout = "2006-01-02T15:04:05.000Z"

// Timestamp is a point in time as MLflow writes it in JSON
// ("2025-06-01T12:00:00.000Z"). A Timestamp decoded from JSON is written back
// in the exact spelling it was read in (a string in any RFC 3339 form, or a
// number of milliseconds), so exports round-trip.
type Timestamp struct {
	time.Time
	raw string // JSON text read, reused while Time is unchanged
	at  time.Time
}

// NewTimestamp returns t as a Timestamp, truncated to milliseconds as MLflow
// stores it.
func NewTimestamp(t time.Time) Timestamp {
	return Timestamp{Time: t.UTC().Truncate(time.Millisecond)}
}

// TimestampFromMillis returns the Timestamp of a Unix time in milliseconds.
func TimestampFromMillis(ms int64) Timestamp {
	return NewTimestamp(time.UnixMilli(ms))
}

// Millis returns t as Unix milliseconds, 0 for the zero Timestamp.
func (t Timestamp) Millis() int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// MarshalJSON writes t in MLflow's layout, or in the spelling it was read in.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.raw != "" && t.Time.Equal(t.at) {
		return []byte(t.raw), nil
	}
	return json.Marshal(t.UTC().Format(timeLayout))
}

// UnmarshalJSON reads an RFC 3339 string or a number of Unix milliseconds.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Timestamp{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var ms int64
		if err2 := json.Unmarshal(b, &ms); err2 != nil {
			return fmt.Errorf("timestamp %s: want an RFC 3339 string or Unix milliseconds", b)
		}
		*t = TimestampFromMillis(ms)
		t.raw, t.at = string(b), t.Time
		return nil
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", s, err)
	}
	*t = Timestamp{Time: parsed, raw: string(b), at: parsed}
	return nil
}
