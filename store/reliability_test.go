package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
	"github.com/alignhost/alignhost/trace"
)

// holdLock takes the write lock of the store file at path from outside
// the store, as another process's long import would, and returns the
// function that releases it.
func holdLock(t *testing.T, path string) (release func()) {
	t.Helper()
	tx, err := rawDB(t, path+"?_txlock=immediate").Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE experiments SET name = name WHERE id = 0`); err != nil {
		t.Fatal(err)
	}
	var done bool
	return func() {
		if !done {
			done = true
			tx.Rollback()
		}
	}
}

// TestWriteRetriesTheLock: a write waits for another writer's lock past
// SQLite's own busy timeout, retrying, and succeeds once it is released,
// however long that takes within the lock timeout. The hook releases the
// lock on the writer's third retry, so no test time depends on a sleep.
func TestWriteRetriesTheLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path, store.WithLockTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := holdLock(t, path)
	defer release()
	retries := 0
	store.SetOnBusy(s, func(time.Duration) {
		if retries++; retries == 3 {
			release()
		}
	})
	if _, err := s.RegisterJudge(ctx, &judge.Judge{Name: "j", Instructions: "{{ outputs }}"}, nil); err != nil {
		t.Fatalf("write after the lock was released: %v", err)
	}
	if retries < 3 {
		t.Errorf("the write retried %d times, want 3 (the lock was released on the 3rd)", retries)
	}
}

// TestWriteGivesUpWithLockError: past the lock timeout a write fails with
// a *LockError that names the file and how long it waited.
func TestWriteGivesUpWithLockError(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path, store.WithLockTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	release := holdLock(t, path)
	defer release()
	_, err = s.RegisterJudge(ctx, &judge.Judge{Name: "j", Instructions: "{{ outputs }}"}, nil)
	var le *store.LockError
	if !errors.Is(err, store.ErrLocked) || !errors.As(err, &le) {
		t.Fatalf("write under a lock held past the timeout: %v; want a *store.LockError", err)
	}
	if le.Path != s.Path() || le.Waited < 50*time.Millisecond {
		t.Errorf("LockError = %+v; want path %s and a wait of at least the 50ms timeout", le, s.Path())
	}

	// A cancelled context stops the wait at once, with the context's error.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.RegisterJudge(cctx, &judge.Judge{Name: "j", Instructions: "{{ outputs }}"}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("write with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestCachePutKeepsAnswersTheStoreRefuses: an answer whose commit fails
// (the lock is held past the timeout) stays queued, is found by Get, and
// reaches the file with the next commit or at Close.
func TestCachePutKeepsAnswersTheStoreRefuses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path, store.WithLockTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	c := s.ResponseCache()
	if s.ResponseCache() != c {
		t.Error("ResponseCache returned two handles")
	}
	release := holdLock(t, path)
	if err := c.Put(ctx, cacheKey(1), []byte(`"paid"`)); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("Put under the lock: %v, want ErrLocked", err)
	}
	if c.Pending() != 1 {
		t.Errorf("Pending = %d after a refused Put, want 1", c.Pending())
	}
	if v, ok, err := c.Get(ctx, cacheKey(1)); err != nil || !ok || string(v) != `"paid"` {
		t.Errorf("Get of a queued answer = %q, %v, %v", v, ok, err)
	}
	if err := c.Flush(ctx); !errors.Is(err, store.ErrLocked) || c.Pending() != 1 {
		t.Errorf("Flush under the lock: %v with %d pending; want ErrLocked and the answer kept", err, c.Pending())
	}
	release()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s3, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if v, ok, err := s3.ResponseCache().Get(ctx, cacheKey(1)); err != nil || !ok || string(v) != `"paid"` {
		t.Errorf("after Close, the answer in the file = %q, %v, %v; want it written", v, ok, err)
	}
}

func TestClaims(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	mustImport(t, s, "", decodeTrace(t, simpleTraceJSON("t1", "")), decodeTrace(t, simpleTraceJSON("t2", "")),
		decodeTrace(t, simpleTraceJSON("t3", "")))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := store.ClaimOwner{RunID: 1, Token: store.NewOwnerToken()}
	b := store.ClaimOwner{RunID: 2, Token: store.NewOwnerToken()}
	claim := func(o store.ClaimOwner, now time.Time, items ...store.ClaimItem) []store.ClaimState {
		t.Helper()
		res, err := s.ClaimTraces(ctx, store.ClaimRequest{Judge: "j", Version: 1, Owner: o, Now: now, Lease: time.Minute, Items: items})
		if err != nil {
			t.Fatal(err)
		}
		out := make([]store.ClaimState, len(res))
		for i, r := range res {
			out[i] = r.State
			if r.State == store.ClaimHeld && r.Holder != a && r.Holder != b {
				t.Errorf("held by %+v", r.Holder)
			}
		}
		return out
	}
	items := []store.ClaimItem{{TraceID: "t1"}, {TraceID: "t2"}}
	if got := claim(a, t0, items...); got[0] != store.Claimed || got[1] != store.Claimed {
		t.Fatalf("first claim = %v, want both claimed", got)
	}
	if got := claim(a, t0, items[0]); got[0] != store.Claimed {
		t.Errorf("owner claiming its own trace again = %v, want claimed", got)
	}
	if got := claim(b, t0.Add(30*time.Second), items...); got[0] != store.ClaimHeld || got[1] != store.ClaimHeld {
		t.Errorf("claim of another's live claims = %v, want held", got)
	}
	if n, err := s.LiveClaims(ctx, "j", 1, b, t0); err != nil || n != 2 {
		t.Errorf("LiveClaims = %d, %v; want 2", n, err)
	}
	// A heartbeat extends the lease; without one it expires.
	if err := s.Heartbeat(ctx, a, t0.Add(50*time.Second), time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := claim(b, t0.Add(100*time.Second), items...); got[0] != store.ClaimHeld {
		t.Errorf("claim within the renewed lease = %v, want held", got)
	}
	if got := claim(b, t0.Add(111*time.Second), items...); got[0] != store.Claimed || got[1] != store.Claimed {
		t.Errorf("claim after the lease expired = %v, want claimed", got)
	}
	// Release frees only the owner's claims.
	if err := s.ReleaseClaims(ctx, "j", 1, a, []string{"t1"}); err != nil {
		t.Fatal(err)
	}
	if got := claim(a, t0.Add(112*time.Second), items[0]); got[0] != store.ClaimHeld {
		t.Errorf("a's release freed b's claim: %v", got)
	}
	if err := s.ReleaseOwner(ctx, b); err != nil {
		t.Fatal(err)
	}
	if got := claim(a, t0.Add(113*time.Second), items[0]); got[0] != store.Claimed {
		t.Errorf("claim after ReleaseOwner = %v, want claimed", got)
	}
	// A trace that holds the judgement is done.
	fb := trace.Assessment{ID: "a-done", Name: "j", TraceID: "t3", Source: trace.Source{Type: trace.SourceLLMJudge, ID: "m"},
		Feedback: &trace.Feedback{Value: []byte(`true`)}}
	if _, err := s.LogAssessments(ctx, []store.AssessmentRow{{Assessment: fb}}, store.LogOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := claim(b, t0, store.ClaimItem{TraceID: "t3", DoneID: "a-done"}); got[0] != store.ClaimDone {
		t.Errorf("claim of a judged trace = %v, want done", got)
	}
	if got := claim(b, t0, store.ClaimItem{TraceID: "t3"}); got[0] != store.Claimed {
		t.Errorf("forced claim of a judged trace = %v, want claimed", got)
	}
}

func TestRunStateAt(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &store.EvalRun{Judge: "j", Version: 1, StartedAt: t0, Owner: store.NewOwnerToken(), PID: 42, Host: "h", Lease: time.Minute}
	if err := s.StartEvalRun(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, store.ClaimOwner{RunID: r.ID, Token: r.Owner}, t0.Add(time.Minute), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, err := s.EvalRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != r.Owner || got.PID != 42 || got.Host != "h" || !got.HeartbeatAt.Equal(t0.Add(time.Minute)) || got.Lease != time.Minute {
		t.Errorf("stored run = %+v", got)
	}
	if st := got.StateAt(t0.Add(110 * time.Second)); st != store.RunRunning {
		t.Errorf("state within the lease after the heartbeat = %s, want running", st)
	}
	if st := got.StateAt(t0.Add(121 * time.Second)); st != store.RunInterrupted {
		t.Errorf("state with a stale heartbeat = %s, want interrupted", st)
	}
	got.Status = store.RunDone
	if st := got.StateAt(t0.Add(time.Hour)); st != store.RunDone {
		t.Errorf("a finished run's state = %s", st)
	}
}

// TestTracesGoesOnPastCorruptRows: a trace row (or assessment row) whose
// JSON was damaged outside alignhost is yielded as a *CorruptTraceError
// naming the trace, and the iteration goes on.
func TestTracesGoesOnPastCorruptRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var traces []*trace.Trace
	for _, id := range []string{"t1", "t2", "t3", "t4"} {
		traces = append(traces, decodeTrace(t, simpleTraceJSON(id, "["+humanFeedback("q", `"yes"`, "ann")+"]")))
	}
	mustImport(t, s, "", traces...)
	db := rawDB(t, path)
	mustExec := func(db *sql.DB, q string) {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	mustExec(db, `UPDATE traces SET json = '{"info": ' WHERE trace_id = 't2'`)
	mustExec(db, `UPDATE assessments SET json = '[' WHERE trace_id = 't3'`)
	var ok, corrupt []string
	for tr, err := range s.Traces(ctx, store.TraceQuery{}) {
		var ce *store.CorruptTraceError
		switch {
		case errors.As(err, &ce):
			corrupt = append(corrupt, ce.TraceID)
		case err != nil:
			t.Fatal(err)
		default:
			ok = append(ok, tr.Info.TraceID)
			if len(tr.Info.Assessments) != 1 {
				t.Errorf("trace %s has %d assessments, want 1", tr.Info.TraceID, len(tr.Info.Assessments))
			}
		}
	}
	if len(ok) != 2 || ok[0] != "t1" || ok[1] != "t4" || len(corrupt) != 2 || corrupt[0] != "t2" || corrupt[1] != "t3" {
		t.Errorf("read %v, corrupt %v; want t1, t4 read and t2, t3 corrupt", ok, corrupt)
	}
}

// TestFeedbackSeqDoesNotHoldTheLockWhileReading: LogAssessmentSeq reads
// its rows before it takes the write lock, so another writer can write
// while the rows are still being read (a slow pipe, say), and a row the
// reader fails on leaves the store as it was.
func TestFeedbackSeqDoesNotHoldTheLockWhileReading(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, store.WithLockTimeout(50*time.Millisecond))
	mustImport(t, s, "", decodeTrace(t, simpleTraceJSON("tr-1", "[]")), decodeTrace(t, simpleTraceJSON("tr-2", "[]")))
	row := func(id, value string) store.AssessmentRow {
		return store.AssessmentRow{Line: 1, Assessment: trace.Assessment{TraceID: id, Name: "tone",
			Source:   trace.Source{Type: trace.SourceHuman, ID: "ann"},
			Feedback: &trace.Feedback{Value: json.RawMessage(value)}}}
	}
	var midway error
	seq := func(yield func(store.AssessmentRow, error) bool) {
		if !yield(row("tr-1", `"good"`), nil) {
			return
		}
		// Another writer, while the sequence is being read: with the
		// lock held by the reader it would wait past its 50ms timeout.
		_, midway = s.RegisterJudge(ctx, &judge.Judge{Name: "j", Instructions: "{{ outputs }}"}, nil)
		yield(row("tr-2", `"bad"`), nil)
	}
	res, err := s.LogAssessmentSeq(ctx, seq, store.LogOptions{})
	if err != nil || res.Added != 2 {
		t.Fatalf("LogAssessmentSeq = %+v, %v; want 2 added", res, err)
	}
	if midway != nil {
		t.Errorf("a write while the rows were read: %v; want it to go through", midway)
	}

	// A reader that fails after a row logs nothing.
	failing := func(yield func(store.AssessmentRow, error) bool) {
		if yield(row("tr-1", `"changed"`), nil) {
			yield(store.AssessmentRow{}, errors.New("the file ends mid-row"))
		}
	}
	if _, err := s.LogAssessmentSeq(ctx, failing, store.LogOptions{}); err == nil || !strings.Contains(err.Error(), "mid-row") {
		t.Fatalf("LogAssessmentSeq with a failing reader: %v; want its error", err)
	}
	tr := mustTrace(t, s, "tr-1")
	if len(tr.Info.Assessments) != 1 || string(tr.Info.Assessments[0].Feedback.Value) != `"good"` {
		t.Errorf("tr-1 after a failed log: %+v; want the one assessment logged before", tr.Info.Assessments)
	}
}
