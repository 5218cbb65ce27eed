// Package storetest is the conformance suite every store.ShardStore must
// pass: the in-memory store, the badger store and the remote store between
// two hosts all run the same cases.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Shard returns seeded random bytes of length n and their ID.
func Shard(seed uint64, n int) (erasure.ShardID, []byte) {
	rng := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return erasure.SumShard(b), b
}

// Run runs the conformance suite. newStore must return an empty store that
// lives until the test ends.
func Run(t *testing.T, newStore func(t *testing.T) store.ShardStore) {
	ctx := context.Background()
	t.Run("PutGet", func(t *testing.T) {
		s := newStore(t)
		for i, n := range []int{1, 33, 4096, 1 << 20, 4<<20 + 7} {
			id, b := Shard(uint64(i), n)
			if err := s.Put(ctx, id, b); err != nil {
				t.Fatalf("Put %d bytes: %v", n, err)
			}
			got, err := s.Get(ctx, id)
			if err != nil {
				t.Fatalf("Get %d bytes: %v", n, err)
			}
			if !bytes.Equal(got, b) {
				t.Fatalf("Get returned %d different bytes, want %d", len(got), n)
			}
		}
	})
	t.Run("EmptyShard", func(t *testing.T) {
		s := newStore(t)
		id := erasure.SumShard(nil)
		if err := s.Put(ctx, id, nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, id)
		if err != nil || len(got) != 0 {
			t.Fatalf("Get of the empty shard = %d bytes, %v", len(got), err)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		id, _ := Shard(1, 10)
		if _, err := s.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of an unknown shard: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("BadShardRefused", func(t *testing.T) {
		s := newStore(t)
		id, b := Shard(2, 100)
		b[0] ^= 1
		if err := s.Put(ctx, id, b); !errors.Is(err, store.ErrBadShard) {
			t.Fatalf("Put under the wrong ID: err = %v, want ErrBadShard", err)
		}
		if has, err := s.Has(ctx, []erasure.ShardID{id}); err != nil || has[0] {
			t.Fatalf("after a refused Put, Has = %v, %v", has, err)
		}
	})
	t.Run("PutIdempotent", func(t *testing.T) {
		s := newStore(t)
		id, b := Shard(3, 1000)
		for range 3 {
			if err := s.Put(ctx, id, b); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		if err := s.Walk(ctx, func(erasure.ShardID, int) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("Walk lists %d shards after three Puts of one, want 1", n)
		}
	})
	t.Run("Ownership", func(t *testing.T) {
		s := newStore(t)
		id, b := Shard(4, 512)
		want := bytes.Clone(b)
		if err := s.Put(ctx, id, b); err != nil {
			t.Fatal(err)
		}
		b[0] ^= 0xff // the store must not have kept the caller's slice
		got, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatal("changing the slice given to Put changed the stored shard")
		}
		got[1] ^= 0xff // nor may it hand out its own
		again, err := s.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, want) {
			t.Fatal("changing the slice Get returned changed the stored shard")
		}
	})
	t.Run("HasBatch", func(t *testing.T) {
		s := newStore(t)
		var ids []erasure.ShardID
		for i := range 10 {
			id, b := Shard(uint64(100+i), 64)
			ids = append(ids, id)
			if i%2 == 0 {
				if err := s.Put(ctx, id, b); err != nil {
					t.Fatal(err)
				}
			}
		}
		has, err := s.Has(ctx, ids)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range has {
			if h != (i%2 == 0) {
				t.Fatalf("Has[%d] = %v", i, h)
			}
		}
		if has, err := s.Has(ctx, nil); err != nil || len(has) != 0 {
			t.Fatalf("Has(nil) = %v, %v", has, err)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		id, b := Shard(5, 2048)
		if err := s.Put(ctx, id, b); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after Delete: %v", err)
		}
		if err := s.Delete(ctx, id); err != nil {
			t.Fatalf("Delete of an absent shard: %v", err)
		}
		if err := s.Put(ctx, id, b); err != nil {
			t.Fatalf("Put after Delete: %v", err)
		}
	})
	t.Run("Walk", func(t *testing.T) {
		s := newStore(t)
		want := map[erasure.ShardID]int{}
		for i := range 20 {
			id, b := Shard(uint64(200+i), 10+i)
			want[id] = len(b)
			if err := s.Put(ctx, id, b); err != nil {
				t.Fatal(err)
			}
		}
		got := map[erasure.ShardID]int{}
		err := s.Walk(ctx, func(id erasure.ShardID, size int) error { got[id] = size; return nil })
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("Walk listed %d shards, want %d", len(got), len(want))
		}
		stop := errors.New("stop")
		n := 0
		err = s.Walk(ctx, func(erasure.ShardID, int) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Walk did not stop at fn's error: n=%d err=%v", n, err)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		s := newStore(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		id, b := Shard(6, 10)
		if err := s.Put(cctx, id, b); !errors.Is(err, context.Canceled) {
			t.Fatalf("Put with a canceled context: %v", err)
		}
		if _, err := s.Get(cctx, id); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get with a canceled context: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := newStore(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := range 25 {
					id, b := Shard(uint64(1000+i), 3000+w%2) // writers overlap on IDs
					if err := s.Put(ctx, id, b); err != nil {
						errs <- err
						return
					}
					got, err := s.Get(ctx, id)
					if err != nil || !bytes.Equal(got, b) {
						errs <- fmt.Errorf("Get after Put: %d bytes, %v", len(got), err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}

// RunCapacity checks that a store created with a capacity of capacity bytes
// refuses a shard that does not fit with ErrFull, and accepts it again once
// space is freed.
func RunCapacity(t *testing.T, newStore func(t *testing.T, capacity int64) store.ShardStore) {
	ctx := context.Background()
	const capacity = 1 << 20
	s := newStore(t, capacity)
	id1, b1 := Shard(7, capacity*3/4)
	id2, b2 := Shard(8, capacity/2)
	if err := s.Put(ctx, id1, b1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, id2, b2); !errors.Is(err, store.ErrFull) {
		t.Fatalf("Put beyond capacity: err = %v, want ErrFull", err)
	}
	if err := s.Put(ctx, id1, b1); err != nil {
		t.Fatalf("re-Put of a held shard when full: %v", err)
	}
	if err := s.Delete(ctx, id1); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, id2, b2); err != nil {
		t.Fatalf("Put after freeing space: %v", err)
	}
}
