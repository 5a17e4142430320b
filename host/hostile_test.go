package host_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alignhost/alignhost/host"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/pluginapi"

	openai "github.com/sashabaranov/go-openai"
)

// testRoles are the model roles of the tests' hosts.
var testRoles = []host.Role{
	{Name: pluginapi.RoleReflection, Kind: pluginapi.ChatModel, Model: "openai:/gpt-4.1"},
	{Name: pluginapi.RoleEmbedding, Kind: pluginapi.EmbedModel, Model: "openai:/text-embedding-3-small", Dimensions: 64},
}

// modelHost returns a host whose models are a fake server's.
func modelHost(t testing.TB, cfg host.Config, opts ...llmtest.Option) (*host.Host, *llmtest.Server) {
	t.Helper()
	srv := llmtest.NewServer(t, opts...)
	client, err := llm.New(llm.WithGetenv(srv.Getenv), llm.WithRetry(llm.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return newHost(t, cfg.WithModels(client, testRoles...)), srv
}

// TestHostile runs every misbehaviour of the hostile module. Each must end
// with one clear line naming the limit or fault that stopped it, and the same plugin
// must then run a well-behaved align.
func TestHostile(t *testing.T) {
	h, srv := modelHost(t, host.NewConfig())
	// Each case must be stopped by the limit it tests and no other, however
	// busy the machine: every case but "loop" runs with a wall time far
	// beyond what it needs, so only "loop" can meet the wall-time limit.
	limits := host.Limits{WallTimeMS: 120_000, MemoryPages: 1024, ModelCalls: 5, MessageBytes: 1 << 20}
	p := load(t, h, "hostile", host.Manifest{Limits: limits})
	spinLimits := limits
	spinLimits.WallTimeMS = 1500
	spin := load(t, h, "hostile", host.Manifest{Limits: spinLimits})

	limit := func(l host.Limit, value string) func(*testing.T, error) {
		return func(t *testing.T, err error) {
			t.Helper()
			var le *host.LimitError
			if !errors.As(err, &le) || le.Limit != l || le.Value != value || le.Plugin != "hostile" || le.Op != "align" {
				t.Errorf("error = %v, want the %s limit of %s", err, l, value)
			}
		}
	}
	kind := func(k host.Kind, want string) func(*testing.T, error) {
		return func(t *testing.T, err error) {
			t.Helper()
			var pe *host.Error
			if !errors.As(err, &pe) || pe.Kind != k || !strings.Contains(err.Error(), want) {
				t.Errorf("error = %v, want %v containing %q", err, k, want)
			}
		}
	}
	cases := []struct {
		mode   string
		config map[string]any
		spin   bool // run under the 1.5 s wall-time limit
		check  func(*testing.T, error)
	}{
		{mode: "loop", spin: true, check: limit(host.LimitWallTime, "1.5s")},
		{mode: "alloc", check: limit(host.LimitMemory, "64 MiB")},
		{mode: "recurse", check: func(t *testing.T, err error) {
			// Go grows the goroutine stack in linear memory until the memory
			// limit, or its own stack limit, stops it.
			var le *host.LimitError
			if !(errors.As(err, &le) && le.Limit == host.LimitMemory) && !strings.Contains(err.Error(), "stack overflow") {
				t.Errorf("error = %v, want the memory limit or a stack overflow", err)
			}
		}},
		{mode: "panic", check: kind(host.Crash, "crashed: panic: deliberate")},
		{mode: "deadlock", check: kind(host.Crash, "crashed: fatal error: all goroutines are asleep - deadlock!")},
		{mode: "exit", check: kind(host.Crash, "exited with code 3")},
		{mode: "invalid_json", check: kind(host.ABIViolation, "align: returned malformed JSON")},
		{mode: "rename", check: kind(host.InvalidJudge, `renamed from "helpful" to "someone_else"`)},
		{mode: "bad_template", check: kind(host.InvalidJudge, "unknown template variable {{ nonsense }}")},
		{mode: "change_model", check: kind(host.InvalidJudge, `model changed from "openai:/gpt-4.1-mini" to "openai:/gpt-5", which the user did not allow`)},
		{mode: "change_type", check: kind(host.InvalidJudge, "value type changed from boolean (yes/no) to string")},
		{mode: "change_params", check: kind(host.InvalidJudge, "the judge's inference_params changed (max_tokens), which the user did not allow")},
		{mode: "change_description", check: kind(host.InvalidJudge, "the judge's description changed; a plugin must keep it")},
		{mode: "drop_member", check: kind(host.InvalidJudge, `the judge's member "future_member" was dropped or changed`)},
		{mode: "guideline_bomb", check: kind(host.InvalidJudge, "the guidelines are 409600 bytes together, more than 262144")},
		{mode: "gigantic", config: map[string]any{"size_mb": 4}, check: limit(host.LimitMessageSize, "1 MiB")},
		{mode: "oob_result", check: kind(host.ABIViolation, "alignhost_align returned a result outside its memory (address 0xffff0000, length 4096")},
		{mode: "no_result", check: kind(host.ABIViolation, "alignhost_align returned no result")},
		{mode: "bad_log_pointer", check: kind(host.ABIViolation, "passed log a buffer outside its memory (address 0xffffff00, length 4096")},
		{mode: "bad_chat_pointer", check: kind(host.ABIViolation, "passed chat a buffer outside its memory (address 0xfffffff0, length 64")},
		{mode: "bad_take_pointer", check: kind(host.ABIViolation, "passed take a buffer outside its memory (address 0xffffff00")},
		{mode: "never_take", check: func(t *testing.T, err error) {
			// Five calls fit the budget of model calls; the held responses
			// are refused first when the budget is larger, so either ends it.
			var le *host.LimitError
			var pe *host.Error
			if !(errors.As(err, &le) && le.Limit == host.LimitModelCalls) &&
				!(errors.As(err, &pe) && strings.Contains(err.Error(), "holding 16 responses")) {
				t.Errorf("error = %v", err)
			}
		}},
		{mode: "budget", check: limit(host.LimitModelCalls, "5")},
		{mode: "read_file", check: kind(host.OptimizerFailed, "read file: open /etc/hostname:")},
		{mode: "env", check: kind(host.OptimizerFailed, "environment: []")},
		{mode: "network", check: kind(host.OptimizerFailed, "dial:")},
	}
	j := testJudge(t).Clone()
	// A member no alignhost knows today, which every plugin must keep.
	j.Extra = map[string]json.RawMessage{"future_member": json.RawMessage(`{"x":1}`)}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			srv.Reset()
			cfg := map[string]any{"mode": tc.mode}
			for k, v := range tc.config {
				cfg[k] = v
			}
			run := p
			if tc.spin {
				run = spin
			}
			start := time.Now()
			_, err := run.Align(context.Background(), host.Input{Judge: j, Examples: testExamples(3), Config: cfg})
			took := time.Since(start)
			if err == nil {
				t.Fatal("align succeeded")
			}
			t.Logf("%v (after %v)", err, took.Round(time.Millisecond))
			tc.check(t, err)
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error has more than one line: %q", err)
			}
			if tc.mode == "budget" {
				if n := len(srv.ChatRequests()); n != 5 {
					t.Errorf("the model got %d calls, want the budget of 5", n)
				}
			}
			// The host lives on and the next run succeeds.
			if _, err := p.Align(context.Background(), host.Input{Judge: j, Examples: testExamples(3)}); err != nil {
				t.Errorf("the next align failed: %v", err)
			}
		})
	}
}

