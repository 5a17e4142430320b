package vector

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

func TestNormalizeAndCosine(t *testing.T) {
	v := Normalize([]float32{3, 4})
	if math.Abs(float64(v[0])-0.6) > 1e-6 || math.Abs(float64(v[1])-0.8) > 1e-6 {
		t.Fatalf("Normalize = %v", v)
	}
	if z := Normalize([]float32{0, 0}); z[0] != 0 || z[1] != 0 {
		t.Fatalf("zero vector changed: %v", z)
	}
	tests := []struct {
		a, b []float32
		want float64
	}{
		{[]float32{1, 0}, []float32{0, 1}, 0},
		{[]float32{1, 2, 3}, []float32{2, 4, 6}, 1},
		{[]float32{1, 2, 3, 4, 5}, []float32{-1, -2, -3, -4, -5}, -1},
		{[]float32{1, 1}, []float32{1, 0}, 1 / math.Sqrt2},
		{[]float32{0, 0}, []float32{1, 0}, 0},
	}
	for _, tt := range tests {
		if got := Cosine(tt.a, tt.b); math.Abs(float64(got)-tt.want) > 1e-6 {
			t.Errorf("Cosine(%v, %v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestHashEmbedderIsDeterministicAndLexical(t *testing.T) {
	e, err := NewHashEmbedder(512)
	if err != nil {
		t.Fatal(err)
	}
	if e.ID() != "local:hash-v1@512" {
		t.Errorf("ID = %q", e.ID())
	}
	texts := []string{
		"How do I get a refund on my monthly plan?",
		"Can I get my money back for the monthly subscription refund?",
		"How do I configure SSO with Okta for my workspace?",
		"",
	}
	a := e.Embed(texts)
	for range 50 { // map order varies between calls; the bits must not
		b := e.Embed(texts)
		for i := range a {
			for j := range a[i] {
				if a[i][j] != b[i][j] {
					t.Fatalf("text %d: embedding not deterministic", i)
				}
			}
		}
	}
	if n := Dot(a[0], a[0]); math.Abs(float64(n)-1) > 1e-5 {
		t.Errorf("not unit length: |v|² = %v", n)
	}
	related, unrelated := Cosine(a[0], a[1]), Cosine(a[0], a[2])
	if related <= unrelated+0.1 {
		t.Errorf("refund questions similarity %.3f not clearly above refund-vs-SSO %.3f", related, unrelated)
	}
	if Dot(a[3], a[3]) != 0 {
		t.Errorf("empty text should embed to the zero vector")
	}
	if _, err := NewHashEmbedder(4); err == nil {
		t.Error("4 dimensions accepted")
	}
}

// Golden values pin the hashing scheme: changing it must change
// HashEmbedderVersion, or stored vectors would silently mix spaces.
func TestHashEmbedderGolden(t *testing.T) {
	e, _ := NewHashEmbedder(16)
	v := e.Embed([]string{"reset my password"})[0]
	var nonzero int
	for _, x := range v {
		if x != 0 {
			nonzero++
		}
	}
	want := []float32{0, 0, 0.1256551, -0.6160385, 0.1256551, 0.6160385, 0.2513102, 0.18903315,
		0, -0.1256551, 0.1256551, 0.2513102, 0.1256551, 0, 0, 0}
	for i := range want {
		if math.Abs(float64(v[i]-want[i])) > 1e-6 {
			t.Fatalf("hash-v1 changed: %v, want %v (bump HashEmbedderVersion if intended)", v, want)
		}
	}
	if nonzero < 6 {
		t.Errorf("only %d of 16 dimensions used", nonzero)
	}
}

func TestIndexTopK(t *testing.T) {
	x := NewIndex("s", 3)
	for _, v := range [][]float32{{1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {0, 0, 1}, {2, 0, 0}} {
		if _, err := x.Add(v); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := x.TopK("s", []float32{1, 0.1, 0}, 3)
	if err != nil {
		t.Fatal(err)
	}
	// {1,0,0} and {2,0,0} tie after normalisation: the earlier one wins.
	want := []int{0, 4, 2}
	if len(hits) != 3 {
		t.Fatalf("hits = %v", hits)
	}
	for i, h := range hits {
		if h.Index != want[i] {
			t.Fatalf("hits = %v, want order %v", hits, want)
		}
	}
	if hits[0].Score < hits[2].Score {
		t.Errorf("not sorted by score: %v", hits)
	}
	if all, _ := x.TopK("s", []float32{0, 0, 1}, 10); len(all) != 5 || all[0].Index != 3 {
		t.Errorf("k > n: %v", all)
	}
	if none, _ := x.TopK("s", []float32{0, 0, 1}, 0); len(none) != 0 {
		t.Errorf("k = 0: %v", none)
	}
	if _, err := x.TopK("other", []float32{1, 0, 0}, 1); !errors.Is(err, ErrSpaceMismatch) {
		t.Errorf("query from another space: err = %v", err)
	}
	if _, err := x.TopK("s", []float32{1, 0}, 1); err == nil {
		t.Error("query of the wrong length accepted")
	}
	if _, err := x.Add([]float32{1}); err == nil {
		t.Error("vector of the wrong length accepted")
	}
}

// TestIndexMatchesSort checks TopK against a full sort on random data.
func TestIndexMatchesSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n, d, k = 2000, 32, 7
	x := NewIndex("s", d)
	vecs := make([][]float32, n)
	for i := range vecs {
		vecs[i] = randomVector(r, d)
		x.Add(vecs[i])
	}
	q := randomVector(r, d)
	hits, _ := x.TopK("s", q, k)
	// every vector not returned scores at most the k-th hit
	returned := map[int]bool{}
	for _, h := range hits {
		returned[h.Index] = true
	}
	kth := hits[k-1].Score
	for i, v := range vecs {
		if !returned[i] && Cosine(q, v) > kth+1e-5 {
			t.Fatalf("vector %d scores %v above the k-th hit %v", i, Cosine(q, v), kth)
		}
	}
}

func randomVector(r *rand.Rand, d int) []float32 {
	v := make([]float32, d)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// BenchmarkTopK measures one retrieval (k = 5) over a memory of 10,000 and
// 100,000 examples at 512 dimensions.
func BenchmarkTopK(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(itoa(n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(3, 4))
			x := NewIndex("s", 512)
			for range n {
				x.Add(randomVector(r, 512))
			}
			q := randomVector(r, 512)
			b.ResetTimer()
			for b.Loop() {
				if _, err := x.TopK("s", q, 5); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/query")
		})
	}
}

func itoa(n int) string {
	switch n {
	case 10_000:
		return "10k"
	case 100_000:
		return "100k"
	}
	return "n"
}

// TestHashEmbedderBitsDoNotDependOnMapOrder embeds a long text into few
// dimensions, so that many features collide and the order of float32
// additions matters.
func TestHashEmbedderBitsDoNotDependOnMapOrder(t *testing.T) {
	e, _ := NewHashEmbedder(16)
	text := "Northwind refunds annual plans within thirty days; monthly plans are never refunded or prorated, " +
		"including accidental upgrades, removed seats, downgrades, cancellations and renewals of workspaces"
	want := e.Embed([]string{text})[0]
	for range 200 {
		got := e.Embed([]string{text})[0]
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("dimension %d: %v then %v", i, want[i], got[i])
			}
		}
	}
}
