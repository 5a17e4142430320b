package llm_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

func TestEmbedBatchesKeepOrder(t *testing.T) {
	tests := []struct {
		model     string
		wantSizes []int
	}{
		{"openai:/text-embedding-3-small", []int{50, 200, 200}},
		{"databricks:/databricks-gte-large-en", []int{150, 150, 150}},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			srv := llmtest.NewServer(t)
			c := newClient(t, srv)
			inputs := make([]string, 450)
			for i := range inputs {
				inputs[i] = fmt.Sprintf("text number %d", i)
			}
			resp, err := c.Embed(context.Background(), llm.EmbedRequest{Model: tc.model, Inputs: inputs, Dimensions: 32})
			if err != nil {
				t.Fatal(err)
			}
			var sizes []int
			for _, r := range srv.EmbedRequests() {
				sizes = append(sizes, len(r.Inputs))
				if r.Dimensions != 32 {
					t.Errorf("request asked for %d dimensions, want 32", r.Dimensions)
				}
			}
			slices.Sort(sizes)
			if !slices.Equal(sizes, tc.wantSizes) {
				t.Fatalf("batch sizes = %v, want %v", sizes, tc.wantSizes)
			}
			for i, in := range inputs {
				if !slices.Equal(resp.Vectors[i], llmtest.Vector(in, 32)) {
					t.Fatalf("vector %d is not the embedding of %q", i, in)
				}
			}
			if resp.Usage.PromptTokens == 0 || resp.Cached != 0 {
				t.Fatalf("usage %+v, cached %d; want billed tokens and nothing cached", resp.Usage, resp.Cached)
			}
		})
	}
}

func TestEmbedDeduplicatesAndCaches(t *testing.T) {
	srv := llmtest.NewServer(t)
	c := newClient(t, srv, llm.WithCache(&memCache{}))
	ctx := context.Background()
	req := llm.EmbedRequest{Model: "openai:/e", Inputs: []string{"a b", "c", "a b", "d"}}
	resp, err := c.Embed(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got := srv.EmbedRequests()[0].Inputs; !slices.Equal(got, []string{"a b", "c", "d"}) {
		t.Fatalf("sent inputs %q, want each text once, in order", got)
	}
	if !slices.Equal(resp.Vectors[0], resp.Vectors[2]) || len(resp.Vectors[0]) != llmtest.DefaultDimensions {
		t.Fatal("duplicate inputs got different vectors")
	}

	again, err := c.Embed(ctx, llm.EmbedRequest{Model: "openai:/e", Inputs: []string{"d", "a b", "e"}})
	if err != nil {
		t.Fatal(err)
	}
	if reqs := srv.EmbedRequests(); len(reqs) != 2 || !slices.Equal(reqs[1].Inputs, []string{"e"}) {
		t.Fatalf("second call sent %v, want only the new input", reqs[len(reqs)-1].Inputs)
	}
	if again.Cached != 2 || !slices.Equal(again.Vectors[0], resp.Vectors[3]) || !slices.Equal(again.Vectors[2], llmtest.Vector("e", llmtest.DefaultDimensions)) {
		t.Fatalf("second call: cached %d, vectors not matching", again.Cached)
	}
}

func TestEmbedRetriesABatch(t *testing.T) {
	var n atomic.Int32
	srv := llmtest.NewServer(t, llmtest.WithEmbedResponder(func([]string, int) llmtest.Reply {
		if n.Add(1) == 1 {
			return llmtest.RateLimited(0)
		}
		return llmtest.Reply{}
	}))
	c := newClient(t, srv)
	resp, err := c.Embed(context.Background(), llm.EmbedRequest{Model: "openai:/e", Inputs: []string{"x"}})
	if err != nil || len(resp.Vectors[0]) == 0 {
		t.Fatalf("embed = %v, %v; want success after a retry", resp, err)
	}
	if srv.Calls() != 2 {
		t.Fatalf("server got %d calls, want 2", srv.Calls())
	}
}

func TestEmbedErrors(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithEmbedResponder(func([]string, int) llmtest.Reply { return llmtest.Error(400, "bad model") }))
	c := newClient(t, srv)
	ctx := context.Background()
	if _, err := c.Embed(ctx, llm.EmbedRequest{Model: "openai:/e", Inputs: []string{"ok", " "}}); !errors.Is(err, llm.ErrInvalidRequest) {
		t.Fatalf("empty input: %v, want ErrInvalidRequest", err)
	}
	if resp, err := c.Embed(ctx, llm.EmbedRequest{Model: "openai:/e"}); err != nil || len(resp.Vectors) != 0 {
		t.Fatalf("no inputs: %v, %v; want an empty answer", resp, err)
	}
	if srv.Calls() != 0 {
		t.Fatal("invalid or empty requests reached the server")
	}
	inputs := make([]string, 450)
	for i := range inputs {
		inputs[i] = fmt.Sprint(i)
	}
	_, err := c.Embed(ctx, llm.EmbedRequest{Model: "openai:/e", Inputs: inputs})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 400 {
		t.Fatalf("embed = %v, want the batch's 400", err)
	}
}