// TestWaitsOnTheHostAreCut checks that a guest waiting on a model that
// never answers is stopped at its wall time, trusted or not.
func TestWaitsOnTheHostAreCut(t *testing.T) {
	h, _ := modelHost(t, host.NewConfig(), llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply { return llmtest.Hang() }))
	wasm := wasmBytes(t, "hostile")
	for _, trusted := range []bool{false, true} {
		t.Run(fmt.Sprintf("trusted=%v", trusted), func(t *testing.T) {
			m := host.Manifest{Limits: host.Limits{WallTimeMS: 400}}
			if trusted {
				m.SHA256, m.Trusted = sha256Hex(wasm), true
			}
			p, err := h.Load(context.Background(), wasm, m)
			if err != nil {
				t.Fatal(err)
			}
			if p.Trusted() != trusted {
				t.Fatalf("Trusted() = %v", p.Trusted())
			}
			start := time.Now()
			_, err = p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1), Config: map[string]any{"mode": "chat"}})
			took := time.Since(start)
			var le *host.LimitError
			if !errors.As(err, &le) || le.Limit != host.LimitWallTime || le.Value != "400ms" {
				t.Fatalf("align = %v, want the wall-time limit", err)
			}
			t.Logf("stopped after %v", took)
			if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1)}); err != nil {
				t.Errorf("the next align failed: %v", err)
			}
		})
	}
}

