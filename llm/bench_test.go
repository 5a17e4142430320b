package llm_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

// benchServerEnv, when set in the environment of this test binary, makes it
// serve the fake API instead of running tests: "clean" or "faults". The
// benchmark runs the server in such a child process so that the CPU time it
// measures with getrusage is the client's alone.
const benchServerEnv = "LLM_BENCH_SERVER"

// benchLatency is the fake model's latency per call.
const benchLatency = 100 * time.Millisecond

func TestMain(m *testing.M) {
	if llmtest.ServeChildIfAsked(benchServerEnv, benchHandler) {
		return
	}
	os.Exit(m.Run())
}

// benchHandler is the fake API of the benchmark's child process.
func benchHandler(mode string) *llmtest.Handler {
	return llmtest.ThroughputHandler(mode, benchLatency, `{"result":"yes","rationale":"consistent with the context"}`, 1)
}

// startBenchServer runs the fake API in a child process and returns its
// URL.
func startBenchServer(b *testing.B, mode string) string {
	return llmtest.StartChild(b, benchServerEnv, mode)
}

func cpuTime() time.Duration { return llmtest.CPUTime() }

// BenchmarkChatThroughput runs 2,000 chat calls at concurrency 64 against a
// fake model with 100ms latency (ideal: 640 calls/s) and reports the
// achieved/ideal ratio and the client's CPU time per call. The faults case
// has 10% 429s, 10% 500s and 2% hangs (1s attempt timeout).
func BenchmarkChatThroughput(b *testing.B) {
	const (
		calls       = 2000
		concurrency = 64
	)
	ideal := concurrency / benchLatency.Seconds()
	for _, mode := range []string{"clean", "faults"} {
		b.Run(mode, func(b *testing.B) {
			url := startBenchServer(b, mode)
			c, err := llm.New(
				llm.WithGetenv(env{"OPENAI_API_KEY": llmtest.DefaultAPIKey, "OPENAI_BASE_URL": url + "/v1"}.Getenv),
				llm.WithProviders(llm.Provider{Name: "openai", MaxConcurrency: concurrency}),
				llm.WithTimeout(time.Second),
				llm.WithRetry(llm.RetryPolicy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}),
			)
			if err != nil {
				b.Fatal(err)
			}
			prompt := strings.Repeat("The assistant answered the question about the refund policy. ", 20)
			b.ReportAllocs()
			var (
				wall, cpu time.Duration
				runs      int
			)
			for b.Loop() {
				var next atomic.Int64
				var wg sync.WaitGroup
				cpu0, start := cpuTime(), time.Now()
				for range concurrency {
					wg.Go(func() {
						for i := next.Add(1); i <= calls; i = next.Add(1) {
							_, err := c.Chat(context.Background(), llm.ChatRequest{
								Model:    "openai:/gpt-4.1-mini",
								Messages: []llm.Message{{Role: "system", Content: prompt}, {Role: "user", Content: fmt.Sprint("trace ", i)}},
								Schema:   judgeSchema,
							})
							if err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				wall += time.Since(start)
				cpu += cpuTime() - cpu0
				runs++
			}
			achieved := float64(calls*runs) / wall.Seconds()
			b.ReportMetric(achieved, "calls/s")
			b.ReportMetric(achieved/ideal, "achieved/ideal")
			b.ReportMetric(float64(cpu.Microseconds())/float64(calls*runs), "cpu-µs/call")
			b.ReportMetric(wall.Seconds()/float64(runs), "s/run")
			b.ReportMetric(float64(c.Meter().Total().Retries)/float64(calls*runs), "retries/call")
		})
	}
}
