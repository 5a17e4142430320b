package main

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm/llmtest"
	"github.com/alignhost/alignhost/store"
)

func TestRunsListsRealStateAndEvalSaysWhatItResumes(t *testing.T) {
	srv := llmtest.NewServer(t, llmtest.WithResponder(llmtest.Always(`{"rationale":"r","result":"yes"}`)))
	c := evalCLI(t, srv)
	c.ok("eval", "--judge", "helpful", "--limit", "3")
	_, errOut, code := c.run("eval", "--judge", "helpful")
	if code != exitOK || !strings.Contains(errOut, "resuming helpful@1: 3 of 10 traces already judged, 7 to judge") {
		t.Errorf("resumed eval: exit %d, stderr:\n%s", code, errOut)
	}

	// A run whose process died long ago, as kill -9 leaves it.
	ctx := context.Background()
	st, err := store.Open(ctx, c.store)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	dead := &store.EvalRun{Judge: "helpful", Version: 1, Model: "openai:/gpt-4.1-mini", StartedAt: old,
		Owner: store.NewOwnerToken(), PID: 4242, Host: "gone", Lease: time.Minute}
	if err := st.StartEvalRun(ctx, dead); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out := c.ok("runs")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "RUN") {
		t.Fatalf("runs:\n%s\nwant a header and 3 runs", out)
	}
	if f := strings.Fields(lines[1]); f[1] != "helpful@1" || f[2] != "interrupted" || !strings.Contains(lines[1], "process gone") {
		t.Errorf("dead run shown as %q, want interrupted, process gone", lines[1])
	}
	if f := strings.Fields(lines[2]); f[2] != "done" || f[3] != "6" {
		t.Errorf("resumed run shown as %q, want done with 6 judged", lines[2])
	}
	var runs []struct {
		ID     int64  `json:"run_id"`
		State  string `json:"state"`
		Status string `json:"recorded_status"`
		Judged int    `json:"judged"`
		PID    int    `json:"pid"`
	}
	c.jsonOut(&runs, "runs", "--judge", "helpful@1")
	if len(runs) != 3 || runs[0].State != "interrupted" || runs[0].Status != "running" || runs[0].PID != 4242 ||
		runs[2].State != "done" || runs[2].Judged != 3 {
		t.Errorf("runs --json = %+v", runs)
	}
}

func TestLockTimeoutFromTheEnvironment(t *testing.T) {
	c := newCLI(t)
	c.ok("judges", "create", c.write("helpful.toml", helpfulJudge))
	c.env[lockTimeoutEnv] = "soon"
	if _, errOut, code := c.run("runs"); code != exitFailure || !strings.Contains(errOut, lockTimeoutEnv) {
		t.Errorf("bad %s: exit %d, %s", lockTimeoutEnv, code, errOut)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestLockTimeoutFromTheConfig holds the store's write lock from another
// connection: a write gives up under store_lock_timeout from alignhost.toml,
// and ALIGNHOST_LOCK_TIMEOUT overrides it.
func TestLockTimeoutFromTheConfig(t *testing.T) {
	c := newCLI(t)
	c.ok("judges", "create", c.write("helpful.toml", helpfulJudge))
	cfg := c.write("alignhost.toml", "store_lock_timeout = \"150ms\"\n")
	db, err := sql.Open("sqlite", "file:"+c.store+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("DELETE FROM eval_claims WHERE 0"); err != nil {
		t.Fatal(err)
	}
	register := []string{"--config", cfg, "judges", "create", c.write("helpful2.toml", helpfulJudge)}
	errOut := c.fail(exitFailure, register...)
	if !strings.Contains(errOut, "is locked by another writer") || !strings.Contains(errOut, "lock timeout 150ms") {
		t.Errorf("under store_lock_timeout: %s", errOut)
	}
	c.env[lockTimeoutEnv] = "120ms"
	errOut = c.fail(exitFailure, register...)
	if !strings.Contains(errOut, "lock timeout 120ms") {
		t.Errorf("under %s: %s", lockTimeoutEnv, errOut)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	c.ok(register...)
}
