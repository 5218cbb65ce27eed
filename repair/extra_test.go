package repair_test

import (
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// TestDueBatched: a peer shared by many stripes is checked once a period.
func TestDueBatched(t *testing.T) {
	m, err := repair.New(baseConfig(1), t0)
	if err != nil {
		t.Fatal(err)
	}
	for id := byte(1); id <= 20; id++ {
		if err := m.Hold(repair.Stripe[P]{ID: repair.StripeID{id}, K: 2, M: 2, Holders: []P{1, 2, 3, 4}}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if due := m.Due(t0); len(due) != 3 {
		t.Fatalf("due %v, want peers 2, 3, 4 once each", due)
	}
	if due := m.Due(t0.Add(5 * time.Minute)); len(due) != 0 {
		t.Fatalf("due again within the period: %v", due)
	}
	if due := m.Due(t0.Add(repair.DefaultCheckPeriod)); len(due) != 3 {
		t.Fatalf("next period: %v", due)
	}
	// Repeated outcomes change nothing.
	m.Checked(2, false, t0)
	h1, _ := m.Health(repair.StripeID{1})
	m.Checked(2, false, t0.Add(time.Minute))
	m.Checked(3, true, t0.Add(time.Minute))
	if h2, _ := m.Health(repair.StripeID{1}); h1 != h2 || h2.Reachable != 3 {
		t.Fatalf("repeats changed the health: %+v then %+v", h1, h2)
	}
}

// TestDueEveryPeriod: a peer falls due one CheckPeriod after Due handed
// out its last check, however late the answer came (an answer's time
// used to restart the period, so a slow check ran every other period).
func TestDueEveryPeriod(t *testing.T) {
	m, err := repair.New(baseConfig(1), t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Hold(repair.Stripe[P]{ID: repair.StripeID{1}, K: 2, M: 2, Holders: []P{1, 2, 3, 4}}, t0); err != nil {
		t.Fatal(err)
	}
	period := repair.DefaultCheckPeriod
	at := t0
	for i := range 5 {
		if due := m.Due(at); len(due) != 3 {
			t.Fatalf("period %d: due %v, want peers 2, 3, 4", i, due)
		}
		if next := m.NextCheck(); !next.Equal(at.Add(period)) {
			t.Fatalf("period %d: next check at %v, want %v", i, next, at.Add(period))
		}
		for _, p := range []P{2, 3, 4} {
			m.Checked(p, true, at.Add(period*9/10)) // a slow answer
		}
		at = at.Add(period)
	}
}

// replaced returns a net whose stripe 1 (k=4, m=6, holders 1 to 10) was
// repaired once: holders 8, 9 and 10 went away past their grace.
func replaced(t *testing.T, seed uint64) *testNet {
	n := newNet(t, seed, baseConfig)
	n.spares = seq(100, 10)
	for _, p := range n.spares {
		n.machine(p)
	}
	n.stripe(1, 4, 6, seq(1, 10))
	for _, p := range seq(8, 3) {
		n.up[p] = false // away past their grace
	}
	n.run(4*time.Hour, time.Minute)
	return n
}

// TestReplacedHolderDiscards: a holder lost and replaced by a repair
// deletes its shard when it hears the new record.
func TestReplacedHolderDiscards(t *testing.T) {
	n := replaced(t, 5)
	if len(n.commits) != 1 {
		t.Fatalf("%d repairs", len(n.commits))
	}
	// Node 8 comes back and hears the record it missed.
	n.up[8] = true
	done := n.dones[repair.StripeID{1}]
	n.ms[8].Handle(done.Repairer, done, n.now)
	if out := n.ms[8].Drain(); !slices.Contains(out.Discard, repair.StripeID{1}) {
		t.Fatalf("the replaced holder did not discard: %+v", out)
	}
	if _, ok := n.ms[8].Health(repair.StripeID{1}); ok {
		t.Fatal("the replaced holder still tracks the stripe")
	}
}

// TestBehindHolderCatchesUp: a holder away during two repairs hears only
// the second's Done; its certificate's chain reaches back to the record
// the holder is at, so the holder takes it (and, replaced by the first,
// discards its shard).
func TestBehindHolderCatchesUp(t *testing.T) {
	n := replaced(t, 6)
	for _, p := range seq(5, 3) {
		n.up[p] = false // and three more, while 8 is still away
	}
	n.run(4*time.Hour, time.Minute)
	if len(n.commits) != 2 {
		t.Fatalf("%d repairs, want 2", len(n.commits))
	}
	done := n.dones[repair.StripeID{1}]
	if done.Cert == nil || done.Cert.Prev == nil {
		t.Fatalf("the second Done carries no chain: %+v", done.Cert)
	}
	n.up[8] = true
	n.ms[8].Handle(done.Repairer, done, n.now)
	out := n.ms[8].Drain()
	if len(out.Refused) > 0 || !slices.Contains(out.Discard, repair.StripeID{1}) {
		t.Fatalf("the holder two versions behind did not take the record: %+v", out)
	}
}

// TestTakeover: when fewer holders than the watch group stay healthy, the
// members closest to the stripe are asked to watch it.
func TestTakeover(t *testing.T) {
	cfg := baseConfig(1)
	cfg.Mode = repair.Off
	m, err := repair.New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	members := seq(1, 50)
	m.SetMembers(members)
	rec := repair.Stripe[P]{ID: repair.StripeID{9}, K: 2, M: 2, Holders: []P{1, 2, 3, 4}}
	m.Hold(rec, t0)
	m.Checked(2, false, t0)
	m.Checked(3, false, t0)
	m.Tick(t0.Add(3 * time.Hour)) // both lost: 2 healthy of a watch group of 3
	var got []P
	for _, e := range m.Drain().Send {
		if _, ok := e.Msg.(repair.Watch[P]); ok {
			got = append(got, e.To)
		}
	}
	want := repair.Closest(rec.ID, members, keyOf, 1, func(p P) bool { return p <= 4 })
	if !slices.Equal(got, want) {
		t.Fatalf("asked %v to watch, want %v", got, want)
	}
}
