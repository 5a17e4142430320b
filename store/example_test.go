package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// A store holds traces, the human feedback on them and versioned judges.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "alignhost-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(ctx, filepath.Join(dir, "alignhost.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	var tr trace.Trace
	if err := json.Unmarshal([]byte(`{"info": {"trace_id": "tr-1", "request_preview": "Reset my password?"},
		"data": {"spans": []}}`), &tr); err != nil {
		log.Fatal(err)
	}
	res, err := s.ImportTraces(ctx, "support-bot", []*trace.Trace{&tr})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("imported: %d added\n", res.Added)

	label := trace.Assessment{
		TraceID:  "tr-1",
		Name:     "helpfulness",
		Source:   trace.Source{Type: trace.SourceHuman, ID: "alice"},
		Feedback: &trace.Feedback{Value: json.RawMessage(`"no"`)},
	}
	if _, err := s.LogAssessments(ctx, []store.AssessmentRow{{Line: 1, Assessment: label}},
		store.LogOptions{SupersedeSameSource: true}); err != nil {
		log.Fatal(err)
	}
	for t, err := range s.Traces(ctx, store.TraceQuery{WithFeedback: "Helpfulness"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("labelled: %s (%d assessment)\n", t.Info.TraceID, len(t.Info.Assessments))
	}

	for range 2 {
		if _, err := s.RegisterJudge(ctx, &judge.Judge{Name: "helpfulness", Instructions: "Is {{ outputs }} helpful?"}, nil); err != nil {
			log.Fatal(err)
		}
	}
	latest, err := s.Judge(ctx, "helpfulness", 0)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("latest judge:", latest.Ref())
	// Output:
	// imported: 1 added
	// labelled: tr-1 (1 assessment)
	// latest judge: helpfulness@2
}

func ExampleParseJudgeRef() {
	for _, ref := range []string{"helpfulness", "helpfulness@3", "helpfulness@0"} {
		name, version, err := store.ParseJudgeRef(ref)
		fmt.Printf("%q %d %v\n", name, version, err)
	}
	// Output:
	// "helpfulness" 0 <nil>
	// "helpfulness" 3 <nil>
	// "" 0 judge reference "helpfulness@0": version "0" is not a positive integer or "latest"
}
