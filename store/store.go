// Package store keeps everything alignhost must remember between runs in one
// SQLite file: experiments, imported traces with their assessments (human
// feedback, judge feedback, expectations), and a versioned registry of
// judges.
//
// Alignment is iterative: traces are imported once, labelled over days by
// several people, and judges are aligned, compared with earlier versions and
// rolled back. Files on disk cannot answer "which traces have human
// feedback on helpfulness?" or "what was helpfulness@2?" safely while two
// commands run at once; an embedded database can, without a server. The
// store is used by the command line; packages judge and trace, which are
// compiled into WebAssembly optimizers, never depend on it.
//
// # Model
//
// An experiment is a named group of traces, as in MLflow. Every store has
// the experiment "Default" with ID 0 (MLflow's default experiment ID);
// others are numbered from 1 in order of creation.
//
// A trace is stored as its JSON, exactly as package trace encodes it, minus
// its assessments, plus a few indexed columns (experiment, request time,
// state, previews, session). Each assessment is a row of its own, keyed by
// its assessment ID and ordered within its trace, so feedback can be logged,
// superseded and queried without rewriting the trace. [Store.Trace] puts the
// two back together: a trace imported and exported again is the same JSON.
//
// Re-importing is safe. A trace whose ID is already stored replaces the
// stored one, and its assessments are merged with the stored ones by
// assessment ID; an assessment without an ID gets one derived from its
// content (see [AssessmentID]), so importing the same file twice changes
// nothing. Assessments logged into the store after an import survive later
// imports of the same trace.
//
// A judge is registered under its name; each registration creates the next
// version (1, 2, 3, …). A version number is never given out twice, even
// after the version is deleted. "name@3" names a version and a bare name the
// latest one (see [ParseJudgeRef]).
//
// The store also keeps every model answer in a response cache
// ([Store.ResponseCache], which the model layer uses as its cache, so that
// re-running or resuming work pays for nothing twice; [ResponseCache.Prune]
// empties it), and a record of each evaluation run ([Store.StartEvalRun]):
// the judge version, counts, tokens and estimated cost.
//
// # Transactions and concurrency
//
// Every method that writes changes everything it was asked to or nothing.
// All but one run in one transaction; [Store.ImportTraceSeq] stages a
// large import in temporary tables of its own connection, which take no
// lock on the store, and publishes it in one transaction. A [Store] is
// safe for concurrent use by many goroutines, and several processes may open the same file. SQLite runs in
// WAL mode, so readers never wait for a writer; writers take the write lock
// when their transaction begins (BEGIN IMMEDIATE), so a transaction never
// fails half-way for want of the lock.
//
// A writer that finds the lock taken waits and retries, with a short
// backoff, for up to the lock timeout ([WithLockTimeout], default
// [DefaultLockTimeout], one minute), or until its context is done. Then it
// fails with a [*LockError] (errors.Is [ErrLocked]) that names the file and
// how long it waited; nothing of the write was stored and it may be tried
// again. Only taking the lock is retried, never a transaction that has
// begun. Callers that must not lose work keep it and try again: the
// response cache keeps answers it could not write ([ResponseCache.Put]) and
// writes them with its next commit, [ResponseCache.Flush] or [Store.Close];
// package eval keeps feedback batches and retries them.
//
// Work shared between processes is coordinated with claims
// ([Store.ClaimTraces]): an evaluation run claims a trace under a lease
// before it pays a model for it, renews its leases with a heartbeat
// ([Store.Heartbeat]), and releases them when the feedback is stored. A
// process killed with -9 stops renewing; its claims expire and another run
// takes them. An evaluation run records its owner (a random process token,
// PID, host) and heartbeat, so that [EvalRun.StateAt] can tell a run that
// is still going from one whose process is gone.
//
// A stored trace that does not decode any more (a row damaged outside
// alignhost) does not end an iteration over traces: [Store.Traces] yields
// a [*CorruptTraceError] for it and goes on.
//
// # Schema migrations
//
// The schema is an ordered list of migrations; the table
// schema_migrations records which have been applied. [Open] applies the
// missing ones in one transaction. A file migrated by a newer alignhost is
// refused with a [*SchemaVersionError] rather than misread.
//
// To change the schema, append one SQL script to the migrations list in
// migrate.go (the response cache, evaluation runs and claims were added this way). Never edit or reorder a migration that has been released: a
// store that already applied it would not see the change. A migration runs
// inside a transaction, so it must not contain statements SQLite refuses
// there (PRAGMA foreign_keys, VACUUM).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"
)

