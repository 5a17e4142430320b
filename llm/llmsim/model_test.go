package llmsim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmsim"
	"github.com/alignhost/alignhost/llm/llmtest"
)

// serve starts a simulated model for the test and returns a client that
// reaches it through the openai provider, as the demo's client does.
func serve(t *testing.T, ctx context.Context) (*llmsim.Server, *llm.Client) {
	t.Helper()
	m := llmsim.New()
	t.Cleanup(m.Close)
	srv, err := m.Serve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := llm.New(llm.WithGetenv(srv.Getenv), llm.WithRetry(llm.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	return srv, client
}

func refundJudge(t *testing.T) *judge.Judge {
	t.Helper()
	j, err := judge.New("support_quality", "Is the reply {{ outputs }} to {{ inputs }} ready to send?",
		judge.WithModel("openai:/gpt-4.1-mini"), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		t.Fatal(err)
	}
	return j
}

var refundInput = judge.Input{
	Inputs:  map[string]any{"question": "We're on monthly billing. Can we get this month's charge refunded?", "plan": "Team"},
	Outputs: map[string]any{"answer": "Thanks for writing in, Sam! I've refunded this month's $36 in full; it reaches your card in 3–5 business days."},
}

// chat sends a judge request through the model layer, as the judge engine
// does.
func chat(ctx context.Context, client *llm.Client, req *judge.Request) (*llm.ChatResponse, error) {
	msgs := make([]llm.Message, len(req.Messages))
	for i, m := range req.Messages {
		msgs[i] = llm.Message{Role: m.Role, Content: m.Content}
	}
	return client.Chat(ctx, llm.ChatRequest{Model: req.Model, Messages: msgs, Schema: req.Schema, SchemaName: req.SchemaName})
}

// TestJudgeOverHTTP sends real judge requests through go-openai with
// structured output: the answer parses as a judgement, and a guideline in
// the prompt changes it.
func TestJudgeOverHTTP(t *testing.T) {
	ctx := context.Background()
	_, client := serve(t, ctx)
	j := refundJudge(t)
	cases := []struct {
		name    string
		opts    []judge.RequestOption
		want    string
		because string
	}{
		{"generic", nil, "yes", "ready to send"},
		{"taught", []judge.RequestOption{judge.WithGuidelines("Monthly plans are never refunded.")}, "no", "monthly billing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := j.Request(refundInput, c.opts...)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := chat(ctx, client, req)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.StructuredOutput {
				t.Error("the schema was not sent as response_format")
			}
			value, rationale, err := j.ParseAnswer(resp.Content)
			if err != nil {
				t.Fatalf("answer %q: %v", resp.Content, err)
			}
			if value != c.want || !strings.Contains(rationale, c.because) {
				t.Errorf("got %v: %s; want %s because %q", value, rationale, c.want, c.because)
			}
			if !strings.HasPrefix(resp.Content, `{"rationale":`) {
				t.Errorf("answer %s: the rationale should come first, as the answer format asks", resp.Content)
			}
		})
	}
}

// TestDeterministic: the same request gets byte-identical answers.
func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	_, client := serve(t, ctx)
	req, err := refundJudge(t).Request(refundInput, judge.WithGuidelines("Monthly plans are never refunded."))
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	for range 3 {
		resp, err := chat(ctx, client, req)
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, resp.Content)
	}
	if answers[0] != answers[1] || answers[1] != answers[2] {
		t.Errorf("answers differ: %q", answers)
	}
}

func TestEmbedOverHTTP(t *testing.T) {
	ctx := context.Background()
	_, client := serve(t, ctx)
	inputs := []string{"refund on a monthly plan", "okta single sign-on"}
	for _, dims := range []int{64, 512} {
		resp, err := client.Embed(ctx, llm.EmbedRequest{Model: "openai:/text-embedding-3-small", Inputs: inputs, Dimensions: dims})
		if err != nil {
			t.Fatal(err)
		}
		for i, in := range inputs {
			if !slices.Equal(resp.Vectors[i], llmtest.Vector(in, dims)) {
				t.Errorf("dims %d: vector of %q is not llmtest.Vector", dims, in)
			}
		}
	}
}

func TestEmbedRefusals(t *testing.T) {
	cases := []struct {
		name   string
		inputs []string
		dims   int
		want   string
	}{
		{"no input", nil, 8, "input must not be empty"},
		{"empty text", []string{"a", ""}, 8, "input[1] is an empty string"},
		{"too many dimensions", []string{"a"}, llmsim.MaxDimensions + 1, "dimensions 3073"},
	}
	for _, c := range cases {
		r := llmsim.Embed(c.inputs, c.dims)
		if r.Status != http.StatusBadRequest || !strings.Contains(r.Body, c.want) {
			t.Errorf("%s: reply %d %s, want 400 with %q", c.name, r.Status, r.Body, c.want)
		}
	}
	if r := llmsim.Embed([]string{"a"}, 8); r.Status != 0 || r.Body != "" {
		t.Errorf("a valid request was refused: %+v", r)
	}
}

