package vector

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strings"
	"unicode"
)

// HashEmbedderVersion names the hashing scheme; it is part of the embedder
// ID, so vectors made by a changed scheme are never mixed with old ones.
const HashEmbedderVersion = "hash-v1"

// HashEmbedder embeds text offline by feature hashing: every lower-cased
// word that is not an English stop word, every pair of adjacent words and every character trigram inside a
// word is hashed to a dimension with a sign, weighted by 1 + log(count), and
// the vector is L2-normalised. Texts sharing vocabulary get similar vectors.
// It is deterministic across runs and platforms.
type HashEmbedder struct {
	dims int
}

// NewHashEmbedder returns a HashEmbedder of dims dimensions (at least 8).
func NewHashEmbedder(dims int) (*HashEmbedder, error) {
	if dims < 8 {
		return nil, fmt.Errorf("hash embedder: %d dimensions; want at least 8", dims)
	}
	return &HashEmbedder{dims: dims}, nil
}

// ID names the embedding space, e.g. "local:hash-v1@512".
func (e *HashEmbedder) ID() string {
	return fmt.Sprintf("local:%s@%d", HashEmbedderVersion, e.dims)
}

// Dimensions returns the length of the vectors.
func (e *HashEmbedder) Dimensions() int { return e.dims }

// Embed returns one unit vector per text. An empty text gets the zero
// vector, which is similar to nothing.
func (e *HashEmbedder) Embed(texts []string) [][]float32 {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = e.embed(t)
	}
	return out
}

// Feature weights: whole words carry most meaning, pairs add phrase
// information, trigrams tolerate inflection and typos.
const (
	wordWeight    = 1.0
	pairWeight    = 0.5
	trigramWeight = 0.3
)

func (e *HashEmbedder) embed(text string) []float32 {
	counts := map[string]float64{}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	kept := words[:0]
	for _, w := range words {
		if !isStopWord(w) {
			kept = append(kept, w)
		}
	}
	words = kept
	for i, w := range words {
		counts["w:"+w] += wordWeight
		if i > 0 {
			counts["p:"+words[i-1]+" "+w] += pairWeight
		}
		padded := []rune("^" + w + "$")
		for j := 0; j+3 <= len(padded); j++ {
			counts["t:"+string(padded[j:j+3])] += trigramWeight
		}
	}
	// Accumulate in sorted order: float32 addition is not associative, and
	// map order would make the last bits differ from run to run.
	features := make([]string, 0, len(counts))
	for f := range counts {
		features = append(features, f)
	}
	slices.Sort(features)
	v := make([]float32, e.dims)
	for _, feature := range features {
		c := counts[feature]
		h := fnv.New64a()
		h.Write([]byte(feature))
		sum := h.Sum64()
		dim := int(sum % uint64(e.dims))
		sign := float32(1)
		if sum>>63 == 1 {
			sign = -1
		}
		v[dim] += sign * float32(1+math.Log(c))
	}
	return Normalize(v)
}

// isStopWord reports whether w is a frequent English function word, which
// would make unrelated texts look alike.
func isStopWord(w string) bool {
	switch w {
	case "a", "an", "the", "and", "or", "but", "if", "then", "of", "to", "in", "on", "at", "by", "for",
		"with", "from", "as", "into", "about", "is", "are", "was", "were", "be", "been", "being", "am",
		"do", "does", "did", "have", "has", "had", "i", "me", "my", "we", "our", "you", "your", "he",
		"she", "it", "its", "they", "them", "their", "this", "that", "these", "those", "what", "which",
		"who", "how", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "so",
		"not", "no", "there", "here", "up", "out", "get", "got", "s", "t":
		return true
	}
	return false
}
