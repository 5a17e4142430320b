package eval_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/alignhost/alignhost/eval"
	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/store"
)

// yes is the fake model's answer in these tests.
const yes = `{"rationale":"fine","result":"yes"}`

// watchLog is a slog handler that calls on for each record logged with
// message msg.
type watchLog struct {
	msg string
	on  func()
}

func (w *watchLog) Enabled(context.Context, slog.Level) bool { return true }
func (w *watchLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message == w.msg {
		w.on()
	}
	return nil
}
func (w *watchLog) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *watchLog) WithGroup(string) slog.Handler      { return w }

// lockHolder takes the write lock of a store file from outside the store,
// as another process's long import would.
type lockHolder struct {
	t    *testing.T
	db   *sql.DB
	mu   sync.Mutex
	tx   *sql.Tx
	held chan struct{}
}

func newLockHolder(t *testing.T, path string) *lockHolder {
	db, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=busy_timeout(60000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &lockHolder{t: t, db: db, held: make(chan struct{})}
}

// take takes the lock once; later calls do nothing.
func (l *lockHolder) take() {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.held:
		return
	default:
	}
	tx, err := l.db.Begin()
	if err == nil {
		_, err = tx.Exec(`UPDATE experiments SET name = name WHERE id = 0`)
	}
	if err != nil {
		l.t.Error(err)
	}
	l.tx = tx
	close(l.held)
}

// release gives the lock back once.
func (l *lockHolder) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tx != nil {
		l.tx.Rollback()
		l.tx = nil
	}
}

