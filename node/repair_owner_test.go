package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

// TestRenewedStripesStayWatched: stripes whose retention the owner renewed
// are still watched for repair after the first retention's end; those it
// did not renew are dropped.
func TestRenewedStripesStayWatched(t *testing.T) {
	rc := newRepairCloud(t, 4, nil)
	c := rc.nodes[0].Cloud(reliable(t, 7))
	ds, hs := putMany(t, c, 3, 2, 1, 20<<10, 11)
	rc.advance(time.Minute)
	before, _ := rc.status()
	if before.Stripes == 0 {
		t.Fatal("no stripes watched")
	}
	rc.clk.Advance(24 * time.Hour)
	if _, err := c.Renew(context.Background(), stripeRefs(ds[:2], hs[:2])); err != nil {
		t.Fatal(err)
	}
	rc.advance(rc.nodes[0].LeaseTerm() - 12*time.Hour) // past the first retention's end, within the renewed one
	after, _ := rc.status()
	if want := before.Stripes * 2 / 3; after.Stripes != want {
		t.Fatalf("%d stripes watched after the first term, want the %d renewed of %d", after.Stripes, want, before.Stripes)
	}
}

// checkOwnerRenews checks that the owner's records of its stripes name
// the holders after the repairs (none of them gone), and that its renewal
// reaches every holder, the new ones included.
func (rc *repairCloud) checkOwnerRenews(owner *node.Node, gone peer.ID) {
	rc.t.Helper()
	ctx := context.Background()
	var refs []node.ShardRef
	owned := 0
	err := owner.Store().WalkOwned(ctx, func(r *stripe.Record) error {
		owned++
		for i, sh := range r.Descriptor.Shards {
			if !r.Descriptor.Stored(i) {
				continue
			}
			for _, h := range r.Holders[i] {
				if peer.ID(h) == gone {
					rc.t.Errorf("the owner's record of stripe %s still names the departed node", r.ID().Short())
				}
				refs = append(refs, node.ShardRef{ID: sh.ID, Holder: store.Holder(h)})
			}
		}
		return nil
	})
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.clk.Advance(24 * time.Hour)
	rep, err := owner.Cloud(reliable(rc.t, 9)).Renew(ctx, refs)
	if err != nil || rep.Stripes != owned {
		rc.t.Fatalf("the owner renewed %d of its %d stripes: %v", rep.Stripes, owned, err)
	}
	want := rc.clk.Now().Add(owner.LeaseTerm()).Truncate(time.Second)
	for _, n := range rc.live() {
		err := n.Store().WalkHeld(ctx, func(h *badgerstore.Held) error {
			if !h.Record.Retention.Until.Equal(want) {
				rc.t.Errorf("%s keeps stripe %s until %v, not the renewal's %v", n.ID().ShortString(), h.Record.ID().Short(), h.Record.Retention.Until, want)
			}
			return nil
		})
		if err != nil {
			rc.t.Fatal(err)
		}
	}
}

// TestGraceFromHistory: a peer whose past outages were short gets a
// shorter grace (their quantile, clamped to the minimum) than one with no
// history (the default): after three outages of five minutes, an outage of
// forty minutes is a loss and is repaired, where TestShortOutageNoRepair's
// half hour without history was not.
func TestGraceFromHistory(t *testing.T) {
	rc := newRepairCloud(t, 8, nil)
	putFiles(t, rc.nodes[0].Cloud(reliable(t, 10)), 2, 200<<10, 5)
	rc.advance(time.Minute)
	away, lost := rc.busiest()
	for range 3 {
		rc.close(away)
		rc.advance(time.Minute)
		rc.advance(4 * time.Minute)
		rc.restart(away)
		rc.advance(time.Minute)
		if st, _ := rc.status(); st.Down != 0 || st.Done != 0 {
			t.Fatalf("after a short outage: %+v", st)
		}
	}
	rc.close(away)
	rc.advance(time.Minute)
	rc.advance(40 * time.Minute) // past the learnt grace (the 30 min floor), short of the default hour
	if st, _ := rc.status(); st.Done == 0 {
		t.Fatalf("41 minutes away after short outages is not yet a loss: %+v", st)
	}
	st := rc.untilWhole(20)
	if st.Rebuilt != lost {
		t.Fatalf("rebuilt %d of the %d shards lost: %+v", st.Rebuilt, lost, st)
	}
}

// TestOwnerAwayLearnsRepair: an owner that is away while its stripes are
// repaired learns their new holders when it comes back (from its folder),
// and its next renewal reaches them: the holders offer it the records
// they keep owed to it when it connects, and again each check period
// until it settles them (the owner checks that each new holder has its
// shard, and may not reach them all the moment it connects). Also when
// every other node restarted in between, so nothing owed is left in
// memory.
func TestOwnerAwayLearnsRepair(t *testing.T) {
	for _, tc := range []struct {
		name    string
		restart bool
	}{{"OwnerBack", false}, {"NodesRestarted", true}} {
		t.Run(tc.name, func(t *testing.T) {
			rc := newRepairCloud(t, 8, nil)
			putFiles(t, rc.nodes[0].Cloud(reliable(t, 8)), 2, 300<<10, 4)
			rc.advance(time.Minute)
			victim, _ := rc.busiest()
			departed := rc.nodes[victim].ID()
			rc.close(0) // the owner goes away, and comes back
			rc.close(victim)
			rc.advance(time.Minute)
			rc.advance(repairGrace)
			if st := rc.untilWhole(20); st.Done == 0 {
				t.Fatalf("no repairs: %+v", st)
			}
			if tc.restart {
				var up []int
				for i := range rc.nodes {
					if !rc.down[i] {
						up = append(up, i)
						rc.close(i)
					}
				}
				for _, i := range up {
					rc.restart(i)
				}
			}
			back := rc.restart(0)
			rc.settle()
			// The owner's own replaced shards go too, once it finds
			// their new holders with them.
			for i := 0; rc.ownerNames(back, departed) || rc.replacedHeld(); i++ {
				if i == 5 {
					t.Fatalf("the owner never learnt its stripes' new holders (%v), or replaced shards are still held (%v)", rc.ownerNames(back, departed), rc.replacedHeld())
				}
				rc.advance(time.Minute) // a check period: the holders offer again
			}
			rc.checkOwnerRenews(back, departed)
		})
	}
}

// ownerNames reports whether owner's records of its stripes still name
// the peer p.
func (rc *repairCloud) ownerNames(owner *node.Node, p peer.ID) bool {
	rc.t.Helper()
	names := false
	err := owner.Store().WalkOwned(context.Background(), func(r *stripe.Record) error {
		for _, hs := range r.Holders {
			names = names || slices.Contains(hs, string(p))
		}
		return nil
	})
	if err != nil {
		rc.t.Fatal(err)
	}
	return names
}

// replacedHeld reports whether a live node holds a shard its record of
// the stripe names other holders for.
func (rc *repairCloud) replacedHeld() bool {
	rc.t.Helper()
	replaced := false
	for _, n := range rc.live() {
		err := n.Store().WalkHeld(context.Background(), func(h *badgerstore.Held) error {
			for _, i := range h.Shards {
				if names := h.Record.Holders[i]; len(names) > 0 && !slices.Contains(names, string(n.ID())) {
					replaced = true
				}
			}
			return nil
		})
		if err != nil {
			rc.t.Fatal(err)
		}
	}
	return replaced
}
