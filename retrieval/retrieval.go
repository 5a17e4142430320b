// Package retrieval chooses the stored examples an aligned judge is shown
// with each judgement.
//
// An aligned judge's memory holds human-labelled examples, each with the
// embedding of its query field (see judge.Judge.QueryVariable) in one
// embedding space. For a new judgement, a [Retriever] renders the same field
// of the new input as text, embeds it in the judge's space — with the
// built-in local embedder or through the model layer — and returns the k
// stored examples with the most similar vectors, most similar first. The
// evaluator appends them to the judge's instructions (package judge,
// WithExamples), which is MLflow's current design: an aligned judge is its
// base judge plus guidelines and retrieved examples, judged through the
// ordinary path.
//
// A Retriever satisfies eval.ExampleRetriever. It builds the vector index of
// a judge once and reuses it for every judgement of that judge.
package retrieval

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/trace"
	"github.com/alignhost/alignhost/vector"
)

// LocalPrefix starts the embedding space of the built-in local embedder:
// "local:hash-v1@512".
const LocalPrefix = "local:"

// maxIndexes bounds how many judges' indexes a Retriever keeps.
const maxIndexes = 8

// Retriever retrieves stored examples for aligned judges. It is safe for
// concurrent use.
type Retriever struct {
	client *llm.Client

	mu      sync.Mutex
	indexes []*memoryIndex // most recently used last
}

// memoryIndex is the vector index of one judge's memory.
type memoryIndex struct {
	judge    *judge.Judge
	query    judge.Variable
	index    *vector.Index
	examples []int // index position → position in judge.Memory.Examples
	once     sync.Once
	err      error
}

// New returns a Retriever that embeds queries of model-embedded memories
// through client. client may be nil when only memories made with the local
// embedder are retrieved from.
func New(client *llm.Client) *Retriever {
	return &Retriever{client: client}
}

// Examples returns the stored examples of j most similar to in, at most
// j.Memory.Retrieval.K, most similar first. A judge without stored examples,
// or an input whose query field is empty, gets none.
func (r *Retriever) Examples(ctx context.Context, j *judge.Judge, in judge.Input) ([]judge.Example, error) {
	m := j.Memory
	if m == nil || len(m.Examples) == 0 || m.Retrieval.K <= 0 {
		return nil, nil
	}
	mi := r.indexFor(j)
	mi.once.Do(func() { mi.err = mi.build() })
	if mi.err != nil {
		return nil, mi.err
	}
	q := QueryText(mi.query, in)
	if strings.TrimSpace(q) == "" {
		return nil, nil
	}
	vec, err := r.embed(ctx, m.Retrieval.Embedder, q)
	if err != nil {
		return nil, fmt.Errorf("retrieve examples for %s: %w", j.Name, err)
	}
	hits, err := mi.index.TopK(m.Retrieval.Embedder, vec, m.Retrieval.K)
	if err != nil {
		return nil, fmt.Errorf("retrieve examples for %s: %w", j.Name, err)
	}
	out := make([]judge.Example, len(hits))
	for i, h := range hits {
		ex := m.Examples[mi.examples[h.Index]]
		ex.Embedding = nil // the prompt needs the example, not its vector
		out[i] = ex
	}
	return out, nil
}

// indexFor returns the index entry of j, creating it if needed.
func (r *Retriever) indexFor(j *judge.Judge) *memoryIndex {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, mi := range r.indexes {
		if mi.judge == j {
			r.indexes = append(append(r.indexes[:i:i], r.indexes[i+1:]...), mi)
			return mi
		}
	}
	mi := &memoryIndex{judge: j}
	if len(r.indexes) == maxIndexes {
		r.indexes = r.indexes[1:]
	}
	r.indexes = append(r.indexes, mi)
	return mi
}

// build indexes the judge's stored vectors.
func (mi *memoryIndex) build() error {
	j := mi.judge
	q, err := j.QueryVariable()
	if err != nil {
		return err
	}
	mi.query = q
	ret := j.Memory.Retrieval
	if ret.Embedder == "" {
		return fmt.Errorf("judge %s: its memory does not say which embedder made its vectors", j.Name)
	}
	_, dims, err := ParseSpace(ret.Embedder)
	if err != nil {
		return fmt.Errorf("judge %s: %w", j.Name, err)
	}
	mi.index = vector.NewIndex(ret.Embedder, dims)
	for i, ex := range j.Memory.Examples {
		if len(ex.Embedding) == 0 {
			continue // an example whose query field was empty cannot be retrieved
		}
		if _, err := mi.index.Add(append([]float32(nil), ex.Embedding...)); err != nil {
			return fmt.Errorf("judge %s: example %s: %w", j.Name, ex.TraceID, err)
		}
		mi.examples = append(mi.examples, i)
	}
	if mi.index.Len() == 0 {
		return fmt.Errorf("judge %s: none of its %d stored examples has an embedding", j.Name, len(j.Memory.Examples))
	}
	return nil
}

// embed embeds one query text in the named space.
func (r *Retriever) embed(ctx context.Context, space, text string) ([]float32, error) {
	model, dims, err := ParseSpace(space)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(space, LocalPrefix) {
		if model != LocalPrefix+vector.HashEmbedderVersion {
			return nil, fmt.Errorf("embedding space %q: this build's local embedder is %s", space, vector.HashEmbedderVersion)
		}
		e, err := vector.NewHashEmbedder(dims)
		if err != nil {
			return nil, err
		}
		return e.Embed([]string{text})[0], nil
	}
	if r.client == nil {
		return nil, errors.New("embedding space " + strconv.Quote(space) + " needs a model client")
	}
	resp, err := r.client.Embed(ctx, llm.EmbedRequest{Model: model, Inputs: []string{text}, Dimensions: dims})
	if err != nil {
		return nil, err
	}
	if len(resp.Vectors) != 1 || len(resp.Vectors[0]) != dims {
		return nil, fmt.Errorf("embedding model %s returned a vector of the wrong shape (want 1 of %d dimensions)", model, dims)
	}
	return resp.Vectors[0], nil
}

// ParseSpace splits an embedding space name "<embedder>@<dimensions>" into
// the embedder ("local:hash-v1" or a model URI) and the dimensions.
func ParseSpace(space string) (embedder string, dims int, err error) {
	i := strings.LastIndexByte(space, '@')
	if i <= 0 {
		return "", 0, fmt.Errorf("embedding space %q: want <embedder>@<dimensions>", space)
	}
	dims, err = strconv.Atoi(space[i+1:])
	if err != nil || dims <= 0 {
		return "", 0, fmt.Errorf("embedding space %q: dimensions %q are not a positive number", space, space[i+1:])
	}
	return space[:i], dims, nil
}

// Space names the embedding space of an embedder and dimensions.
func Space(embedder string, dims int) string {
	return embedder + "@" + strconv.Itoa(dims)
}

// QueryText renders the input field v of a judgement as the text that is
// embedded, by the same rules that made the stored examples' text (package
// trace's InputsText and OutputsText).
func QueryText(v judge.Variable, in judge.Input) string {
	switch v {
	case judge.Inputs:
		if in.Inputs == nil {
			return ""
		}
		return trace.InputsText(in.Inputs)
	case judge.Outputs:
		if in.Outputs == nil {
			return ""
		}
		return trace.OutputsText(in.Outputs)
	case judge.Expectations:
		return judge.ExpectationsText(in.Expectations)
	case judge.Trace:
		return in.Trace
	}
	return ""
}