// TestUnsupportedRequests: what is neither a yes/no judgement nor a
// distillation gets a 400 that says what the simulation answers.
func TestUnsupportedRequests(t *testing.T) {
	ctx := context.Background()
	_, client := serve(t, ctx)
	categorical, err := judge.New("tone", "Rate the tone of {{ outputs }}.", judge.WithModel("openai:/gpt-4.1-mini"), judge.WithValues("good", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	catReq, err := categorical.Request(refundInput)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		req  llm.ChatRequest
		want string
	}{
		{"free text", llm.ChatRequest{Model: "openai:/gpt-4.1", Messages: []llm.Message{{Role: "user", Content: "Write a haiku."}}},
			"a request without a JSON schema."},
		{"other schema", llm.ChatRequest{Model: "openai:/gpt-4.1", Messages: []llm.Message{{Role: "user", Content: "Summarise."}},
			Schema: map[string]any{"type": "object", "properties": map[string]any{"summary": map[string]any{"type": "string"}},
				"required": []any{"summary"}, "additionalProperties": false}, SchemaName: "summary"},
			`the schema "summary"`},
		{"categorical judge", llm.ChatRequest{Model: catReq.Model, Messages: []llm.Message{{Role: "system", Content: catReq.Messages[0].Content}, {Role: "user", Content: catReq.Messages[1].Content}},
			Schema: catReq.Schema, SchemaName: catReq.SchemaName}, "pass/fail judges only"},
		{"unreadable judge prompt", llm.ChatRequest{Model: "openai:/gpt-4.1", Messages: []llm.Message{{Role: "user", Content: "Judge this."}},
			Schema: refundSchema(t), SchemaName: judge.SchemaName}, "a judge request it cannot read"},
		{"unreadable distillation", llm.ChatRequest{Model: "openai:/gpt-4.1", Messages: []llm.Message{{Role: "user", Content: "Distil."}},
			Schema: map[string]any{"type": "object", "properties": map[string]any{"guidelines": map[string]any{"type": "array", "items": map[string]any{"type": "string"}}},
				"required": []any{"guidelines"}, "additionalProperties": false}, SchemaName: llmsim.DistillSchemaName},
			"a distillation request it cannot read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := client.Chat(ctx, c.req)
			var apiErr *llm.APIError
			if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
				t.Fatalf("error %v, want a 400", err)
			}
			if !strings.Contains(apiErr.Message, c.want) || !strings.Contains(apiErr.Message, "docs/simulation.md") {
				t.Errorf("message %q, want %q and a pointer to the docs", apiErr.Message, c.want)
			}
			if apiErr.Attempts != 1 {
				t.Errorf("%d attempts: the client took the 400 for a refusal of structured output and asked again", apiErr.Attempts)
			}
		})
	}
}

func refundSchema(t *testing.T) map[string]any {
	t.Helper()
	req, err := refundJudge(t).Request(refundInput)
	if err != nil {
		t.Fatal(err)
	}
	return req.Schema
}

// TestAuthentication: a client configured with another key is refused, so
// a real key never reaches the simulation unnoticed.
func TestAuthentication(t *testing.T) {
	ctx := context.Background()
	srv, _ := serve(t, ctx)
	env := func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "sk-some-other-key"
		}
		return srv.Getenv(k)
	}
	client, err := llm.New(llm.WithGetenv(env), llm.WithRetry(llm.RetryPolicy{MaxAttempts: 1}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Embed(ctx, llm.EmbedRequest{Model: "openai:/text-embedding-3-small", Inputs: []string{"x"}})
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("error %v, want a 401", err)
	}
	if got := srv.Getenv("OPENAI_BASE_URL"); got != srv.URL+"/v1" || !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("OPENAI_BASE_URL = %q for server %q", got, srv.URL)
	}
	if got := srv.Getenv("AZURE_OPENAI_ENDPOINT"); got != "" {
		t.Errorf("AZURE_OPENAI_ENDPOINT = %q, want only the openai provider pointed at the simulation", got)
	}
}

// TestServeStops: the server stops with its context, and Close is
// idempotent.
func TestServeStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, client := serve(t, ctx)
	embed := func() error {
		_, err := client.Embed(context.Background(), llm.EmbedRequest{Model: "openai:/text-embedding-3-small", Inputs: []string{"x"}, NoCache: true})
		return err
	}
	if err := embed(); err != nil {
		t.Fatal(err)
	}
	cancel()
	// AfterFunc closes the server on a goroutine of its own.
	var err error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err = embed(); err != nil {
			break
		}
	}
	var apiErr *llm.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 0 {
		t.Errorf("after cancel: error %v, want a connection failure", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("close after cancel: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

// A judge asked through the simulated model: the generic judge passes a
// polished reply that promises a refund on a monthly plan; taught the
// policy, it fails it.
func Example() {
	ctx := context.Background()
	srv, err := llmsim.New().Serve(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	client, err := llm.New(llm.WithGetenv(srv.Getenv))
	if err != nil {
		fmt.Println(err)
		return
	}
	j, _ := judge.New("support_quality", "Is the reply {{ outputs }} to {{ inputs }} ready to send?",
		judge.WithModel("openai:/gpt-4.1-mini"), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	for _, opts := range [][]judge.RequestOption{nil, {judge.WithGuidelines("Monthly plans are never refunded.")}} {
		req, _ := j.Request(refundInput, opts...)
		resp, err := chat(ctx, client, req)
		if err != nil {
			fmt.Println(err)
			return
		}
		value, _, _ := j.ParseAnswer(resp.Content)
		fmt.Println(value)
	}
	// Output:
	// yes
	// no
}
