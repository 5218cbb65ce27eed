// Package cloudtest is the conformance suite every drive.Cloud must pass, and
// Mem, the in-memory Cloud that fs's own tests run on. The same cases run
// against Mem, against a node's cloud in process (api.NewDriveCloud) and
// against the daemon's API (api.Client.Drive), so a drive that works on
// Mem meets the same contract on the real cloud.
package cloudtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/store"
)

// Keys returns the keys of a new random drive.
func Keys() *crypt.Keys {
	var mk crypt.MasterKey
	rand.Read(mk[:])
	return mk.Keys(crypt.NewDriveID())
}

// Shard returns n random bytes and their ID: a shard no cloud holds yet.
func Shard(n int) (erasure.ShardID, []byte) {
	b := make([]byte, n)
	rand.Read(b)
	return erasure.SumShard(b), b
}

// Stripe returns a stripe of k data and m parity shards whose data shards
// are random, of the given sizes (fewer than k leave the last slots
// empty; a size of 0 is an empty slot), and all its shards, parity last.
func Stripe(k, m int, sizes ...int) (*erasure.Descriptor, [][]byte) {
	c, err := erasure.NewCoder(k, m)
	if err != nil {
		panic(err)
	}
	data := make([][]byte, len(sizes))
	for i, n := range sizes {
		_, data[i] = Shard(n)
	}
	d, parity, err := c.Encode(data)
	if err != nil {
		panic(err)
	}
	shards := append(data, make([][]byte, k-len(data))...)
	return d, append(shards, parity...)
}