// DefaultPath is the store file used when neither the --store flag nor the
// environment variable [EnvPath] names one. It is relative to the working
// directory.
const DefaultPath = "alignhost.db"

// EnvPath is the environment variable that names the store file.
const EnvPath = "ALIGNHOST_STORE"

// DefaultLockTimeout is how long a write waits for the write lock held by
// another writer by default: long enough for any one transaction of
// alignhost's (an import publishes its chunks in one short transaction).
const DefaultLockTimeout = 60 * time.Second

// DefaultBusyTimeout is the former name of [DefaultLockTimeout].
//
// Deprecated: use DefaultLockTimeout.
const DefaultBusyTimeout = DefaultLockTimeout

// PathFromEnv returns the store path to use: flag if it is not empty, else
// the value of the environment variable ALIGNHOST_STORE if set and not
// empty, else [DefaultPath].
func PathFromEnv(flag string) string {
	if flag != "" {
		return flag
	}
	if p := os.Getenv(EnvPath); p != "" {
		return p
	}
	return DefaultPath
}

// Store is an open store file. Its methods are safe for concurrent use.
type Store struct {
	db          *sql.DB
	path        string
	lockTimeout time.Duration
	onBusy      func(waited time.Duration) // test hook, called before each retry

	cacheOnce sync.Once
	cache     *ResponseCache

	// Import tuning, for tests (see import.go): traces per staging chunk
	// (0: the default) and a hook told how long each publish held the
	// write lock.
	importChunk int
	publishHook func(time.Duration)
}

// Option configures [Open].
type Option func(*config)

type config struct {
	lockTimeout time.Duration
	logger      *slog.Logger
}

// WithLockTimeout sets how long a write waits for the write lock held by
// another transaction (in this or another process) before it fails with a
// [*LockError]. The write retries taking the lock until then, and gives up
// early when its context is done. A non-positive d means
// [DefaultLockTimeout].
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) { c.lockTimeout = d }
}

// WithBusyTimeout is the former name of [WithLockTimeout].
//
// Deprecated: use WithLockTimeout.
func WithBusyTimeout(d time.Duration) Option { return WithLockTimeout(d) }

