package llm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// Recorder saves model exchanges to a JSONL file (--record) or answers only
// from one (--replay), which makes a whole evaluation reproducible without
// the network.
//
// Each line is one exchange:
//
//	{"key":"<cache key>","kind":"chat","model":"openai:/gpt-4.1-mini",
//	 "request":{"messages":[…],"schema":{…},"schema_name":"…","params":{…}},
//	 "response":{"content":"…","structured_output":true,"usage":{…}}}
//
// Embeddings are one line per input ("kind":"embed", request {"input",
// "dimensions"}, response {"vector"}). Requests are matched by key (see
// [Cache]); the request is kept for people reading the file. Nothing
// secret is written: no key, header or base URL.
//
// A recording Recorder writes every answered exchange once, those answered
// from the cache included, so that a replay holds everything the run
// needed. A replaying Recorder never lets a request reach the network: a
// request it does not hold fails with [*ReplayMissError].
//
// A Recorder is safe for concurrent use.
type Recorder struct {
	path      string
	replaying bool

	mu   sync.Mutex
	w    io.WriteCloser
	seen map[string]bool
	held map[string]exchange
}

// exchange is one line of a recording.
type exchange struct {
	Key      string          `json:"key"`
	Kind     string          `json:"kind"`
	Model    string          `json:"model"`
	Request  json.RawMessage `json:"request"`
	Response json.RawMessage `json:"response"`
}

// CreateRecording starts recording to path, replacing any file there. The
// file is written as exchanges happen; [Recorder.Close] it when done.
func CreateRecording(path string) (*Recorder, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create recording: %w", err)
	}
	return &Recorder{path: path, w: f, seen: map[string]bool{}}, nil
}

// OpenReplay loads the recording at path for replay.
func OpenReplay(path string) (*Recorder, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open replay: %w", err)
	}
	defer f.Close()
	return readReplay(f, path)
}

// readReplay reads a recording from r; path names it in errors.
func readReplay(r io.Reader, path string) (*Recorder, error) {
	rec := &Recorder{path: path, replaying: true, held: map[string]exchange{}}
	br := bufio.NewReader(r)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var ex exchange
			if jerr := json.Unmarshal(b, &ex); jerr != nil {
				return nil, fmt.Errorf("read %s line %d: %w", path, line, jerr)
			}
			if ex.Key == "" || len(ex.Response) == 0 || string(ex.Response) == "null" {
				return nil, fmt.Errorf("read %s line %d: exchange without key or response", path, line)
			}
			rec.held[ex.Key] = ex
		}
		if errors.Is(err, io.EOF) {
			return rec, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s line %d: %w", path, line, err)
		}
	}
}

// Replaying reports whether r answers from a recording rather than records.
func (r *Recorder) Replaying() bool { return r.replaying }

// Len returns how many exchanges r holds (replay) or has written (record).
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.replaying {
		return len(r.held)
	}
	return len(r.seen)
}

// Close finishes a recording; it does nothing for a replay.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w == nil {
		return nil
	}
	err := r.w.Close()
	r.w = nil
	if err != nil {
		return fmt.Errorf("close recording %s: %w", r.path, err)
	}
	return nil
}

// lookup returns the recorded response for key, decoded into into.
func (r *Recorder) lookup(key string, into any) (bool, error) {
	ex, ok := r.held[key]
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(ex.Response, into); err != nil {
		return false, fmt.Errorf("replay %s: exchange %s: %w", r.path, digest(key), err)
	}
	return true, nil
}

// miss is the error for a request the replay does not hold.
func (r *Recorder) miss(model, key string) error {
	return &ReplayMissError{Model: model, Digest: digest(key), File: r.path}
}

// record appends one exchange unless its key was already written.
func (r *Recorder) record(key, kind, model string, request, response any) error {
	req, err := json.Marshal(request)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	resp, err := json.Marshal(response)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	line, err := json.Marshal(exchange{Key: key, Kind: kind, Model: model, Request: req, Response: resp})
	if err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	line = append(line, '\n')
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen[key] {
		return nil
	}
	if r.w == nil {
		return fmt.Errorf("record %s: recording is closed", r.path)
	}
	if _, err := r.w.Write(line); err != nil {
		return fmt.Errorf("record %s: %w", r.path, err)
	}
	r.seen[key] = true
	return nil
}

// digest is the short form of a key shown in errors.
func digest(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}
