package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

// ownedRefs returns every stored shard of the owner's records of its
// stripes, with the holders its records name.
func ownedRefs(t *testing.T, owner *node.Node) []node.ShardRef {
	t.Helper()
	var refs []node.ShardRef
	err := owner.Store().WalkOwned(context.Background(), func(r *stripe.Record) error {
		for i, sh := range r.Descriptor.Shards {
			if r.Descriptor.Stored(i) {
				for _, h := range r.Holders[i] {
					refs = append(refs, node.ShardRef{ID: sh.ID, Holder: store.Holder(h)})
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

// TestRepairKeepsRenewedRetention: the owner renews its stripes, then a
// holder leaves for good. A renewal changes the retention, not the
// version, so the repairs' Machines still hold the records from before
// it; the rebuilt shards must still be kept (record and lease) until the
// renewal's end: past the first retention's end, every holder still has
// every shard its record names after it reclaims what no lease keeps.
func TestRepairKeepsRenewedRetention(t *testing.T) {
	rc := newRepairCloud(t, 8, nil)
	owner := rc.nodes[0]
	putFiles(t, owner.Cloud(reliable(t, 1)), 3, 300<<10, 1)
	first := rc.clk.Now().Add(owner.LeaseTerm())
	rc.advance(time.Minute)
	ctx := context.Background()
	rc.clk.Advance(24 * time.Hour)
	if _, err := owner.Cloud(reliable(t, 9)).Renew(ctx, ownedRefs(t, owner)); err != nil {
		t.Fatal(err)
	}
	want := rc.clk.Now().Add(owner.LeaseTerm()).Truncate(time.Second)
	rc.advance(time.Minute)
	victim, lost := rc.busiest()
	rc.close(victim)
	rc.advance(time.Minute)
	rc.advance(repairGrace)
	if st := rc.untilWhole(20); st.Rebuilt != lost {
		t.Fatalf("rebuilt %d of the %d shards lost", st.Rebuilt, lost)
	}
	for _, n := range rc.live() {
		err := n.Store().WalkHeld(ctx, func(h *badgerstore.Held) error {
			if h.Record.Retention.Until.Before(want) {
				t.Errorf("%s keeps stripe %s until %v, before the renewal's %v", n.ID().ShortString(), h.Record.ID().Short(), h.Record.Retention.Until, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Past the first retention's end, within the renewal: only leases
	// to the first retention's end lapse.
	rc.clk.Advance(first.Add(time.Hour).Sub(rc.clk.Now()))
	for _, n := range rc.live() {
		if _, _, err := n.Store().Reclaim(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rc.checkRecords()
}
