package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/trace"
)

// BenchmarkImportPublish imports ALIGNHOST_BENCH_TRACES generated traces
// of about 3 KB (default 5,000) into a fresh store and reports the import
// throughput and how long the publish step held the write lock, the only
// long lock of a streamed import:
//
//	ALIGNHOST_BENCH_TRACES=70000 go test -run='^$' -bench=ImportPublish -benchtime=1x ./store
func BenchmarkImportPublish(b *testing.B) {
	n := 5000
	if s := os.Getenv("ALIGNHOST_BENCH_TRACES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("ALIGNHOST_BENCH_TRACES=%q: want a positive count", s)
		}
	}
	filler := strings.Repeat("lorem ipsum dolor sit amet ", 50)
	seq := func(yield func(*trace.Trace, error) bool) {
		for i := range n {
			tr := decodeTrace(b, simpleTraceJSON(fmt.Sprintf("tr-bench-%d", i),
				"["+humanFeedback("tone", fmt.Sprintf(`"v%d"`, i%5), "ann")+"]"))
			tr.Info.RequestPreview = filler
			tr.Info.ResponsePreview = filler
			if !yield(tr, nil) {
				return
			}
		}
	}
	for range b.N {
		b.StopTimer()
		s := openStore(b)
		var publish time.Duration
		s.OnPublish(func(d time.Duration) { publish = d })
		b.StartTimer()
		started := time.Now()
		res, err := s.ImportTraceSeq(context.Background(), "", seq)
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(started)
		if res.Added != n {
			b.Fatalf("added %d, want %d", res.Added, n)
		}
		b.ReportMetric(float64(n)/elapsed.Seconds(), "traces/s")
		b.ReportMetric(float64(publish.Milliseconds()), "publish-ms")
		// Re-import: every trace is compared and found unchanged.
		s.OnPublish(func(d time.Duration) { publish = d })
		if _, err := s.ImportTraceSeq(context.Background(), "", seq); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(publish.Milliseconds()), "republish-ms")
	}
}
