package drive_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/store"
)

// countingCloud counts the shards read through it.
type countingCloud struct {
	drive.Cloud
	gets atomic.Int64
}

func (c *countingCloud) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	c.gets.Add(1)
	return c.Cloud.Get(ctx, id)
}

func (c *countingCloud) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	c.gets.Add(1)
	return c.Cloud.GetHinted(ctx, id, hints)
}

// TestPackedShardsShared: another device reading many small files, which
// a commit packed into few shards, fetches each shard about once, not
// once per file, and reads every byte right.
func TestPackedShardsShared(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	const files = 60
	for i := range files {
		writeFile(t, d.Tree(), fs.RootIno, fmt.Sprintf("f%02d", i), randBytes(uint64(i), 3000+i))
	}
	mustCommit(t, d)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cc := &countingCloud{Cloud: e.cloud}
	cfg := e.config(t.TempDir())
	cfg.Cloud, cfg.ReadOnly = cc, true
	r, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	loaded := cc.gets.Load() // the super and the pages
	for i := range files {
		want := randBytes(uint64(i), 3000+i)
		if got := readFile(t, r.Tree(), fs.RootIno, fmt.Sprintf("f%02d", i)); string(got) != string(want) {
			t.Fatalf("f%02d: read %d bytes, not what was written", i, len(got))
		}
	}
	// 60 files of 3 KB pack into shards of up to 64 KiB (the tests'
	// chunking average): 3 or 4 of them.
	if n := cc.gets.Load() - loaded; n > files/6 {
		t.Errorf("reading %d small files fetched %d shards", files, n)
	}
}
