package cloudtest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/rootrec"
)

func TestMem(t *testing.T) {
	cloudtest.Run(t, func(t *testing.T) drive.Cloud { return cloudtest.NewMem(0) })
}

func TestMaxRootValue(t *testing.T) {
	if drive.MaxRootValue != rootrec.MaxValueLen {
		t.Fatalf("drive.MaxRootValue = %d, the record's limit is %d", drive.MaxRootValue, rootrec.MaxValueLen)
	}
}

// TestMemCorrupt: a shard that rots in Mem is refused as the cloud refuses
// a lying peer's bytes.
func TestMemCorrupt(t *testing.T) {
	ctx := context.Background()
	m := cloudtest.NewMem(0)
	id, b := cloudtest.Shard(100)
	if err := m.Put(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	m.Shards().Corrupt(id)
	if _, err := m.Get(ctx, id); !errors.Is(err, erasure.ErrCorrupt) {
		t.Fatalf("Get of a corrupt shard: %v", err)
	}
	if _, err := m.GetHinted(ctx, id, nil); !errors.Is(err, erasure.ErrCorrupt) {
		t.Fatalf("GetHinted of a corrupt shard: %v", err)
	}
}

func TestMemSpace(t *testing.T) {
	ctx := context.Background()
	m := cloudtest.NewMem(1 << 20)
	id, b := cloudtest.Shard(1000)
	if err := m.Put(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	sp, err := m.Space(ctx)
	if want := (drive.CloudSpace{Total: 1 << 20, Free: 1<<20 - 1000, Stored: 1000, Estimated: true}); err != nil || sp != want {
		t.Fatalf("Space = %+v, %v; want %+v", sp, err, want)
	}
	if sp, err := cloudtest.NewMem(0).Space(ctx); err != nil || sp != (drive.CloudSpace{}) {
		t.Fatalf("Space of a cloud without a limit = %+v, %v; want no figures", sp, err)
	}
	if err := m.Renew(ctx, []erasure.ShardID{id}, nil); err != nil || m.Renewed(id) != 1 {
		t.Fatalf("Renew: %v; renewed %d times", err, m.Renewed(id))
	}
}

// TestFaulty: with no faults, Faulty is the cloud it wraps, held to the
// same suite; a fault fails the calls it names, after the ones it skips,
// and a lost answer's call took effect.
func TestFaulty(t *testing.T) {
	cloudtest.Run(t, func(t *testing.T) drive.Cloud { return cloudtest.NewFaulty(cloudtest.NewMem(0)) })

	ctx := context.Background()
	m := cloudtest.NewMem(0)
	f := cloudtest.NewFaulty(m)
	f.Inject(cloudtest.Fault{Op: cloudtest.OpPut, Skip: 1, Times: 1})
	f.Inject(cloudtest.Fault{Op: cloudtest.OpPublish, Times: 1, Lost: true})
	id1, b1 := cloudtest.Shard(10)
	id2, b2 := cloudtest.Shard(10)
	if err := f.Put(ctx, id1, b1); err != nil {
		t.Fatalf("a skipped put: %v", err)
	}
	if err := f.Put(ctx, id2, b2); !errors.Is(err, cloudtest.ErrInjected) {
		t.Fatalf("the faulty put: %v", err)
	}
	if _, err := m.Get(ctx, id2); err == nil {
		t.Fatal("a failed put stored its shard")
	}
	keys := cloudtest.Keys()
	if err := f.PublishRoot(ctx, keys, 1, []byte("v")); !errors.Is(err, cloudtest.ErrInjected) {
		t.Fatalf("the publish whose answer is lost: %v", err)
	}
	if seq, v, err := f.LookupRoot(ctx, keys.PublicKey()); err != nil || seq != 1 || string(v) != "v" {
		t.Fatalf("after a lost answer the root is %d %q %v; want the publish done", seq, v, err)
	}
	if f.Pending() || f.Hits() != 2 {
		t.Fatalf("pending %v, %d hits; want none left after 2", f.Pending(), f.Hits())
	}
}
