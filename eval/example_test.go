package eval_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// Judge the traces of a store with a registered judge, resumably and with
// the store's response cache. A fake model stands in for OpenAI.
func ExampleEvaluator_Run() {
	ctx := context.Background()
	srv := httptest.NewServer(llmtest.NewHandler(llmtest.WithResponder(
		llmtest.Always(`{"rationale": "It answers the question.", "result": "yes"}`))))
	defer srv.Close()
	env := map[string]string{"OPENAI_BASE_URL": srv.URL + "/v1", "OPENAI_API_KEY": llmtest.DefaultAPIKey}

	dir, err := os.MkdirTemp("", "eval-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, filepath.Join(dir, "alignhost.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	recs, err := trace.Read(strings.NewReader(`{"trace_id": "t1", "inputs": "How do I reset my password?", "outputs": "Use 'Forgot password'."}
{"trace_id": "t2", "inputs": "Can I change my username?", "outputs": "Yes, under Settings."}`), "traces.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	traces := []*trace.Trace{recs[0].Trace, recs[1].Trace}
	if _, err := st.ImportTraces(ctx, "", traces); err != nil {
		log.Fatal(err)
	}
	j, err := judge.New("helpful", "Is {{ outputs }} a helpful answer to {{ inputs }}?",
		judge.WithModel("openai:/gpt-4.1-mini"), judge.WithValueType(judge.ValueType{Type: judge.Boolean}))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := st.RegisterJudge(ctx, j, nil); err != nil {
		log.Fatal(err)
	}
	r, err := st.Judge(ctx, "helpful", 0)
	if err != nil {
		log.Fatal(err)
	}

	client, err := llm.New(llm.WithGetenv(func(k string) string { return env[k] }), llm.WithCache(st.ResponseCache()))
	if err != nil {
		log.Fatal(err)
	}
	ev, err := eval.New(client, eval.WithStore(st))
	if err != nil {
		log.Fatal(err)
	}
	for range 2 { // the second run finds everything judged
		sum, err := ev.Run(ctx, eval.RunSpec{Judge: r, Traces: st.Traces(ctx, store.TraceQuery{})})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("run %d: %s, judged %d, skipped %d, values %v\n", sum.ID, sum.Status, sum.Judged, sum.Skipped, sum.Values)
	}
	t1, err := st.Trace(ctx, "t1")
	if err != nil {
		log.Fatal(err)
	}
	for _, a := range t1.Info.Assessments {
		fmt.Println(a.Name, a.Source.Type, a.Source.ID, string(a.Feedback.Value), "version", a.Metadata[eval.MetaJudgeVersion])
	}
	// Output:
	// run 1: done, judged 2, skipped 0, values map[yes:2]
	// run 2: done, judged 0, skipped 2, values map[]
	// helpful LLM_JUDGE openai:/gpt-4.1-mini "yes" version 1
}