// TestRunWaitsOutALongWriteLock: another writer takes the store's write
// lock when the first model call arrives and keeps it until the run has
// failed to store a batch (longer than the store's lock timeout). The run
// keeps the judgements, goes on, stores every one once the lock is free,
// and pays once per trace; every paid answer reaches the cache.
func TestRunWaitsOutALongWriteLock(t *testing.T) {
	const n = 20
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	st, err := store.Open(ctx, path, store.WithLockTimeout(30*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	importTraces(t, st, qaTraces(t, n))
	r := register(t, st, boolJudge(t))
	lock := newLockHolder(t, path)
	defer lock.release()
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply {
		lock.take()
		return llmtest.Content(yes)
	}))
	var refused atomic.Int64
	log := slog.New(&watchLog{msg: "eval feedback not stored yet; keeping it to retry", on: func() {
		refused.Add(1)
		lock.release()
	}})
	e, err := eval.New(newClient(t, srv, st.ResponseCache()), eval.WithStore(st), eval.WithConcurrency(4), eval.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge, spec.Total = r, n
	sum, err := e.Run(ctx, spec)
	if err != nil {
		t.Fatalf("run under a long write lock: %v", err)
	}
	if refused.Load() == 0 {
		t.Fatal("the store never refused a batch: the test did not hold the lock long enough")
	}
	if sum.Status != store.RunDone || sum.Judged != n || sum.Unstored != 0 || sum.Remaining != 0 {
		t.Errorf("summary = %+v, want done with %d judged and nothing unstored", sum, n)
	}
	if srv.Calls() != n {
		t.Errorf("%d model calls for %d traces, want one each", srv.Calls(), n)
	}
	if fb := judgeFeedback(t, st, "helpful"); len(fb) != n {
		t.Errorf("%d traces have feedback, want %d", len(fb), n)
	}
	if err := st.ResponseCache().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if cs, err := st.ResponseCache().Stats(ctx); err != nil || cs.Entries != n {
		t.Errorf("cache holds %d answers (%v), want all %d paid answers", cs.Entries, err, n)
	}
}

// TestRunCountsWhatItCannotStore: the lock is never released; the run
// retries for RunSpec.StoreRetry, then fails, counting the judgements it
// could not store (ErrLocked in its error). The answers stay in the
// response cache, so the next run, once the lock is free, pays for none
// of them again.
func TestRunCountsWhatItCannotStore(t *testing.T) {
	const n = 12
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	st, err := store.Open(ctx, path, store.WithLockTimeout(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	importTraces(t, st, qaTraces(t, n))
	r := register(t, st, boolJudge(t))
	lock := newLockHolder(t, path)
	defer lock.release()
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply {
		lock.take()
		return llmtest.Content(yes)
	}))
	client := newClient(t, srv, st.ResponseCache())
	e, err := eval.New(client, eval.WithStore(st), eval.WithConcurrency(n))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge, spec.Total, spec.StoreRetry = r, n, 300*time.Millisecond
	sum, err := e.Run(ctx, spec)
	if !errors.Is(err, store.ErrLocked) || sum == nil {
		t.Fatalf("run under a lock never released: %v, want ErrLocked with a summary", err)
	}
	paid := srv.Calls()
	if sum.Status != store.RunFailed || sum.Judged != 0 || sum.Unstored != paid || sum.Remaining != n {
		t.Errorf("summary = %+v after %d calls; want failed, all %d answers counted unstored, %d remaining", sum, paid, paid, n)
	}

	lock.release()
	later := func() time.Time { return time.Now().Add(eval.DefaultLease + time.Minute) }
	e2, err := eval.New(client, eval.WithStore(st), eval.WithConcurrency(n), eval.WithClock(later))
	if err != nil {
		t.Fatal(err)
	}
	spec = storeTraces(ctx, st)
	spec.Judge = r
	sum2, err := e2.Run(ctx, spec)
	if err != nil || sum2.Judged != n {
		t.Fatalf("run after the lock was released: %+v, %v", sum2, err)
	}
	if srv.Calls() != n || sum2.Cached != paid {
		t.Errorf("%d calls in all, %d answers from the cache; want %d calls, %d cached (nothing paid twice)",
			srv.Calls(), sum2.Cached, n, paid)
	}
}

// TestRunRecordsACorruptTraceAndGoesOn: a trace whose stored JSON was
// damaged is that trace's error, with its ID, and the others are judged.
func TestRunRecordsACorruptTraceAndGoesOn(t *testing.T) {
	const n = 10
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	st := openStore(t, path)
	importTraces(t, st, qaTraces(t, n))
	r := register(t, st, boolJudge(t))
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE traces SET json = '{"info": {"trace_id": 7' WHERE trace_id = 't-004'`); err != nil {
		t.Fatal(err)
	}
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply { return llmtest.Content(yes) }))
	e, err := eval.New(newClient(t, srv, st.ResponseCache()), eval.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	spec := storeTraces(ctx, st)
	spec.Judge, spec.Total = r, n
	sum, err := e.Run(ctx, spec)
	if err != nil {
		t.Fatalf("run with a corrupt trace: %v", err)
	}
	if sum.Status != store.RunDone || sum.Judged != n-1 || sum.Failed != 1 || sum.Errors[eval.CodeCorruptTrace] != 1 ||
		len(sum.ErrorSamples) != 1 || sum.ErrorSamples[0].TraceID != "t-004" {
		t.Errorf("summary = %+v, want done, %d judged, t-004 failed as %s", sum, n-1, eval.CodeCorruptTrace)
	}
}

// TestTwoRunsPayOnce: two evaluators on two handles of one store file (as
// two processes would be), judging the same judge version at once without
// a cache, pay once per trace: each skips what the other has claimed.
func TestTwoRunsPayOnce(t *testing.T) {
	const n = 60
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	st1 := openStore(t, path)
	st2 := openStore(t, path)
	importTraces(t, st1, qaTraces(t, n))
	register(t, st1, boolJudge(t))
	srv := llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply {
		return llmtest.Content(yes).After(5 * time.Millisecond)
	}))
	start := make(chan struct{})
	var wg sync.WaitGroup
	sums := make([]*eval.RunSummary, 2)
	for i, st := range []*store.Store{st1, st2} {
		e, err := eval.New(newClient(t, srv, nil), eval.WithStore(st), eval.WithConcurrency(4))
		if err != nil {
			t.Fatal(err)
		}
		r, err := st.Judge(ctx, "helpful", 0)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			spec := storeTraces(ctx, st)
			spec.Judge = r
			sum, err := e.Run(ctx, spec)
			if err != nil {
				t.Error(err)
			}
			sums[i] = sum
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	if srv.Calls() != n || sums[0].Judged+sums[1].Judged != n {
		t.Errorf("%d calls, judged %d + %d (held %d + %d); want %d calls and judgements in all",
			srv.Calls(), sums[0].Judged, sums[1].Judged, sums[0].Held, sums[1].Held, n)
	}
	for id, list := range judgeFeedback(t, st1, "helpful") {
		if len(list) != 1 {
			t.Errorf("trace %s has %d judge feedbacks", id, len(list))
		}
	}
}

// The child process of the kill tests: this test binary started again with
// evalChildEnv set to the store path runs one eval of the judge "helpful"
// over every trace and exits.
const (
	evalChildEnv         = "EVAL_CHILD_STORE"
	evalChildURLEnv      = "EVAL_CHILD_URL"
	evalChildLeaseEnv    = "EVAL_CHILD_LEASE"
	evalChildClockEnv    = "EVAL_CHILD_CLOCK_OFFSET"
	evalChildConcurrency = 16
)

// runEvalChildIfAsked runs the child eval when this process is one, and
// reports whether it was.
func runEvalChildIfAsked() bool {
	path := os.Getenv(evalChildEnv)
	if path == "" {
		return false
	}
	if err := runEvalChild(path); err != nil {
		fmt.Fprintln(os.Stderr, "eval child:", err)
		os.Exit(1)
	}
	return true
}

func runEvalChild(path string) error {
	ctx := context.Background()
	lease, err := time.ParseDuration(os.Getenv(evalChildLeaseEnv))
	if err != nil {
		return err
	}
	offset, err := time.ParseDuration(os.Getenv(evalChildClockEnv))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	env := map[string]string{"OPENAI_BASE_URL": os.Getenv(evalChildURLEnv), "OPENAI_API_KEY": llmtest.DefaultAPIKey}
	client, err := llm.New(llm.WithGetenv(func(k string) string { return env[k] }), llm.WithCache(st.ResponseCache()),
		llm.WithRetry(fastRetry), llm.WithTimeout(time.Minute), llm.WithMaxConcurrency(evalChildConcurrency))
	if err != nil {
		return err
	}
	e, err := eval.New(client, eval.WithStore(st), eval.WithConcurrency(evalChildConcurrency),
		eval.WithClock(func() time.Time { return time.Now().Add(offset) }))
	if err != nil {
		return err
	}
	r, err := st.Judge(ctx, "helpful", 0)
	if err != nil {
		return err
	}
	_, err = e.Run(ctx, eval.RunSpec{Judge: r, Traces: st.Traces(ctx, store.TraceQuery{}), Lease: lease})
	return err
}

// killableServer is a fake model that answers after latency and, once
// armed at call k, holds call k and every later one (as calls in flight)
// and signals reached, so that the test can kill the child mid-run.
type killableServer struct {
	*llmtest.Server
	calls   atomic.Int64
	killAt  atomic.Int64
	reached chan struct{}
}

func newKillableServer(t testing.TB, latency time.Duration) *killableServer {
	ks := &killableServer{reached: make(chan struct{}, 1)}
	ks.Server = llmtest.NewServer(t, llmtest.WithResponder(func(openai.ChatCompletionRequest) llmtest.Reply {
		n := ks.calls.Add(1)
		if k := ks.killAt.Load(); k > 0 && n >= k {
			select {
			case ks.reached <- struct{}{}:
			default:
			}
			return llmtest.Hang()
		}
		return llmtest.Content(yes).After(latency)
	}))
	return ks
}

// startEvalChild starts a child eval on the store at path.
func startEvalChild(tb testing.TB, path, url string, lease, clockOffset time.Duration) (*exec.Cmd, *bytes.Buffer) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), evalChildEnv+"="+path, evalChildURLEnv+"="+url,
		evalChildLeaseEnv+"="+lease.String(), evalChildClockEnv+"="+clockOffset.String())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return cmd, &out
}

// killChildAt arms ks at call k, waits for it, kills the child with
// SIGKILL and disarms ks.
func killChildAt(tb testing.TB, ks *killableServer, cmd *exec.Cmd, out *bytes.Buffer, k int64) {
	tb.Helper()
	ks.killAt.Store(k)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-ks.reached:
		cmd.Process.Signal(syscall.SIGKILL)
		<-exited
	case err := <-exited:
		tb.Fatalf("the child eval ended before call %d (%d calls): %v\n%s", k, ks.calls.Load(), err, out)
	case <-time.After(time.Minute):
		cmd.Process.Signal(syscall.SIGKILL)
		tb.Fatalf("the child eval did not reach call %d within a minute\n%s", k, out)
	}
	ks.killAt.Store(0)
}

// TestKilledRunLosesOnlyItsInFlightCalls: a child eval killed with
// SIGKILL mid-run, then a resume once its leases expired, pays again for at
// most the calls the child had in flight; its run shows as interrupted.
func TestKilledRunLosesOnlyItsInFlightCalls(t *testing.T) {
	const n = 120
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	st := openStore(t, path)
	importTraces(t, st, qaTraces(t, n))
	r := register(t, st, boolJudge(t))
	ks := newKillableServer(t, 2*time.Millisecond)
	const lease = 10 * time.Second
	cmd, out := startEvalChild(t, path, ks.BaseURL(), lease, 0)
	killChildAt(t, ks, cmd, out, 50)
	childCalls := ks.calls.Load()

	later := func() time.Time { return time.Now().Add(lease + time.Second) }
	e, err := eval.New(newClient(t, ks.Server, st.ResponseCache()), eval.WithStore(st), eval.WithClock(later))
	if err != nil {
		t.Fatal(err)
	}
	runs, err := st.EvalRuns(ctx, store.EvalRunQuery{})
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs after the kill: %+v, %v", runs, err)
	}
	if got := runs[0].StateAt(later()); runs[0].Status != store.RunRunning || got != store.RunInterrupted {
		t.Errorf("killed run: status %s, state %s; want running, shown as interrupted", runs[0].Status, got)
	}
	spec := storeTraces(ctx, st)
	spec.Judge = r
	sum, err := e.Run(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if fb := judgeFeedback(t, st, "helpful"); len(fb) != n {
		t.Errorf("%d traces judged after the resume, want %d", len(fb), n)
	}
	// The child has at most evalChildConcurrency calls in flight; every
	// answer it received is in the cache or stored as feedback.
	total := ks.calls.Load()
	if extra := total - n; extra > evalChildConcurrency {
		t.Errorf("%d calls for %d traces: %d paid twice, want at most the %d a run has in flight (child made %d, resume %+v)",
			total, n, extra, evalChildConcurrency, childCalls, sum)
	}
	if sum.Judged+sum.Skipped != n {
		t.Errorf("resume judged %d and skipped %d, want %d in all", sum.Judged, sum.Skipped, n)
	}
	t.Logf("%d traces, child killed at call 50: %d calls in all, %d answered from the cache on resume", n, total, sum.Cached)
}

// BenchmarkKillsAndOverlap measures the calls paid per 1,000 traces (fake
// model, 2ms latency, concurrency 16) when a child eval is killed with
// SIGKILL ten times before a run finishes, and when two child evals run
// over the same traces at once. Run with -benchtime=1x.
func BenchmarkKillsAndOverlap(b *testing.B) {
	const (
		n     = 1000
		lease = 10 * time.Second
	)
	for range b.N {
		b.Run("10kills", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "alignhost.db")
			st := openStore(b, path)
			importTraces(b, st, qaTraces(b, n))
			register(b, st, boolJudge(b))
			ks := newKillableServer(b, 2*time.Millisecond)
			for i := range 10 {
				cmd, out := startEvalChild(b, path, ks.BaseURL(), lease, time.Duration(i)*2*lease)
				killChildAt(b, ks, cmd, out, ks.calls.Load()+int64(n/11))
			}
			cmd, out := startEvalChild(b, path, ks.BaseURL(), lease, 10*2*lease)
			if err := cmd.Wait(); err != nil {
				b.Fatalf("final run: %v\n%s", err, out)
			}
			if fb := judgeFeedback(b, st, "helpful"); len(fb) != n {
				b.Fatalf("%d traces judged, want %d", len(fb), n)
			}
			b.ReportMetric(float64(ks.calls.Load()), "calls/1000traces")
			fmt.Fprintf(os.Stderr, "10 kills: %d calls for %d traces\n", ks.calls.Load(), n)
		})
		b.Run("overlap2", func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "alignhost.db")
			st := openStore(b, path)
			importTraces(b, st, qaTraces(b, n))
			register(b, st, boolJudge(b))
			ks := newKillableServer(b, 2*time.Millisecond)
			c1, o1 := startEvalChild(b, path, ks.BaseURL(), lease, 0)
			c2, o2 := startEvalChild(b, path, ks.BaseURL(), lease, 0)
			if err := c1.Wait(); err != nil {
				b.Fatalf("first run: %v\n%s", err, o1)
			}
			if err := c2.Wait(); err != nil {
				b.Fatalf("second run: %v\n%s", err, o2)
			}
			if fb := judgeFeedback(b, st, "helpful"); len(fb) != n {
				b.Fatalf("%d traces judged, want %d", len(fb), n)
			}
			b.ReportMetric(float64(ks.calls.Load()), "calls/1000traces")
			fmt.Fprintf(os.Stderr, "2 overlapping runs: %d calls for %d traces\n", ks.calls.Load(), n)
		})
	}
}
