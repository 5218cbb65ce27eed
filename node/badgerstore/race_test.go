package badgerstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// TestReleaseDoesNotEatAConcurrentPut: a shard another owner put (and was
// told is stored) while the last lease was being released stays.
func TestReleaseDoesNotEatAConcurrentPut(t *testing.T) {
	s := open(t, badgerstore.Config{})
	ctx := context.Background()
	until := time.Now().Add(time.Hour)
	for i := range 200 {
		id, b := storetest.Shard(uint64(i), 300)
		if err := s.PutLeased(ctx, id, b, []byte("a"), until); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var putErr error
		wg.Go(func() { s.Release(ctx, []erasure.ShardID{id}, []byte("a")) })
		wg.Go(func() { putErr = s.PutLeased(ctx, id, b, []byte("b"), until) })
		wg.Wait()
		if has, _ := s.Has(ctx, []erasure.ShardID{id}); putErr == nil && !has[0] {
			t.Fatalf("try %d: an acknowledged put was deleted by a concurrent release", i)
		}
	}
}

// TestReclaimSparesRenewed: a shard renewed while Reclaim runs stays, and
// the byte count never goes wrong.
func TestReclaimSparesRenewed(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock.now }
	s := open(t, badgerstore.Config{Now: now})
	ctx := context.Background()
	owner := []byte("o")
	var ids []erasure.ShardID
	var total int64
	for i := range 300 {
		id, b := storetest.Shard(uint64(i), 1000)
		ids = append(ids, id)
		total += 1000
		if err := s.PutLeased(ctx, id, b, owner, clock.now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	clock.now = clock.now.Add(time.Hour) // every lease has expired
	mu.Unlock()
	var wg sync.WaitGroup
	var renewed []bool
	wg.Go(func() { s.Reclaim(ctx) })
	wg.Go(func() {
		held, err := s.Renew(ctx, ids, owner, now().Add(24*time.Hour))
		if err == nil {
			renewed = held
		}
	})
	wg.Wait()
	has, _ := s.Has(ctx, ids)
	var kept int64
	for i := range ids {
		if renewed != nil && renewed[i] && !has[i] {
			t.Fatalf("shard %d was renewed and then reclaimed", i)
		}
		if has[i] {
			kept += 1000
		}
	}
	if s.Used() != kept {
		t.Fatalf("Used = %d, the shards held add up to %d", s.Used(), kept)
	}
	// A second reclaim racing deletes keeps the count right too.
	wg.Go(func() { s.Reclaim(ctx) })
	for _, id := range ids {
		wg.Go(func() { s.Delete(ctx, id) })
	}
	wg.Wait()
	if s.Used() != 0 {
		t.Fatalf("Used = %d with nothing held", s.Used())
	}
}

// TestReleaseByStranger: an owner with no lease on a shard cannot delete
// it, even when nobody's lease on it is live.
func TestReleaseByStranger(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	s := open(t, badgerstore.Config{Now: clock.Now})
	ctx := context.Background()
	id, b := storetest.Shard(5, 100)
	if err := s.PutLeased(ctx, id, b, []byte("owner"), clock.now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.now = clock.now.Add(time.Hour)
	if err := s.Release(ctx, []erasure.ShardID{id}, []byte("stranger")); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has(ctx, []erasure.ShardID{id}); !has[0] {
		t.Fatal("a stranger's release deleted a shard")
	}
}
