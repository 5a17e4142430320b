package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alignhost/alignhost/judge"
	"github.com/alignhost/alignhost/store"
)

// openStore opens a fresh store in a temporary directory and closes it when
// the test ends.
func openStore(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "alignhost.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// rawDB opens the store file directly, bypassing package store.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenCreatesAndMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "dir", "alignhost.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("store file mode = %o, want 600", perm)
	}
	exps, err := s.Experiments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(exps) != 1 || exps[0].ID != 0 || exps[0].Name != store.DefaultExperiment || exps[0].CreatedAt.IsZero() {
		t.Errorf("experiments of a new store = %+v, want only Default with ID 0", exps)
	}
	if _, err := s.RegisterJudge(ctx, &judge.Judge{Name: "kept", Instructions: "{{ outputs }}"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening applies nothing again and keeps the data.
	s, err = store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Judge(ctx, "kept", 1); err != nil {
		t.Errorf("judge registered before reopening: %v", err)
	}

	db := rawDB(t, path)
	var n, maxVersion int
	if err := db.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &maxVersion); err != nil {
		t.Fatal(err)
	}
	if n != store.SchemaVersion || maxVersion != store.SchemaVersion {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d", n, maxVersion, store.SchemaVersion)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	newer := store.SchemaVersion + 1
	if _, err := rawDB(t, path).Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, newer); err != nil {
		t.Fatal(err)
	}

	_, err = store.Open(ctx, path)
	var sv *store.SchemaVersionError
	if !errors.As(err, &sv) {
		t.Fatalf("Open of a newer store: error %v, want a *SchemaVersionError", err)
	}
	if sv.Version != newer || sv.Supported != store.SchemaVersion {
		t.Errorf("SchemaVersionError = %+v, want Version %d, Supported %d", sv, newer, store.SchemaVersion)
	}
	if !strings.Contains(err.Error(), "upgrade alignhost") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q should name the file and tell the user to upgrade", err)
	}
}

func TestOpenRejectsNonDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := store.Open(context.Background(), path); err == nil {
		s.Close()
		t.Fatal("Open of a text file succeeded")
	}
}

func TestPathFromEnv(t *testing.T) {
	tests := []struct {
		name, flag, env, want string
	}{
		{"flag wins", "flag.db", "env.db", "flag.db"},
		{"env without flag", "", "env.db", "env.db"},
		{"default", "", "", store.DefaultPath},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(store.EnvPath, tc.env)
			if got := store.PathFromEnv(tc.flag); got != tc.want {
				t.Errorf("PathFromEnv(%q) with %s=%q = %q, want %q", tc.flag, store.EnvPath, tc.env, got, tc.want)
			}
		})
	}
}

// TestBusyTimeout holds the write lock from outside the store and checks
// that a write waits for it up to the busy timeout, then fails.
func TestBusyTimeout(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path, store.WithBusyTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	lock := func() *sql.Tx {
		tx, err := rawDB(t, path+"?_txlock=immediate").Begin()
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	j := &judge.Judge{Name: "j", Instructions: "{{ outputs }}"}

	tx := lock()
	start := time.Now()
	_, err = s.RegisterJudge(ctx, j, nil)
	waited := time.Since(start)
	tx.Rollback()
	if err == nil || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("write under another writer's lock: error %v, want database is locked", err)
	}
	if waited < 100*time.Millisecond {
		t.Errorf("write gave up after %v, before the 100ms busy timeout", waited)
	}

	// A lock released within the timeout only delays the write.
	tx = lock()
	time.AfterFunc(30*time.Millisecond, func() { tx.Rollback() })
	if _, err := s.RegisterJudge(ctx, j, nil); err != nil {
		t.Errorf("write after the lock was released: %v", err)
	}
}

func TestEnsureExperiment(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	first, err := s.EnsureExperiment(ctx, "support-bot")
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.EnsureExperiment(ctx, "support-bot")
	if err != nil {
		t.Fatal(err)
	}
	if first.ID != 1 || again != first {
		t.Errorf("EnsureExperiment twice = %+v, %+v; want the same experiment with ID 1", first, again)
	}
	def, err := s.EnsureExperiment(ctx, store.DefaultExperiment)
	if err != nil || def.ID != 0 {
		t.Errorf("EnsureExperiment(Default) = %+v, %v; want ID 0", def, err)
	}
	for _, bad := range []string{"", " padded "} {
		if _, err := s.EnsureExperiment(ctx, bad); err == nil {
			t.Errorf("EnsureExperiment(%q) succeeded", bad)
		}
	}
	exps, err := s.Experiments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(exps) != 2 || exps[0].Name != store.DefaultExperiment || exps[1].Name != "support-bot" {
		t.Errorf("Experiments = %+v, want Default and support-bot", exps)
	}
}
