package badgerstore_test

import (
	"context"
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