// Run runs the conformance suite. open returns a Cloud that lives until
// the test ends. It may return the same cloud to several cases, which a
// real cloud of several nodes needs to stay quick: every case uses shards
// of its own and drives of its own.
func Run(t *testing.T, open func(t *testing.T) drive.Cloud) {
	ctx := context.Background()
	t.Run("PutGet", func(t *testing.T) {
		c := open(t)
		for _, n := range []int{1, 4096, 1<<20 + 7} {
			id, b := Shard(n)
			want := bytes.Clone(b)
			if err := c.Put(ctx, id, b); err != nil {
				t.Fatalf("Put %d bytes: %v", n, err)
			}
			clear(b) // Put must not have kept the caller's slice
			got, err := c.Get(ctx, id)
			if err != nil {
				t.Fatalf("Get %d bytes: %v", n, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Get returned %d different bytes, want %d", len(got), n)
			}
			clear(got) // nor may Get hand out its own
			if again, err := c.Get(ctx, id); err != nil || !bytes.Equal(again, want) {
				t.Fatalf("Get after changing the slice an earlier Get returned: %d bytes, %v", len(again), err)
			}
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		c := open(t)
		id, _ := Shard(100)
		if _, err := c.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get of an absent shard: err = %v, want ErrNotFound", err)
		}
		// Hints that name holders without the shard change nothing. (A
		// hint naming a holder that cannot be reached may: the shard
		// might be there.)
		d, shards := Stripe(1, 1, 10)
		holders, err := c.PutStripe(ctx, d, shards)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetHinted(ctx, id, holders); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetHinted of an absent shard: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("BadShardRefused", func(t *testing.T) {
		c := open(t)
		id, b := Shard(1000)
		b[0] ^= 1
		if err := c.Put(ctx, id, b); !errors.Is(err, store.ErrBadShard) {
			t.Fatalf("Put under the wrong ID: err = %v, want ErrBadShard", err)
		}
		if _, err := c.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after a refused Put: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("Stripe", func(t *testing.T) {
		c := open(t)
		for _, s := range []struct {
			name  string
			k, m  int
			sizes []int
		}{
			{"k3m1 with an empty slot", 3, 1, []int{5000, 3000}},
			{"k1m2 (three copies)", 1, 2, []int{2000}},
		} {
			d, shards := Stripe(s.k, s.m, s.sizes...)
			want := make([][]byte, len(shards))
			for i, b := range shards {
				want[i] = bytes.Clone(b)
			}
			holders, err := c.PutStripe(ctx, d, shards)
			if err != nil {
				t.Fatalf("%s: PutStripe: %v", s.name, err)
			}
			for _, b := range shards {
				clear(b) // PutStripe must not have kept them
			}
			if len(holders) != len(d.Shards) {
				t.Fatalf("%s: %d holders for %d shards", s.name, len(holders), len(d.Shards))
			}
			for i, h := range holders {
				if (h != "") != d.Stored(i) || len(h) > store.MaxHolderLen {
					t.Fatalf("%s: shard %d (stored %v) has holder %q", s.name, i, d.Stored(i), h)
				}
				if !d.Stored(i) {
					continue
				}
				got, err := c.GetHinted(ctx, d.Shards[i].ID, []store.Holder{h})
				if err != nil || !bytes.Equal(got, want[i]) {
					t.Fatalf("%s: GetHinted shard %d from its holder: %d bytes, %v", s.name, i, len(got), err)
				}
			}
			if got, err := c.GetHinted(ctx, d.Shards[0].ID, holders); err != nil || !bytes.Equal(got, want[0]) {
				t.Fatalf("%s: GetHinted with every holder: %d bytes, %v", s.name, len(got), err)
			}
		}
		d, shards := Stripe(2, 1, 100, 100)
		d.Shards[0].ID = d.Shards[1].ID // the descriptor lies about shard 0
		if _, err := c.PutStripe(ctx, d, shards); !errors.Is(err, store.ErrBadShard) {
			t.Fatalf("PutStripe of a shard under the wrong ID: err = %v, want ErrBadShard", err)
		}
	})
	t.Run("NoRoot", func(t *testing.T) {
		c := open(t)
		if _, _, err := c.LookupRoot(ctx, Keys().PublicKey()); !errors.Is(err, drive.ErrNoRoot) {
			t.Fatalf("LookupRoot of a drive never published: err = %v, want ErrNoRoot", err)
		}
	})
	t.Run("RootSequence", func(t *testing.T) {
		c := open(t)
		keys := Keys()
		publish(t, c, keys, 1, nil)
		lookup(t, c, keys, 1, nil)
		publish(t, c, keys, 2, []byte("root two"))
		lookup(t, c, keys, 2, []byte("root two"))
		publish(t, c, keys, 1<<40, []byte("far ahead"))
		lookup(t, c, keys, 1<<40, []byte("far ahead"))
	})
	t.Run("StaleRootRefused", func(t *testing.T) {
		c := open(t)
		keys := Keys()
		publish(t, c, keys, 1, []byte("one"))
		publish(t, c, keys, 2, []byte("two"))
		for _, r := range []struct {
			seq   uint64
			value string
		}{{1, "one again"}, {1, "one"}, {2, "another two"}, {0, "zero"}} {
			err := c.PublishRoot(ctx, keys, r.seq, []byte(r.value))
			if !errors.Is(err, rootrec.ErrStale) {
				t.Fatalf("publish seq %d after seq 2: err = %v, want rootrec.ErrStale", r.seq, err)
			}
		}
		lookup(t, c, keys, 2, []byte("two"))
	})
	t.Run("RootBoundToDrive", func(t *testing.T) {
		c := open(t)
		a, b := Keys(), Keys()
		publish(t, c, a, 5, []byte("drive a"))
		publish(t, c, b, 1, []byte("drive b"))
		publish(t, c, b, 9, []byte("drive b, newer"))
		lookup(t, c, a, 5, []byte("drive a"))
		lookup(t, c, b, 9, []byte("drive b, newer"))
		// A drive shares nothing with another: b's seq 9 does not stop a's 6.
		publish(t, c, a, 6, []byte("drive a, newer"))
		lookup(t, c, a, 6, []byte("drive a, newer"))
	})
	t.Run("RootValueLimit", func(t *testing.T) {
		c := open(t)
		keys := Keys()
		full := make([]byte, drive.MaxRootValue)
		rand.Read(full)
		publish(t, c, keys, 1, full)
		lookup(t, c, keys, 1, full)
		err := c.PublishRoot(ctx, keys, 2, make([]byte, drive.MaxRootValue+1))
		if !errors.Is(err, rootrec.ErrBad) {
			t.Fatalf("publish a value of MaxRootValue+1 bytes: err = %v, want rootrec.ErrBad", err)
		}
		lookup(t, c, keys, 1, full)
	})
	t.Run("Renew", func(t *testing.T) {
		c := open(t)
		id, b := Shard(3000)
		if err := c.Put(ctx, id, b); err != nil {
			t.Fatal(err)
		}
		d, shards := Stripe(1, 2, 700)
		holders, err := c.PutStripe(ctx, d, shards)
		if err != nil {
			t.Fatal(err)
		}
		ids := []erasure.ShardID{id}
		for i, s := range d.Shards {
			if d.Stored(i) {
				ids = append(ids, s.ID)
			}
		}
		if err := c.Renew(ctx, ids, nil); err != nil {
			t.Fatalf("Renew without hints: %v", err)
		}
		if err := c.Renew(ctx, ids, append([]store.Holder{""}, holders...)); err != nil {
			t.Fatalf("Renew with hints: %v", err)
		}
		if err := c.Renew(ctx, nil, nil); err != nil {
			t.Fatalf("Renew of nothing: %v", err)
		}
		absent, _ := Shard(10)
		if err := c.Renew(ctx, []erasure.ShardID{id, absent}, nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Renew of a shard the cloud does not hold: err = %v, want ErrNotFound", err)
		}
	})
	t.Run("Release", func(t *testing.T) {
		c := open(t)
		rel, ok := c.(interface {
			Release(context.Context, []erasure.ShardID, []store.Holder) error
		})
		if !ok {
			t.Skip("this cloud cannot release")
		}
		d, shards := Stripe(2, 1, 900, 400)
		holders, err := c.PutStripe(ctx, d, shards)
		if err != nil {
			t.Fatal(err)
		}
		keep, kb := Shard(500)
		if err := c.Put(ctx, keep, kb); err != nil {
			t.Fatal(err)
		}
		var ids []erasure.ShardID
		var hints []store.Holder
		for i, s := range d.Shards {
			if d.Stored(i) {
				ids = append(ids, s.ID)
				if holders != nil {
					hints = append(hints, holders[i])
				}
			}
		}
		if err := rel.Release(ctx, nil, nil); err != nil {
			t.Fatalf("Release of nothing: %v", err)
		}
		if err := rel.Release(ctx, ids, hints); err != nil {
			t.Fatalf("Release: %v", err)
		}
		for _, id := range ids {
			if _, err := c.Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a released shard: Get err = %v, want ErrNotFound", err)
			}
		}
		if err := c.Renew(ctx, ids[:1], nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Renew of a released shard: err = %v, want ErrNotFound", err)
		}
		if got, err := c.Get(ctx, keep); err != nil || !bytes.Equal(got, kb) {
			t.Fatalf("a shard not released: %v", err)
		}
	})
	t.Run("Space", func(t *testing.T) {
		c := open(t)
		sp, err := c.Space(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sp.Free > sp.Total {
			t.Fatalf("Space: %d free of %d", sp.Free, sp.Total)
		}
		if sp.Total == 0 && sp.Estimated {
			t.Fatalf("Space: %+v: an estimate without a total", sp)
		}
	})
	t.Run("Canceled", func(t *testing.T) {
		c := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		id, b := Shard(10)
		keys := Keys()
		for what, err := range map[string]error{
			"Put":         c.Put(cctx, id, b),
			"PublishRoot": c.PublishRoot(cctx, keys, 1, nil),
		} {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with a canceled context: err = %v, want context.Canceled", what, err)
			}
		}
		if _, err := c.Get(cctx, id); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get with a canceled context: %v", err)
		}
		if _, _, err := c.LookupRoot(cctx, keys.PublicKey()); !errors.Is(err, context.Canceled) {
			t.Fatalf("LookupRoot with a canceled context: %v", err)
		}
		if _, err := c.Space(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Space with a canceled context: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Go(func() {
				for range 5 {
					id, b := Shard(20 << 10)
					if err := c.Put(ctx, id, b); err != nil {
						errs <- err
						return
					}
					got, err := c.Get(ctx, id)
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

func publish(t *testing.T, c drive.Cloud, keys *crypt.Keys, seq uint64, value []byte) {
	t.Helper()
	if err := c.PublishRoot(context.Background(), keys, seq, value); err != nil {
		t.Fatalf("publish seq %d: %v", seq, err)
	}
}

func lookup(t *testing.T, c drive.Cloud, keys *crypt.Keys, wantSeq uint64, want []byte) {
	t.Helper()
	seq, v, err := c.LookupRoot(context.Background(), keys.PublicKey())
	if err != nil {
		t.Fatalf("lookup: %v", err)
	}
	if seq != wantSeq || !bytes.Equal(v, want) {
		t.Fatalf("lookup found seq %d with %d bytes, want seq %d with %d bytes", seq, len(v), wantSeq, len(want))
	}
}
