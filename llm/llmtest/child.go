package llmtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A benchmark that measures its own CPU time (getrusage) must not share
// its process with the fake model server. ServeChildIfAsked and StartChild
// run the server in a child process: the test binary itself, started again
// with an environment variable set.
//
//	func TestMain(m *testing.M) {
//		if llmtest.ServeChildIfAsked("MY_BENCH_SERVER", handlerFor) {
//			return
//		}
//		os.Exit(m.Run())
//	}
//
//	url := llmtest.StartChild(b, "MY_BENCH_SERVER", "faults")

// ServeChildIfAsked serves the handler that handler(mode) returns when the
// environment variable env holds a mode, and reports whether it did: it
// prints the server's URL on standard output and serves until standard
// input closes. Call it first thing in TestMain and return when it reports
// true.
func ServeChildIfAsked(env string, handler func(mode string) *Handler) bool {
	mode := os.Getenv(env)
	if mode == "" {
		return false
	}
	h := handler(mode)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("http://" + ln.Addr().String())
	go http.Serve(ln, h)
	io.Copy(io.Discard, os.Stdin)
	h.Close()
	return true
}

// StartChild starts this test binary again as a fake model server in mode
// (see [ServeChildIfAsked]) and returns its URL. The child stops when the
// test ends.
func StartChild(tb testing.TB, env, mode string) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"="+mode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		tb.Fatalf("read the child server's URL: %v", err)
	}
	return strings.TrimSpace(url)
}

// ThroughputHandler is the fake API of throughput benchmarks: every chat
// request is answered with answer after latency; in mode "faults", 10% of
// calls are answered 429, 10% 500, and 2% hang; in mode "hangs", 5% hang
// (seeded, so runs repeat).
func ThroughputHandler(mode string, latency time.Duration, answer string, seed uint64) *Handler {
	respond := Always(answer)
	switch mode {
	case "faults":
		respond = FaultMix{RateLimited: 0.10, ServerError: 0.10, Hang: 0.02, Seed: seed}.Wrap(respond)
	case "hangs":
		respond = FaultMix{Hang: 0.05, Seed: seed}.Wrap(respond)
	}
	return NewHandler(WithLatency(latency), WithResponder(respond))
}

// CPUTime returns the user plus system CPU time of this process, for
// benchmarks that report the host's own CPU time per call.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
