package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alignhost/alignhost/llm"
	"github.com/alignhost/alignhost/store"
)

// The store's response cache is the model layer's cache.
var _ llm.Cache = (*store.ResponseCache)(nil)

func cacheKey(i int) string {
	sum := sha256.Sum256(fmt.Append(nil, "request ", i))
	return hex.EncodeToString(sum[:])
}

func TestResponseCacheGetPut(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	c := s.ResponseCache()

	if _, ok, err := c.Get(ctx, cacheKey(1)); err != nil || ok {
		t.Fatalf("Get of an empty cache = ok %v, err %v; want a miss", ok, err)
	}
	if err := c.Put(store.WithResponseModel(ctx, "openai:/gpt-4.1-mini"), cacheKey(1), []byte(`{"content":"a"}`)); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(ctx, cacheKey(2), []byte(`{"content":"b"}`)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, ok, err := c.Get(ctx, cacheKey(1))
		if err != nil || !ok || string(got) != `{"content":"a"}` {
			t.Fatalf("Get = %q, %v, %v; want the stored value", got, ok, err)
		}
	}
	// Replacing a value keeps its model when the new Put does not name one,
	// and keeps the hits.
	if err := c.Put(ctx, cacheKey(1), []byte(`{"content":"a2"}`)); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := c.Get(ctx, cacheKey(1)); string(got) != `{"content":"a2"}` {
		t.Errorf("after a second Put, Get = %q, want the new value", got)
	}
	if err := c.Put(ctx, "", []byte("x")); err == nil {
		t.Error("Put with an empty key succeeded")
	}
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 2 || st.Hits != 3 || st.Bytes != int64(len(`{"content":"a2"}`)+len(`{"content":"b"}`)) {
		t.Errorf("Stats = %+v, want 2 entries, 3 hits, %d bytes", st, len(`{"content":"a2"}`)+len(`{"content":"b"}`))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Another handle on the file sees the same entries, with their model.
	db := rawDB(t, path)
	var (
		model sql.NullString
		hits  int
	)
	if err := db.QueryRow(`SELECT model, hits FROM responses WHERE key = ?`, cacheKey(1)).Scan(&model, &hits); err != nil {
		t.Fatal(err)
	}
	if model.String != "openai:/gpt-4.1-mini" || hits != 3 {
		t.Errorf("row of key 1: model %q, hits %d; want openai:/gpt-4.1-mini, 3", model.String, hits)
	}
	if err := db.QueryRow(`SELECT model FROM responses WHERE key = ?`, cacheKey(2)).Scan(&model); err != nil {
		t.Fatal(err)
	}
	if model.Valid {
		t.Errorf("row of key 2: model %q, want NULL when the writer did not say", model.String)
	}
	s2, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got, ok, err := s2.ResponseCache().Get(ctx, cacheKey(2)); err != nil || !ok || string(got) != `{"content":"b"}` {
		t.Errorf("Get from a new handle = %q, %v, %v", got, ok, err)
	}
}

func TestResponseCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	c := openStore(t).ResponseCache()
	const workers, each = 16, 25
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				k := w*each + i
				val := fmt.Append(nil, "value ", k)
				if err := c.Put(ctx, cacheKey(k), val); err != nil {
					t.Error(err)
					failures.Add(1)
					return
				}
				got, ok, err := c.Get(ctx, cacheKey(k))
				if err != nil || !ok || !bytes.Equal(got, val) {
					t.Errorf("Get %d = %q, %v, %v", k, got, ok, err)
					failures.Add(1)
					return
				}
			}
		})
	}
	wg.Wait()
	st, err := c.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every answer is stored. A hit is bookkeeping that Get skips rather
	// than wait for the write lock, so on a busy machine a few may go
	// uncounted; none is counted twice.
	if failures.Load() == 0 && (st.Entries != workers*each || st.Hits > workers*each || st.Hits == 0) {
		t.Errorf("Stats = %+v, want %d entries and at most as many hits", st, workers*each)
	}
}

// BenchmarkResponseCache measures cache traffic at the concurrency of an
// evaluation: every goroutine stores an answer and reads it back.
func BenchmarkResponseCache(b *testing.B) {
	ctx := context.Background()
	c := openStore(b).ResponseCache()
	val := bytes.Repeat([]byte("x"), 400)
	var n atomic.Int64
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			k := cacheKey(int(n.Add(1)))
			if err := c.Put(ctx, k, val); err != nil {
				b.Error(err)
				return
			}
			if _, _, err := c.Get(ctx, k); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func TestResponseCachePrune(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "alignhost.db")
	s, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.ResponseCache()
	for i, model := range []string{"openai:/a", "openai:/a", "openai:/b", "openai:/a"} {
		if err := c.Put(store.WithResponseModel(ctx, model), cacheKey(i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// Age the first answer by two days.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE responses SET created_at = created_at - 172800000 WHERE key = ?`, cacheKey(0)); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		opts store.PruneOptions
		want int
	}{
		{store.PruneOptions{OlderThan: 24 * time.Hour}, 1},
		{store.PruneOptions{Model: "openai:/b"}, 1},
		{store.PruneOptions{Model: "openai:/zzz"}, 0},
		{store.PruneOptions{}, 2},
	} {
		n, err := c.Prune(ctx, step.opts)
		if err != nil || n != step.want {
			t.Fatalf("Prune(%+v) = %d, %v; want %d", step.opts, n, err, step.want)
		}
	}
	if st, _ := c.Stats(ctx); st.Entries != 0 {
		t.Errorf("%d entries left", st.Entries)
	}
	if _, ok, _ := c.Get(ctx, cacheKey(1)); ok {
		t.Error("a pruned answer is still served")
	}
}
