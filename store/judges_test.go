package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
)

func testJudge(name, instructions string) *judge.Judge {
	return &judge.Judge{Name: name, Instructions: instructions, ValueType: judge.ValueType{Type: judge.Boolean}}
}

func versions(list []store.RegisteredJudge) []int {
	var vs []int
	for _, r := range list {
		vs = append(vs, r.Version)
	}
	return vs
}

func TestJudgeRegistry(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	register := func(j *judge.Judge, tags map[string]string) int {
		t.Helper()
		v, err := s.RegisterJudge(ctx, j, tags)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := 1; i <= 3; i++ {
		if v := register(testJudge("helpfulness", fmt.Sprintf("v%d {{ outputs }}", i)), nil); v != i {
			t.Errorf("registration %d got version %d", i, v)
		}
	}
	if v := register(testJudge("tone", "{{ outputs }}"), map[string]string{"team": "support"}); v != 1 {
		t.Errorf("first registration of another name got version %d, want 1", v)
	}

	t.Run("latest and by version", func(t *testing.T) {
		for _, ref := range []string{"helpfulness", "helpfulness@latest", "helpfulness@2"} {
			name, version, err := store.ParseJudgeRef(ref)
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.Judge(ctx, name, version)
			if err != nil {
				t.Fatal(err)
			}
			want := 3
			if version != 0 {
				want = version
			}
			if r.Version != want || r.Judge.Instructions != fmt.Sprintf("v%d {{ outputs }}", want) || r.Ref() != fmt.Sprintf("helpfulness@%d", want) {
				t.Errorf("%s: got %s with instructions %q, want version %d", ref, r.Ref(), r.Judge.Instructions, want)
			}
		}
	})

	t.Run("list and versions", func(t *testing.T) {
		list, err := s.Judges(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Ref() != "helpfulness@3" || list[1].Ref() != "tone@1" {
			t.Errorf("Judges = %v, want helpfulness@3, tone@1", list)
		}
		if !reflect.DeepEqual(list[1].Tags, map[string]string{"team": "support"}) || list[0].Tags != nil {
			t.Errorf("tags = %v, %v", list[0].Tags, list[1].Tags)
		}
		all, err := s.JudgeVersions(ctx, "helpfulness")
		if err != nil {
			t.Fatal(err)
		}
		if got := versions(all); !slices.Equal(got, []int{1, 2, 3}) {
			t.Errorf("JudgeVersions = %v, want [1 2 3]", got)
		}
		if _, err := s.JudgeVersions(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("JudgeVersions of an unknown name: error %v, want ErrNotFound", err)
		}
	})

	t.Run("tags", func(t *testing.T) {
		if err := s.SetJudgeTags(ctx, "helpfulness", 2, map[string]string{"stage": "prod"}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetJudgeTags(ctx, "helpfulness", 0, map[string]string{"stage": "candidate"}); err != nil {
			t.Fatal(err)
		}
		all, _ := s.JudgeVersions(ctx, "helpfulness")
		if all[0].Tags != nil || all[1].Tags["stage"] != "prod" || all[2].Tags["stage"] != "candidate" {
			t.Errorf("tags after SetJudgeTags: %v, %v, %v", all[0].Tags, all[1].Tags, all[2].Tags)
		}
		if err := s.SetJudgeTags(ctx, "helpfulness", 2, nil); err != nil {
			t.Fatal(err)
		}
		if r, _ := s.Judge(ctx, "helpfulness", 2); r.Tags != nil {
			t.Errorf("tags after clearing: %v", r.Tags)
		}
		if err := s.SetJudgeTags(ctx, "helpfulness", 9, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetJudgeTags on a missing version: error %v, want ErrNotFound", err)
		}
	})

	t.Run("delete one, no reuse, not found", func(t *testing.T) {
		n, err := s.DeleteJudge(ctx, "helpfulness", 3)
		if err != nil || n != 1 {
			t.Fatalf("DeleteJudge(helpfulness, 3) = %d, %v", n, err)
		}
		if r, err := s.Judge(ctx, "helpfulness", 0); err != nil || r.Version != 2 {
			t.Errorf("latest after deleting version 3 = %v, %v; want version 2", r, err)
		}
		if v := register(testJudge("helpfulness", "v4 {{ outputs }}"), nil); v != 4 {
			t.Errorf("registration after deleting version 3 got version %d, want 4", v)
		}
		_, err = s.Judge(ctx, "helpfulness", 3)
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Judge(helpfulness, 3): error %v, want ErrNotFound", err)
		}
		if want := `judge "helpfulness@3": not found; versions are 1, 2, 4`; err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
		if _, err := s.DeleteJudge(ctx, "helpfulness", 3); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("deleting a deleted version: error %v, want ErrNotFound", err)
		}
	})

	t.Run("delete all", func(t *testing.T) {
		n, err := s.DeleteJudge(ctx, "helpfulness", 0)
		if err != nil || n != 3 {
			t.Fatalf("DeleteJudge(helpfulness, 0) = %d, %v; want 3", n, err)
		}
		_, err = s.Judge(ctx, "helpfulness", 0)
		if want := `judge "helpfulness": not found`; err == nil || err.Error() != want {
			t.Errorf("Judge after deleting all: error %v, want %q", err, want)
		}
		if list, _ := s.Judges(ctx); len(list) != 1 || list[0].Name != "tone" {
			t.Errorf("Judges after deleting helpfulness = %v", list)
		}
		if v := register(testJudge("helpfulness", "{{ outputs }}"), nil); v != 5 {
			t.Errorf("registration after deleting every version got %d, want 5", v)
		}
	})
}

func TestJudgeRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	lo, hi := 1.0, 5.0
	j := &judge.Judge{
		Name:            "quality",
		Description:     "how good the answer is",
		Instructions:    "Rate {{ outputs }} for {{ inputs }}",
		Model:           "openai:/gpt-4.1-mini",
		ValueType:       judge.ValueType{Type: judge.Integer, Min: &lo, Max: &hi},
		InferenceParams: map[string]any{"temperature": 0.0, "seed": 7.0},
		Memory: &judge.Memory{
			Guidelines: []judge.Guideline{{Text: "Short is fine.", SourceTraceIDs: []string{"tr-1"}}},
			Examples: []judge.Example{{TraceID: "tr-1", Inputs: "q", Outputs: "a", Value: 4,
				FeedbackTime: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC), Embedding: []float32{0.5, -1}}},
			Retrieval: judge.Retrieval{K: 5, Embedder: "local:hash-v1@2", Dimensions: 2},
		},
		Provenance: &judge.Provenance{BaseJudge: "quality", BaseVersion: 1, Optimizer: "memalign", NumTraces: 1,
			AlignedAt: time.Date(2025, 6, 2, 0, 0, 0, 0, time.UTC)},
	}
	before := time.Now().Add(-time.Second)
	if _, err := s.RegisterJudge(ctx, j, nil); err != nil {
		t.Fatal(err)
	}
	r, err := s.Judge(ctx, "quality", 1)
	if err != nil {
		t.Fatal(err)
	}
	// The judge package defines the judge's JSON; the store must keep all of it.
	assertSameJSON(t, "stored judge", marshal(t, r.Judge), marshal(t, j))
	if r.Judge.Memory == nil || len(r.Judge.Memory.Examples) != 1 || !slices.Equal(r.Judge.Memory.Examples[0].Embedding, []float32{0.5, -1}) {
		t.Errorf("stored judge lost its memory: %+v", r.Judge.Memory)
	}
	if r.CreatedAt.Before(before) || r.CreatedAt.After(time.Now()) {
		t.Errorf("CreatedAt = %v, want about now", r.CreatedAt)
	}
}

