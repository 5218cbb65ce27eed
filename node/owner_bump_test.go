package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/stripe"
)

// TestOwnerIgnoresSeqBump: a member offers the owner its own stripe
// record with the same hints and a later Seq. The owner settles it
// without taking the Seq (before, it took it, and every owed repair
// record dated before it was then settled as older, never taken).
func TestOwnerIgnoresSeqBump(t *testing.T) {
	nodes, clk := stripeCloud(t, 4, nil)
	ctx := context.Background()
	owner, rogue, other := nodes[0], nodes[1], nodes[2]
	holders := onPeers{string(rogue.ID()), string(other.ID()), string(owner.ID())}
	d, shards := coded(t, 2, 1, 20<<10, 45)
	if _, err := owner.Cloud(holders).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	rec := heldRecord(t, rogue, d, 0)
	bump := rec.Clone()
	bump.Seq = uint64(clk.Now().Add(9 * time.Minute).UnixMilli())
	settled, err := node.SendOwner(rogue, owner.ID(), []proto.OwnerOffer{{Record: bump}})
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	_ = owner.Store().WalkOwned(ctx, func(r *stripe.Record) error {
		if r.ID() == rec.ID() {
			seq = r.Seq
		}
		return nil
	})
	t.Logf("settled %v; owned Seq %d, was %d, bump %d", settled, seq, rec.Seq, bump.Seq)
	if seq == bump.Seq {
		t.Errorf("the owner took a stranger's Seq bump: a repair dated before %d is now settled untaken", bump.Seq)
	}
}

// TestRepairPutToHolderRefused: a member hands a holder its own shard
// over the repair put, with a record that names it for its slot and the
// member for another's: the holder refuses (a repair places only on new
// holders), and its record keeps the holders it had (before, it took the
// other slots' hints on the member's word).
func TestRepairPutToHolderRefused(t *testing.T) {
	nodes, clk := stripeCloud(t, 4, nil)
	ctx := context.Background()
	owner, rogue, victim := nodes[0], nodes[1], nodes[2]
	holders := onPeers{string(rogue.ID()), string(victim.ID()), string(owner.ID())}
	d, shards := coded(t, 2, 1, 20<<10, 46)
	if _, err := owner.Cloud(holders).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	rec := heldRecord(t, victim, d, 1)
	forged, err := rec.WithHolders(2, []string{string(rogue.ID())}, clk.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := node.RepairPut(rogue, victim.ID(), forged, 1, shards[1]); err == nil {
		t.Fatal("a holder took a repair put of its own slot with another's hints")
	}
	if got := heldRecord(t, victim, d, 1); got.Seq != rec.Seq {
		t.Fatalf("the holder's record moved to seq %d (was %d)", got.Seq, rec.Seq)
	}
}
