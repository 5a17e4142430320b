package memalign

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/pluginapi"
	"github.com/alignhost/alignhost/vector"
)

// embedBatch is the most texts in one embed call: MLflow's batch size,
// which keeps providers clear of their per-request limits.
const embedBatch = 200

// maxEmbedBytes bounds a text sent to the embedding model: 8,192 tokens
// (the usual input limit of embedding models) at a pessimistic 3 bytes a
// token. Longer texts are cut on a rune boundary, as MLflow truncates to the
// model's limit. The local embedder has no limit and sees the whole text.
const maxEmbedBytes = 8192 * 3

// embedding is the embedding stage of one alignment: it puts every vector
// of the judge's memory into one space, and embeds guideline texts for
// near-duplicate detection in the same calls.
type embedding struct {
	h     pluginapi.Host
	model string // the embed model; "" when the request offers none
	dims  int
	local *vector.HashEmbedder
	log   func(pluginapi.Level, string)

	calls    int // host embed calls made
	embedded int // example vectors computed
	warnings []string
}

// result of the embedding stage.
type embedded struct {
	// guidelines holds one vector per guideline text, in order.
	guidelines [][]float32
	// space and dims name the space of every vector; empty when nothing
	// was embedded and the memory had no space.
	space string
	dims  int
}

// run embeds, in one space, the query text of every example in examples
// that lacks a vector in that space, and every guideline text. oldSpace and
// oldDims are the space of the vectors the examples already carry.
//
// The space is the embedding model's when it answers, else the local
// embedder's. Vectors already in the chosen space are kept; others are
// recomputed, so that the memory never mixes spaces: with a working model,
// examples embedded locally by an earlier alignment are re-embedded by the
// model (an upgrade, tried on every alignment until it succeeds); when the
// model fails, every vector is recomputed locally. An example whose query
// text is blank has no vector.
func (e *embedding) run(ctx context.Context, examples []*judge.Example, query judge.Variable, oldSpace string, oldDims int, guidelines []string) (embedded, error) {
	var withText []*judge.Example
	for _, ex := range examples {
		if strings.TrimSpace(ex.Field(query)) == "" {
			ex.Embedding = nil
			continue
		}
		withText = append(withText, ex)
	}

	if e.model != "" {
		var first, rest []*judge.Example
		for _, ex := range withText {
			if len(ex.Embedding) == 0 || oldSpace == "" || isLocal(oldSpace) {
				first = append(first, ex)
			} else {
				rest = append(rest, ex)
			}
		}
		if len(first)+len(guidelines) == 0 {
			return embedded{space: oldSpace, dims: oldDims}, nil
		}
		res, err := e.viaModel(ctx, withText, first, rest, query, oldSpace, guidelines)
		if err == nil {
			return res, nil
		}
		if ctx.Err() != nil {
			return embedded{}, fmt.Errorf("embed: %w", context.Cause(ctx))
		}
		e.warn(fmt.Sprintf("embedding model %q failed (%s): all vectors are made by the built-in local embedder %s instead; align again when the model is reachable to re-embed them",
			e.model, shorten(err.Error(), 300), e.local.ID()))
	}

	localID := e.local.ID()
	var need []*judge.Example
	for _, ex := range withText {
		if len(ex.Embedding) == 0 || oldSpace != localID {
			need = append(need, ex)
		}
	}
	if len(need)+len(guidelines) == 0 {
		return embedded{space: oldSpace, dims: oldDims}, nil
	}
	texts := make([]string, 0, len(need)+len(guidelines))
	for _, ex := range need {
		texts = append(texts, ex.Field(query))
	}
	texts = append(texts, guidelines...)
	vecs := e.local.Embed(texts)
	for i, ex := range need {
		ex.Embedding = vecs[i]
	}
	e.embedded += len(need)
	return embedded{guidelines: vecs[len(need):], space: localID, dims: e.local.Dimensions()}, nil
}

