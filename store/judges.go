package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/alignhost/alignhost/judge"
)

// RegisteredJudge is one version of a judge in the registry.
type RegisteredJudge struct {
	Name    string
	Version int
	Judge   *judge.Judge
	// Tags are free-form labels of this version; nil when it has none.
	Tags      map[string]string
	CreatedAt time.Time
}

// Ref returns the reference naming this version, "name@version".
func (r *RegisteredJudge) Ref() string { return judgeRef(r.Name, r.Version) }

// ParseJudgeRef splits a judge reference: "name@3" is version 3 of name,
// and "name" or "name@latest" is its latest version, returned as version 0.
// The name is everything before the last "@".
func ParseJudgeRef(ref string) (name string, version int, err error) {
	name, v := ref, ""
	at := strings.LastIndexByte(ref, '@')
	if at >= 0 {
		name, v = ref[:at], ref[at+1:]
	}
	if name == "" {
		return "", 0, fmt.Errorf("judge reference %q: empty name", ref)
	}
	if at < 0 || v == "latest" {
		return name, 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return "", 0, fmt.Errorf("judge reference %q: version %q is not a positive integer or \"latest\"", ref, v)
	}
	return name, n, nil
}

func judgeRef(name string, version int) string {
	if version == 0 {
		return name
	}
	return name + "@" + strconv.Itoa(version)
}

// RegisterJudge stores j under its name as the next version of that name,
// with the given tags, and returns the version: 1 for a new name, else one
// more than the highest version ever registered under it (deleted versions
// are not reused). Concurrent registrations of one name get distinct
// versions.
//
// A judge name must be non-empty, without surrounding spaces or "@".
func (s *Store) RegisterJudge(ctx context.Context, j *judge.Judge, tags map[string]string) (int, error) {
	if j == nil {
		return 0, errors.New("register judge: nil judge")
	}
	if err := checkJudgeName(j.Name); err != nil {
		return 0, fmt.Errorf("register judge %q: %w", j.Name, err)
	}
	body, err := json.Marshal(j)
	if err != nil {
		return 0, fmt.Errorf("register judge %q: %w", j.Name, err)
	}
	tagJSON, err := encodeTags(tags)
	if err != nil {
		return 0, fmt.Errorf("register judge %q: %w", j.Name, err)
	}
	var version int
	err = s.write(ctx, func(tx *sql.Tx) error {
		// The write lock is held from BEGIN, so reading and bumping the
		// high-water mark cannot interleave with another registration.
		if err := tx.QueryRowContext(ctx, `INSERT INTO judge_names (name, last_version) VALUES (?, 1)
			ON CONFLICT (name) DO UPDATE SET last_version = last_version + 1
			RETURNING last_version`, j.Name).Scan(&version); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO judges (name, version, json, tags, created_at)
			VALUES (?, ?, ?, ?, ?)`, j.Name, version, string(body), tagJSON, nowMillis())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("register judge %q: %w", j.Name, err)
	}
	return version, nil
}

// Judge returns version version of the judge called name; version 0 means
// the latest.
//
// # Errors
//
// A missing judge or version is reported with an error wrapping
// [ErrNotFound] that lists the versions that do exist.
func (s *Store) Judge(ctx context.Context, name string, version int) (*RegisteredJudge, error) {
	ref := judgeRef(name, version)
	var r *RegisteredJudge
	err := s.read(ctx, func(tx *sql.Tx) error {
		query := `SELECT name, version, json, tags, created_at FROM judges WHERE name = ? AND version = ?`
		args := []any{name, version}
		if version == 0 {
			query = `SELECT name, version, json, tags, created_at FROM judges WHERE name = ?
				ORDER BY version DESC LIMIT 1`
			args = args[:1]
		}
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		list, err := scanJudges(rows)
		if err != nil {
			return err
		}
		if len(list) == 0 {
			return notFound(ctx, tx, name)
		}
		r = &list[0]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("judge %q: %w", ref, err)
	}
	return r, nil
}

// Judges returns the latest version of every judge, by name.
func (s *Store) Judges(ctx context.Context) ([]RegisteredJudge, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT j.name, j.version, j.json, j.tags, j.created_at
		FROM judges j WHERE j.version = (SELECT max(version) FROM judges WHERE name = j.name)
		ORDER BY j.name`)
	if err != nil {
		return nil, fmt.Errorf("list judges: %w", err)
	}
	list, err := scanJudges(rows)
	if err != nil {
		return nil, fmt.Errorf("list judges: %w", err)
	}
	return list, nil
}

// JudgeVersions returns every stored version of the judge called name,
// oldest first, or an error wrapping [ErrNotFound] if there is none.
func (s *Store) JudgeVersions(ctx context.Context, name string) ([]RegisteredJudge, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, version, json, tags, created_at FROM judges
		WHERE name = ? ORDER BY version`, name)
	if err != nil {
		return nil, fmt.Errorf("versions of judge %q: %w", name, err)
	}
	list, err := scanJudges(rows)
	if err != nil {
		return nil, fmt.Errorf("versions of judge %q: %w", name, err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("judge %q: %w", name, ErrNotFound)
	}
	return list, nil
}

// DeleteJudge deletes version version of the judge called name, or every
// version if version is 0, and returns how many versions it deleted. The
// deleted version numbers are not given out again.
//
// # Errors
//
// Deleting nothing is an error wrapping [ErrNotFound] that lists the
// versions that exist.
func (s *Store) DeleteJudge(ctx context.Context, name string, version int) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		query, args := `DELETE FROM judges WHERE name = ? AND version = ?`, []any{name, version}
		if version == 0 {
			query, args = `DELETE FROM judges WHERE name = ?`, args[:1]
		}
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if n == 0 {
			return notFound(ctx, tx, name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete judge %q: %w", judgeRef(name, version), err)
	}
	return int(n), nil
}

// SetJudgeTags replaces the tags of version version of the judge called
// name (0 means the latest); nil or empty tags remove them all.
func (s *Store) SetJudgeTags(ctx context.Context, name string, version int, tags map[string]string) error {
	tagJSON, err := encodeTags(tags)
	if err != nil {
		return fmt.Errorf("set tags of judge %q: %w", judgeRef(name, version), err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE judges SET tags = ? WHERE name = ? AND version =
			CASE WHEN ? = 0 THEN (SELECT max(version) FROM judges WHERE name = ?) ELSE ? END`,
			tagJSON, name, version, name, version)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound(ctx, tx, name)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set tags of judge %q: %w", judgeRef(name, version), err)
	}
	return nil
}

