package badgerstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// TestProveRottedTree: the proof tree kept beside a shard rots (a leaf
// hash flipped) while the shard itself is intact. The holder still has
// every byte asked for, so it must answer the audit, not fail it as
// corrupt, which its own scrub (of the shard's bytes) would never repair.
func TestProveRottedTree(t *testing.T) {
	for _, threshold := range []int{64 << 10, 1 << 20} { // in a file, in the value log
		s := open(t, badgerstore.Config{Dir: t.TempDir(), FileThreshold: threshold, Now: func() time.Time { return t0.Add(time.Hour) }})
		ctx := context.Background()
		c, err := erasure.NewCoder(1, 1)
		if err != nil {
			t.Fatal(err)
		}
		data := make([]byte, 100<<10)
		for i := range data {
			data[i] = byte(i * 13)
		}
		d, parity, err := c.Encode([][]byte{data})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := stripe.New(d, [][]byte{data, parity[0]})
		if err != nil {
			t.Fatal(err)
		}
		ret, entries, _ := stripe.SignRenewal(ownerKey(6), t0, t0.Add(24*time.Hour), []stripe.ID{rec.ID()})
		rec = rec.Clone()
		rec.Retention, rec.Path = ret, entries[rec.ID()].Path
		if _, err := s.PutStriped(ctx, rec, 0, data, []byte("o")); err != nil {
			t.Fatal(err)
		}
		id := d.Shards[0].ID
		// The tree's encoding: version, uvarint size (3 bytes here), hashes.
		if err := badgerstore.FlipTreeBit(s, id, 1+3+5); err != nil {
			t.Fatal(err)
		}
		for range 2 { // and again, from the tree made anew
			ch := &proof.Challenge{Shard: id, Nonce: proof.Nonce{2}, Leaves: []int{0, 5}}
			pr, err := s.Prove(ctx, ch)
			if err != nil {
				t.Fatalf("threshold %d: an intact shard with a rotted tree: %v", threshold, err)
			}
			if err := proof.Verify(rec.Roots[0], ch, pr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRetentionFromTheFuture: an owner signs a retention issued ten years
// ahead (a day's term, well formed): a holder that took it would keep the
// shard, lease and all, for ten years without a renewal, past any term a
// retention may have (stripe.MaxTerm). It is refused, put or renewal.
func TestRetentionFromTheFuture(t *testing.T) {
	now := t0.Add(time.Hour)
	s := open(t, badgerstore.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	key := ownerKey(7)
	rec, shards := coded(t, key, "future")
	late := now.Add(10 * 365 * 24 * time.Hour)
	ret, entries, err := stripe.SignRenewal(key, late, late.Add(24*time.Hour), []stripe.ID{rec.ID()})
	if err != nil {
		t.Fatal(err)
	}
	far := rec.Clone()
	far.Retention, far.Path = ret, entries[rec.ID()].Path
	if _, err := s.PutStriped(ctx, far, 0, shards[0], []byte("o")); !errors.Is(err, badgerstore.ErrRefused) {
		t.Fatalf("a put kept ten years ahead: %v", err)
	}
	if _, err := s.PutStriped(ctx, rec, 0, shards[0], []byte("o")); err != nil {
		t.Fatal(err)
	}
	kept, err := s.RenewStripes(ctx, &stripe.Renewal{Retention: ret, Entries: []stripe.Entry{entries[rec.ID()]}}, []byte("o"))
	if err == nil && kept[0] {
		t.Fatal("a renewal ten years ahead was kept")
	}
	if h, _ := s.GetHeld(ctx, rec.ID()); h == nil || !h.Record.Retention.Until.Equal(rec.Retention.Until) {
		t.Fatalf("the held record was renewed from the future: %+v", h)
	}
}
