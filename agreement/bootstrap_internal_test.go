package agreement

import (
	"math"
	"testing"
)

// TestPercentile checks the interval definition: type 7 quantiles of the
// defined draws.
func TestPercentile(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name      string
		draws     []float64
		level     float64
		low, high float64
		undefined int
	}{
		// h = p·(n-1): 0.25·3 = 0.75 → 1 + 0.75·(2-1); 0.75·3 = 2.25 → 3.25.
		{"quartiles", []float64{4, 1, 3, 2}, 0.5, 1.75, 3.25, 0},
		// 0.025·4 = 0.1 → 0 + 0.1·10; 0.975·4 = 3.9 → 30 + 0.9·10.
		{"95%", []float64{40, 0, 20, 10, 30}, 0.95, 1, 39, 0},
		{"NaN left out", []float64{nan, 4, 1, nan, 3, 2}, 0.5, 1.75, 3.25, 2},
		{"one draw", []float64{7}, 0.95, 7, 7, 0},
		{"all undefined", []float64{nan, nan}, 0.95, nan, nan, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			low, high, undefined, err := percentile(tt.draws, tt.level, nil)
			if (err != nil) != math.IsNaN(tt.low) {
				t.Errorf("err = %v", err)
			}
			same := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 || math.IsNaN(a) && math.IsNaN(b) }
			if !same(low, tt.low) || !same(high, tt.high) || undefined != tt.undefined {
				t.Errorf("percentile = %v, %v, %d undefined; want %v, %v, %d", low, high, undefined, tt.low, tt.high, tt.undefined)
			}
		})
	}
}
