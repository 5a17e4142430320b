package eval_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/store"
)

// benchServerEnv, when set, makes this test binary serve the fake model
// API ("clean" or "faults") instead of running tests, so that the
// benchmark's CPU time (getrusage) is the evaluator's alone; as in package
// llm's benchmark.
const benchServerEnv = "EVAL_BENCH_SERVER"

// benchLatency is the fake model's latency per call.
const benchLatency = 100 * time.Millisecond

func TestMain(m *testing.M) {
	if llmtest.ServeChildIfAsked(benchServerEnv, benchHandler) || runEvalChildIfAsked() {
		return
	}
	os.Exit(m.Run())
}

// benchHandler is the fake API of the benchmark's child process.
func benchHandler(mode string) *llmtest.Handler {
	return llmtest.ThroughputHandler(mode, benchLatency, `{"rationale":"The answer addresses the question.","result":"yes"}`, 7)
}

// startBenchServer runs the fake API in a child process and returns its
// URL.
func startBenchServer(b *testing.B, mode string) string {
	return llmtest.StartChild(b, benchServerEnv, mode)
}

func cpuTime() time.Duration { return llmtest.CPUTime() }

// BenchmarkEvalThroughput judges 2,000 traces at concurrency 64 against a
// fake model with 100ms latency (ideal: 640 judgements/s), through the
// whole evaluator: prompt building, the model client, parsing, the
// response cache and feedback writes to a store. It reports the
// achieved/ideal ratio and the host's CPU time per judgement. The faults
// case (10% 429, 10% 500, 2% hanging until a 1s attempt timeout) must
// still judge every trace; it reports its wall time relative to the clean
// case when both run. Run with -benchtime=1x: one iteration is one run.
func BenchmarkEvalThroughput(b *testing.B) {
	const (
		traces      = 2000
		concurrency = 64
	)
	ideal := concurrency / benchLatency.Seconds()
	var cleanWall time.Duration // per run, when the clean case ran first
	for _, mode := range []string{"clean", "faults"} {
		b.Run(mode, func(b *testing.B) {
			url := startBenchServer(b, mode)
			ctx := context.Background()
			ts := qaTraces(b, traces)
			var (
				wall, cpu time.Duration
				runs      int
				retries   int
			)
			for b.Loop() {
				st, err := store.Open(ctx, filepath.Join(b.TempDir(), "alignhost.db"))
				if err != nil {
					b.Fatal(err)
				}
				importTraces(b, st, ts)
				r := register(b, st, boolJudge(b))
				client, err := llm.New(
					llm.WithGetenv(func(k string) string {
						return map[string]string{"OPENAI_API_KEY": llmtest.DefaultAPIKey, "OPENAI_BASE_URL": url + "/v1"}[k]
					}),
					llm.WithMaxConcurrency(concurrency),
					llm.WithCache(st.ResponseCache()),
					llm.WithTimeout(time.Second),
					llm.WithRetry(llm.RetryPolicy{MaxAttempts: 10, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second}),
				)
				if err != nil {
					b.Fatal(err)
				}
				e, err := eval.New(client, eval.WithStore(st), eval.WithConcurrency(concurrency))
				if err != nil {
					b.Fatal(err)
				}
				cpu0, start := cpuTime(), time.Now()
				sum, err := e.Run(ctx, eval.RunSpec{Judge: r, Traces: st.Traces(ctx, store.TraceQuery{}), Total: traces})
				wall += time.Since(start)
				cpu += cpuTime() - cpu0
				runs++
				if err != nil {
					b.Fatal(err)
				}
				if sum.Judged != traces {
					b.Fatalf("judged %d of %d traces: %+v", sum.Judged, traces, sum)
				}
				retries += client.Meter().Total().Retries
				if err := st.Close(); err != nil {
					b.Fatal(err)
				}
			}
			perRun := wall / time.Duration(runs)
			achieved := float64(traces*runs) / wall.Seconds()
			b.ReportMetric(achieved, "judgements/s")
			b.ReportMetric(achieved/ideal, "achieved/ideal")
			b.ReportMetric(float64(cpu.Microseconds())/float64(traces*runs), "cpu-µs/judgement")
			b.ReportMetric(perRun.Seconds(), "s/run")
			b.ReportMetric(float64(retries)/float64(traces*runs), "retries/judgement")
			switch {
			case mode == "clean":
				cleanWall = perRun
			case cleanWall > 0:
				b.ReportMetric(perRun.Seconds()/cleanWall.Seconds(), "x-clean-wall")
			}
		})
	}
}