// notFound returns ErrNotFound, followed by the versions of name that
// exist, if any.
func notFound(ctx context.Context, tx *sql.Tx, name string) error {
	rows, err := tx.QueryContext(ctx, `SELECT version FROM judges WHERE name = ? ORDER BY version`, name)
	if err != nil {
		return err
	}
	defer rows.Close()
	var versions []string
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return err
		}
		versions = append(versions, strconv.Itoa(v))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(versions) == 0 {
		return ErrNotFound
	}
	return fmt.Errorf("%w; versions are %s", ErrNotFound, strings.Join(versions, ", "))
}

func scanJudges(rows *sql.Rows) ([]RegisteredJudge, error) {
	defer rows.Close()
	var list []RegisteredJudge
	for rows.Next() {
		var (
			r         RegisteredJudge
			body, tag []byte
			ms        int64
		)
		if err := rows.Scan(&r.Name, &r.Version, &body, &tag, &ms); err != nil {
			return nil, err
		}
		r.Judge = new(judge.Judge)
		if err := json.Unmarshal(body, r.Judge); err != nil {
			return nil, fmt.Errorf("decode judge %q: %w", judgeRef(r.Name, r.Version), err)
		}
		if err := json.Unmarshal(tag, &r.Tags); err != nil {
			return nil, fmt.Errorf("decode tags of judge %q: %w", judgeRef(r.Name, r.Version), err)
		}
		if len(r.Tags) == 0 {
			r.Tags = nil
		}
		r.CreatedAt = fromMillis(ms)
		list = append(list, r)
	}
	return list, rows.Err()
}

func checkJudgeName(name string) error {
	switch {
	case name == "":
		return errors.New("empty judge name")
	case strings.TrimSpace(name) != name:
		return errors.New("judge name has surrounding spaces")
	case strings.Contains(name, "@"):
		return errors.New(`judge name contains "@"`)
	}
	return nil
}

func encodeTags(tags map[string]string) (string, error) {
	for k := range tags {
		if k == "" {
			return "", errors.New("empty tag key")
		}
	}
	if tags == nil {
		tags = map[string]string{}
	}
	b, err := json.Marshal(tags)
	return string(b), err
}
