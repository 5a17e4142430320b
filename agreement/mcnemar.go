package agreement

import "math"

// McNemar is the exact McNemar test of the difference in accuracy between
// two judges scored against the same humans on the same traces. Only the
// discordant pairs carry information: under the null hypothesis that both
// judges are equally accurate, each of the OnlyA + OnlyB pairs on which
// exactly one judge is right is as likely to favour A as B.
type McNemar struct {
	// Pairs is the number of pairs both judges gave a value for; the test
	// counts only those.
	Pairs int `json:"pairs"`
	// BothRight, OnlyA (b: A agrees with the human, B does not), OnlyB (c:
	// B agrees, A does not) and BothWrong partition Pairs.
	BothRight int `json:"both_right"`
	OnlyA     int `json:"only_a_right"`
	OnlyB     int `json:"only_b_right"`
	BothWrong int `json:"both_wrong"`
	// PValue is the two-sided exact p-value, McNemarExact(OnlyA, OnlyB).
	PValue float64 `json:"p_value"`
}

// McNemarExact returns the two-sided exact McNemar p-value for b pairs on
// which only the first judge is right and c on which only the second is:
// min(1, 2·P(X ≤ min(b, c))) with X ~ Binomial(b+c, 1/2). It is 1 when
// b+c = 0 and NaN when b or c is negative.
//
// The tail is summed in floating point without forming binomial
// coefficients: its largest term, P(X = k) for k = min(b, c), comes from
// log-gamma, and the others follow from it by the ratio
// P(X = i-1) / P(X = i) = i / (n-i+1), which stays below 1 because
// k ≤ n/2. So n in the hundreds of thousands neither overflows nor loses
// precision; a p-value below the smallest float64 is 0.
func McNemarExact(b, c int) float64 {
	if b < 0 || c < 0 {
		return math.NaN()
	}
	n, k := b+c, min(b, c)
	if n == 0 {
		return 1
	}
	lgN, _ := math.Lgamma(float64(n + 1))
	lgK, _ := math.Lgamma(float64(k + 1))
	lgNK, _ := math.Lgamma(float64(n - k + 1))
	logTop := lgN - lgK - lgNK - float64(n)*math.Ln2
	// sum is P(X ≤ k) / P(X = k).
	sum, term := 1.0, 1.0
	for i := k; i > 0; i-- {
		term *= float64(i) / float64(n-i+1)
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return math.Min(1, 2*math.Exp(logTop+math.Log(sum)))
}

// mcnemar tallies judges a and b (category codes, -1 for no value) against
// the human codes h.
func mcnemar(h, a, b []int32) McNemar {
	var t McNemar
	for i, want := range h {
		if a[i] < 0 || b[i] < 0 {
			continue
		}
		t.Pairs++
		switch aRight, bRight := a[i] == want, b[i] == want; {
		case aRight && bRight:
			t.BothRight++
		case aRight:
			t.OnlyA++
		case bRight:
			t.OnlyB++
		default:
			t.BothWrong++
		}
	}
	t.PValue = McNemarExact(t.OnlyA, t.OnlyB)
	return t
}