// WithLogger sets the logger that reports schema migrations. Nil, the
// default, discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// Open opens the store file at path, creating it (mode 0600) and its parent
// directories (mode 0700) if needed, and brings its schema up to date.
//
// # Errors
//
// Open returns a [*SchemaVersionError] when the file was written by a newer
// alignhost, and a wrapped SQLite error when path is not a SQLite database.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{lockTimeout: DefaultLockTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.lockTimeout <= 0 {
		cfg.lockTimeout = DefaultLockTimeout
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if path == "" {
		return nil, errors.New("open store: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// Create the file ourselves so it is private; SQLite would use the
	// umask. The -wal and -shm files SQLite creates inherit this mode.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	db, err := sql.Open("sqlite", dsn(abs, busySlice(cfg.lockTimeout)))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// WAL lets readers run beside the one writer, so a few connections
	// pay off; writers serialise on BEGIN IMMEDIATE. More connections than
	// CPUs only add memory.
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)

	s := &Store{db: db, path: abs, lockTimeout: cfg.lockTimeout}
	if err := s.migrate(ctx, cfg.logger); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// busySlice is SQLite's own busy timeout: how long one attempt to take the
// write lock waits inside SQLite before [Store.write] checks its context
// and deadline and tries again.
func busySlice(lockTimeout time.Duration) time.Duration {
	return min(max(lockTimeout/4, 10*time.Millisecond), 100*time.Millisecond)
}

// dsn is the modernc.org/sqlite data source name for the file at abs: a
// file: URI, so any character may appear in the path, with the pragmas every
// connection needs. _txlock=immediate makes every read-write transaction
// take the write lock when it begins, so two writers queue instead of one
// failing with SQLITE_BUSY when it upgrades a read lock.
func dsn(abs string, busy time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busy.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	// NORMAL is durable across application crashes in WAL mode and skips an
	// fsync per commit; only a power loss can lose the last transactions.
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	u := url.URL{Path: filepath.ToSlash(abs)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// Path returns the absolute path of the store file.
func (s *Store) Path() string { return s.path }

// Close closes the store. Transactions in progress are rolled back. Answers
// that the response cache could not write yet (see [ResponseCache.Put]) are
// written first, waiting for the write lock as any write does.
func (s *Store) Close() error {
	var flushErr error
	if s.cache != nil {
		flushErr = s.cache.Flush(context.Background())
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	if flushErr != nil {
		return fmt.Errorf("close store %s: %w", s.path, flushErr)
	}
	return nil
}

// write runs fn in a read-write transaction, which holds the write lock
// from its first statement, and commits if fn succeeds.
//
// Taking the lock is retried while another writer holds it, for up to the
// lock timeout ([WithLockTimeout]); then write fails with a [*LockError].
// Only BEGIN is retried, so fn runs at most once. A BUSY error from fn or
// the commit (which WAL mode and BEGIN IMMEDIATE make rare) is reported
// as a *LockError too, without a retry.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.writeOn(ctx, s.db, fn)
}

// beginner is what a write transaction begins on: the pool, or a
// connection held for a staged import.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// writeOn is [Store.write] on the pool or connection db.
func (s *Store) writeOn(ctx context.Context, db beginner, fn func(*sql.Tx) error) error {
	start := time.Now()
	delay := 2 * time.Millisecond
	for {
		tx, err := db.BeginTx(ctx, nil)
		if err == nil {
			if err := fn(tx); err != nil {
				tx.Rollback()
				return s.lockError(err, time.Since(start))
			}
			return s.lockError(tx.Commit(), time.Since(start))
		}
		waited := time.Since(start)
		if !isBusy(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("wait for the write lock of %s: %w", s.path, ctx.Err())
		}
		if waited >= s.lockTimeout {
			return s.lockError(err, waited)
		}
		if s.onBusy != nil {
			s.onBusy(waited)
		}
		t := time.NewTimer(min(delay, s.lockTimeout-waited))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the write lock of %s: %w", s.path, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// lockError wraps a BUSY or LOCKED error in a *LockError; other errors,
// nil included, are returned as they are.
func (s *Store) lockError(err error, waited time.Duration) error {
	if err == nil || !isBusy(err) {
		return err
	}
	return &LockError{Path: s.path, Waited: waited, Timeout: s.lockTimeout, Err: err}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED (with
// any extended code): another connection holds a lock this one needs.
func isBusy(err error) bool {
	var se interface{ Code() int }
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return true
	}
	return false
}

// read runs fn in a read-only transaction, so that its statements see one
// snapshot of the store.
func (s *Store) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// nowMillis returns the current time in Unix milliseconds.
func nowMillis() int64 { return time.Now().UnixMilli() }

// fromMillis converts Unix milliseconds from the store to a UTC time.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// stmtSpec names a statement to prepare and where to keep it.
type stmtSpec struct {
	stmt **sql.Stmt
	sql  string
}

// prepareAll prepares every statement of specs in tx; on an error it closes
// those it prepared.
func prepareAll(ctx context.Context, tx *sql.Tx, specs []stmtSpec) error {
	for i, p := range specs {
		st, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			closeAll(specs[:i])
			return err
		}
		*p.stmt = st
	}
	return nil
}

// closeAll closes the prepared statements of specs.
func closeAll(specs []stmtSpec) {
	for _, p := range specs {
		if *p.stmt != nil {
			(*p.stmt).Close()
		}
	}
}
