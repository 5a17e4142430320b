package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultExperiment is the name of the experiment every store has, with ID
// 0 as in MLflow. Traces imported without an experiment name go there.
const DefaultExperiment = "Default"

// Experiment is a named group of traces.
type Experiment struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// EnsureExperiment returns the experiment called name, creating it if it
// does not exist. Names are compared exactly; surrounding spaces are an
// error.
func (s *Store) EnsureExperiment(ctx context.Context, name string) (Experiment, error) {
	var e Experiment
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = ensureExperiment(ctx, tx, name)
		return err
	})
	if err != nil {
		return Experiment{}, fmt.Errorf("ensure experiment %q: %w", name, err)
	}
	return e, nil
}

// Experiments returns every experiment, by ID.
func (s *Store) Experiments(ctx context.Context) ([]Experiment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, created_at FROM experiments ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	defer rows.Close()
	var list []Experiment
	for rows.Next() {
		var e Experiment
		var ms int64
		if err := rows.Scan(&e.ID, &e.Name, &ms); err != nil {
			return nil, fmt.Errorf("list experiments: %w", err)
		}
		e.CreatedAt = fromMillis(ms)
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list experiments: %w", err)
	}
	return list, nil
}

func ensureExperiment(ctx context.Context, tx *sql.Tx, name string) (Experiment, error) {
	if err := checkExperimentName(name); err != nil {
		return Experiment{}, err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO experiments (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, nowMillis()); err != nil {
		return Experiment{}, err
	}
	e := Experiment{Name: name}
	var ms int64
	if err := tx.QueryRowContext(ctx, `SELECT id, created_at FROM experiments WHERE name = ?`, name).
		Scan(&e.ID, &ms); err != nil {
		return Experiment{}, err
	}
	e.CreatedAt = fromMillis(ms)
	return e, nil
}

// experimentID returns the ID of the experiment called name.
func experimentID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM experiments WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("experiment %q: %w", name, ErrNotFound)
	}
	return id, err
}

func checkExperimentName(name string) error {
	switch {
	case name == "":
		return errors.New("empty experiment name")
	case strings.TrimSpace(name) != name:
		return errors.New("experiment name has surrounding spaces")
	}
	return nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}
