package host_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/alignhost/alignhost/host"
)

// The messages FuzzABIAlign has the echo guest (testdata/echo) send in
// alignhost_align: each is a message of docs/abi.md that the host reads
// from a guest. FuzzABIDescribe covers the Description.
const (
	echoResult   = iota // the AlignResponse alignhost_align returns
	echoChat            // a chat request
	echoEmbed           // an embed request
	echoEvaluate        // an evaluate request
	echoLog             // a log message, with a level
	echoProgress        // a progress message, with done and total
	echoPacked          // the raw packed result of alignhost_align: pointer and length
	echoMessages
)

var echoNames = [echoMessages]string{"result", "chat", "embed", "evaluate", "log", "progress", "packed"}

// Bounds of the fuzzed plugin: small enough that a host that copies or
// keeps what it should refuse shows, large enough for a Go guest.
const (
	fuzzMessageBytes = 1 << 20
	fuzzMemoryPages  = 1024 // 64 MiB
	// fuzzWallTime is far above what any echo call takes: a call that
	// reaches it is a hang.
	fuzzWallTime = 30 * time.Second
	// fuzzHeapBytes bounds the test process's live heap after a call.
	fuzzHeapBytes = 1 << 30
)

// fuzzEcho is the host and the loaded echo guest every fuzz input of one
// process shares: a load costs a Go runtime start, an align on a warm
// instance milliseconds. Its compilation cache outlives the process, so
// that each fuzzing worker does not compile the guest again.
var fuzzEcho struct {
	once sync.Once
	s    *fuzzSetup
	err  error
}

type fuzzSetup struct {
	h      *host.Host
	p      *host.Plugin
	wasm   []byte
	limits host.Limits
}

// setUp returns the shared setup. Fuzz targets call it before f.Fuzz:
// the fuzzing engine gives each input 10 s, and compiling the guest in a
// coverage-instrumented binary takes a good part of that.
func setUp(f *testing.F) *fuzzSetup {
	f.Helper()
	wasm := wasmBytes(f, "echo")
	fuzzEcho.once.Do(func() {
		h, err := host.New(context.Background(), host.NewConfig().
			WithCacheDir(filepath.Join(os.TempDir(), "alignhost-fuzz-wasm-cache")).
			WithModels(stubModels{}, testRoles...).
			WithEvaluator(&agreeingEvaluator{agree: true}))
		if err != nil {
			fuzzEcho.err = err
			return
		}
		s := &fuzzSetup{h: h, wasm: wasm, limits: host.Limits{MessageBytes: fuzzMessageBytes, MemoryPages: fuzzMemoryPages, WallTimeMS: fuzzWallTime.Milliseconds()}}
		s.p, fuzzEcho.err = h.Load(context.Background(), wasm, host.Manifest{Name: "echo", Limits: s.limits})
		fuzzEcho.s = s
	})
	if fuzzEcho.err != nil {
		f.Fatalf("echo guest: %v", fuzzEcho.err)
	}
	return fuzzEcho.s
}

