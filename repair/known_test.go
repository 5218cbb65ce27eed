package repair_test

import (
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// reviewFixed turns on the review's tests of the known open problems of
// docs/repair.md, which fail until they are fixed.
const reviewFixed = false

// TestReviewClaimTTLUncapped: a holder grants a claim for whatever TTL the
// claimant's wire message says (up to proto's 7 days), not its own
// ClaimTTL: one member's claim denies every other claimant for a week.
func TestReviewClaimTTLUncapped(t *testing.T) {
	if !reviewFixed {
		t.Skip("known, not fixed: docs/repair.md, Known open problems (set reviewFixed to see the failure)")
	}
	now := time.Unix(1_700_000_000, 0)
	m, err := repair.New(repair.Config[P]{Self: 1, KeyOf: keyOf, Bandwidth: -1}, now)
	if err != nil {
		t.Fatal(err)
	}
	rec := repair.Stripe[P]{ID: repair.StripeID{9}, K: 2, M: 1, ShardSize: 10, Holders: []P{1, 2, 3}, Version: 1}
	if err := m.Hold(rec, now); err != nil {
		t.Fatal(err)
	}
	m.Drain()
	m.Handle(2, repair.Claim[P]{Record: rec, Claimant: 2, Ballot: 1, Sent: now, TTL: 7 * 24 * time.Hour}, now)
	m.Drain()
	later := now.Add(3 * 24 * time.Hour)
	m.Handle(3, repair.Claim[P]{Record: rec, Claimant: 3, Ballot: 1, Sent: later, TTL: 10 * time.Minute}, later)
	for _, e := range m.Drain().Send {
		if d, ok := e.Msg.(repair.Deny[P]); ok {
			t.Errorf("BUG: three days later a claim is still denied (grant to %v, %v remaining); config ClaimTTL %v", d.Holder, d.Remaining, m.Config().ClaimTTL)
		}
	}
}

// TestReviewDenyFromStranger: a Deny from a peer that holds nothing of the
// stripe (node passes Deny to the Machine without any check of its sender),
// naming a closer holder and 7 days, makes the claimant stand aside for a
// week.
func TestReviewDenyFromStranger(t *testing.T) {
	if !reviewFixed {
		t.Skip("known, not fixed: docs/repair.md, Known open problems (set reviewFixed to see the failure)")
	}
	now := time.Unix(1_700_000_000, 0)
	var id repair.StripeID
	for b := 0; b < 256; b++ {
		id = repair.StripeID{byte(b), 7}
		d1, d2, d3 := repair.Distance(repair.Key(id), keyOf(1)), repair.Distance(repair.Key(id), keyOf(2)), repair.Distance(repair.Key(id), keyOf(3))
		if string(d3[:]) < string(d1[:]) && string(d1[:]) < string(d2[:]) {
			break
		}
	}
	m, err := repair.New(repair.Config[P]{Self: 1, KeyOf: keyOf, Bandwidth: -1, Mode: repair.Eager}, now)
	if err != nil {
		t.Fatal(err)
	}
	rec := repair.Stripe[P]{ID: id, K: 2, M: 1, ShardSize: 10, Holders: []P{1, 2, 3}, Version: 1}
	if err := m.Hold(rec, now); err != nil {
		t.Fatal(err)
	}
	m.Checked(2, true, now)
	m.Checked(3, false, now)
	m.Tick(now)
	var ballot uint64
	for _, e := range m.Drain().Send {
		if c, ok := e.Msg.(repair.Claim[P]); ok {
			ballot = c.Ballot
		}
	}
	if ballot == 0 {
		t.Skip("no claim sent")
	}
	m.Handle(99, repair.Deny[P]{Stripe: id, Version: 1, Ballot: ballot, Holder: 3, Remaining: 7 * 24 * time.Hour}, now)
	m.Drain()
	claims := 0
	for h := 1; h <= 6*24; h++ {
		at := now.Add(time.Duration(h) * time.Hour)
		m.Checked(2, true, at)
		m.Tick(at)
		for _, e := range m.Drain().Send {
			if _, ok := e.Msg.(repair.Claim[P]); ok {
				claims++
			}
		}
	}
	if claims == 0 {
		t.Errorf("BUG: one Deny from peer 99 (no holder) stopped the repair for 6 days and more")
	}
}
