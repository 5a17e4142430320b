package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// migrations are the schema scripts in the order they are applied; the
// schema version of a store is the number of scripts it has applied.
// Append new scripts at the end; never change a released one. See the
// package documentation.
//
// Conventions: STRICT tables; times are INTEGER Unix milliseconds; JSON is
// TEXT written by encoding/json.
var migrations = [...]string{
	// 1: experiments, traces, assessments, judge registry.
	`
CREATE TABLE experiments (
	id         INTEGER PRIMARY KEY,
	name       TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
) STRICT;

INSERT INTO experiments (id, name, created_at)
VALUES (0, 'Default', CAST(unixepoch('subsec') * 1000 AS INTEGER));

-- seq orders traces by first import; it survives VACUUM, unlike rowid.
-- request_time is NULL when the trace does not say.
CREATE TABLE traces (
	seq              INTEGER PRIMARY KEY,
	trace_id         TEXT    NOT NULL UNIQUE,
	experiment_id    INTEGER NOT NULL REFERENCES experiments (id),
	request_time     INTEGER,
	state            TEXT    NOT NULL,
	request_preview  TEXT    NOT NULL,
	response_preview TEXT    NOT NULL,
	session_id       TEXT,
	json             TEXT    NOT NULL
) STRICT;

CREATE INDEX traces_by_experiment ON traces (experiment_id, seq);
CREATE INDEX traces_by_session ON traces (session_id) WHERE session_id IS NOT NULL;

-- name_key is the name trimmed and lower-cased, as MLflow matches feedback
-- to a judge. valid is NULL when the assessment does not say.
CREATE TABLE assessments (
	assessment_id TEXT    PRIMARY KEY,
	trace_id      TEXT    NOT NULL REFERENCES traces (trace_id) ON DELETE CASCADE,
	seq           INTEGER NOT NULL,
	name          TEXT    NOT NULL,
	name_key      TEXT    NOT NULL,
	kind          TEXT    NOT NULL CHECK (kind IN ('feedback', 'expectation')),
	source_type   TEXT    NOT NULL,
	source_id     TEXT    NOT NULL,
	create_time   INTEGER NOT NULL,
	valid         INTEGER CHECK (valid IN (0, 1)),
	overrides     TEXT,
	json          TEXT    NOT NULL
) STRICT;

CREATE INDEX assessments_by_trace ON assessments (trace_id, seq);
CREATE INDEX assessments_by_name ON assessments (name_key, kind, source_type, trace_id);

-- judge_names keeps the highest version ever given to a name, so deleted
-- versions are not reused.
CREATE TABLE judge_names (
	name         TEXT    PRIMARY KEY,
	last_version INTEGER NOT NULL
) STRICT;

CREATE TABLE judges (
	name       TEXT    NOT NULL REFERENCES judge_names (name),
	version    INTEGER NOT NULL,
	json       TEXT    NOT NULL,
	tags       TEXT    NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (name, version)
) STRICT;
`,
	// 2: model response cache (see cache.go).
	`
-- key is the model layer's request digest (hex SHA-256); it covers the
-- model, messages, schema and parameters, never a credential. value is
-- the answer as the model layer encoded it. model is NULL when the writer
-- did not say.
CREATE TABLE responses (
	key        TEXT    PRIMARY KEY,
	value      BLOB    NOT NULL,
	model      TEXT,
	created_at INTEGER NOT NULL,
	hits       INTEGER NOT NULL DEFAULT 0
) STRICT;
`,
	// 3: evaluation runs (see runs.go).
	`
-- finished_at is NULL while status is 'running'; a run left 'running' was
-- cut short by a crash. cost_usd is NULL when the model has no price.
CREATE TABLE eval_runs (
	id                INTEGER PRIMARY KEY,
	judge_name        TEXT    NOT NULL,
	judge_version     INTEGER NOT NULL,
	judge_fingerprint TEXT    NOT NULL,
	model             TEXT    NOT NULL,
	started_at        INTEGER NOT NULL,
	finished_at       INTEGER,
	status            TEXT    NOT NULL CHECK (status IN ('running', 'done', 'interrupted', 'failed')),
	judged            INTEGER NOT NULL DEFAULT 0,
	skipped           INTEGER NOT NULL DEFAULT 0,
	failed            INTEGER NOT NULL DEFAULT 0,
	cached            INTEGER NOT NULL DEFAULT 0,
	prompt_tokens     INTEGER NOT NULL DEFAULT 0,
	completion_tokens INTEGER NOT NULL DEFAULT 0,
	cost_usd          REAL,
	error             TEXT
) STRICT;

CREATE INDEX eval_runs_by_judge ON eval_runs (judge_name, judge_version, id);
`,
}

// SchemaVersion is the schema version this build writes: the number of
// migrations it knows.
const SchemaVersion = len(migrations)

// migrate brings the schema up to date.
func (s *Store) migrate(ctx context.Context, log *slog.Logger) error {
	// Look first without the write lock: usually there is nothing to do,
	// and another process may be writing.
	var have int
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		have, err = schemaVersion(ctx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > SchemaVersion {
		return &SchemaVersionError{Version: have, Supported: SchemaVersion}
	}
	if have == SchemaVersion {
		return nil
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		// Read again under the write lock: another process may have
		// migrated meanwhile.
		var err error
		have, err = schemaVersion(ctx, tx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if have > SchemaVersion {
			return &SchemaVersionError{Version: have, Supported: SchemaVersion}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		) STRICT`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		for v := have + 1; v <= SchemaVersion; v++ {
			if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
				return fmt.Errorf("apply migration %d: %w", v, err)
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, nowMillis()); err != nil {
				return fmt.Errorf("record migration %d: %w", v, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if have < SchemaVersion {
		log.InfoContext(ctx, "store schema migrated", "path", s.path, "from", have, "to", SchemaVersion)
	}
	return nil
}

// schemaVersion returns the highest applied migration, 0 for a new file.
func schemaVersion(ctx context.Context, tx *sql.Tx) (int, error) {
	var n int
	err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n)
	if err != nil || n == 0 {
		return 0, err
	}
	var v sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, err
	}
	return int(v.Int64), nil
}
