package eval_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/store"
)

// BenchmarkEvalUnderHangs judges 1,000 traces at concurrency 64 against a
// fake model with 100ms latency, fault-free ("clean") and with 5% of
// requests hanging ("hangs"), with the attempt timeout a user would set
// with --timeout or a provider's timeout (1s) and the default retries and
// call deadline, and hedged ("hangs-hedged": provider hedge = true, a twin
// after 3 × p95 latency). Every trace must be judged. The hangs cases
// report their wall time relative to the clean one (x-clean-wall) when
// both run:
//
//	go test -run '^$' -bench EvalUnderHangs -benchtime 1x ./eval/
//
// With the former fixed 2-minute attempt timeout the same run took over 2
// minutes (a hanging attempt held its worker that long): the ratio was
// over 100.
func BenchmarkEvalUnderHangs(b *testing.B) {
	const (
		traces      = 1000
		concurrency = 64
		timeout     = time.Second
	)
	var cleanWall time.Duration
	for _, mode := range []string{"clean", "hangs", "hangs-hedged"} {
		b.Run(mode, func(b *testing.B) {
			url := startBenchServer(b, strings.TrimSuffix(mode, "-hedged"))
			ctx := context.Background()
			ts := qaTraces(b, traces)
			var wall time.Duration
			runs, retries := 0, 0
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
					llm.WithProviders(llm.Provider{Name: "openai", Timeout: timeout, Hedge: mode == "hangs-hedged"}),
				)
				if err != nil {
					b.Fatal(err)
				}
				e, err := eval.New(client, eval.WithStore(st), eval.WithConcurrency(concurrency))
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				sum, err := e.Run(ctx, eval.RunSpec{Judge: r, Traces: st.Traces(ctx, store.TraceQuery{}), Total: traces})
				wall += time.Since(start)
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
			b.ReportMetric(perRun.Seconds(), "s/run")
			b.ReportMetric(float64(retries)/float64(runs), "retries/run")
			switch {
			case mode == "clean":
				cleanWall = perRun
			case cleanWall > 0:
				b.ReportMetric(perRun.Seconds()/cleanWall.Seconds(), "x-clean-wall")
			}
		})
	}
}
