package repair_test

import (
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// TestVersionBumpDoesNotWedge: a member that holds no shard sends each
// holder, every few minutes, a Stale with the stripe's current holders
// and a higher version (no holder changes, so no certificate would be
// needed). A record with the same holders is not newer: repairs still
// commit (before, every one was aborted and none committed).
func TestVersionBumpDoesNotWedge(t *testing.T) {
	n := newNet(t, 3, baseConfig)
	n.planTime = 20 * time.Minute
	n.spares = seq(100, 10)
	for _, p := range n.spares {
		n.machine(p)
	}
	rec := n.stripe(1, 4, 6, seq(1, 10))
	for _, p := range seq(8, 3) {
		n.up[p] = false
	}
	bump := rec
	for range 10 * 60 / 5 {
		n.run(5*time.Minute, time.Minute)
		bump.Version += 1000
		for _, h := range seq(1, 7) {
			n.ms[h].Handle(999, repair.Stale[P]{Record: bump}, n.now)
		}
		n.collect()
	}
	t.Logf("plans started %d, committed %d, version at holder 1 %d", len(n.started), len(n.commits), n.health(1, 1).Version)
	if len(n.commits) == 0 {
		t.Errorf("no repair committed in 10 hours: a stranger's version bumps abort them all")
	}
}

// TestNewHolderKeepsCert: a new holder gets its record first from the
// repair put (Hold), then the Done with its certificate at the version
// held: it keeps the certificate (checked), so its Stale carries it and a
// holder still at the old version can take it (before, it was dropped).
func TestNewHolderKeepsCert(t *testing.T) {
	n := newNet(t, 1, baseConfig)
	v0 := n.stripe(7, 2, 3, seq(1, 5))
	v1 := withHolder(v0, 4, 100)
	c1 := certFor(v0, v1, 1, 1, []int{4}, 1, 2, 3)
	nm := n.machine(100)
	if err := nm.Hold(v1, n.now); err != nil { // the repair put
		t.Fatal(err)
	}
	nm.Handle(1, repair.Done[P]{Record: v1, Repairer: 1, Cert: c1}, n.now)
	nm.Drain()
	nm.Handle(2, repair.Claim[P]{Record: v0, Claimant: 2, Ballot: 9, Sent: n.now, TTL: time.Minute, Slots: []int{3}}, n.now)
	for _, e := range nm.Drain().Send {
		if s, ok := e.Msg.(repair.Stale[P]); ok {
			if s.Cert == nil {
				t.Errorf("the new holder's Stale carries no certificate: holders at version %d cannot take %d", v0.Version, v1.Version)
			}
			return
		}
	}
	t.Error("no Stale")
}

// TestBumpKeepsCert: a stranger's Stale with the same holders, a higher
// version and a bogus certificate does not replace the valid one kept.
func TestBumpKeepsCert(t *testing.T) {
	n := newNet(t, 1, baseConfig)
	v0 := n.stripe(7, 2, 3, seq(1, 5))
	v1 := withHolder(v0, 4, 100)
	c1 := certFor(v0, v1, 1, 1, []int{4}, 1, 2, 3)
	m := n.ms[2]
	m.Handle(1, repair.Done[P]{Record: v1, Repairer: 1, Cert: c1}, n.now)
	m.Drain()
	bump := v1
	bump.Version = 1 << 40
	bogus := &repair.Cert[P]{Version: 12345}
	m.Handle(999, repair.Stale[P]{Record: bump, Cert: bogus}, n.now)
	m.Drain()
	m.Handle(3, repair.Claim[P]{Record: v0, Claimant: 3, Ballot: 9, Sent: n.now, TTL: time.Minute, Slots: []int{3}}, n.now)
	for _, e := range m.Drain().Send {
		if s, ok := e.Msg.(repair.Stale[P]); ok {
			err := repair.CheckCert(v0, s.Record, s.Cert, keyOf, verify)
			t.Logf("holder 2 at version %d answers with cert %+v: %v", s.Record.Version, s.Cert, err)
			if err != nil {
				t.Errorf("a holder at version 0 can no longer catch up through holder 2")
			}
			return
		}
	}
	t.Error("no Stale")
}
