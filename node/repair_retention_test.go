package node_test

import (
	"context"
	"sync"
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

// TestRepairKeepsRenewedRetention: the owner renews its stripes, before a
// holder leaves for good or while the repairs run (from the first byte a
// repairer's pacer admits: the plan has started with the record from
// before). A renewal changes the retention, not the version, so the
// repairs' Machines hold the records from before it; the rebuilt shards
// must still be kept (record and lease) until the renewal's end: past the
// first retention's end, every holder still has every shard its record
// names after it reclaims what no lease keeps.
func TestRepairKeepsRenewedRetention(t *testing.T) {
	for _, during := range []bool{false, true} {
		name := "RenewedBefore"
		if during {
			name = "RenewedDuring"
		}
		t.Run(name, func(t *testing.T) {
			rc := newRepairCloud(t, 8, func(i int, c *node.Config) {
				c.Repair.Rate = 1 << 30 // a pacer to hook, that never waits
			})
			owner := rc.nodes[0]
			putFiles(t, owner.Cloud(reliable(t, 1)), 3, 300<<10, 1)
			first := rc.clk.Now().Add(owner.LeaseTerm())
			rc.advance(time.Minute)
			ctx := context.Background()
			var want time.Time
			renew := func() {
				// During the repairs the departed holder does not answer;
				// every stripe is still kept by the others.
				rep, err := owner.Cloud(reliable(t, 9)).Renew(ctx, ownedRefs(t, owner))
				if rep.Stripes == 0 || !during && err != nil {
					t.Errorf("renewed %d stripes: %v", rep.Stripes, err)
				}
				want = rc.clk.Now().Add(owner.LeaseTerm()).Truncate(time.Second)
			}
			if !during {
				rc.clk.Advance(24 * time.Hour)
				renew()
				rc.advance(time.Minute)
			}
			victim, lost := rc.busiest()
			var once sync.Once
			if during {
				for i, n := range rc.nodes {
					if i != victim {
						node.OnRepairPace(n, func(int) { once.Do(renew) })
					}
				}
			}
			rc.close(victim)
			rc.advance(time.Minute)
			rc.advance(repairGrace)
			if st := rc.untilWhole(20); st.Rebuilt != lost {
				t.Fatalf("rebuilt %d of the %d shards lost", st.Rebuilt, lost)
			}
			if want.IsZero() {
				t.Fatal("no renewal")
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
			// Past the first retention's end, within the renewal: only
			// leases to the first retention's end lapse.
			rc.clk.Advance(first.Add(30 * time.Minute).Sub(rc.clk.Now()))
			for _, n := range rc.live() {
				if _, _, err := n.Store().Reclaim(ctx); err != nil {
					t.Fatal(err)
				}
			}
			rc.checkRecords()
		})
	}
}
