package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/alignhost/alignhost/store"
)

func TestEvalRunLifecycle(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)

	r := &store.EvalRun{Judge: "helpfulness", Version: 2, Fingerprint: "fp", Model: "openai:/gpt-4.1-mini"}
	if err := s.StartEvalRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.ID == 0 || r.Status != store.RunRunning || r.StartedAt.IsZero() {
		t.Fatalf("after StartEvalRun: %+v; want an ID, status running and a start time", r)
	}
	got, err := s.EvalRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.RunRunning || !got.FinishedAt.IsZero() || got.CostUSD != nil || got.Model != r.Model {
		t.Errorf("stored running run = %+v", got)
	}

	// A checkpoint keeps the run running.
	r.Judged, r.Skipped = 3, 1
	if err := s.UpdateEvalRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.EvalRun(ctx, r.ID); got.Judged != 3 || got.Skipped != 1 || got.Status != store.RunRunning {
		t.Errorf("after a checkpoint: %+v", got)
	}

	cost := 0.0123
	r.Status = store.RunInterrupted
	r.Judged, r.Failed, r.Cached = 10, 2, 4
	r.PromptTokens, r.CompletionTokens = 1000, 200
	r.CostUSD = &cost
	if err := s.UpdateEvalRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err = s.EvalRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.RunInterrupted || got.FinishedAt.IsZero() || got.FinishedAt.Before(got.StartedAt.Truncate(time.Millisecond)) ||
		got.Judged != 10 || got.Skipped != 1 || got.Failed != 2 || got.Cached != 4 ||
		got.PromptTokens != 1000 || got.CompletionTokens != 200 || got.CostUSD == nil || *got.CostUSD != cost {
		t.Errorf("finished run = %+v", got)
	}

	failed := &store.EvalRun{Judge: "helpfulness", Version: 3, Fingerprint: "fp3", Model: "openai:/gpt-4.1"}
	if err := s.StartEvalRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	failed.Status, failed.Error = store.RunFailed, "replay: no answer"
	if err := s.UpdateEvalRun(ctx, failed); err != nil {
		t.Fatal(err)
	}
	other := &store.EvalRun{Judge: "safety", Version: 1, Fingerprint: "x", Model: "openai:/gpt-4.1"}
	if err := s.StartEvalRun(ctx, other); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		q    store.EvalRunQuery
		want []int64
	}{
		{store.EvalRunQuery{}, []int64{other.ID, failed.ID, r.ID}},
		{store.EvalRunQuery{Judge: "helpfulness"}, []int64{failed.ID, r.ID}},
		{store.EvalRunQuery{Judge: "helpfulness", Version: 2}, []int64{r.ID}},
		{store.EvalRunQuery{Limit: 1}, []int64{other.ID}},
		{store.EvalRunQuery{Judge: "nobody"}, nil},
	} {
		list, err := s.EvalRuns(ctx, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, x := range list {
			ids = append(ids, x.ID)
		}
		if !slices.Equal(ids, tc.want) {
			t.Errorf("EvalRuns(%+v) = %v, want %v", tc.q, ids, tc.want)
		}
	}
	if list, _ := s.EvalRuns(ctx, store.EvalRunQuery{Judge: "helpfulness", Version: 3}); len(list) != 1 || list[0].Error != "replay: no answer" || list[0].Status != store.RunFailed {
		t.Errorf("failed run = %+v", list)
	}
}

func TestEvalRunErrors(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := s.StartEvalRun(ctx, &store.EvalRun{Judge: "", Version: 1}); err == nil {
		t.Error("StartEvalRun without a judge name succeeded")
	}
	if err := s.StartEvalRun(ctx, &store.EvalRun{Judge: "j", Version: 0}); err == nil {
		t.Error("StartEvalRun with version 0 succeeded")
	}
	if _, err := s.EvalRun(ctx, 42); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("EvalRun(42) = %v, want ErrNotFound", err)
	}
	if err := s.UpdateEvalRun(ctx, &store.EvalRun{ID: 42, Status: store.RunDone}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateEvalRun of an unknown run = %v, want ErrNotFound", err)
	}
	r := &store.EvalRun{Judge: "j", Version: 1}
	if err := s.StartEvalRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Status = "paused"
	if err := s.UpdateEvalRun(ctx, r); err == nil {
		t.Error("UpdateEvalRun with an unknown status succeeded")
	}
	if _, err := s.EvalRuns(ctx, store.EvalRunQuery{Limit: -1}); err == nil {
		t.Error("EvalRuns with a negative limit succeeded")
	}
}
