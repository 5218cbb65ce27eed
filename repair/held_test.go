package repair_test

import (
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// heldCase is node 1 holding a stripe whose holder 4 has been away since
// t0 (its grace, the default without history, not yet over), with a claim
// by 2 to replace slot 3 coming claimAt before that grace is over.
func heldCase(t *testing.T, claimAt time.Duration) (*repair.Machine[P], repair.Stripe[P], time.Time, time.Duration) {
	t.Helper()
	rec := repair.Stripe[P]{ID: repair.StripeID{8}, K: 2, M: 2, ShardSize: 10, Holders: []P{1, 2, 3, 4}, Version: 1}
	m := holding(t, repair.Off, rec)
	m.Checked(4, false, t0)
	grace := m.NextWake().Sub(t0)
	at := t0.Add(grace - claimAt)
	m.Handle(2, repair.Claim[P]{Record: rec, Claimant: 2, Ballot: 1, Sent: at, TTL: 10 * time.Minute, Slots: []int{3}}, at)
	for _, e := range m.Drain().Send {
		if _, ok := e.Msg.(repair.Grant[P]); ok {
			t.Fatal("a claim for a holder not yet lost was granted")
		}
	}
	return m, rec, at, grace
}

// holding is node 1's Machine in mode, holding rec from t0.
func holding(t *testing.T, mode repair.Mode, rec repair.Stripe[P]) *repair.Machine[P] {
	t.Helper()
	m, err := repair.New(repair.Config[P]{Self: 1, KeyOf: keyOf, Bandwidth: -1, Mode: mode, Sign: signer(1), Verify: verify}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Hold(rec, t0); err != nil {
		t.Fatal(err)
	}
	return m
}

func granted(m *repair.Machine[P], to P) bool {
	for _, e := range m.Drain().Send {
		if g, ok := e.Msg.(repair.Grant[P]); ok && e.To == to && g.Ballot == 1 {
			return true
		}
	}
	return false
}

// TestClaimHeldUntilLost: a claim that comes a moment before this
// holder's own grace for the replaced holder runs out is granted when it
// does, without waiting for the claimant to ask again; one held longer
// than a Retry (a claim perhaps given up) is not.
func TestClaimHeldUntilLost(t *testing.T) {
	m, _, _, grace := heldCase(t, time.Second)
	m.Tick(t0.Add(grace))
	if !granted(m, 2) {
		t.Error("the claim held back was not granted when the holder was lost")
	}

	retry := m.Config().Retry
	m, _, _, grace = heldCase(t, retry+time.Second)
	m.Tick(t0.Add(grace))
	if granted(m, 2) {
		t.Errorf("a claim held %v (longer than a Retry, %v) was granted", retry+time.Second, retry)
	}
}

// TestUnreachableSince: an outage told late counts from its start: a peer
// away longer than its grace is lost at once, one away less is lost when
// the grace from its start runs out, not from when it was told.
func TestUnreachableSince(t *testing.T) {
	rec := repair.Stripe[P]{ID: repair.StripeID{7}, K: 2, M: 2, ShardSize: 10, Holders: []P{1, 2, 3, 4}, Version: 1}
	m := holding(t, repair.Lazy, rec)
	grace := m.Config().Grace.Default
	if !m.Quiet() {
		t.Fatal("a whole stripe is not quiet")
	}
	if !m.Unreachable(4, t0, t0.Add(grace+time.Minute)) {
		t.Fatal("the first outage of 4 was not news")
	}
	if _, lost := m.Down(); lost != 1 {
		t.Errorf("4, away longer than its grace, is not lost at once (%d lost)", lost)
	}
	if m.Unreachable(4, t0, t0.Add(grace+time.Minute)) {
		t.Error("a repeated outage was news")
	}
	now := t0.Add(grace + time.Minute)
	since := now.Add(-time.Hour)
	m.Unreachable(3, since, now)
	m.Tick(since.Add(grace - time.Second))
	if _, lost := m.Down(); lost != 1 {
		t.Errorf("3 lost before its grace from its start ran out (%d lost)", lost)
	}
	m.Tick(since.Add(grace))
	if _, lost := m.Down(); lost != 2 {
		t.Errorf("3 not lost when its grace from its start ran out (%d lost)", lost)
	}
	h, _ := m.Health(rec.ID)
	if waits := h.Waiting || h.Claiming || h.Repairing; waits == m.Quiet() || waits && m.Woken() == 0 {
		t.Errorf("stripe waiting %v, Quiet %v, Woken %d", waits, m.Quiet(), m.Woken())
	}
}

// TestHeldClaimWindowHolds: a held claim that is held again (a first loss
// did not make it grantable) keeps the Retry from when it came, so a
// second loss a minute later does not grant a claim older than a Retry.
// (From a review, 2026-12-03: it slid forward with each loss.)
func TestHeldClaimWindowHolds(t *testing.T) {
	rec := repair.Stripe[P]{ID: repair.StripeID{8}, K: 2, M: 4, ShardSize: 10, Holders: []P{1, 2, 3, 4, 5, 6}, Version: 1}
	m := holding(t, repair.Off, rec)
	m.Checked(5, false, t0)
	g := m.NextWake().Sub(t0)
	m.Checked(4, false, t0.Add(time.Minute))
	at := t0.Add(g - 30*time.Second)
	m.Handle(2, repair.Claim[P]{Record: rec, Claimant: 2, Ballot: 1, Sent: at, TTL: 10 * time.Minute, Slots: []int{3}}, at)
	m.Drain()
	m.Tick(t0.Add(g)) // 5 lost: slot 3 (holder 4) still is not
	m.Drain()
	m.Tick(t0.Add(g + time.Minute)) // 4 lost, 90 s after the claim came
	if granted(m, 2) {
		t.Errorf("a claim held %v (Retry %v) was granted", t0.Add(g+time.Minute).Sub(at), m.Config().Retry)
	}
}

// TestLateMajorityRenews: a repair whose majority came late (its lease's
// renewal already due when it starts) asks for the renewal at once, not
// only after a Retry that runs past the abort. (From a review, 2026-12-03.)
func TestLateMajorityRenews(t *testing.T) {
	rec := repair.Stripe[P]{ID: repair.StripeID{5}, K: 2, M: 2, ShardSize: 10, Holders: []P{1, 2, 3, 4}, Version: 1}
	m := holding(t, repair.Eager, rec)
	m.Checked(4, false, t0)
	var c repair.Claim[P]
	now := t0
	for i := 0; i < 200 && c.Ballot == 0; i++ {
		now = now.Add(time.Minute)
		m.Tick(now)
		for _, e := range m.Drain().Send {
			if x, ok := e.Msg.(repair.Claim[P]); ok {
				c = x
			}
		}
	}
	if c.Ballot == 0 {
		t.Fatal("no claim")
	}
	tc := now
	grant := func(from P, sent, at time.Time) {
		sig := tag(from, repair.GrantStatement(rec.ID, rec.Version, c.Ballot, keyOf(1), c.Slots))
		m.Handle(from, repair.Grant[P]{Stripe: rec.ID, Version: rec.Version, Ballot: c.Ballot, Sent: sent, Sig: sig}, at)
	}
	grant(2, tc, tc)
	m.Drain()
	last := tc
	for now = tc; now.Before(tc.Add(8 * time.Minute)); now = now.Add(5 * time.Second) {
		m.Tick(now)
		for _, e := range m.Drain().Send {
			if x, ok := e.Msg.(repair.Claim[P]); ok && e.To == 3 {
				last = x.Sent
			}
		}
	}
	grant(3, last, now)
	out := m.Drain()
	if len(out.Start) != 1 {
		t.Fatalf("%d plans started, want 1", len(out.Start))
	}
	renewed := false
	for ; now.Before(tc.Add(10 * time.Minute)); now = now.Add(5 * time.Second) {
		m.Tick(now)
		out := m.Drain()
		for _, e := range out.Send {
			if _, ok := e.Msg.(repair.Claim[P]); ok {
				renewed = true
			}
		}
		if len(out.Abort) > 0 {
			break
		}
	}
	if !renewed {
		t.Error("the lease lapsed without a renewal asked for")
	}
}
