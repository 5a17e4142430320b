package agreement_test

import (
	"fmt"
	"math"
	"math/big"
	"testing"

	"github.com/alignhost/alignhost/agreement"
)

// near reports whether got is want within a relative or absolute tolerance
// of tol; two NaNs are close.
func near(got, want, tol float64) bool {
	if math.IsNaN(want) {
		return math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

// altman is the classic 4×4 agreement table of two radiologists grading 85
// xeromammograms (Boyd et al. 1982), as published in Altman, Practical
// Statistics for Medical Research (1991), with kappa 0.47 and linearly
// weighted kappa 0.57. Categories are normal, benign, suspected cancer,
// cancer; rows are radiologist A, columns radiologist B.
var altman = [][]int{
	{21, 12, 0, 0},
	{4, 17, 1, 0},
	{3, 9, 15, 2},
	{0, 0, 0, 1},
}

func TestCohenKappa(t *testing.T) {
	tests := []struct {
		name   string
		counts [][]int
		w      agreement.Weighting
		want   float64
	}{
		// Cohen's 2×2 example (as in most textbooks): 50 proposals, both
		// yes 20, A yes B no 5, A no B yes 10, both no 15.
		// po = 35/50 = 0.7; row marginals 25/25, column 30/20;
		// pe = 0.5·0.6 + 0.5·0.4 = 0.5; kappa = (0.7-0.5)/(1-0.5) = 0.4.
		{"cohen 2x2", [][]int{{20, 5}, {10, 15}}, agreement.Unweighted, 0.4},
		{"zero weighting is unweighted", [][]int{{20, 5}, {10, 15}}, "", 0.4},
		// Altman unweighted: po = (21+17+15+1)/85 = 54/85.
		// Row sums 33, 22, 29, 1; column sums 28, 38, 16, 3.
		// pe = (33·28 + 22·38 + 29·16 + 1·3)/85² = (924+836+464+3)/7225
		//    = 2227/7225.
		// kappa = (54·85 - 2227)/(7225 - 2227) = 2363/4998 = 0.47279 (0.47).
		{"altman unweighted", altman, agreement.Unweighted, 2363.0 / 4998},
		// Altman linear: disagreement weight |i-j|.
		// Observed Σ|i-j|·n_ij = 12 (row 0) + 4+1 (row 1) + 3·2+9+2 (row 2)
		//   = 34.
		// Expected Σ|i-j|·r_i·c_j / 85, with c = 28, 38, 16, 3:
		//   r0=33: 33·(38 + 2·16 + 3·3)      = 33·79 = 2607
		//   r1=22: 22·(28 + 16 + 2·3)        = 22·50 = 1100
		//   r2=29: 29·(2·28 + 38 + 3)        = 29·97 = 2813
		//   r3=1:   1·(3·28 + 2·38 + 16)     =        176
		//   total 6696, so expected = 6696/85.
		// kappa_w = 1 - 34/(6696/85) = 1 - 2890/6696 = 3806/6696 = 0.56840
		// (Altman's 0.57; his weights 1, 2/3, 1/3, 0 are 1 - |i-j|/3).
		{"altman linear", altman, agreement.Linear, 3806.0 / 6696},
		// Altman quadratic: weight (i-j)².
		// Observed 12 + 4+1 + 3·4+9+2 = 40.
		// Expected: 33·(38+4·16+9·3) = 33·129 = 4257; 22·(28+16+4·3) =
		// 22·56 = 1232; 29·(4·28+38+3) = 29·153 = 4437; 9·28+4·38+16 = 420;
		// total 10346. kappa_q = 1 - 40·85/10346 = 6946/10346 = 0.67137.
		{"altman quadratic", altman, agreement.Quadratic, 6946.0 / 10346},
		// Perfect agreement, and perfect disagreement on a balanced 2×2.
		{"perfect", [][]int{{3, 0}, {0, 7}}, agreement.Unweighted, 1},
		{"opposite", [][]int{{0, 5}, {5, 0}}, agreement.Unweighted, -1},
		// Independent raters: po = pe.
		{"chance", [][]int{{1, 1}, {1, 1}}, agreement.Unweighted, 0},
		// Both raters used one and the same category: undefined.
		{"one category", [][]int{{10, 0}, {0, 0}}, agreement.Unweighted, math.NaN()},
		{"one category linear", [][]int{{0, 0}, {0, 4}}, agreement.Linear, math.NaN()},
		// Each rater used one category, different ones: kappa 0.
		{"constant raters disagree", [][]int{{0, 4}, {0, 0}}, agreement.Unweighted, 0},
		{"empty", [][]int{{0, 0}, {0, 0}}, agreement.Unweighted, math.NaN()},
		{"not square", [][]int{{1, 2}, {3}}, agreement.Unweighted, math.NaN()},
		{"negative", [][]int{{1, -2}, {3, 4}}, agreement.Unweighted, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agreement.CohenKappa(tt.counts, tt.w); !near(got, tt.want, 1e-12) {
				t.Errorf("CohenKappa = %.15g, want %.15g", got, tt.want)
			}
		})
	}
}

func TestSpearmanRho(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"identical order", []float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{"reversed", []float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		// Ties: x ranks 1, 2.5, 2.5, 4; y = 1, 3, 2, 2 ranks 1, 4, 2.5, 2.5.
		// Deviations from the mean rank 2.5: x -1.5, 0, 0, 1.5;
		// y -1.5, 1.5, 0, 0. Σdxdy = 2.25, Σdx² = Σdy² = 4.5, rho = 0.5.
		{"ties", []float64{1, 2, 2, 3}, []float64{1, 3, 2, 2}, 0.5},
		// x ranks 1..5; y = 2, 2, 3, 5, 5 ranks 1.5, 1.5, 3, 4.5, 4.5.
		// Σdxdy = 3 + 1.5 + 0 + 1.5 + 3 = 9, Σdx² = 10, Σdy² = 9,
		// rho = 9/√90 = 0.9486833.
		{"ties on one side", []float64{1, 2, 3, 4, 5}, []float64{2, 2, 3, 5, 5}, 9 / math.Sqrt(90)},
		{"no association", []float64{1, 1, 2, 2}, []float64{1, 2, 1, 2}, 0},
		{"constant side", []float64{1, 2, 3}, []float64{4, 4, 4}, math.NaN()},
		{"length mismatch", []float64{1, 2}, []float64{1}, math.NaN()},
		{"empty", nil, nil, math.NaN()},
		{"not finite", []float64{1, math.Inf(1)}, []float64{1, 2}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agreement.SpearmanRho(tt.x, tt.y); !near(got, tt.want, 1e-12) {
				t.Errorf("SpearmanRho = %.15g, want %.15g", got, tt.want)
			}
		})
	}
}

