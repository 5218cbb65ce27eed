package badgerstore_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// TestIDsFrom pages through a store in pages of every size from 1 up and
// checks each lists every shard held exactly once, in ascending order.
func TestIDsFrom(t *testing.T) {
	s := open(t, badgerstore.Config{})
	ctx := context.Background()
	var want []erasure.ShardID
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 300 {
		wg.Go(func() {
			id, b := storetest.Shard(uint64(i), 10)
			if err := s.Put(ctx, id, b); err != nil {
				t.Error(err)
			}
			mu.Lock()
			want = append(want, id)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(want, func(a, b erasure.ShardID) int { return bytes.Compare(a[:], b[:]) })
	for _, page := range []int{1, 2, 7, 299, 300, 301, 1000} {
		var got []erasure.ShardID
		buf := make([]erasure.ShardID, page)
		var from erasure.ShardID
		for {
			ids, err := s.IDsFrom(ctx, from, buf)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids...)
			if len(ids) < page {
				break
			}
			var ok bool
			if from, ok = badgerstore.Next(ids[len(ids)-1]); !ok {
				break
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("pages of %d list %d shards, want the %d held in order", page, len(got), len(want))
		}
	}
	// A deleted shard is no longer listed; a start past every ID lists none.
	if err := s.Delete(ctx, want[0]); err != nil {
		t.Fatal(err)
	}
	ids, _ := s.IDsFrom(ctx, erasure.ShardID{}, make([]erasure.ShardID, 1))
	if len(ids) != 1 || ids[0] != want[1] {
		t.Fatalf("after deleting the first shard the first page is %v", ids)
	}
	last := want[len(want)-1]
	after, _ := badgerstore.Next(last)
	if ids, _ := s.IDsFrom(ctx, after, make([]erasure.ShardID, 5)); len(ids) != 0 {
		t.Fatalf("a start past the last ID lists %d shards", len(ids))
	}
}

func TestNext(t *testing.T) {
	var max erasure.ShardID
	for i := range max {
		max[i] = 0xff
	}
	for _, c := range []struct {
		in, want erasure.ShardID
		ok       bool
	}{
		{erasure.ShardID{}, erasure.ShardID{31: 1}, true},
		{erasure.ShardID{31: 0xff}, erasure.ShardID{30: 1}, true},
		{erasure.ShardID{0: 1, 30: 0xff, 31: 0xff}, erasure.ShardID{0: 1, 29: 1}, true},
		{max, erasure.ShardID{}, false},
	} {
		got, ok := badgerstore.Next(c.in)
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("Next(%x) = %x, %v; want %x, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

// FuzzIDOfSizeKey: any key either parses to the ID it carries or is
// refused; none panics.
func FuzzIDOfSizeKey(f *testing.F) {
	f.Add(append([]byte{'z'}, make([]byte, 32)...))
	f.Add([]byte{'z'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, k []byte) {
		id, err := badgerstore.IDOfSizeKey(k)
		if err != nil {
			return
		}
		if len(k) != 33 || k[0] != 'z' || !bytes.Equal(id[:], k[1:]) {
			t.Fatalf("key %x parsed as %x", k, id)
		}
	})
}
