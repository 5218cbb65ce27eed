package badgerstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
)

// TestWritesDuringReclaim: puts, renewals and releases that overlap a
// Reclaim wait for it rather than fail (badger refuses commits while its
// DropPrefix runs).
func TestWritesDuringReclaim(t *testing.T) {
	now := time.Unix(1000, 0)
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	st, err := badgerstore.Open(badgerstore.Config{Dir: t.TempDir(), Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	owner := []byte("owner")
	// Many shards whose leases have run out, for Reclaim to drop.
	for i := range 3000 {
		b := []byte{byte(i), byte(i >> 8), 1, 2, 3}
		if err := st.PutLeased(ctx, erasure.SumShard(b), b, owner, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	clock.Store(now.Add(time.Hour).UnixNano())
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	var writes atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				b := []byte{byte(w), byte(i), byte(i >> 8), byte(i >> 16), 9, 9}
				id := erasure.SumShard(b)
				until := time.Unix(0, clock.Load()).Add(time.Hour)
				if err := st.PutLeased(ctx, id, b, owner, until); err != nil {
					failures.Add(1)
					t.Errorf("put during reclaim: %v", err)
					return
				}
				if _, err := st.Renew(ctx, []erasure.ShardID{id}, owner, until); err != nil {
					failures.Add(1)
					t.Errorf("renew during reclaim: %v", err)
					return
				}
				if i%3 == 0 {
					if err := st.Release(ctx, []erasure.ShardID{id}, owner); err != nil {
						failures.Add(1)
						t.Errorf("release during reclaim: %v", err)
						return
					}
				}
				writes.Add(1)
			}
		})
	}
	shards, _, err := st.Reclaim(ctx)
	close(stop)
	wg.Wait()
	if err != nil || shards < 3000 {
		t.Fatalf("reclaim dropped %d shards: %v", shards, err)
	}
	if writes.Load() == 0 || failures.Load() > 0 {
		t.Fatalf("%d writes, %d failures during reclaim", writes.Load(), failures.Load())
	}
}
