package repair_test

import (
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/repair"
)

// TestThresholds: the lazy threshold is the least health that still meets
// the target by placement's binomial, at least a majority; the urgent one
// the least, above need, as readable as one holder is up.
func TestThresholds(t *testing.T) {
	for _, tc := range []struct {
		need, stored  int
		avail, target float64
		lazy, urgent  int
	}{
		{8, 16, 0.9, 0.999, 13, 10},
		{8, 16, 0.99, 0.999, 10, 9},
		{4, 6, 0.9, 0.999, 6, 5},
		{2, 6, 0.9, 0.999, 5, 3},
		{16, 22, 0.95, 0.999, 21, 19},
		{4, 10, 0.95, 0.999, 7, 5},
	} {
		lazy, urgent := repair.Thresholds(tc.need, tc.stored, tc.avail, tc.target)
		if lazy != tc.lazy || urgent != tc.urgent {
			t.Errorf("need %d of %d at %v, target %v: lazy %d urgent %d, want %d and %d", tc.need, tc.stored, tc.avail, tc.target, lazy, urgent, tc.lazy, tc.urgent)
		}
		// The definition, checked against placement's model directly.
		if lazy < tc.stored && lazy > tc.stored/2+1 {
			if placement.StripeAvailability(tc.need, lazy-tc.need, tc.avail) < tc.target ||
				placement.StripeAvailability(tc.need, lazy-1-tc.need, tc.avail) >= tc.target {
				t.Errorf("lazy %d is not the least health meeting %v", lazy, tc.target)
			}
		}
		if urgent > lazy || urgent <= tc.need {
			t.Errorf("urgent %d outside (need %d, lazy %d]", urgent, tc.need, lazy)
		}
	}
}

func TestGrace(t *testing.T) {
	g := repair.GraceConfig{}.WithDefaults()
	for _, tc := range []struct {
		q    time.Duration
		n    int
		want time.Duration
	}{
		{5 * time.Hour, 10, 5 * time.Hour},
		{5 * time.Minute, 10, time.Hour},          // clamped up
		{30 * 24 * time.Hour, 10, 72 * time.Hour}, // clamped down
		{5 * time.Hour, 2, 24 * time.Hour},        // too little history: the default
	} {
		if got := g.Grace(tc.q, tc.n); got != tc.want {
			t.Errorf("Grace(%v, %d) = %v, want %v", tc.q, tc.n, got, tc.want)
		}
	}
	l := repair.NewOutageLog[P](4)
	for i, h := range []int{1, 2, 3, 4, 5, 6} { // the ring keeps the last four: 3..6 h
		start := t0.Add(time.Duration(i) * 24 * time.Hour)
		l.RecordOutage(7, start, start.Add(time.Duration(h)*time.Hour))
	}
	if q, n := l.OutageQuantile(7, 0.95); q != 6*time.Hour || n != 4 {
		t.Errorf("quantile %v over %d outages, want 6h over 4", q, n)
	}
	if q, n := l.OutageQuantile(7, 0.5); q != 4*time.Hour || n != 4 {
		t.Errorf("median %v, want 4h", q)
	}
	a, ev := l.Availability(7, t0.Add(10*24*time.Hour))
	if want := 1 - 21.0/(10*24); math.Abs(a-want) > 1e-9 || ev <= 0 {
		t.Errorf("availability %v (evidence %v), want %v", a, ev, want)
	}
}

func TestBucket(t *testing.T) {
	b := repair.NewBucket(100, 1000, t0)
	if !b.Take(1000, t0) || b.Take(1, t0) {
		t.Fatal("a full bucket of 1000 gives 1000 and then nothing")
	}
	if w := b.When(500, t0); w != t0.Add(5*time.Second) {
		t.Fatalf("500 more tokens at %v, want 5s", w.Sub(t0))
	}
	// A take larger than the burst waits for a full bucket, then runs into debt.
	if b.Take(5000, t0.Add(9*time.Second)) || !b.Take(5000, t0.Add(10*time.Second)) {
		t.Fatal("a take above the burst runs once the bucket is full")
	}
	if w := b.When(1, t0.Add(10*time.Second)); w != t0.Add(10*time.Second+4001*10*time.Millisecond) {
		t.Fatalf("after a debt of 4000 the next token comes at %v", w.Sub(t0))
	}
	if !repair.NewBucket(-1, 1, t0).Take(1<<40, t0) {
		t.Fatal("no cap")
	}
}

