package repair_test

import (
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// TestDamagedCoHolderRebuilt: an audit's report that a co-holder's shard
// is missing or corrupt makes that slot lost although the holder answers
// its checks; once a majority of the holders have found it so (each grants
// only what it holds lost or damaged), the repair rebuilds it elsewhere
// from the other shards, and the damaged holder, replaced, discards its
// copy.
func TestDamagedCoHolderRebuilt(t *testing.T) {
	n := newNet(t, 3, baseConfig)
	n.spares = seq(100, 4)
	for _, p := range n.spares {
		n.machine(p)
	}
	rec := n.stripe(1, 2, 2, seq(1, 4))
	n.run(time.Minute, time.Minute)
	if len(n.commits) != 0 {
		t.Fatal("a repair before any loss")
	}
	// Holder 2 audits holder 3 (slot 2) and finds its shard missing.
	if err := n.ms[2].Damaged(rec.ID, 2, 3, n.now); err != nil {
		t.Fatal(err)
	}
	if h := n.health(2, 1); h.Healthy != 3 || h.Reachable != 3 || h.Damaged != 1 {
		t.Fatalf("after the report: %+v", h)
	}
	// Repeats and wrong holders change nothing.
	if err := n.ms[2].Damaged(rec.ID, 2, 3, n.now); err != nil {
		t.Fatal(err)
	}
	if err := n.ms[2].Damaged(rec.ID, 1, 3, n.now); err == nil {
		t.Fatal("a report naming the wrong holder of a slot was taken")
	}
	if h := n.health(2, 1); h.Healthy != 3 {
		t.Fatalf("a repeat changed the health: %+v", h)
	}
	// A repair replaces only a slot a majority of the holders grant: the
	// others' audits find it too.
	for _, p := range []P{1, 4} {
		if err := n.ms[p].Damaged(rec.ID, 2, 3, n.now); err != nil {
			t.Fatal(err)
		}
	}
	n.collect()
	n.run(3*time.Hour, time.Minute)
	if len(n.commits) != 1 {
		t.Fatalf("%d repairs, want 1", len(n.commits))
	}
	pl := n.started[0]
	if !slices.Equal(pl.Rebuild, []int{2}) {
		t.Fatalf("rebuilt %v, want slot 2", pl.Rebuild)
	}
	for _, src := range append(slices.Clone(pl.Fetch), pl.Spares...) {
		if src.Slot == 2 {
			t.Fatalf("the damaged shard is a source: %+v", pl)
		}
	}
	if !slices.Contains(n.discards[3], rec.ID) {
		t.Fatal("the damaged holder did not discard its shard")
	}
	if h := n.health(2, 1); h.Healthy != 4 || h.Damaged != 0 {
		t.Fatalf("after the repair: %+v", h)
	}
}

// TestDamagedOwnShardRebuilt: a scrub that finds this node's own shard
// damaged makes its slot lost: the plan fetches from the others only, the
// slot goes to a new holder, and the node discards its copy.
func TestDamagedOwnShardRebuilt(t *testing.T) {
	n := newNet(t, 4, baseConfig)
	n.spares = seq(100, 4)
	for _, p := range n.spares {
		n.machine(p)
	}
	rec := n.stripe(1, 2, 2, seq(1, 4))
	if err := n.ms[4].Damaged(rec.ID, 3, 4, n.now); err != nil {
		t.Fatal(err)
	}
	if h := n.health(4, 1); h.Healthy != 3 || h.Reachable != 3 {
		t.Fatalf("after the scrub: %+v", h)
	}
	// A check of another holder that fails and recovers leaves the count
	// right.
	n.ms[4].Checked(1, false, n.now)
	n.ms[4].Checked(1, true, n.now.Add(time.Minute))
	if h := n.health(4, 1); h.Healthy != 3 || h.Reachable != 3 {
		t.Fatalf("after an outage of another holder: %+v", h)
	}
	n.collect()
	n.run(3*time.Hour, time.Minute)
	if len(n.commits) != 1 {
		t.Fatalf("%d repairs, want 1", len(n.commits))
	}
	pl := n.started[0]
	if !slices.Equal(pl.Rebuild, []int{3}) || slices.ContainsFunc(pl.Fetch, func(s repair.Source[P]) bool { return s.Slot == 3 }) {
		t.Fatalf("plan %+v", pl)
	}
	if len(pl.Fetch) != 2 {
		t.Fatalf("fetches %v, want 2", pl.Fetch)
	}
	if !slices.Contains(n.discards[4], rec.ID) {
		t.Fatal("the node did not discard its damaged shard")
	}
}

// TestDamagedSurvivesOtherRecord: a newer record that keeps the damaged
// slot's holder keeps the mark; a peer lost later counts once.
func TestDamagedSurvivesOtherRecord(t *testing.T) {
	cfg := baseConfig(1)
	cfg.Mode = repair.Off
	m, err := repair.New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	rec := repair.Stripe[P]{ID: repair.StripeID{9}, K: 2, M: 3, Holders: []P{1, 2, 3, 4, 5}}
	if err := m.Hold(rec, t0); err != nil {
		t.Fatal(err)
	}
	if err := m.Damaged(rec.ID, 2, 3, t0); err != nil {
		t.Fatal(err)
	}
	next := rec
	next.Holders, next.Version = []P{1, 2, 3, 4, 6}, 1
	if err := m.Hold(next, t0); err != nil {
		t.Fatal(err)
	}
	if h, _ := m.Health(rec.ID); h.Healthy != 4 || h.Damaged != 1 {
		t.Fatalf("after a record keeping the holder: %+v", h)
	}
	m.Checked(3, false, t0)
	m.Tick(t0.Add(72 * time.Hour))
	m.Checked(3, true, t0.Add(73*time.Hour))
	if h, _ := m.Health(rec.ID); h.Healthy != 4 || h.Reachable != 4 {
		t.Fatalf("the damaged holder's outage changed the health: %+v", h)
	}
	next.Holders, next.Version = []P{1, 2, 7, 4, 6}, 2
	if err := m.Hold(next, t0.Add(74*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if h, _ := m.Health(rec.ID); h.Healthy != 5 || h.Damaged != 0 {
		t.Fatalf("after a record replacing the holder: %+v", h)
	}
	if err := m.Damaged(repair.StripeID{8}, 0, 1, t0); err == nil {
		t.Fatal("a report for an unknown stripe was taken")
	}
}

func TestDown(t *testing.T) {
	m, err := repair.New(baseConfig(1), t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Hold(repair.Stripe[P]{ID: repair.StripeID{1}, K: 2, M: 2, Holders: []P{1, 2, 3, 4}}, t0); err != nil {
		t.Fatal(err)
	}
	m.Checked(2, false, t0)
	m.Checked(3, false, t0.Add(time.Hour))
	m.Tick(t0.Add(2*time.Hour + time.Minute)) // 2's grace (2 h) is over, 3's not
	if down, lost := m.Down(); down != 2 || lost != 1 {
		t.Fatalf("down %d, lost %d; want 2 and 1", down, lost)
	}
	m.Checked(2, true, t0.Add(3*time.Hour))
	if down, lost := m.Down(); down != 1 || lost != 0 {
		t.Fatalf("after 2 returned: down %d, lost %d", down, lost)
	}
}
