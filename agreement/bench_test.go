package agreement_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

// benchCases makes n comparison cases on a 1-5 numeric scale, judges right
// about 70% and 80% of the time.
func benchCases(n int) []agreement.Case {
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := func(h int, p float64) agreement.Answer {
		if rng.Float64() < p {
			return agreement.Answer{Value: h}
		}
		return agreement.Answer{Value: 1 + rng.IntN(5)}
	}
	cases := make([]agreement.Case, n)
	for i := range cases {
		h := 1 + rng.IntN(5)
		cases[i] = agreement.Case{
			TraceID: fmt.Sprint(i),
			Human:   agreement.Answer{Value: h},
			A:       noisy(h, 0.7),
			B:       noisy(h, 0.8),
		}
	}
	return cases
}

// BenchmarkCompare measures a full comparison with the default 2000
// resamples.
func BenchmarkCompare(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		cases := benchCases(n)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := agreement.Compare(cases, agreement.NumericScale(), agreement.Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
