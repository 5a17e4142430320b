package llm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	openai "github.com/sashabaranov/go-openai"
)

// EmbedRequest asks for the embeddings of texts.
type EmbedRequest struct {
	// Model is a model URI such as "openai:/text-embedding-3-small"; empty
	// means the client's default model.
	Model string
	// Inputs are the texts, none empty.
	Inputs []string
	// Dimensions, when positive, asks for vectors of that length (models
	// that support shortening, such as text-embedding-3-*). Every returned
	// vector is checked to have it.
	Dimensions int
	// NoCache skips the cache lookup; the answers still refresh the cache.
	NoCache bool
}

// EmbedResponse holds one vector per input, in input order.
type EmbedResponse struct {
	// Model is the canonical URI of the model that answered.
	Model   string
	Vectors [][]float32
	// Usage is what this call billed (prompt tokens only).
	Usage Usage
	// Cached counts the inputs answered from the cache or a replay.
	Cached int
}

// recordedEmbed is an embedding request as written to a recording.
type recordedEmbed struct {
	Input      string `json:"input"`
	Dimensions int    `json:"dimensions,omitempty"`
}

// Embed returns the embeddings of req.Inputs.
//
// Each input is looked up on its own (replay, then cache), so a rerun pays
// only for texts it has not embedded before; identical inputs are embedded
// once. The rest are sent in batches of at most 200 inputs (150 for
// Databricks), concurrently within the endpoint's limits, each batch
// retried like a chat call.
//
// # Errors
//
// As [Client.Chat]; an empty input wraps [ErrInvalidRequest]; an answer with
// the wrong number or length of vectors is an [*APIError].
func (c *Client) Embed(ctx context.Context, req EmbedRequest) (*EmbedResponse, error) {
	uri, ep, err := c.resolve(req.Model)
	if err != nil {
		return nil, fmt.Errorf("embed: %w", err)
	}
	model := uri.String()
	if req.Dimensions < 0 {
		return nil, fmt.Errorf("embed %s: %w: negative dimensions", model, ErrInvalidRequest)
	}
	resp := &EmbedResponse{Model: model, Vectors: make([][]float32, len(req.Inputs))}
	if len(req.Inputs) == 0 {
		return resp, nil
	}

	// Unique inputs, each with its key and the positions it fills.
	type item struct {
		text string
		key  string
		at   []int
		vec  []float32
		hit  bool
	}
	var items []*item
	byText := map[string]*item{}
	for i, in := range req.Inputs {
		if strings.TrimSpace(in) == "" {
			return nil, fmt.Errorf("embed %s: %w: input %d is empty", model, ErrInvalidRequest, i)
		}
		if it, ok := byText[in]; ok {
			it.at = append(it.at, i)
			continue
		}
		key, err := hashKey(embedKeyed{V: keyVersion, Kind: "embed", Model: model, Dimensions: req.Dimensions, Input: in})
		if err != nil {
			return nil, fmt.Errorf("embed %s: %w", model, err)
		}
		it := &item{text: in, key: key, at: []int{i}}
		byText[in] = it
		items = append(items, it)
	}

	replaying := c.recorder != nil && c.recorder.Replaying()
	var misses []*item
	for _, it := range items {
		var a embedAnswer
		switch {
		case replaying:
			ok, err := c.recorder.lookup(it.key, &a)
			if err == nil && !ok {
				err = c.recorder.miss(model, it.key)
			}
			if err != nil {
				c.meter.addCall(model, false, true, Usage{})
				return nil, err
			}
			it.vec, it.hit = a.Vector, true
		case !req.NoCache && c.cacheGet(ctx, it.key, &a):
			it.vec, it.hit = a.Vector, true
		default:
			misses = append(misses, it)
		}
	}

	if len(misses) > 0 {
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
		)
		bctx, cancel := context.WithCancel(ctx)
		defer cancel()
		for start := 0; start < len(misses); start += ep.batch {
			batch := misses[start:min(start+ep.batch, len(misses))]
			wg.Go(func() {
				texts := make([]string, len(batch))
				for i, it := range batch {
					texts[i] = it.text
				}
				vecs, usage, err := c.embedBatch(bctx, uri, ep, texts, req.Dimensions)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil || errors.Is(firstErr, context.Canceled) && ctx.Err() == nil {
						firstErr = err
					}
					cancel()
					return
				}
				for i, it := range batch {
					it.vec = vecs[i]
				}
				resp.Usage.PromptTokens += usage
			})
		}
		wg.Wait()
		if firstErr != nil {
			c.meter.addCall(model, false, true, resp.Usage)
			var apiErr *APIError
			if errors.As(firstErr, &apiErr) {
				return nil, firstErr
			}
			return nil, fmt.Errorf("embed %s: %w", model, firstErr)
		}
		for _, it := range misses {
			c.cachePut(ctx, it.key, embedAnswer{Vector: it.vec})
		}
	}

	for _, it := range items {
		if it.hit {
			resp.Cached += len(it.at)
		}
		if c.recorder != nil && !replaying {
			err := c.recorder.record(it.key, "embed", model, recordedEmbed{Input: it.text, Dimensions: req.Dimensions}, embedAnswer{Vector: it.vec})
			if err != nil {
				c.meter.addCall(model, false, true, resp.Usage)
				return nil, err
			}
		}
		for _, i := range it.at {
			resp.Vectors[i] = it.vec
		}
	}
	c.meter.addCall(model, len(misses) == 0, false, resp.Usage)
	return resp, nil
}

// embedBatch sends one batch and returns its vectors in input order.
func (c *Client) embedBatch(ctx context.Context, uri ModelURI, ep *endpoint, texts []string, dims int) ([][]float32, int, error) {
	model := uri.String()
	chars := 0
	for _, t := range texts {
		chars += len(t)
	}
	var (
		vecs   [][]float32
		tokens int
	)
	err := c.send(ctx, ep, model, "embed", max(1, chars/4), func(ctx context.Context) (int, func(), error) {
		resp, err := ep.client.CreateEmbeddings(ctx, openai.EmbeddingRequest{
			Input: texts, Model: openai.EmbeddingModel(uri.Model), Dimensions: dims,
		})
		if err != nil {
			return 0, nil, err
		}
		got, err := orderVectors(resp.Data, len(texts), dims)
		if err != nil {
			return 0, nil, &badAnswer{msg: err.Error()}
		}
		billed := resp.Usage.PromptTokens
		return billed, func() { vecs, tokens = got, billed }, nil
	})
	return vecs, tokens, err
}

// orderVectors places the answer's vectors by index and checks them.
func orderVectors(data []openai.Embedding, n, dims int) ([][]float32, error) {
	if len(data) != n {
		return nil, fmt.Errorf("%d vectors for %d inputs", len(data), n)
	}
	out := make([][]float32, n)
	for _, d := range data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, fmt.Errorf("vector index %d out of range or repeated", d.Index)
		}
		if len(d.Embedding) == 0 || dims > 0 && len(d.Embedding) != dims || len(d.Embedding) != len(data[0].Embedding) {
			return nil, fmt.Errorf("vector %d has length %d (want %d)", d.Index, len(d.Embedding), max(dims, len(data[0].Embedding)))
		}
		out[d.Index] = d.Embedding
	}
	return out, nil
}
