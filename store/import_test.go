package store_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// seqOf yields n simple traces named prefix-0 … and calls at(i) before
// yielding trace i.
func seqOf(t testing.TB, prefix string, n int, at func(i int) error) iter.Seq2[*trace.Trace, error] {
	return func(yield func(*trace.Trace, error) bool) {
		for i := range n {
			if at != nil {
				if err := at(i); err != nil {
					yield(nil, err)
					return
				}
			}
			tr := decodeTrace(t, simpleTraceJSON(fmt.Sprintf("%s-%d", prefix, i),
				"["+humanFeedback("tone", fmt.Sprintf(`"v%d"`, i), "ann")+"]"))
			if !yield(tr, nil) {
				return
			}
		}
	}
}

// While a long import runs, another writer (an eval storing answers, here
// LogAssessments from a second handle with a short busy timeout) gets the
// write lock between chunks, and the import does not undo its write (issue
// 9, defect 1: on main the import held the lock for its whole length).
func TestImportSeqLetsOtherWritersIn(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	s.SetImportChunk(10)
	mustImport(t, s, "", decodeTrace(t, simpleTraceJSON("big-3", "")))
	other, err := store.Open(ctx, s.Path(), store.WithBusyTimeout(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	var logged bool
	seq := seqOf(t, "big", 50, func(i int) error {
		if i != 35 {
			return nil
		}
		// Three chunks are staged; none is visible yet.
		if n, err := other.CountTraces(ctx, store.TraceQuery{}); err != nil || n != 1 {
			return fmt.Errorf("during the import: %d traces visible (%v), want 1", n, err)
		}
		ts := trace.NewTimestamp(time.Date(2025, 6, 3, 0, 0, 0, 0, time.UTC))
		_, err := other.LogAssessments(ctx, []store.AssessmentRow{{Assessment: trace.Assessment{
			Name: "judge", TraceID: "big-3", Source: trace.Source{Type: trace.SourceLLMJudge, ID: "m"},
			CreateTime: ts, Feedback: &trace.Feedback{Value: []byte(`"yes"`)}}}}, store.LogOptions{})
		if err != nil {
			return fmt.Errorf("write during the import: %w", err)
		}
		logged = true
		return nil
	})
	res, err := s.ImportTraceSeq(ctx, "", seq)
	if err != nil {
		t.Fatal(err)
	}
	if !logged || res.Added != 49 || res.Updated != 1 {
		t.Fatalf("logged %v, result %+v; want 49 added, 1 updated", logged, res)
	}
	as, err := s.Assessments(ctx, "big-3")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range as {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "tone,judge" {
		t.Errorf("assessments of big-3 = %v, want the imported tone then the judge logged meanwhile", names)
	}
}

// An error from the sequence, after chunks were staged, changes nothing
// and leaves no staging.
func TestImportSeqFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		at   func(cancel context.CancelFunc) func(int) error
		want string
	}{
		{"error from the sequence", func(context.CancelFunc) func(int) error {
			return func(i int) error {
				if i == 37 {
					return errors.New("bad row at line 38")
				}
				return nil
			}
		}, "bad row at line 38"},
		{"cancelled", func(cancel context.CancelFunc) func(int) error {
			return func(i int) error {
				if i == 37 {
					cancel()
				}
				return nil
			}
		}, context.Canceled.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			s.SetImportChunk(10)
			mustImport(t, s, "", decodeTrace(t, simpleTraceJSON("big-3", "")))
			before := storeState(t, s)
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			_, err := s.ImportTraceSeq(cctx, "new-experiment", seqOf(t, "big", 50, tc.at(cancel)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if after := storeState(t, s); after != before {
				t.Errorf("failed import changed the store")
			}
		})
	}
}

// A trace twice in one import, in different chunks, ends as two imports in
// a row would leave it.
func TestImportSeqDuplicatesMergeAsSequentialImports(t *testing.T) {
	first := decodeTrace(t, simpleTraceJSON("dup", "["+humanFeedback("tone", `"a"`, "ann")+"]"))
	second := decodeTrace(t, simpleTraceJSON("dup", "["+humanFeedback("tone", `"b"`, "bob")+"]"))
	second.Info.State = trace.StateError
	filler := func(i int) *trace.Trace { return decodeTrace(t, simpleTraceJSON(fmt.Sprintf("f%d", i), "")) }

	want := openStore(t)
	mustImport(t, want, "", first, filler(0), filler(1))
	mustImport(t, want, "", filler(2), second)

	got := openStore(t)
	got.SetImportChunk(2)
	res := mustImport(t, got, "", first, filler(0), filler(1), filler(2), second)
	if res.Added != 4 || res.Updated != 1 {
		t.Errorf("result %+v, want 4 added and 1 updated", res)
	}
	if g, w := storeState(t, got), storeState(t, want); g != w {
		t.Errorf("state differs from two imports in a row\ngot:  %s\nwant: %s", g, w)
	}
}

// A process killed in the middle of an import leaves the store as it was,
// and the next import works.
func TestImportKilledProcess(t *testing.T) {
	if path := os.Getenv("ALIGNHOST_TEST_IMPORT_CHILD"); path != "" {
		importChild(path)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustImport(t, s, "", decodeTrace(t, simpleTraceJSON("seed", "")))
	before := storeState(t, s)

	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestImportKilledProcess$")
	cmd.Env = append(os.Environ(), "ALIGNHOST_TEST_IMPORT_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	staged := false
	for sc.Scan() {
		if sc.Text() == "staged" {
			staged = true
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if !staged {
		t.Fatal("the child did not stage")
	}
	if after := storeState(t, s); after != before {
		t.Errorf("a killed import changed the store")
	}
	mustImport(t, s, "", decodeTrace(t, simpleTraceJSON("next", "")))
	if n, err := s.CountTraces(ctx, store.TraceQuery{}); err != nil || n != 2 {
		t.Errorf("traces = %d (%v), want seed and next", n, err)
	}
}

// importChild stages two chunks of an import, says so, and waits to be
// killed.
func importChild(path string) {
	ctx := context.Background()
	s, err := store.Open(ctx, path)
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	s.SetImportChunk(5)
	seq := func(yield func(*trace.Trace, error) bool) {
		for i := 0; ; i++ {
			if i == 11 {
				fmt.Println("staged")
				select {}
			}
			tr := &trace.Trace{Info: trace.Info{TraceID: fmt.Sprintf("child-%d", i), State: trace.StateOK}}
			if !yield(tr, nil) {
				return
			}
		}
	}
	s.ImportTraceSeq(ctx, "", seq)
	os.Exit(1)
}
