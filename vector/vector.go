// Package vector holds the vectors of an aligned judge's episodic memory and
// the two operations on them: embedding text offline, and retrieving the
// stored examples most similar to a query.
//
// An aligned judge remembers human-labelled examples with the embedding of
// each example's query field. At judgement time the host embeds the new
// trace's query field in the same space and shows the model the k most
// similar examples. Vectors are compared by cosine similarity; this package
// stores them L2-normalised so that cosine similarity is a dot product.
//
// Every vector belongs to an embedding space named by an embedder ID such as
// "openai:/text-embedding-3-small@512" or "local:hash-v1@512". Vectors of
// different spaces are never compared: an [Index] refuses a query whose space
// is not its own.
//
// [HashEmbedder] is the built-in local embedder, used when no embedding model
// is configured or reachable. It is deterministic, offline and fast: a
// feature-hashing vectoriser over words, word pairs and character trigrams.
// It captures lexical similarity only, which is weaker than a neural
// embedding but far better than no retrieval.
//
// This package depends on the standard library only: it is compiled into
// WebAssembly optimizers as well as the host.
package vector

import (
	"fmt"
	"math"
)

// Normalize scales v to unit length in place and returns it. A zero vector
// is left as it is.
func Normalize(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return v
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
	return v
}

// Dot returns the dot product of a and b. It panics when their lengths
// differ, a programming error.
func Dot(a, b []float32) float32 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("vector: dot of lengths %d and %d", len(a), len(b)))
	}
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// Cosine returns the cosine similarity of a and b, 0 when either is zero.
func Cosine(a, b []float32) float32 {
	na, nb := Dot(a, a), Dot(b, b)
	if na == 0 || nb == 0 {
		return 0
	}
	return Dot(a, b) / float32(math.Sqrt(float64(na))*math.Sqrt(float64(nb)))
}
