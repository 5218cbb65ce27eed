package store_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// TestGetVerified: bytes from a plain getter are checked, and wrong ones
// refused; a VerifiedGetter is trusted to have checked them.
func TestGetVerified(t *testing.T) {
	ctx := context.Background()
	s := store.NewMem(0)
	id, b := storetest.Shard(1, 1000)
	if err := s.Put(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	if got, err := store.GetVerified(ctx, s, id, nil); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("intact shard: %v", err)
	}
	s.Corrupt(id)
	if _, err := store.GetVerified(ctx, s, id, nil); !errors.Is(err, erasure.ErrCorrupt) {
		t.Fatalf("corrupt shard: %v, want ErrCorrupt", err)
	}
	other, _ := storetest.Shard(2, 10)
	if _, err := store.GetVerified(ctx, s, other, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("absent shard: %v, want ErrNotFound", err)
	}
	v := verifying{s, 0}
	if _, err := store.GetVerified(ctx, &v, id, nil); err != nil || v.calls != 1 {
		t.Fatalf("a VerifiedGetter was not asked (%d calls): %v", v.calls, err)
	}
}

// verifying claims to verify; it is only here to see GetVerified use it.
type verifying struct {
	*store.Mem
	calls int
}

func (v *verifying) GetVerified(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	v.calls++
	return v.Get(ctx, id)
}