// TestSandboxGrants checks that the environment, files and the real clock
// reach a plugin only when granted.
func TestSandboxGrants(t *testing.T) {
	h := newHost(t, host.NewConfig())
	etc := t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "hostname"), []byte("granted-host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	year := time.Now().UTC().Format("2006")
	cases := []struct {
		name   string
		grants host.Grants
		mode   string
		want   string
	}{
		{"no environment", host.Grants{}, "env", `environment: []`},
		{"granted environment", host.Grants{Env: map[string]string{"REGION": "eu"}}, "env", `environment: ["REGION=eu"]`},
		{"no files", host.Grants{}, "read_file", "read file: open /etc/hostname:"},
		{"granted directory", host.Grants{Dirs: map[string]string{"/etc": etc}}, "read_file", "read 13 bytes of /etc/hostname"},
		{"fake clock", host.Grants{}, "clock", "2022-01-01T00:00:00Z"},
		{"real clock", host.Grants{Clock: true}, "clock", year + "-"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, h, "hostile", host.Manifest{Grants: tc.grants})
			defer p.Close(context.Background())
			res, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1), Config: map[string]any{"mode": tc.mode}})
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				got = said(res.Judge)
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got %q, want it to contain %q", got, tc.want)
			}
		})
	}
}

// TestDeterministicRandomness checks that WASI randomness is a seeded
// stream: the same seed gives the same bytes in a fresh instance, another
// seed other bytes.
func TestDeterministicRandomness(t *testing.T) {
	h := newHost(t, host.NewConfig())
	random := func(seed int64) string {
		t.Helper()
		p := load(t, h, "hostile", host.Manifest{Seed: seed})
		defer p.Close(context.Background())
		res, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1), Config: map[string]any{"mode": "random"}})
		if err != nil {
			t.Fatal(err)
		}
		return said(res.Judge)
	}
	a, b, c := random(1), random(1), random(2)
	if len(a) != 32 {
		t.Fatalf("random bytes = %q", a)
	}
	if a != b {
		t.Errorf("seed 1 gave %s then %s", a, b)
	}
	if a == c {
		t.Errorf("seeds 1 and 2 both gave %s", a)
	}
}

// TestPoolRecyclesInstances uses the random stream to see instances: an
// instance continues its stream, a fresh one starts it again.
func TestPoolRecyclesInstances(t *testing.T) {
	h := newHost(t, host.NewConfig())
	p := load(t, h, "hostile", host.Manifest{Pool: host.Pool{MaxUses: 3}})
	align := func(mode string) (string, error) {
		res, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1), Config: map[string]any{"mode": mode}})
		if err != nil {
			return "", err
		}
		return said(res.Judge), nil
	}
	var seq []string
	for range 4 {
		r, err := align("random")
		if err != nil {
			t.Fatal(err)
		}
		seq = append(seq, r)
	}
	// The load's describe was the instance's first use; two aligns follow
	// on it, then a fresh instance restarts the stream.
	if seq[0] == seq[1] || seq[2] != seq[0] || seq[3] != seq[1] {
		t.Errorf("streams = %v, want a, b, a, b (instances replaced after 3 uses)", seq)
	}
	if _, err := align("panic"); err == nil {
		t.Fatal("panic mode succeeded")
	}
	r, err := align("random")
	if err != nil {
		t.Fatal(err)
	}
	if r != seq[0] {
		t.Errorf("after a crash got %s, want a fresh instance's %s", r, seq[0])
	}
}