func TestConcordanceCorrelation(t *testing.T) {
	tests := []struct {
		name string
		x, y []float64
		want float64
	}{
		{"identity", []float64{1, 2, 3}, []float64{1, 2, 3}, 1},
		// y = x + 1: means 3 and 4, variances 2 and 2 (1/n), covariance 2.
		// CCC = 2·2/(2 + 2 + 1²) = 0.8, though Pearson's r is 1.
		{"shifted", []float64{1, 2, 3, 4, 5}, []float64{2, 3, 4, 5, 6}, 0.8},
		// Means 3 and 3.4; var x = 2, var y = (1.96·2 + 0.16 + 2.56·2)/5 =
		// 1.84; cov = (2.8 + 1.4 + 0 + 1.6 + 3.2)/5 = 1.8.
		// CCC = 3.6/(2 + 1.84 + 0.16) = 0.9.
		{"hand computed", []float64{1, 2, 3, 4, 5}, []float64{2, 2, 3, 5, 5}, 0.9},
		// Deviations -1, 0, 1 and 1, 0, -1: cov = -2/3, variances 2/3.
		{"reversed", []float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		// y doubled: means 2, 4; var 2/3, 8/3; cov 4/3.
		// CCC = (8/3)/(2/3 + 8/3 + 4) = (8/3)/(22/3) = 4/11.
		{"scaled", []float64{1, 2, 3}, []float64{2, 4, 6}, 4.0 / 11},
		{"same constant", []float64{2, 2}, []float64{2, 2}, math.NaN()},
		// Different constants: covariance 0 over a positive denominator.
		{"different constants", []float64{2, 2}, []float64{3, 3}, 0},
		{"empty", nil, nil, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := agreement.ConcordanceCorrelation(tt.x, tt.y); !near(got, tt.want, 1e-12) {
				t.Errorf("ConcordanceCorrelation = %.15g, want %.15g", got, tt.want)
			}
		})
	}
}

func TestMcNemarExact(t *testing.T) {
	tests := []struct {
		b, c int
		want float64
	}{
		// n = 10, P(X ≤ 1) = (C(10,0) + C(10,1))/2¹⁰ = 11/1024; p = 22/1024.
		{1, 9, 0.021484375},
		{9, 1, 0.021484375},
		// n = 5, P(X ≤ 0) = 1/32; p = 2/32.
		{0, 5, 0.0625},
		// n = 10, P(X ≤ 2) = (1 + 10 + 45)/1024; p = 112/1024.
		{2, 8, 0.109375},
		// n = 15, P(X ≤ 3) = (1 + 15 + 105 + 455)/32768; p = 1152/32768.
		{3, 12, 0.03515625},
		// n = 20, P(X ≤ 0) = 2⁻²⁰.
		{0, 20, 2.0 / (1 << 20)},
		{0, 0, 1},
		{5, 5, 1},
		{4, 5, 1},
		{-1, 3, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("b=%d,c=%d", tt.b, tt.c), func(t *testing.T) {
			if got := agreement.McNemarExact(tt.b, tt.c); !near(got, tt.want, 1e-12) {
				t.Errorf("McNemarExact(%d, %d) = %.17g, want %.17g", tt.b, tt.c, got, tt.want)
			}
		})
	}
}

// TestMcNemarExactLarge checks large n, where binomial coefficients overflow
// float64, against the tail summed exactly with math/big.
func TestMcNemarExactLarge(t *testing.T) {
	tests := []struct{ b, c int }{
		{480, 520},
		{49500, 50500},
		{49000, 51000},
		{50000, 50000},
		{10, 99990},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("b=%d,c=%d", tt.b, tt.c), func(t *testing.T) {
			want := exactMcNemar(tt.b, tt.c)
			got := agreement.McNemarExact(tt.b, tt.c)
			if !near(got, want, 1e-9) {
				t.Errorf("McNemarExact(%d, %d) = %.17g, want %.17g", tt.b, tt.c, got, want)
			}
		})
	}
}

// exactMcNemar sums Σ_{i≤k} C(n,i) in integers and divides by 2^(n-1).
func exactMcNemar(b, c int) float64 {
	n, k := b+c, min(b, c)
	sum, term := new(big.Int), big.NewInt(1)
	for i := 0; i <= k; i++ {
		sum.Add(sum, term)
		term.Mul(term, big.NewInt(int64(n-i)))
		term.Quo(term, big.NewInt(int64(i+1)))
	}
	p := new(big.Float).SetPrec(256).SetInt(sum)
	p.SetMantExp(p, -(n - 1))
	f, _ := p.Float64()
	return math.Min(1, f)
}