// viaModel embeds first and the guideline texts through the model; when
// the model's space differs from oldSpace, it re-embeds rest, whose
// vectors are in oldSpace. It changes no example unless every call
// succeeds.
func (e *embedding) viaModel(ctx context.Context, withText, first, rest []*judge.Example, query judge.Variable, oldSpace string, guidelines []string) (embedded, error) {
	texts := make([]string, 0, len(first)+len(guidelines))
	for _, ex := range first {
		texts = append(texts, ex.Field(query))
	}
	texts = append(texts, guidelines...)
	vecs, space, err := e.embedTexts(ctx, texts)
	if err != nil {
		return embedded{}, err
	}
	targets := first
	if space != oldSpace && len(rest) > 0 {
		e.log(pluginapi.LevelInfo, fmt.Sprintf("re-embedding %d stored examples: their space %s differs from the model's %s", len(rest), oldSpace, space))
		more := make([]string, len(rest))
		for i, ex := range rest {
			more[i] = ex.Field(query)
		}
		moreVecs, moreSpace, err := e.embedTexts(ctx, more)
		if err != nil {
			return embedded{}, err
		}
		if moreSpace != space {
			return embedded{}, fmt.Errorf("the model answered in space %s, then in %s", space, moreSpace)
		}
		targets = append(append([]*judge.Example(nil), first...), rest...)
		vecs = append(append([][]float32(nil), vecs[:len(first)]...), append(moreVecs, vecs[len(first):]...)...)
	}
	for i, ex := range targets {
		ex.Embedding = vecs[i]
	}
	e.embedded += len(targets)
	dims := 0
	if len(vecs) > 0 {
		dims = len(vecs[0])
	}
	return embedded{guidelines: vecs[len(targets):], space: space, dims: dims}, nil
}

// embedTexts embeds texts through the host in calls of at most embedBatch
// texts and checks that every call answered one vector per text, all of one
// length, in one named space. The vectors are L2-normalised.
func (e *embedding) embedTexts(ctx context.Context, texts []string) ([][]float32, string, error) {
	out := make([][]float32, 0, len(texts))
	var space string
	total := (len(texts) + embedBatch - 1) / embedBatch
	for start := 0; start < len(texts); start += embedBatch {
		chunk := texts[start:min(start+embedBatch, len(texts))]
		inputs := make([]string, len(chunk))
		for i, t := range chunk {
			inputs[i] = truncate(t, maxEmbedBytes)
		}
		e.calls++
		resp, err := e.h.Embed(ctx, pluginapi.EmbedRequest{Model: e.model, Inputs: inputs, Dimensions: e.dims})
		if err != nil {
			return nil, "", err
		}
		if len(resp.Vectors) != len(inputs) {
			return nil, "", fmt.Errorf("the model returned %d vectors for %d texts", len(resp.Vectors), len(inputs))
		}
		if resp.Embedder == "" {
			return nil, "", errors.New("the host did not name the embedding space")
		}
		if space == "" {
			space = resp.Embedder
		} else if resp.Embedder != space {
			return nil, "", fmt.Errorf("the model answered in space %s, then in %s", space, resp.Embedder)
		}
		for _, v := range resp.Vectors {
			if len(v) == 0 {
				return nil, "", errors.New("the model returned an empty vector")
			}
			if len(out) > 0 && len(v) != len(out[0]) {
				return nil, "", fmt.Errorf("the model returned vectors of %d and %d dimensions", len(out[0]), len(v))
			}
			out = append(out, vector.Normalize(append([]float32(nil), v...)))
		}
		e.progress(start/embedBatch+1, total)
	}
	if n, ok := spaceDims(space); ok && len(out) > 0 && n != len(out[0]) {
		return nil, "", fmt.Errorf("space %s promises %d dimensions, the vectors have %d", space, n, len(out[0]))
	}
	return out, space, nil
}

func (e *embedding) progress(done, total int) {
	e.h.Progress(done, total, "Embedding")
}

func (e *embedding) warn(msg string) {
	e.warnings = append(e.warnings, msg)
	e.log(pluginapi.LevelWarn, msg)
}

// isLocal reports whether space is the built-in embedder's.
func isLocal(space string) bool { return strings.HasPrefix(space, "local:") }

// spaceDims returns the dimensions a space name such as
// "openai:/text-embedding-3-small@512" states.
func spaceDims(space string) (int, bool) {
	i := strings.LastIndexByte(space, '@')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(space[i+1:])
	return n, err == nil && n > 0
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
