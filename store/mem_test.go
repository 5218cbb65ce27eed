package store_test

import (
	"context"
	"testing"

	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/store/storetest"
)

func TestMemConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) store.ShardStore { return store.NewMem(0) })
}

func TestMemCapacity(t *testing.T) {
	storetest.RunCapacity(t, func(_ *testing.T, c int64) store.ShardStore { return store.NewMem(c) })
}

func TestMemCorrupt(t *testing.T) {
	s := store.NewMem(0)
	id, b := storetest.Shard(1, 100)
	ctx := context.Background()
	if err := s.Put(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	if !s.Corrupt(id) {
		t.Fatal("Corrupt did not find the shard")
	}
	got, err := s.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if id.Verify(got) {
		t.Fatal("a corrupted shard still verifies")
	}
}
