package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/internal/guestbuild"
	"github.com/alignhost/alignhost/judge"
)

// The guest modules the tests use, built once per test run by TestMain
// (Go WebAssembly builds take seconds each; Go's build cache makes repeated
// runs cheap).
var guests = map[string]string{
	"noop":    "../plugins/examples/noop",
	"fewshot": "../plugins/examples/fewshot/wasm",
	"hostile": "./testdata/hostile",
	"abiv2":   "./testdata/abiv2",
	"probe":   "./testdata/probe",
	"rawabi":  "./testdata/rawabi",
	"echo":    "./testdata/echo",
}

// built is the outcome of building the guests.
var built struct {
	dir      string
	cacheDir string
	paths    map[string]string
	err      error
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "alignhost-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	built.dir = dir
	built.cacheDir = filepath.Join(dir, "cache")
	built.paths, built.err = buildGuests(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildGuests builds every guest into dir, through package guestbuild so
// that the test binaries of one `go test ./...` share the work.
func buildGuests(dir string) (map[string]string, error) {
	paths := map[string]string{}
	var errs []error
	for name, pkg := range guests {
		out := filepath.Join(dir, name+".wasm")
		if err := guestbuild.Build(context.Background(), pkg, out); err != nil {
			errs = append(errs, err)
			continue
		}
		paths[name] = out
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return paths, nil
}

// wasmFile returns the path of a built guest module.
func wasmFile(t testing.TB, name string) string {
	t.Helper()
	if built.err != nil {
		t.Fatalf("test modules: %v", built.err)
	}
	return built.paths[name]
}

// wasmBytes returns a built guest module.
func wasmBytes(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(wasmFile(t, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newHost returns a host on the shared test compilation cache, closed at
// the end of the test.
func newHost(t testing.TB, cfg host.Config) *host.Host {
	t.Helper()
	h, err := host.New(context.Background(), cfg.WithCacheDir(built.cacheDir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("close host: %v", err)
		}
	})
	return h
}

// load loads a built guest.
func load(t testing.TB, h *host.Host, name string, m host.Manifest) *host.Plugin {
	t.Helper()
	p, err := h.LoadFile(context.Background(), wasmFile(t, name), m)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return p
}

// testJudge is a yes/no judge of inputs and outputs.
func testJudge(t testing.TB) *judge.Judge {
	t.Helper()
	j, err := judge.New("helpful", "Is {{ outputs }} a helpful answer to {{ inputs }}? Answer yes or no.",
		judge.WithValueType(judge.ValueType{Type: judge.Boolean}), judge.WithModel("openai:/gpt-4.1-mini"))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// testExamples returns n labelled examples for testJudge.
func testExamples(n int) []judge.Example {
	topics := []string{"billing", "password reset", "refund", "shipping delay", "api limits", "data export", "sso login", "invoice copy"}
	out := make([]judge.Example, n)
	for i := range out {
		topic := topics[i%len(topics)]
		value := "yes"
		if i%3 == 2 {
			value = "no"
		}
		out[i] = judge.Example{
			TraceID:      fmt.Sprintf("tr-%03d", i),
			Inputs:       fmt.Sprintf("Customer %d asks about %s.", i, topic),
			Outputs:      fmt.Sprintf("Here is how %s works for your plan (case %d).", topic, i),
			Value:        value,
			Rationale:    "The answer " + map[string]string{"yes": "covers the question.", "no": "misses the plan's limits."}[value],
			FeedbackTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		}
	}
	return out
}

// recorder is a slog handler that keeps every record.
type recorder struct {
	mu      sync.Mutex
	records []slog.Record
	attrs   []slog.Attr
	parent  *recorder
}

func (r *recorder) root() *recorder {
	if r.parent != nil {
		return r.parent.root()
	}
	return r
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	rec = rec.Clone()
	rec.AddAttrs(r.attrs...)
	root := r.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	root.records = append(root.records, rec)
	return nil
}

func (r *recorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &recorder{attrs: append(append([]slog.Attr(nil), r.attrs...), attrs...), parent: r}
}

func (r *recorder) WithGroup(string) slog.Handler { return r }

// find returns the records whose message is msg.
func (r *recorder) find(msg string) []slog.Record {
	root := r.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	var out []slog.Record
	for _, rec := range root.records {
		if rec.Message == msg {
			out = append(out, rec)
		}
	}
	return out
}

// count returns how many records there are.
func (r *recorder) count() int {
	root := r.root()
	root.mu.Lock()
	defer root.mu.Unlock()
	return len(root.records)
}

// attr returns the value of attribute key of rec.
func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// sha256Hex returns the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