func TestClosest(t *testing.T) {
	id := repair.StripeID{0xab, 0xcd}
	members := seq(1, 200)
	got := repair.Closest(id, append(members, members[:50]...), keyOf, 5, func(p P) bool { return p%2 == 0 })
	want := slices.Clone(members)
	want = slices.DeleteFunc(want, func(p P) bool { return p%2 == 0 })
	sort.Slice(want, func(i, j int) bool {
		a, b := repair.Distance(keyOf(want[i]), id), repair.Distance(keyOf(want[j]), id)
		return slices.Compare(a[:], b[:]) < 0
	})
	if !slices.Equal(got, want[:5]) {
		t.Fatalf("closest %v, want %v", got, want[:5])
	}
}

// TestShortOutageNoRepair: a holder that returns within its grace causes
// no claim; one that stays away past it is lost and, once the stripe
// falls to the lazy threshold, repaired.
func TestShortOutageNoRepair(t *testing.T) {
	n := newNet(t, 1, baseConfig)
	n.spares = seq(100, 20)
	for _, p := range n.spares {
		n.machine(p)
	}
	rec := n.stripe(1, 4, 6, seq(1, 10)) // need 4 of 10; at 0.95 the lazy threshold is 7
	if h := n.health(1, 1); h.Lazy != 7 || h.Healthy != 10 {
		t.Fatalf("health %+v", h)
	}
	// Three holders away for 90 minutes: inside the 2h default grace.
	for _, p := range rec.Holders[7:] {
		n.up[p] = false
	}
	n.run(90*time.Minute, time.Minute)
	if h := n.health(1, 1); h.Healthy != 10 || h.Reachable != 7 {
		t.Fatalf("during a short outage: %+v", h)
	}
	for _, p := range rec.Holders[7:] {
		n.up[p] = true
	}
	n.run(3*time.Hour, time.Minute)
	if len(n.started) != 0 || n.msgs != 0 {
		t.Fatalf("a short outage started %d repairs and sent %d messages", len(n.started), n.msgs)
	}
	// Now they leave for good.
	for _, p := range rec.Holders[7:] {
		n.up[p], n.gone[p] = false, true
	}
	n.run(4*time.Hour, time.Minute)
	if len(n.started) != 1 || len(n.commits) != 1 {
		t.Fatalf("after 3 holders left: %d repairs started, %d committed", len(n.started), len(n.commits))
	}
	pl := n.started[0]
	if !slices.Equal(pl.Rebuild, []int{7, 8, 9}) || len(pl.Fetch) != 4 || pl.Bytes != int64(3+3)<<20 {
		t.Fatalf("plan rebuilds %v from %v, %d bytes", pl.Rebuild, pl.Fetch, pl.Bytes)
	}
	if n.starters[0] != closestHolder(rec, seq(1, 7)) {
		t.Fatalf("repaired by %d, want the reachable holder closest to the stripe", n.starters[0])
	}
	for _, p := range rec.Holders[:7] {
		if h := n.health(p, 1); h.Version != 1 || h.Healthy != 10 {
			t.Fatalf("holder %d after the repair: %+v", p, h)
		}
	}
}

func closestHolder(rec repair.Stripe[P], among []P) P {
	return repair.Closest(rec.ID, among, keyOf, 1, nil)[0]
}

// TestLazyWaitsForThreshold: losses above the threshold are not repaired
// one by one; eager repairs each one, including an outage that ends.
func TestLazyWaitsForThreshold(t *testing.T) {
	for _, mode := range []repair.Mode{repair.Lazy, repair.Eager, repair.Off} {
		t.Run(mode.String(), func(t *testing.T) {
			n := newNet(t, 2, func(p P) repair.Config[P] { c := baseConfig(p); c.Mode = mode; return c })
			n.spares = seq(100, 20)
			for _, p := range n.spares {
				n.machine(p)
			}
			rec := n.stripe(1, 4, 6, seq(1, 10))
			n.up[10] = false // for good
			n.run(5*time.Hour, time.Minute)
			n.up[9] = false // a short outage
			n.run(20*time.Minute, time.Minute)
			n.up[9] = true
			n.run(5*time.Hour, time.Minute)
			want := map[repair.Mode]int{repair.Lazy: 0, repair.Eager: 2, repair.Off: 0}[mode]
			if len(n.commits) != want {
				t.Fatalf("%v: %d repairs committed, want %d", mode, len(n.commits), want)
			}
			_ = rec
		})
	}
}

