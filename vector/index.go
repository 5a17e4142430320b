package vector

import (
	"container/heap"
	"errors"
	"fmt"
)

// ErrSpaceMismatch reports a query from another embedding space than the
// index's.
var ErrSpaceMismatch = errors.New("embedding spaces differ")

// Index holds unit vectors of one embedding space in one contiguous block
// and finds the most similar to a query by exact (brute-force) search. Exact
// search over 100,000 vectors of 512 dimensions takes tens of milliseconds
// (see the benchmarks), well under one model call, and never misses the true
// nearest neighbours as approximate indexes can.
//
// An Index is not safe for concurrent Add, but any number of goroutines may
// call TopK on an index no longer being added to.
type Index struct {
	space string
	dims  int
	data  []float32 // len = n*dims, each row unit length
	n     int
}

// NewIndex returns an empty index for vectors of dims dimensions in the
// embedding space named space.
func NewIndex(space string, dims int) *Index {
	return &Index{space: space, dims: dims}
}

// Space returns the embedding space of the index.
func (x *Index) Space() string { return x.space }

// Len returns the number of vectors in the index.
func (x *Index) Len() int { return x.n }

// Add appends a vector, normalised to unit length, and returns its position.
func (x *Index) Add(v []float32) (int, error) {
	if len(v) != x.dims {
		return 0, fmt.Errorf("index %s: vector has %d dimensions, want %d", x.space, len(v), x.dims)
	}
	start := len(x.data)
	x.data = append(x.data, v...)
	Normalize(x.data[start:])
	x.n++
	return x.n - 1, nil
}

// Hit is one retrieved vector: its position in the index and its cosine
// similarity to the query.
type Hit struct {
	Index int
	Score float32
}

// TopK returns the k vectors most similar to query, most similar first; ties
// go to the earlier position, so results are deterministic. space must be
// the index's own.
func (x *Index) TopK(space string, query []float32, k int) ([]Hit, error) {
	if space != x.space {
		return nil, fmt.Errorf("query in %q, index in %q: %w", space, x.space, ErrSpaceMismatch)
	}
	if len(query) != x.dims {
		return nil, fmt.Errorf("index %s: query has %d dimensions, want %d", x.space, len(query), x.dims)
	}
	if k <= 0 || x.n == 0 {
		return nil, nil
	}
	q := Normalize(append([]float32(nil), query...))
	if k > x.n {
		k = x.n
	}
	h := make(minHeap, 0, k)
	for i := 0; i < x.n; i++ {
		s := Dot(q, x.data[i*x.dims:(i+1)*x.dims])
		if len(h) < k {
			heap.Push(&h, Hit{i, s})
		} else if worse(h[0], Hit{i, s}) {
			h[0] = Hit{i, s}
			heap.Fix(&h, 0)
		}
	}
	out := make([]Hit, len(h))
	for i := len(h) - 1; i >= 0; i-- {
		out[i] = heap.Pop(&h).(Hit)
	}
	return out, nil
}

// worse reports whether a ranks below b: a lower score, or an equal score
// at a later position.
func worse(a, b Hit) bool {
	if a.Score != b.Score {
		return a.Score < b.Score
	}
	return a.Index > b.Index
}

// minHeap keeps the worst of the best k hits at the top.
type minHeap []Hit

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return worse(h[i], h[j]) }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(Hit)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
