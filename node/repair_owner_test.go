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

// ownerAwayFixed turns on TestOwnerAwayLearnsRepair, which fails in about
// half its runs: see docs/repair.md, "Known open problems".
const ownerAwayFixed = false

// TestOwnerAwayLearnsRepair: an owner that is away while its stripes are
// repaired gets the Done messages when it connects again, and its next
// renewal reaches the new holders.
func TestOwnerAwayLearnsRepair(t *testing.T) {
	if !ownerAwayFixed { // set it true to see the failure
		t.Skip("known (docs/repair.md, known open problems): an owner away during a repair learns its new holders only in some runs; about half fail under load")
	}
	rc := newRepairCloud(t, 8, nil)
	putFiles(t, rc.nodes[0].Cloud(reliable(t, 8)), 2, 300<<10, 4)
	rc.advance(time.Minute)
	victim, _ := rc.busiest()
	departed := rc.nodes[victim].ID()
	rc.close(0) // the owner goes away, and comes back
	rc.close(victim)
	rc.advance(time.Minute)
	rc.advance(repairGrace)
	rc.untilWhole(20)
	back := rc.restart(0)
	// The Done messages go out as the repairers see the owner connect.
	names := func() bool {
		stale := false
		_ = back.Store().WalkOwned(context.Background(), func(r *stripe.Record) error {
			for _, hs := range r.Holders {
				stale = stale || slices.Contains(hs, string(departed))
			}
			return nil
		})
		return stale
	}
	// A repairer that has not seen the owner connect (the connection
	// event can come before its retry queue holds the Done) sends it when
	// the owner answers its next check: drive the checks on the clock.
	for i := 0; names(); i++ {
		if i == 5 {
			t.Fatal("the owner never learnt its stripes' new holders")
		}
		rc.advance(time.Minute) // a check period
	}
	rc.settle()
	rc.checkOwnerRenews(back, departed)
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
