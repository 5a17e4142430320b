package trace_test

import (
	"fmt"
	"strings"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/trace"
)

// Read flat JSON Lines with custom column names, then build the example a
// judge learns from.
func ExampleRead() {
	input := `{"ID": "1", "user_query": "Name a prime number.", "chatgpt_response": "9", "hallucination": "yes"}
{"ID": "2", "user_query": "Capital of France?", "chatgpt_response": "Paris.", "hallucination": "no"}
{"ID": "3", "user_query": broken}
`
	m, err := trace.ParseMapping([]string{"trace_id=ID", "inputs=user_query", "outputs=chatgpt_response",
		"feedback.hallucination=hallucination"})
	if err != nil {
		panic(err)
	}
	records, err := trace.Read(strings.NewReader(input), "halueval.jsonl", trace.WithMapping(m))
	if err != nil {
		panic(err)
	}
	j := &judge.Judge{
		Name:         "hallucination",
		Instructions: "Does {{ outputs }} contain made-up facts in answer to {{ inputs }}?",
		ValueType:    judge.ValueType{Type: judge.Boolean},
	}
	for _, r := range records {
		if r.Err != nil {
			fmt.Println("skip:", r.Err)
			continue
		}
		ex, skip := trace.ExampleFor(j, r.Trace)
		if skip != nil {
			fmt.Println("skip:", skip)
			continue
		}
		fmt.Printf("%s: %q -> %q = %v\n", ex.TraceID, ex.Inputs, ex.Outputs, ex.Value)
	}
	// Output:
	// 1: "Name a prime number." -> "9" = yes
	// 2: "Capital of France?" -> "Paris." = no
	// skip: halueval.jsonl line 3: invalid character 'b' looking for beginning of value (column 27)
}