// TestTwoRepairersOneWins: two holders that each think their turn has
// come (each misses the other's answers) claim at once; one repairs.
func TestTwoRepairersOneWins(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		n := newNet(t, seed, func(p P) repair.Config[P] { c := baseConfig(p); c.Patience = time.Nanosecond; return c })
		n.spares = seq(100, 10)
		for _, p := range n.spares {
			n.machine(p)
		}
		n.delay = 30 * time.Second
		n.stripe(1, 4, 6, seq(1, 10))
		for _, p := range seq(8, 3) {
			n.up[p] = false
		}
		n.run(6*time.Hour, 10*time.Second)
		if len(n.commits) != 1 || len(n.started) != 1 {
			t.Fatalf("seed %d: %d plans started, %d committed, want 1 and 1", seed, len(n.started), len(n.commits))
		}
	}
}

// TestRepairerDiesTakeover: the repairer dies mid-repair; once its claim
// lapses the next holder in turn claims and repairs.
func TestRepairerDiesTakeover(t *testing.T) {
	n := newNet(t, 3, baseConfig)
	n.planTime = 20 * time.Minute // longer than a claim: it renews
	n.spares = seq(100, 10)
	for _, p := range n.spares {
		n.machine(p)
	}
	rec := n.stripe(1, 4, 6, seq(1, 10))
	for _, p := range seq(8, 3) {
		n.up[p] = false
	}
	for len(n.started) == 0 && n.now.Before(t0.Add(10*time.Hour)) {
		n.run(time.Minute, time.Minute)
	}
	first := n.starters[0]
	n.run(15*time.Minute, time.Minute) // past one lease: renewed
	if _, ok := n.running[rec.ID]; !ok || len(n.started) != 1 {
		t.Fatalf("the repair did not renew its claim (%d started)", len(n.started))
	}
	n.up[first] = false // dies
	died := n.now
	n.run(4*time.Hour, time.Minute)
	if len(n.started) != 2 || n.starters[1] == first || len(n.commits) != 1 {
		t.Fatalf("after the repairer died: %d plans by %v, %d committed", len(n.started), n.starters, len(n.commits))
	}
	if len(n.started) == 2 && n.now.Sub(died) < 0 {
		t.Fatal("clock")
	}
}

// TestNoShardRebuiltTwice: across seeds, with a fifth of messages lost, a
// fifth duplicated, delays that reorder them, holders leaving, coming back
// and repairers dying, no two repairs of a stripe ever run at once, no
// version commits twice (so no shard is rebuilt twice), and every stripe
// ends up repaired.
func TestNoShardRebuiltTwice(t *testing.T) {
	claims, commits, stuck := 0, 0, 0
	defer func() {
		t.Logf("%d claims, %d commits over 40 runs; %d stripes left with half their holders or fewer", claims, commits, stuck)
		if stuck > 8 {
			t.Errorf("%d of 160 stripes were left with half their holders or fewer: more than departures alone explain", stuck)
		}
		if commits < 40 || claims <= commits {
			t.Errorf("the runs did not exercise competing claims: %d claims, %d commits", claims, commits)
		}
	}()
	for seed := uint64(0); seed < 40; seed++ {
		n := newNet(t, 100+seed, func(p P) repair.Config[P] {
			c := baseConfig(p)
			c.Patience = time.Minute
			c.Grace.Default = 30 * time.Minute
			return c
		})
		n.loss, n.dup, n.delay = 0.2, 0.2, 2*time.Minute
		n.planTime = time.Duration(1+n.rng.IntN(15)) * time.Minute
		n.spares = seq(100, 40)
		for _, p := range n.spares {
			n.machine(p)
		}
		recs := []repair.Stripe[P]{}
		for id := byte(1); id <= 4; id++ {
			holders := slices.Clone(seq(1, 12))
			n.rng.Shuffle(len(holders), func(i, j int) { holders[i], holders[j] = holders[j], holders[i] })
			recs = append(recs, n.stripe(id, 4, 6, holders[:10]))
		}
		for step := 0; step < 600; step++ {
			n.run(time.Minute, 20*time.Second)
			p := P(1 + n.rng.IntN(12))
			switch r := n.rng.Float64(); {
			case r < 0.01:
				n.up[p] = false // for a while or for good
			case r < 0.02 && !n.gone[p]:
				n.up[p] = true
			case r < 0.025 && step < 300:
				n.up[p], n.gone[p] = false, true
			}
		}
		for p := range n.up {
			if !n.gone[p] {
				n.up[p] = true
			}
		}
		n.loss, n.dup = 0, 0
		n.run(12*time.Hour, time.Minute)
		for _, p := range n.order {
			st := n.ms[p].Stats()
			claims += st.Claims
			commits += st.Commits
		}
		for k, c := range n.rebuilt {
			if c > 1 {
				t.Fatalf("seed %d: %s rebuilt %d times", seed, k, c)
			}
		}
		for _, rec := range recs {
			var h repair.Health
			for _, p := range n.order {
				if x, ok := n.ms[p].Health(rec.ID); ok && n.up[p] && x.Version >= h.Version {
					h = x
				}
			}
			if h.Healthy < h.Lazy && h.Healthy >= h.Need && 2*h.Healthy <= h.Stored {
				// Half its holders or more gone before a repair: no claim
				// can gather a majority of the stored slots' grants
				// (docs/repair.md, known open problems), so none is
				// required.
				stuck++
				continue
			}
			if h.Healthy < h.Lazy && h.Healthy >= h.Need {
				t.Fatalf("seed %d: stripe %x left at %d healthy (lazy %d): %+v", seed, rec.ID[:1], h.Healthy, h.Lazy, h)
			}
		}
	}
}

