package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/trace"
)

func TestNoopRoundTrip(t *testing.T) {
	h := newHost(t, host.NewConfig())
	p := load(t, h, "noop", host.Manifest{})

	d := p.Description()
	if d.Name != "noop" || d.Version != "1.0.0" || d.Description == "" {
		t.Errorf("description = %+v", d)
	}
	if p.Name() != "noop" {
		t.Errorf("name = %q, want the described name", p.Name())
	}
	info := p.Info()
	if info.Size == 0 || len(info.SHA256) != 64 || info.MemoryMinPages == 0 {
		t.Errorf("info = size %d sha %q min pages %d", info.Size, info.SHA256, info.MemoryMinPages)
	}

	j := testJudge(t)
	examples := testExamples(5)
	for i := range 3 { // the first align reuses the instance that described
		res, err := p.Align(context.Background(), host.Input{Judge: j, Examples: examples})
		if err != nil {
			t.Fatalf("align %d: %v", i, err)
		}
		if res.Judge.Fingerprint() != j.Fingerprint() {
			t.Errorf("align %d: the noop optimizer changed the judge", i)
		}
		if res.Report.Summary != "judge unchanged" || res.Report.Counts["examples_seen"] != 5 {
			t.Errorf("align %d: report = %+v", i, res.Report)
		}
		pv := res.Judge.Provenance
		if pv == nil || pv.Optimizer != "noop" || pv.OptimizerVersion != "1.0.0" || pv.OptimizerSHA256 != info.SHA256 ||
			pv.BaseJudge != j.Name || pv.NumTraces != 5 || pv.AlignedAt.IsZero() {
			t.Errorf("align %d: provenance = %+v", i, pv)
		}
		if u := res.Usage; u.Fuel <= 0 || u != (host.Usage{Fuel: u.Fuel}) {
			t.Errorf("align %d: usage = %+v, want only fuel", i, res.Usage)
		}
	}
}

func TestCompilationCacheOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	wasm := wasmBytes(t, "noop")
	loadOnce := func() time.Duration {
		h, err := host.New(context.Background(), host.NewConfig().WithCacheDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(context.Background())
		start := time.Now()
		if _, err := h.Load(context.Background(), wasm, host.Manifest{Name: "noop.wasm"}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	cold := loadOnce()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o700 {
		t.Errorf("cache directory mode = %o, want 0700", perm)
	}
	entries := cacheEntries(t, dir)
	if entries == 0 {
		t.Fatal("nothing was written to the compilation cache")
	}
	warm := loadOnce()
	if n := cacheEntries(t, dir); n != entries {
		t.Errorf("a warm load wrote %d cache entries, want %d", n, entries)
	}
	// That the warm load compiled nothing is shown by the unchanged cache;
	// how much faster it was depends on the machine's load, so it is only
	// logged (the benchmarks measure it).
	t.Logf("cold load %v, warm load %v", cold, warm)
}

func cacheEntries(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLoadRefuses(t *testing.T) {
	h := newHost(t, host.NewConfig())
	noop := wasmBytes(t, "noop")
	hostile := wasmBytes(t, "hostile")
	cases := []struct {
		name     string
		wasm     []byte
		manifest host.Manifest
		kind     host.Kind
		abi      bool
		want     string
	}{
		{
			name: "not wasm", wasm: []byte("\x00asm but not really"),
			kind: host.ABIViolation, want: "not a valid WebAssembly module",
		},
		{
			name: "pinned hash differs", wasm: noop, manifest: host.Manifest{SHA256: strings.Repeat("ab", 32)},
			kind: host.InvalidInput, want: "not the pinned " + strings.Repeat("ab", 32),
		},
		{
			name: "trusted without hash", wasm: noop, manifest: host.Manifest{Trusted: true},
			kind: host.InvalidInput, want: "trusted needs a pinned sha256",
		},
		{
			name: "memory below the module's minimum", wasm: noop, manifest: host.Manifest{Limits: host.Limits{MemoryPages: 16}},
			kind: host.ABIViolation, want: "more than its limit of 16 pages (1 MiB)",
		},
		{
			name: "ABI v2 module", wasm: wasmBytes(t, "abiv2"),
			kind: host.ABIViolation, abi: true,
			want: "built for plugin ABI v2 (it imports alignhost_v2); this alignhost supports ABI v1",
		},
		{
			name: "reported ABI version", wasm: hostile, manifest: host.Manifest{Grants: host.Grants{Env: map[string]string{"HOSTILE_ABI": "7"}}},
			kind: host.ABIViolation, abi: true,
			want: "built for plugin ABI v7 (its alignhost_abi_version returns 7)",
		},
		{
			name: "describe is not JSON", wasm: hostile, manifest: host.Manifest{Grants: host.Grants{Env: map[string]string{"HOSTILE_DESCRIBE": "invalid_json"}}},
			kind: host.ABIViolation, want: "describe: returned malformed JSON",
		},
		{
			name: "describe gives a bad name", wasm: hostile, manifest: host.Manifest{Grants: host.Grants{Env: map[string]string{"HOSTILE_DESCRIBE": "bad_name"}}},
			kind: host.ABIViolation, want: `name "Hostile Plugin!"`,
		},
		{
			name: "describe fails", wasm: hostile, manifest: host.Manifest{Grants: host.Grants{Env: map[string]string{"HOSTILE_DESCRIBE": "error"}}},
			kind: host.OptimizerFailed, want: "cannot describe myself",
		},
		{
			name: "describe panics", wasm: hostile, manifest: host.Manifest{Grants: host.Grants{Env: map[string]string{"HOSTILE_DESCRIBE": "panic"}}},
			kind: host.Crash, want: "crashed: panic: hostile describe",
		},
		{
			name: "describe uses a capability", wasm: hostile, manifest: host.Manifest{Grants: host.Grants{Env: map[string]string{"HOSTILE_DESCRIBE": "chat"}}},
			kind: host.ABIViolation, want: "called chat during describe",
		},
		{
			name: "start-up panics", wasm: hostile, manifest: host.Manifest{Grants: host.Grants{Env: map[string]string{"HOSTILE_INIT": "panic"}}},
			kind: host.Crash, want: "crashed: panic: hostile start-up",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.manifest.Name = "subject.wasm"
			_, err := h.Load(context.Background(), tc.wasm, tc.manifest)
			var pe *host.Error
			if !errors.As(err, &pe) {
				t.Fatalf("load = %v, want a *host.Error", err)
			}
			if pe.Kind != tc.kind {
				t.Errorf("kind = %v, want %v (%v)", pe.Kind, tc.kind, err)
			}
			if errors.Is(err, host.ErrABIVersion) != tc.abi {
				t.Errorf("errors.Is(err, ErrABIVersion) = %v, want %v", !tc.abi, tc.abi)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "plugin subject.wasm: ") || strings.Contains(msg, "\n") {
				t.Errorf("error = %q\nwant one line starting with the plugin and containing %q", msg, tc.want)
			}
		})
	}
	// The host is unharmed: a good module still loads and runs.
	p, err := h.Load(context.Background(), noop, host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1)}); err != nil {
		t.Fatal(err)
	}
}

func TestStartupTimeLimit(t *testing.T) {
	h := newHost(t, host.NewConfig())
	for _, env := range []string{"HOSTILE_INIT", "HOSTILE_DESCRIBE"} {
		t.Run(env, func(t *testing.T) {
			start := time.Now()
			_, err := h.LoadFile(context.Background(), wasmFile(t, "hostile"), host.Manifest{
				Limits: host.Limits{WallTimeMS: 300},
				Grants: host.Grants{Env: map[string]string{env: "loop"}},
			})
			took := time.Since(start)
			var le *host.LimitError
			if !errors.As(err, &le) || le.Limit != host.LimitWallTime || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("load = %v, want a wall-time limit error", err)
			}
			t.Logf("the spinning start-up was stopped after %v", took)
		})
	}
}

func TestInputRefused(t *testing.T) {
	h := newHost(t, host.NewConfig())
	p := load(t, h, "hostile", host.Manifest{})
	j := testJudge(t)
	cases := []struct {
		name string
		in   host.Input
		want string
	}{
		{"no judge", host.Input{Examples: testExamples(1)}, "no judge to align"},
		{"invalid judge", host.Input{Judge: &judge.Judge{Name: "empty"}, Examples: testExamples(1)}, "instructions are empty"},
		{"no examples", host.Input{Judge: j}, "needs at least 1 labelled examples, got 0"},
		{"unknown config key", host.Input{Judge: j, Examples: testExamples(1), Config: map[string]any{"mood": "grumpy"}},
			"config key mood is not accepted by the plugin; accepted: mode, size_mb, n"},
		{"config of the wrong type", host.Input{Judge: j, Examples: testExamples(1), Config: map[string]any{"size_mb": "big"}},
			`config key "size_mb": "big" is not an integer`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Align(context.Background(), tc.in)
			var pe *host.Error
			if !errors.As(err, &pe) || pe.Kind != host.InvalidInput || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("align = %v, want invalid input containing %q", err, tc.want)
			}
		})
	}
}

