package llmtest

import (
	"hash/fnv"
	"math"
	"strings"
	"unicode"
)

// Vector is the embedding the server returns for text: a unit-length vector
// of length dims built by hashing each lower-cased word into a signed
// bucket. It is deterministic, and texts that share words have a positive
// cosine similarity, so retrieval tests behave sensibly. Text without words
// maps to a single hashed axis. dims below 1 is treated as 1.
func Vector(text string, dims int) []float32 {
	dims = max(dims, 1)
	acc := make([]float64, dims)
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) == 0 {
		words = []string{"\x00" + text}
	}
	for _, w := range words {
		h := fnv.New64a()
		h.Write([]byte(w))
		sum := h.Sum64()
		sign := 1.0
		if sum>>63 == 1 {
			sign = -1
		}
		acc[sum%uint64(dims)] += sign
	}
	var norm float64
	for _, v := range acc {
		norm += v * v
	}
	out := make([]float32, dims)
	if norm == 0 {
		// Words cancelled out exactly; fall back to the first word's axis.
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, v := range acc {
		out[i] = float32(v / norm)
	}
	return out
}
