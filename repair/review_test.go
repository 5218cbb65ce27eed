package repair_test

import (
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
	m, err := repair.New(repair.Config[P]{Self: 1, KeyOf: keyOf, Bandwidth: -1}, t0)
	if err != nil {
		t.Fatal(err)
	}
	rec := repair.Stripe[P]{ID: repair.StripeID{9}, K: 2, M: 1, ShardSize: 10, Holders: []P{1, 2, 3}, Version: 1}
	if err := m.Hold(rec, t0); err != nil {
		t.Fatal(err)
	}
	m.Drain()
	m.Handle(2, repair.Claim[P]{Record: rec, Claimant: 2, Ballot: 1, Sent: t0, TTL: 7 * 24 * time.Hour}, t0)
	m.Drain()
	later := t0.Add(m.Config().ClaimTTL + time.Second)
	m.Handle(3, repair.Claim[P]{Record: rec, Claimant: 3, Ballot: 1, Sent: later, TTL: 10 * time.Minute}, later)
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
	m, err := repair.New(repair.Config[P]{Self: 1, KeyOf: keyOf, Bandwidth: -1, Mode: repair.Eager}, t0)
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
