package llm

import (
	"bytes"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParseRetryAfter: whatever a server sends as retry-after-ms and
// Retry-After, the wait is never negative nor above maxRetryAfter, a plain
// number of seconds is honoured up to that cap, and the retry delay stays
// within the policy's MaxDelay.
func FuzzParseRetryAfter(f *testing.F) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, seed := range [][2]string{
		{"", "3"}, {"", "0.5"}, {"250", "3"}, {"", now.Add(90 * time.Second).Format(http.TimeFormat)},
		{"", "Sun, 06 Nov 1994 08:49:37 GMT"}, {"", "Sunday, 06-Nov-94 08:49:37 GMT"}, {"", "Sun Nov  6 08:49:37 1994"},
		{"", "soon"}, {"", "-4"}, {"1e400", ""}, {"", "Inf"}, {"", "NaN"}, {"", "1e19"}, {"9223372036854775807", ""},
		{"", "0x10"}, {"", " 7 "}, {"-0", "-0"},
	} {
		f.Add(seed[0], seed[1])
	}
	policy := DefaultRetryPolicy()
	f.Fuzz(func(t *testing.T, ms, after string) {
		h := http.Header{}
		if ms != "" {
			h.Set("retry-after-ms", ms)
		}
		if after != "" {
			h.Set("Retry-After", after)
		}
		d, ok := parseRetryAfter(h, now)
		if d < 0 || d > maxRetryAfter || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(ms %q, Retry-After %q) = %v, %v; want a wait in [0, %v]", ms, after, d, ok, maxRetryAfter)
		}
		if strings.TrimSpace(ms) == "" {
			if s, err := strconv.ParseFloat(strings.TrimSpace(after), 64); err == nil && s >= 0 && !math.IsInf(s, 0) {
				want := maxRetryAfter
				if s < maxRetryAfter.Seconds() {
					want = time.Duration(s * float64(time.Second))
				}
				if !ok || d != want {
					t.Fatalf("Retry-After %q = %v, %v; want %v", after, d, ok, want)
				}
			}
		}
		if w := policy.delay(1, d, ok); w < 0 || w > policy.MaxDelay {
			t.Fatalf("delay = %v, want within [0, %v]", w, policy.MaxDelay)
		}
	})
}

// FuzzReadReplay: a recording file of any content is read or refused with
// an error naming the line, never a panic, and every exchange it holds can
// be looked up.
func FuzzReadReplay(f *testing.F) {
	for _, seed := range []string{
		`{"key":"3f2a","kind":"chat","model":"openai:/gpt-4.1-mini","request":{"messages":[{"role":"user","content":"q"}]},"response":{"content":"{\"result\":\"yes\"}","structured_output":true,"usage":{"prompt_tokens":12,"completion_tokens":4}}}` + "\n",
		`{"key":"9b1c","kind":"embed","model":"openai:/text-embedding-3-small","request":{"input":"x","dimensions":4},"response":{"vector":[0.5,0.5,0.5,0.5]}}` + "\n" + "\n",
		`{"key":"","response":{}}`,
		`{"key":"k","response":null}`,
		`{"key":"k","response":"not an object"}` + "\r\n" + `{"key":"k2","response":{"content":7}}`,
		`{"key":"k","response":{"content":"a"}}` + "\n" + `{"key":"k","response":{"content":"b"}}`,
		"not json\n",
		`{"key":"k","response":{"content":"truncated`,
		"\xff\xfe",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := readReplay(bytes.NewReader(data), "fuzz.jsonl")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.jsonl line ") {
				t.Fatalf("error %q does not name the file and line", err)
			}
			return
		}
		if !r.Replaying() {
			t.Fatal("a read recording does not replay")
		}
		for key := range r.held {
			var c chatAnswer
			r.lookup(key, &c)
			var e embedAnswer
			r.lookup(key, &e)
		}
	})
}
