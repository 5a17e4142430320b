package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ResponseCache is the store's cache of model answers, the table
// responses. It implements the model layer's llm.Cache, so that re-running
// an evaluation, or resuming one that was interrupted, is answered from the
// store instead of paying for the same request twice, in this process or
// any later one that opens the same file.
//
// Keys are the model layer's request digests: they cover the model URI,
// messages, schema and parameters, and never a credential, base URL or
// header. Values are the model layer's opaque JSON. Every lookup that finds
// an entry counts a hit. Entries are never evicted.
//
// A ResponseCache is safe for concurrent use, from several goroutines and
// processes.
type ResponseCache struct {
	s *Store

	// turn is held by the Put that is committing; queue holds the Puts
	// waiting for a commit.
	turn  chan struct{}
	mu    sync.Mutex
	queue []*pendingPut
}

// ResponseCache returns the store's response cache. Every call returns the
// same handle, so that all the Puts of a process share commits, and
// [Store.Close] writes what they could not write yet.
func (s *Store) ResponseCache() *ResponseCache {
	s.cacheOnce.Do(func() { s.cache = &ResponseCache{s: s, turn: make(chan struct{}, 1)} })
	return s.cache
}

type responseModelKey struct{}

// WithResponseModel returns a copy of ctx that tells [ResponseCache.Put]
// which model URI the answers written under it came from, for the
// responses table's model column; without it the column is NULL. The
// model layer's Cache interface does not carry the model, so the caller
// that knows it (the evaluator) passes it along with the request's context.
// It never changes which entry a key finds.
func WithResponseModel(ctx context.Context, model string) context.Context {
	return context.WithValue(ctx, responseModelKey{}, model)
}

// Get returns the value stored under key and counts a hit, or reports
// false when there is none. A miss only reads. An answer that waits to be
// written (see Put) is found too.
func (c *ResponseCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if val, ok := c.queued(key); ok {
		return val, true, nil
	}
	var val []byte
	err := c.s.db.QueryRowContext(ctx, `SELECT value FROM responses WHERE key = ?`, key).Scan(&val)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("response cache: get %s: %w", short(key), err)
	}
	// The hit count is bookkeeping: a writer holding the lock must not
	// turn a found answer into a miss that pays again.
	if _, err := c.s.db.ExecContext(ctx, `UPDATE responses SET hits = hits + 1 WHERE key = ?`, key); err != nil && !isBusy(err) {
		return nil, false, fmt.Errorf("response cache: get %s: %w", short(key), err)
	}
	return val, true, nil
}

// Put stores val under key, replacing any previous value; the entry keeps
// its hit count. It returns once the value is committed.
//
// Concurrent Puts are committed together: while one transaction commits,
// the Puts that arrive queue up, and the next of them to take the turn
// commits them all at once. Under an evaluation's concurrency this makes
// one commit (and one fsync) serve many answers.
//
// A paid answer is not dropped when the store cannot be written: a commit
// waits for the write lock as every write does ([WithLockTimeout]), and
// when it fails all the same (a [*LockError], a full disk) its answers
// stay queued, Put returns the error, and they are written with the next
// commit, by [ResponseCache.Flush] or by [Store.Close]. A Put whose ctx is
// done returns at once; its answer stays queued too.
func (c *ResponseCache) Put(ctx context.Context, key string, val []byte) error {
	if key == "" {
		return errors.New("response cache: put: empty key")
	}
	p := &pendingPut{key: key, val: val, done: make(chan error, 1)}
	if m, ok := ctx.Value(responseModelKey{}).(string); ok && m != "" {
		p.model = sql.NullString{String: m, Valid: true}
	}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	c.mu.Unlock()
	select {
	case err := <-p.done:
		return err
	case c.turn <- struct{}{}:
		// This Put commits everything queued, its own entry included
		// unless an earlier turn took it.
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		c.mu.Unlock()
		if len(batch) > 0 {
			err := c.commit(context.WithoutCancel(ctx), batch)
			if err != nil {
				c.requeue(batch)
			}
			for _, q := range batch {
				if q.done != nil {
					q.done <- err
				}
			}
		}
		<-c.turn
		return <-p.done
	case <-ctx.Done():
		return fmt.Errorf("response cache: put %s: %w", short(key), ctx.Err())
	}
}

