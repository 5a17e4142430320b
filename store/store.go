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
// lock on the store, and publishes it in one transaction. A [Store] is safe for concurrent use by many
// goroutines, and several processes may open the same file. SQLite runs in
// WAL mode, so readers never wait for a writer; writers take the write lock
// when their transaction begins and queue for up to the busy timeout (see
// [WithBusyTimeout]) before failing with "database is locked".
//
// # Schema migrations
//
// The schema is an ordered list of migrations; the table
// schema_migrations records which have been applied. [Open] applies the
// missing ones in one transaction. A file migrated by a newer alignhost is
// refused with a [*SchemaVersionError] rather than misread.
//
// To change the schema, append one SQL script to the migrations list in
// migrate.go (the response cache and evaluation runs were added this way). Never edit or reorder a migration that has been released: a
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
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DefaultPath is the store file used when neither the --store flag nor the
// environment variable [EnvPath] names one. It is relative to the working
// directory.
const DefaultPath = "alignhost.db"

// EnvPath is the environment variable that names the store file.
const EnvPath = "ALIGNHOST_STORE"

// DefaultBusyTimeout is how long a write waits for another writer by
// default.
const DefaultBusyTimeout = 5 * time.Second

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
	db   *sql.DB
	path string

	// Import tuning, for tests (see import.go): traces per staging chunk
	// (0: the default) and a hook told how long each publish held the
	// write lock.
	importChunk int
	publishHook func(time.Duration)
}

// Option configures [Open].
type Option func(*config)

type config struct {
	busyTimeout time.Duration
	logger      *slog.Logger
}

// WithBusyTimeout sets how long a write waits for the write lock held by
// another transaction (in this or another process) before it fails. A
// non-positive d means [DefaultBusyTimeout].
func WithBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

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
	cfg := config{busyTimeout: DefaultBusyTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.busyTimeout <= 0 {
		cfg.busyTimeout = DefaultBusyTimeout
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

	db, err := sql.Open("sqlite", dsn(abs, cfg.busyTimeout))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	// WAL lets readers run beside the one writer, so a few connections
	// pay off; writers serialise on BEGIN IMMEDIATE. More connections than
	// CPUs only add memory.
	n := max(4, runtime.GOMAXPROCS(0))
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)

	s := &Store{db: db, path: abs}
	if err := s.migrate(ctx, cfg.logger); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
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

// Close closes the store. Transactions in progress are rolled back.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.path, err)
	}
	return nil
}

// write runs fn in a read-write transaction, which holds the write lock
// from its first statement, and commits if fn succeeds.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
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