func TestRegisterJudgeRejects(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	tests := []struct {
		name string
		j    *judge.Judge
		tags map[string]string
	}{
		{"nil judge", nil, nil},
		{"empty name", testJudge("", "{{ outputs }}"), nil},
		{"name with @", testJudge("a@b", "{{ outputs }}"), nil},
		{"name with spaces around", testJudge(" a", "{{ outputs }}"), nil},
		{"empty tag key", testJudge("a", "{{ outputs }}"), map[string]string{"": "x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := s.RegisterJudge(ctx, tc.j, tc.tags); err == nil {
				t.Errorf("RegisterJudge = version %d, want an error", v)
			}
		})
	}
	if list, _ := s.Judges(ctx); len(list) != 0 {
		t.Errorf("refused registrations stored %v", list)
	}
}

func TestRegisterJudgeConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	const n = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  []int
		errs []error
	)
	for i := range n {
		wg.Go(func() {
			v, err := s.RegisterJudge(ctx, testJudge("shared", fmt.Sprintf("from goroutine %d {{ outputs }}", i)), nil)
			mu.Lock()
			defer mu.Unlock()
			got = append(got, v)
			errs = append(errs, err)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8}; !slices.Equal(got, want) {
		t.Errorf("versions from %d concurrent registrations = %v, want %v", n, got, want)
	}
	all, err := s.JudgeVersions(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Errorf("%d versions stored, want %d", len(all), n)
	}
}

func TestParseJudgeRef(t *testing.T) {
	tests := []struct {
		ref     string
		name    string
		version int
		wantErr bool
	}{
		{ref: "helpfulness", name: "helpfulness"},
		{ref: "helpfulness@3", name: "helpfulness", version: 3},
		{ref: "helpfulness@latest", name: "helpfulness"},
		{ref: "a@b@2", name: "a@b", version: 2},
		{ref: "", wantErr: true},
		{ref: "@3", wantErr: true},
		{ref: "helpfulness@", wantErr: true},
		{ref: "helpfulness@0", wantErr: true},
		{ref: "helpfulness@-1", wantErr: true},
		{ref: "helpfulness@v2", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			name, version, err := store.ParseJudgeRef(tc.ref)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseJudgeRef(%q) error = %v, want error %v", tc.ref, err, tc.wantErr)
			}
			if name != tc.name || version != tc.version {
				t.Errorf("ParseJudgeRef(%q) = %q, %d; want %q, %d", tc.ref, name, version, tc.name, tc.version)
			}
		})
	}
}