// requeue puts the answers of a failed commit back at the head of the
// queue, before those that arrived meanwhile (which, for the same key, are
// newer), with no one waiting for them.
func (c *ResponseCache) requeue(batch []*pendingPut) {
	again := make([]*pendingPut, len(batch), len(batch)+len(c.queue))
	for i, p := range batch {
		again[i] = &pendingPut{key: p.key, val: p.val, model: p.model}
	}
	c.mu.Lock()
	c.queue = append(again, c.queue...)
	c.mu.Unlock()
}

// queued returns the newest answer queued under key, not written yet.
func (c *ResponseCache) queued(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.queue) - 1; i >= 0; i-- {
		if c.queue[i].key == key {
			return c.queue[i].val, true
		}
	}
	return nil, false
}

// Pending returns how many answers wait to be written: those of failed
// commits and of Puts queued behind the commit in progress.
func (c *ResponseCache) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// Flush writes the answers that wait to be written (see [ResponseCache.Put])
// and returns the commit's error, if any; they stay queued then.
func (c *ResponseCache) Flush(ctx context.Context) error {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("response cache: flush: %w", ctx.Err())
	}
	defer func() { <-c.turn }()
	c.mu.Lock()
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	err := c.commit(ctx, batch)
	if err != nil {
		c.requeue(batch)
	}
	for _, q := range batch {
		if q.done != nil {
			q.done <- err
		}
	}
	return err
}

// pendingPut is a Put waiting to be committed.
type pendingPut struct {
	key   string
	val   []byte
	model sql.NullString
	done  chan error // receives the commit's outcome; nil once requeued
}

// commit writes a batch of Puts in one transaction.
func (c *ResponseCache) commit(ctx context.Context, batch []*pendingPut) error {
	err := c.s.write(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO responses (key, value, model, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value,
				model = coalesce(excluded.model, model), created_at = excluded.created_at`)
		if err != nil {
			return err
		}
		defer st.Close()
		now := nowMillis()
		for _, p := range batch {
			if _, err := st.ExecContext(ctx, p.key, p.val, p.model, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("response cache: put %d answers: %w", len(batch), err)
	}
	return nil
}

// CacheStats describes the response cache.
type CacheStats struct {
	// Entries is the number of stored answers.
	Entries int
	// Hits is the number of lookups that found an answer, over all entries.
	Hits int64
	// Bytes is the total size of the stored values.
	Bytes int64
}

// Stats returns how many answers the cache holds, how often they were
// used, and their size.
func (c *ResponseCache) Stats(ctx context.Context) (CacheStats, error) {
	var st CacheStats
	err := c.s.db.QueryRowContext(ctx,
		`SELECT count(*), coalesce(sum(hits), 0), coalesce(sum(length(value)), 0) FROM responses`).
		Scan(&st.Entries, &st.Hits, &st.Bytes)
	if err != nil {
		return CacheStats{}, fmt.Errorf("response cache: stats: %w", err)
	}
	return st, nil
}

// short is the prefix of a cache key shown in errors.
func short(key string) string {
	if len(key) > 12 {
		return key[:12]
	}
	return key
}

// PruneOptions selects the cached answers Prune deletes. The zero value
// selects every answer.
type PruneOptions struct {
	// OlderThan, when positive, keeps answers stored less than this long
	// ago.
	OlderThan time.Duration
	// Model, when set, deletes only answers of this model URI.
	Model string
}

// Prune deletes cached answers and returns how many it deleted. A later
// request for a deleted answer asks the model again.
func (c *ResponseCache) Prune(ctx context.Context, opts PruneOptions) (int, error) {
	q := `DELETE FROM responses WHERE 1 = 1`
	var args []any
	if opts.OlderThan > 0 {
		q += ` AND created_at < ?`
		args = append(args, nowMillis()-opts.OlderThan.Milliseconds())
	}
	if opts.Model != "" {
		q += ` AND model = ?`
		args = append(args, opts.Model)
	}
	var n int64
	err := c.s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("response cache: prune: %w", err)
	}
	return int(n), nil
}