// TestBacklogDrainsInUrgencyOrder: a node that must repair many stripes at
// once (a large node left) runs at most Concurrency at a time, moves no
// more than its bucket allows, and starts them most urgent first.
func TestBacklogDrainsInUrgencyOrder(t *testing.T) {
	const bw = 4 << 20
	n := newNet(t, 4, func(p P) repair.Config[P] {
		c := baseConfig(p)
		c.Bandwidth, c.Burst, c.Concurrency, c.Patience, c.Availability = bw, 8<<20, 2, time.Nanosecond, 0.95
		if p != 1 {
			c.Mode = repair.Off // they vote, and leave the backlog to node 1
		}
		return c
	})
	n.planTime = 10 * time.Second
	n.spares = seq(1000, 30)
	for _, p := range n.spares {
		n.machine(p)
	}
	// Node 1 is the holder closest to each of 30 stripes; the others hold
	// 12 shards each, and node 2 (the large node) is in all of them.
	var ids []repair.StripeID
	found := 0
	for id := 0; found < 30 && id < 4000; id++ {
		sid := repair.StripeID(keyOf(P(1<<20 + id)))
		holders := append([]P{1, 2, 3, 4, 5, 6, 7}, seq(P(200+10*found), 5)...)
		if closestHolder(repair.Stripe[P]{ID: sid}, holders) != 1 {
			continue
		}
		rec := repair.Stripe[P]{ID: sid, K: 6, M: 6, ShardSize: 1 << 20, Holders: holders}
		for _, h := range holders {
			n.machine(h).Hold(rec, n.now)
		}
		ids = append(ids, sid)
		found++
	}
	// Node 2 leaves, and with it 2, 3 or 4 small nodes of each stripe, so
	// the stripes are left at 9, 8 or 7 healthy shards (lazy 9, urgent 7).
	n.up[2] = false
	for _, p := range n.order {
		if p >= 200 && p < 1000 && p%10 < 2+(p/10-20)%3 {
			n.up[p] = false
		}
	}
	n.run(6*time.Hour, 10*time.Second)
	if len(n.started) != len(ids) {
		t.Fatalf("%d repairs of %d stripes", len(n.started), len(ids))
	}
	// Most urgent first: health never rises down the start order.
	var bytes int64
	for i, pl := range n.started {
		if n.starters[i] != 1 {
			t.Fatalf("plan %d by %d", i, n.starters[i])
		}
		bytes += pl.Bytes
		if i > 0 && len(pl.Rebuild) > len(n.started[i-1].Rebuild) {
			t.Fatalf("plan %d rebuilds %d slots after one of %d: not in urgency order", i, len(pl.Rebuild), len(n.started[i-1].Rebuild))
		}
	}
	if st := n.ms[1].Stats(); st.Commits != len(ids) {
		t.Fatalf("stats %+v", st)
	}
	// Storm control: never more than two at once, and no more bytes by any
	// time than the burst and the rate allow.
	if n.maxBy[1] > 2 {
		t.Fatalf("%d repairs at once", n.maxBy[1])
	}
	first := n.startedAt[0]
	var sum int64
	for i, at := range n.startedAt {
		sum += n.started[i].Bytes
		if allowed := int64(8<<20) + int64(at.Sub(first).Seconds()*bw) + n.started[i].Bytes; sum > allowed {
			t.Fatalf("by %v, %d bytes started, more than %d", at.Sub(first), sum, allowed)
		}
	}
	if span := n.startedAt[len(n.startedAt)-1].Sub(first); span < time.Duration(float64(bytes-(8<<20)-n.started[len(n.started)-1].Bytes)/bw*float64(time.Second)) {
		t.Fatalf("%d bytes started within %v", bytes, span)
	}
}
