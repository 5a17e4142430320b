package llm_test

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
)

func TestMeterAndCost(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openaiRequest) llmtest.Reply {
		return llmtest.Reply{Content: "ok", PromptTokens: 1000, CompletionTokens: 500}
	}))
	meter := &llm.Meter{}
	c := newClient(t, srv, llm.WithMeter(meter), llm.WithCache(&memCache{}))
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if _, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/gpt-4.1-mini", Messages: user(string(rune('a' + i)))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/gpt-4.1-mini", Messages: user("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat(ctx, llm.ChatRequest{Model: "openai:/o4-mini", Messages: user("a")}); err != nil {
		t.Fatal(err)
	}
	usage := meter.Snapshot()
	got := usage["openai:/gpt-4.1-mini"]
	want := llm.ModelUsage{Calls: 11, Cached: 1, PromptTokens: 10_000, CompletionTokens: 5_000}
	if got != want {
		t.Fatalf("usage = %+v, want %+v", got, want)
	}
	if c.Meter() != meter {
		t.Fatal("client does not use the given meter")
	}
	prices := llm.PriceTable{"gpt-4.1-mini": {InputPerMTok: 0.4, OutputPerMTok: 1.6}}
	usd, unpriced := prices.Cost(usage)
	if wantUSD := (10_000*0.4 + 5_000*1.6) / 1e6; math.Abs(usd-wantUSD) > 1e-12 {
		t.Fatalf("cost = %v, want %v", usd, wantUSD)
	}
	if !slices.Equal(unpriced, []string{"openai:/o4-mini"}) {
		t.Fatalf("unpriced = %v, want the unpriced model", unpriced)
	}
	// A URI price wins over a bare model name.
	prices["openai:/gpt-4.1-mini"] = llm.Price{InputPerMTok: 1}
	if usd, _ := prices.Cost(usage); math.Abs(usd-0.01) > 1e-12 {
		t.Fatalf("cost with URI price = %v, want 0.01", usd)
	}
	if total := meter.Total(); total.Calls != 12 || total.PromptTokens != 11_000 {
		t.Fatalf("total = %+v", total)
	}
}
