package repair_test

import (
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// The review's findings on the Machine (docs/repair.md): each failed on
// the code before its fix.

// TestClaimTTLCapped: a holder grants a claim for its own ClaimTTL at
// most, whatever TTL the claimant's message asks: one member's claim must
// not deny every other claimant for a week.
func TestClaimTTLCapped(t *testing.T) {
	// Off: node 1 only answers claims; peer 4 is lost in its view, so it
	// grants claims to replace slot 3.
	m, err := repair.New(repair.Config[P]{Self: 1, KeyOf: keyOf, Bandwidth: -1, Mode: repair.Off, Sign: signer(1), Verify: verify}, t0)
	if err != nil {
		t.Fatal(err)
	}
	rec := repair.Stripe[P]{ID: repair.StripeID{9}, K: 2, M: 2, ShardSize: 10, Holders: []P{1, 2, 3, 4}, Version: 1}
	if err := m.Hold(rec, t0); err != nil {
		t.Fatal(err)
	}
	m.Checked(4, false, t0)
	t1 := t0.Add(100 * time.Hour)
	m.Tick(t1)
	m.Drain()
	m.Handle(2, repair.Claim[P]{Record: rec, Claimant: 2, Ballot: 1, Sent: t1, TTL: 7 * 24 * time.Hour, Slots: []int{3}}, t1)
	m.Drain()
	later := t1.Add(m.Config().ClaimTTL + time.Second)
	m.Handle(3, repair.Claim[P]{Record: rec, Claimant: 3, Ballot: 1, Sent: later, TTL: 10 * time.Minute, Slots: []int{3}}, later)
	granted := false
	for _, e := range m.Drain().Send {
		switch x := e.Msg.(type) {
		case repair.Deny[P]:
			t.Errorf("a claim is denied after ClaimTTL %v (grant to %v, %v remaining)", m.Config().ClaimTTL, x.Holder, x.Remaining)
		case repair.Grant[P]:
			granted = e.To == 3
		}
	}
	if !granted {
		t.Error("the second claim was not granted")
	}
}

// denyCase is a Machine (node 1) claiming a stripe whose holders, by
// distance to it, are 3, 1, 2, with the claim's ballot.
func denyCase(t *testing.T) (*repair.Machine[P], repair.StripeID, uint64) {
	var id repair.StripeID
	for b := 0; b < 256; b++ {
		id = repair.StripeID{byte(b), 7}
		d1, d2, d3 := repair.Distance(repair.Key(id), keyOf(1)), repair.Distance(repair.Key(id), keyOf(2)), repair.Distance(repair.Key(id), keyOf(3))
		if string(d3[:]) < string(d1[:]) && string(d1[:]) < string(d2[:]) {
			break
		}
	}
	m, err := repair.New(repair.Config[P]{Self: 1, KeyOf: keyOf, Bandwidth: -1, Mode: repair.Eager, Sign: signer(1), Verify: verify}, t0)
	if err != nil {
		t.Fatal(err)
	}
	rec := repair.Stripe[P]{ID: id, K: 2, M: 1, ShardSize: 10, Holders: []P{1, 2, 3}, Version: 1}
	if err := m.Hold(rec, t0); err != nil {
		t.Fatal(err)
	}
	m.Checked(2, true, t0)
	m.Checked(3, false, t0)
	m.Tick(t0)
	var ballot uint64
	for _, e := range m.Drain().Send {
		if c, ok := e.Msg.(repair.Claim[P]); ok {
			ballot = c.Ballot
		}
	}
	if ballot == 0 {
		t.Fatal("no claim sent")
	}
	return m, id, ballot
}

// claimsWithin counts the claims m sends in the hours after t0, checking
// peer 2 up each hour.
func claimsWithin(m *repair.Machine[P], hours int) int {
	claims := 0
	for h := 1; h <= hours; h++ {
		at := t0.Add(time.Duration(h) * time.Hour)
		m.Checked(2, true, at)
		m.Tick(at)
		for _, e := range m.Drain().Send {
			if _, ok := e.Msg.(repair.Claim[P]); ok {
				claims++
			}
		}
	}
	return claims
}

// TestDenyFromStranger: a Deny from a peer that holds nothing of the
// stripe, naming a closer holder and 7 days, changes nothing.
func TestDenyFromStranger(t *testing.T) {
	m, id, ballot := denyCase(t)
	m.Handle(99, repair.Deny[P]{Stripe: id, Version: 1, Ballot: ballot, Holder: 3, Remaining: 7 * 24 * time.Hour}, t0)
	m.Drain()
	if claims := claimsWithin(m, 2); claims == 0 {
		t.Error("one Deny from peer 99 (no holder) stopped the repair")
	}
}

// TestDenyRemainingCapped: a holder's Deny stands the claimant aside for
// ClaimTTL at most, whatever Remaining it says.
func TestDenyRemainingCapped(t *testing.T) {
	m, id, ballot := denyCase(t)
	m.Handle(2, repair.Deny[P]{Stripe: id, Version: 1, Ballot: ballot, Holder: 3, Remaining: 7 * 24 * time.Hour}, t0)
	m.Drain()
	if claims := claimsWithin(m, 6*24); claims == 0 {
		t.Error("one holder's Deny of 7 days stopped the repair for 6 days")
	}
}

// TestForgedDoneRefused (finding 1): holder 2 names itself for holder
// 1's slot in a newer record and hands it round as a Done (bare, and
// with a certificate of its own grant only), a Stale and a Claim. No
// holder takes it: the victim discards nothing and every holder stays at
// the version it had. A claim to replace the healthy slot gets no grant.
func TestForgedDoneRefused(t *testing.T) {
	n := newNet(t, 8, baseConfig)
	holders := seq(1, 6)
	rec := n.stripe(1, 2, 4, holders)
	n.run(time.Hour, time.Minute)
	forged := rec
	forged.Holders = slices.Clone(rec.Holders)
	forged.Holders[0] = 2
	forged.Version++
	slots := []int{0}
	own := repair.GrantStatement(rec.ID, rec.Version, 1, keyOf(2), slots)
	commit := repair.CommitStatement(rec.ID, rec.Version, forged.Version, 1, slots, []repair.Key{keyOf(2)})
	selfCert := &repair.Cert[P]{Version: rec.Version, Ballot: 1, Claimant: 2, Slots: slots,
		Grants: []repair.Signed[P]{{From: 2, Sig: tag(2, own)}, {From: 2, Sig: tag(2, own)}, {From: 3, Sig: tag(2, own)}}, Commit: tag(2, commit)}
	msgs := []repair.Message[P]{
		repair.Done[P]{Record: forged, Repairer: 2},
		repair.Done[P]{Record: forged, Repairer: 2, Cert: selfCert},
		repair.Stale[P]{Record: forged, Cert: selfCert},
		repair.Claim[P]{Record: forged, Claimant: 2, Ballot: 2, Sent: n.now, TTL: 10 * time.Minute, Slots: []int{1}, Cert: selfCert},
	}
	for _, msg := range msgs {
		for _, h := range holders {
			if h != 2 {
				n.ms[h].Handle(2, msg, n.now)
			}
		}
	}
	// A claim to replace holder 1's healthy slot.
	for _, h := range holders[2:] {
		n.ms[h].Handle(2, repair.Claim[P]{Record: rec, Claimant: 2, Ballot: 3, Sent: n.now, TTL: 10 * time.Minute, Slots: []int{0}}, n.now)
		out := n.ms[h].Drain()
		n.refused[h] = append(n.refused[h], out.Refused...)
		for _, e := range out.Send {
			if g, ok := e.Msg.(repair.Grant[P]); ok && g.Ballot == 3 {
				t.Errorf("holder %d granted the replacement of a healthy holder's slot", h)
			}
		}
	}
	n.collect()
	n.run(time.Hour, time.Minute)
	if len(n.discards[1]) > 0 {
		t.Fatalf("the victim discarded its shard: %v", n.discards[1])
	}
	for _, h := range holders {
		if v := n.health(h, 1).Version; v != rec.Version {
			t.Errorf("holder %d took the forged record (version %d)", h, v)
		}
		if h != 2 && len(n.refused[h]) == 0 {
			t.Errorf("holder %d reported no refusal", h)
		}
	}
	if len(n.commits) != 0 {
		t.Errorf("%d repairs of a healthy stripe", len(n.commits))
	}
}
