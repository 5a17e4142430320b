package memalign

import (
	"context"
	"fmt"
	"testing"

	"github.com/alignhost/alignhost/pluginapi"
)

// BenchmarkAlign measures MemAlign's own CPU time on an instant fake host:
// prompt building, parsing, merging and bookkeeping, not model latency.
// Each batch proposes three guidelines, one a near-duplicate across
// batches; the fake embedding model is a cheap bag-of-words hash.
func BenchmarkAlign(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			j := newJudge(b)
			exs := examples(1, n)
			answer := func(i int, req pluginapi.ChatRequest) pluginapi.ChatResult {
				rs := records(b, req)
				return answerJSON(
					fmt.Sprintf("Batch %d: answers must name the exact menu path.", i), []any{0, len(rs) - 1},
					"Answers must not promise refunds.", []any{1},
					fmt.Sprintf("Invoices of batch %d need the billing address.", i), []any{2, 3},
				)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h := &fakeHost{answer: answer}
				if _, err := (Optimizer{}).Align(context.Background(), h, request(j, exs, nil)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