// TestConcurrentAligns hammers one plugin from many goroutines with a mix of
// good and crashing calls: every good call succeeds, every crash is
// reported as one, and the pool stays usable.
func TestConcurrentAligns(t *testing.T) {
	h := newHost(t, host.NewConfig())
	p := load(t, h, "hostile", host.Manifest{Limits: host.Limits{Instances: 2}, Pool: host.Pool{MaxUses: 3}})
	j := testJudge(t)
	const workers, rounds = 6, 4
	errs := make(chan error, workers*rounds)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				mode := "ok"
				if (w+r)%3 == 0 {
					mode = "panic"
				}
				res, err := p.Align(context.Background(), host.Input{Judge: j, Examples: testExamples(2), Config: map[string]any{"mode": mode}})
				var pe *host.Error
				switch {
				case mode == "ok" && (err != nil || res.Judge.Name != j.Name):
					errs <- fmt.Errorf("worker %d round %d: %v", w, r, err)
				case mode == "panic" && !(errors.As(err, &pe) && pe.Kind == host.Crash):
					errs <- fmt.Errorf("worker %d round %d: crash reported as %v", w, r, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestGoSDK checks the SDK's side of the ABI in WebAssembly: the request
// arrives whole (traces only because the plugin asks for them), a returned
// error and a recovered panic become the optimizer's failure, and an
// answer without a judge is refused.
func TestGoSDK(t *testing.T) {
	h, _ := modelHost(t, host.NewConfig())
	p := load(t, h, "probe", host.Manifest{})
	j := testJudge(t)
	tr := &trace.Trace{Info: trace.Info{TraceID: "tr-000"}}
	in := func(action string) host.Input {
		return host.Input{Judge: j, Examples: testExamples(2), Seed: 7,
			Skipped: []trace.Skip{{TraceID: "tr-x", Reason: "missing outputs"}},
			Traces:  []*trace.Trace{tr, tr, tr}, Config: map[string]any{"action": action}}
	}
	res, err := p.Align(context.Background(), in("echo"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"examples": 2, "skipped": 1, "traces": 3, "models": 2}
	if fmt.Sprint(res.Report.Counts) != fmt.Sprint(want) || res.Report.Summary != "seed 7 ratio 0.5" {
		t.Errorf("report = %+v, want counts %v and the seed and default ratio", res.Report, want)
	}
	for _, tc := range []struct {
		action string
		kind   host.Kind
		want   string
	}{
		{"error", host.OptimizerFailed, "plugin probe: align: not enough signal in 2 examples"},
		{"panic", host.OptimizerFailed, "plugin probe: align: panic: assignment to entry in nil map"},
		{"no_judge", host.OptimizerFailed, "plugin probe: align: Align returned no judge"},
	} {
		_, err := p.Align(context.Background(), in(tc.action))
		var pe *host.Error
		if !errors.As(err, &pe) || pe.Kind != tc.kind || err.Error() != tc.want {
			t.Errorf("%s: align = %v, want %q", tc.action, err, tc.want)
		}
	}
	if _, err := p.Align(context.Background(), host.Input{Judge: j, Examples: testExamples(1)}); err == nil ||
		!strings.Contains(err.Error(), "needs at least 2 labelled examples, got 1") {
		t.Errorf("one example: %v", err)
	}
}

// TestSDKKeepsUnknownJudgeMembers: a Go plugin built with the SDK decodes
// the judge and encodes it again; a member no alignhost knows today comes
// back byte for byte.
func TestSDKKeepsUnknownJudgeMembers(t *testing.T) {
	h := newHost(t, host.NewConfig())
	p := load(t, h, "noop", host.Manifest{})
	j := testJudge(t).Clone()
	j.Extra = map[string]json.RawMessage{"member_of_abi_v1_9": json.RawMessage(`{"weights":[0.25,1e-3],"mode":"strict"}`)}
	res, err := p.Align(context.Background(), host.Input{Judge: j, Examples: testExamples(2)})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Judge.Extra["member_of_abi_v1_9"]); got != `{"weights":[0.25,1e-3],"mode":"strict"}` {
		t.Errorf("the unknown member came back as %q", got)
	}
}
