package retrieval_test

import (
	"context"
	"testing"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/retrieval"
	"github.com/alignhost/alignhost/vector"
)

var questions = map[string]string{
	"tr-refund": "Can I get a refund on my monthly Team plan?",
	"tr-sso":    "How do I set up SSO with Okta?",
	"tr-2fa":    "Can I turn off two-factor authentication for admins?",
	"tr-api":    "What is the API rate limit on Enterprise?",
	"tr-export": "How do I export all files from my workspace?",
}

// alignedJudge returns a judge whose memory holds one example per question,
// embedded by embed in space.
func alignedJudge(t *testing.T, space string, k int, embed func([]string) [][]float32) *judge.Judge {
	t.Helper()
	j, err := judge.New("support_quality", "Is {{ outputs }} a good answer to {{ inputs }}?", judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"tr-refund", "tr-sso", "tr-2fa", "tr-api", "tr-export"}
	texts := make([]string, len(ids))
	for i, id := range ids {
		texts[i] = questions[id]
	}
	vecs := embed(texts)
	j.Memory = &judge.Memory{Retrieval: judge.Retrieval{K: k, Embedder: space, Dimensions: len(vecs[0])}}
	for i, id := range ids {
		j.Memory.Examples = append(j.Memory.Examples, judge.Example{TraceID: id, Inputs: texts[i], Outputs: "…", Value: "no", Embedding: vecs[i]})
	}
	// One example without an embedding: never retrieved, never an error.
	j.Memory.Examples = append(j.Memory.Examples, judge.Example{TraceID: "tr-empty", Value: "yes"})
	return j
}

func TestLocalRetrievalFindsTheSimilarExample(t *testing.T) {
	e, _ := vector.NewHashEmbedder(256)
	j := alignedJudge(t, e.ID(), 2, e.Embed)
	r := retrieval.New(nil)
	got, err := r.Examples(context.Background(), j, judge.Input{Inputs: "Is a refund possible for a monthly subscription?", Outputs: "Yes."})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].TraceID != "tr-refund" {
		t.Fatalf("retrieved %v, want tr-refund first of 2", ids(got))
	}
	if got[0].Embedding != nil {
		t.Error("retrieved examples carry their vectors into the prompt")
	}
	// Structured inputs are rendered as the examples were.
	got, err = r.Examples(context.Background(), j, judge.Input{Inputs: map[string]any{"question": "SSO setup with Okta, how?"}})
	if err != nil || len(got) == 0 || got[0].TraceID != "tr-sso" {
		t.Fatalf("dict input: %v, %v", ids(got), err)
	}
	// An empty query retrieves nothing.
	if got, err := r.Examples(context.Background(), j, judge.Input{Inputs: ""}); err != nil || len(got) != 0 {
		t.Fatalf("empty query: %v, %v", ids(got), err)
	}
}

func TestModelRetrievalEmbedsTheQueryInTheJudgesSpace(t *testing.T) {
	srv := llmtest.NewServer(t)
	client, err := llm.New(llm.WithGetenv(srv.Getenv))
	if err != nil {
		t.Fatal(err)
	}
	const dims = 64
	space := retrieval.Space("openai:/text-embedding-3-small", dims)
	j := alignedJudge(t, space, 1, func(texts []string) [][]float32 {
		out := make([][]float32, len(texts))
		for i, s := range texts {
			out[i] = llmtest.Vector(s, dims)
		}
		return out
	})
	got, err := retrieval.New(client).Examples(context.Background(), j, judge.Input{Inputs: questions["tr-api"]})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].TraceID != "tr-api" {
		t.Fatalf("retrieved %v, want tr-api", ids(got))
	}
	reqs := srv.EmbedRequests()
	if len(reqs) != 1 {
		t.Fatalf("%d embedding requests, want 1", len(reqs))
	}
	// Without a client, a model space cannot be queried.
	if _, err := retrieval.New(nil).Examples(context.Background(), j, judge.Input{Inputs: "x"}); err == nil {
		t.Error("model space retrieved without a client")
	}
}

func TestRetrievalRefusesBrokenMemory(t *testing.T) {
	e, _ := vector.NewHashEmbedder(32)
	tests := []struct {
		name    string
		corrupt func(j *judge.Judge)
	}{
		{"no embedder", func(j *judge.Judge) { j.Memory.Retrieval.Embedder = "" }},
		{"bad space", func(j *judge.Judge) { j.Memory.Retrieval.Embedder = "local:hash-v1" }},
		{"other local version", func(j *judge.Judge) { j.Memory.Retrieval.Embedder = "local:hash-v0@32" }},
		{"wrong dimensions", func(j *judge.Judge) { j.Memory.Retrieval.Embedder = "local:hash-v1@16" }},
		{"no vectors", func(j *judge.Judge) {
			for i := range j.Memory.Examples {
				j.Memory.Examples[i].Embedding = nil
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := alignedJudge(t, e.ID(), 3, e.Embed)
			tt.corrupt(j)
			_, err := retrieval.New(nil).Examples(context.Background(), j, judge.Input{Inputs: "refund"})
			if err == nil {
				t.Fatal("no error")
			}
		})
	}
	// A judge without memory or with k = 0 gets no examples and no error.
	j := alignedJudge(t, e.ID(), 0, e.Embed)
	if got, err := retrieval.New(nil).Examples(context.Background(), j, judge.Input{Inputs: "refund"}); err != nil || got != nil {
		t.Errorf("k = 0: %v, %v", got, err)
	}
}

func TestParseSpace(t *testing.T) {
	m, d, err := retrieval.ParseSpace("openai:/text-embedding-3-small@512")
	if err != nil || m != "openai:/text-embedding-3-small" || d != 512 {
		t.Errorf("ParseSpace = %q, %d, %v", m, d, err)
	}
	for _, bad := range []string{"", "local:hash-v1", "x@0", "x@-3", "@5", "x@abc"} {
		if _, _, err := retrieval.ParseSpace(bad); err == nil {
			t.Errorf("ParseSpace(%q) accepted", bad)
		}
	}
}

func ids(exs []judge.Example) []string {
	out := make([]string, len(exs))
	for i, e := range exs {
		out[i] = e.TraceID
	}
	return out
}
