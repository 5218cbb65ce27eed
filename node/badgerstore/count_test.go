package badgerstore_test

import (
	"context"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
)

// TestCount: Count follows puts (a put again counts once), deletes and a
// reopen.
func TestCount(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := badgerstore.Open(badgerstore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var ids []erasure.ShardID
	for _, s := range []string{"one", "two", "three"} {
		id := erasure.SumShard([]byte(s))
		ids = append(ids, id)
		if err := st.Put(ctx, id, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Put(ctx, ids[0], []byte("one")); err != nil {
		t.Fatal(err)
	}
	if n := st.Count(); n != 3 {
		t.Fatalf("Count = %d after 3 puts, want 3", n)
	}
	if err := st.Delete(ctx, ids[1]); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, ids[1]); err != nil { // not held: no change
		t.Fatal(err)
	}
	if n := st.Count(); n != 2 {
		t.Fatalf("Count = %d after a delete, want 2", n)
	}
	st.Close()
	if st, err = badgerstore.Open(badgerstore.Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n := st.Count(); n != 2 {
		t.Fatalf("Count = %d after a reopen, want 2", n)
	}
}