// TestGuestOutputIsLogged checks that stdout, stderr and log calls reach
// the host's log with the plugin's name, and that a flood is capped.
func TestGuestOutputIsLogged(t *testing.T) {
	rec := &recorder{}
	logger := slog.New(rec)
	h := newHost(t, host.NewConfig().WithLogger(logger))
	p := load(t, h, "hostile", host.Manifest{})
	run := func(mode string) {
		t.Helper()
		if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1), Config: map[string]any{"mode": mode}}); err != nil {
			t.Fatal(err)
		}
	}
	run("output")
	for _, want := range []struct{ msg, stream, level string }{
		{"hello from stdout", "stdout", "INFO"},
		{"hello from stderr", "stderr", "WARN"},
		{"hello from log", "", "WARN"},
	} {
		got := rec.find(want.msg)
		if len(got) != 1 {
			t.Errorf("%d records %q, want 1", len(got), want.msg)
			continue
		}
		if attr(got[0], "plugin") != "hostile" || attr(got[0], "stream") != want.stream || got[0].Level.String() != want.level {
			t.Errorf("record %q: plugin %q stream %q level %s", want.msg, attr(got[0], "plugin"), attr(got[0], "stream"), got[0].Level)
		}
	}
	before := rec.count()
	run("flood") // 3 MiB in 1 KiB lines
	if n := rec.count() - before; n > 1100 {
		t.Errorf("a 3 MiB flood made %d log records, want it capped near 1 MiB", n)
	}
	if len(rec.find("plugin output exceeds 1 MiB; dropping the rest")) != 1 {
		t.Error("no notice that output was dropped")
	}

	// The log import is bounded per call too: 5,000 messages log the first
	// 1,000, one notice when the bound is reached and the count at the end.
	if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1),
		Config: map[string]any{"mode": "log_flood", "n": 5000}}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.find("log flood " + strings.Repeat("z", 100))); n != 1000 {
		t.Errorf("a flood of 5,000 log messages logged %d, want the bound of 1,000", n)
	}
	if n := len(rec.find("plugin log limit reached: the rest of this call's log is dropped")); n != 1 {
		t.Errorf("%d notices that the log limit was reached, want 1", n)
	}
	dropped := rec.find("plugin log messages dropped")
	if len(dropped) != 1 || attr(dropped[0], "dropped") != "4000" {
		t.Errorf("dropped report = %v, want one saying 4000", dropped)
	}
	// The next call has a bound of its own.
	before = len(rec.find("log flood " + strings.Repeat("z", 100)))
	if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1),
		Config: map[string]any{"mode": "log_flood", "n": 10}}); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.find("log flood "+strings.Repeat("z", 100))) - before; n != 10 {
		t.Errorf("the next call logged %d of its 10 messages", n)
	}
}

// TestNativeLogIsBounded: a native optimizer's log is bounded per call as
// a WebAssembly one's is.
func TestNativeLogIsBounded(t *testing.T) {
	rec := &recorder{}
	h := newHost(t, host.NewConfig().WithLogger(slog.New(rec)))
	n, err := h.LoadNative(scripted(nil, func(ctx context.Context, hh pluginapi.Host, req *pluginapi.AlignRequest) (*pluginapi.AlignResponse, error) {
		for range 3000 {
			hh.Log(pluginapi.LevelInfo, "native flood")
		}
		return &pluginapi.AlignResponse{Judge: req.Judge}, nil
	}), host.Manifest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1)}); err != nil {
		t.Fatal(err)
	}
	if got := len(rec.find("native flood")); got != 1000 {
		t.Errorf("a native flood of 3,000 messages logged %d, want 1,000", got)
	}
	if dropped := rec.find("plugin log messages dropped"); len(dropped) != 1 || attr(dropped[0], "dropped") != "2000" {
		t.Errorf("dropped report = %v, want one saying 2000", dropped)
	}
}

// said is what the hostile guest passed back in the judge's instructions
// (see say in testdata/hostile).
func said(j *judge.Judge) string {
	i := strings.LastIndex(j.Instructions, " [")
	if i < 0 || !strings.HasSuffix(j.Instructions, "]") {
		return ""
	}
	return j.Instructions[i+2 : len(j.Instructions)-1]
}

// TestProgressIsBounded: a flood of progress reports reaches the caller's
// callback at most 1,000 times in one call.
func TestProgressIsBounded(t *testing.T) {
	h := newHost(t, host.NewConfig())
	p := load(t, h, "hostile", host.Manifest{})
	var n atomic.Int64
	if _, err := p.Align(context.Background(), host.Input{Judge: testJudge(t), Examples: testExamples(1),
		Config:   map[string]any{"mode": "progress_loop", "n": 5000},
		Progress: func(host.Progress) { n.Add(1) }}); err != nil {
		t.Fatal(err)
	}
	if got := n.Load(); got == 0 || got > 1000 {
		t.Errorf("5,000 progress reports reached the callback %d times, want at most 1,000", got)
	}
}