// FuzzABIDescribe loads the echo guest with fuzzed bytes as its
// Description. The host must refuse a bad one with one typed, one-line
// error, and load a plugin only under a valid name.
func FuzzABIDescribe(f *testing.F) {
	for _, seed := range []string{
		`{"name":"echo","version":"1"}`,
		`{"name":"echo","version":"1","capabilities":["chat","teleport"],"config":[{"key":"k","type":"complex"}]}`,
		`{"name":"echo","version":"1","config":[{"key":"k","type":"string","default":7},{"key":"k","type":"string"}],"min_examples":-1}`,
		`{"name":"a\u001b]0;x\u0007","version":"1"}`,
		`{"error":{"code":"optimizer","message":"no"}}`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	s := setUp(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*fuzzWallTime)
		defer cancel()
		p, err := s.h.Load(ctx, s.wasm, host.Manifest{Name: "echo", Limits: s.limits,
			Grants: host.Grants{Env: map[string]string{"ECHO_DESCRIBE": base64.StdEncoding.EncodeToString(body)}}})
		checkClean(t, "describe", err)
		if err != nil {
			return
		}
		if d := p.Description(); d.Name == "" || !utf8.ValidString(d.Name) || strings.ContainsFunc(d.Name, unicode.IsControl) {
			t.Errorf("describe %q: loaded with name %q", body, d.Name)
		}
		if err := p.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
}

// FuzzABIAlign sends fuzzed bytes, through a real guest that echoes them
// (testdata/echo), as each message a guest sends the host during an
// align: the AlignResponse, the raw packed result, the chat, embed and
// evaluate requests, and the log and progress messages. Whatever the
// bytes, the host must not panic or hang, must keep its memory bounded,
// and must answer with a result that passes its checks or one typed,
// one-line error naming the plugin; a request–response import must answer
// with one JSON object, which the guest takes.
func FuzzABIAlign(f *testing.F) {
	seeds := []struct {
		msg  int
		body string
		n    uint64
	}{
		{echoResult, `{"judge":{"name":"helpful","instructions":"Is {{ outputs }} fine?","type":"boolean","model":"openai:/gpt-4.1-mini"},"report":{"summary":"ok"}}`, 0},
		{echoResult, `{"judge":{"name":"helpful","instructions":"{{ nope }}","type":"boolean"}}`, 0},
		{echoResult, `{"judge":null,"report":{"warnings":["` + strings.Repeat("w", 2000) + `"]}}`, 0},
		{echoResult, `{"error":{"code":"optimizer","message":"line one\nline two"}}`, 0},
		{echoResult, `{"error":"not an object"}`, 0},
		{echoResult, `{`, 0},
		{echoResult, "\xff\xfe", 0},
		{echoChat, `{"requests":[{"model":"reflection","messages":[{"role":"user","content":"hi"}]}]}`, 0},
		{echoChat, `{"requests":[{"model":"embedding","messages":[]}]}`, 0},
		{echoChat, `{"requests":[]}`, 0},
		{echoChat, `not json`, 0},
		{echoEmbed, `{"model":"embedding","inputs":["a","b"],"dimensions":8}`, 0},
		{echoEmbed, `{"model":"embedding","inputs":[""],"dimensions":-1}`, 0},
		{echoEvaluate, `{"judge":{"name":"helpful","instructions":"Is {{ outputs }} fine?","type":"boolean","model":"openai:/gpt-4.1-mini"},"indices":[0,1,99]}`, 0},
		{echoEvaluate, `{"judge":{"name":"other"},"indices":[-1]}`, 0},
		{echoLog, "a log line \x1b[31m with \xff invalid UTF-8", 4},
		{echoLog, ``, 1 << 31},
		{echoProgress, `step`, 3 | 10<<32},
		{echoProgress, strings.Repeat("p", 5000), 1<<32 - 1},
		{echoPacked, ``, 0},
		{echoPacked, ``, 1<<32 - 1},           // pointer 0, length 4 GiB - 1
		{echoPacked, ``, 0xfffffff0<<32 | 64}, // outside memory
		{echoPacked, ``, 1024<<32 | 2},        // inside memory, not the guest's
	}
	for _, s := range seeds {
		f.Add(uint8(s.msg), []byte(s.body), s.n)
	}
	s := setUp(f)
	f.Fuzz(func(t *testing.T, which uint8, body []byte, n uint64) {
		msg := int(which) % echoMessages
		ctx, cancel := context.WithTimeout(context.Background(), 2*fuzzWallTime)
		defer cancel()
		config := map[string]any{"message": echoNames[msg], "bytes": base64.StdEncoding.EncodeToString(body)}
		switch msg {
		case echoLog:
			config["level"] = int32(n)
		case echoProgress:
			config["done"], config["total"] = uint32(n), uint32(n>>32)
		case echoPacked:
			config["packed"] = strconv.FormatUint(n, 10)
		}
		j := testJudge(t)
		res, err := s.p.Align(ctx, host.Input{Judge: j, Examples: testExamples(2), Config: config,
			Progress: func(host.Progress) {}})
		checkClean(t, echoNames[msg], err)
		if err == nil {
			if err := res.Judge.Validate(); err != nil || res.Judge.Name != j.Name {
				t.Errorf("%s %q: the host returned a judge %q that fails its checks: %v", echoNames[msg], body, res.Judge.Name, err)
			}
			if c := res.Report.Counts; c["invalid_response"] != 0 || c["take"] != 0 {
				t.Errorf("%s %q: the guest got a response that is not one JSON object (take %d)", echoNames[msg], body, c["take"])
			}
		}
		if heap := liveHeap(); heap > fuzzHeapBytes {
			t.Errorf("%s of %d bytes: live heap %d MiB after the call", echoNames[msg], len(body), heap>>20)
		}
	})
}

// checkClean fails unless err is nil or a typed plugin error on one line
// that says what went wrong: no hang (wall time), no panic inside the
// host (wazero turns a host function's panic into an error), no crash of
// the echo guest, which only says what it is told.
func checkClean(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	t.Logf("%s: %v", what, err)
	var le *host.LimitError
	var pe *host.Error
	switch {
	case errors.As(err, &le):
		if le.Limit != host.LimitMessageSize {
			t.Fatalf("%s: the %s limit fired: the host hung or ran away: %v", what, le.Limit, err)
		}
	case errors.As(err, &pe):
		if pe.Kind == host.Crash {
			// The echo guest only says what it is told; a crash is a panic
			// of a host function (wazero recovers it) or a broken guest.
			t.Fatalf("%s: the call crashed: %v", what, err)
		}
	default:
		t.Fatalf("%s: untyped error %T: %v", what, err, err)
	}
	// A message the optimizer returned is its own to word.
	guestWords := pe != nil && pe.Kind == host.OptimizerFailed
	for _, bad := range []string{"runtime error", "goroutine ", "panic"} {
		if !guestWords && strings.Contains(msg, bad) {
			t.Fatalf("%s: the error shows a panic: %v", what, err)
		}
	}
	if strings.ContainsAny(msg, "\n\r") || !utf8.ValidString(msg) || len(msg) > 1<<10 || !strings.HasPrefix(msg, "plugin echo") {
		t.Fatalf("%s: the error is not one short line naming the plugin: %q", what, msg)
	}
}

// liveHeap is the bytes of live and not yet swept heap objects.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		panic(fmt.Sprintf("metric %s: kind %v", s[0].Name, s[0].Value.Kind()))
	}
	return s[0].Value.Uint64()
}
