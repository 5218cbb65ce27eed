package badgerstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store"
)

// TestDamagedShardFile: a shard whose file went missing or short reads as
// not held, and putting it again heals it; a file without a record (a
// crash between writing and committing) is gone after a reopen.
func TestDamagedShardFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := badgerstore.Open(badgerstore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("murmur"), 100000) // above the file threshold
	id := erasure.SumShard(data)
	if err := st.Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	var file string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == id.String() {
			file = p
		}
		return nil
	})
	if file == "" {
		t.Fatal("no file for a large shard")
	}
	for name, damage := range map[string]func() error{
		"short":   func() error { return os.Truncate(file, 10) },
		"missing": func() error { return os.Remove(file) },
	} {
		if err := damage(); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%s file: get = %v, want not found", name, err)
		}
		if err := st.Put(ctx, id, data); err != nil {
			t.Fatalf("%s file: put again: %v", name, err)
		}
		if got, err := st.Get(ctx, id); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s file: after a put, get = %d bytes, %v", name, len(got), err)
		}
	}
	used := st.Used()
	// An orphan: a file no record claims.
	orphan := bytes.Repeat([]byte("orphan"), 100000)
	oid := erasure.SumShard(orphan)
	opath := filepath.Join(filepath.Dir(filepath.Dir(file)), oid.String()[:1], oid.String())
	os.MkdirAll(filepath.Dir(opath), 0o700)
	if err := os.WriteFile(opath, orphan, 0o600); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = badgerstore.Open(badgerstore.Config{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := os.Stat(opath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an orphan file survived a reopen: %v", err)
	}
	if st.Used() != used {
		t.Fatalf("used %d after reopen, %d before", st.Used(), used)
	}
	if got, err := st.Get(ctx, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reopen: %v", err)
	}
}
