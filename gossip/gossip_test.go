package gossip_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/gossip"
)

// checkView fails unless v has no link to self, no duplicate and at most
// max links.
func checkView(t *testing.T, self int, v []gossip.Entry[int], max int) {
	t.Helper()
	if len(v) > max {
		t.Fatalf("node %d: view of %d links, max %d", self, len(v), max)
	}
	seen := map[int]bool{}
	for _, e := range v {
		if e.Peer == self || seen[e.Peer] {
			t.Fatalf("node %d: view %v links to itself or twice", self, v)
		}
		seen[e.Peer] = true
	}
}

// TestCyclonInvariants drives 40 nodes through random shuffles, lost
// requests, lost replies, late replies and replies from strangers, and
// checks every view after every step.
func TestCyclonInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, c, l = 40, 6, 3
	nodes := make([]*gossip.Cyclon[int], n)
	for i := range nodes {
		var err error
		if nodes[i], err = gossip.NewCyclon(i, gossip.CyclonConfig{ViewSize: c, ShuffleLen: l}); err != nil {
			t.Fatal(err)
		}
		for d := 1; d <= c; d++ {
			nodes[i].Add((i + d) % n) // full views to start from
		}
	}
	var buf, rbuf []gossip.Entry[int]
	for step := range 20000 {
		p := rng.IntN(n)
		to, req, ok := nodes[p].StartShuffle(rng, buf[:0])
		buf = req
		if !ok {
			// Lost requests can strand a node; it bootstraps again.
			nodes[p].Add((p + 1 + rng.IntN(n-1)) % n)
			continue
		}
		if len(req) > l || req[0].Peer != p || req[0].Age != 0 {
			t.Fatalf("step %d: request %v", step, req)
		}
		switch rng.IntN(10) {
		case 0: // the request is lost
			nodes[p].ShuffleFailed(to)
		case 1: // the reply is lost, and a stranger's reply is ignored
			rbuf = nodes[to].HandleShuffle(p, req, rng, rbuf[:0])
			before := append([]gossip.Entry[int](nil), nodes[p].View()...)
			nodes[p].HandleReply((to+1)%n, rbuf)
			if len(nodes[p].View()) != len(before) {
				t.Fatalf("step %d: a reply from a stranger changed the view", step)
			}
			nodes[p].ShuffleFailed(to)
		default:
			rbuf = nodes[to].HandleShuffle(p, req, rng, rbuf[:0])
			if len(rbuf) > l {
				t.Fatalf("step %d: reply of %d links", step, len(rbuf))
			}
			nodes[p].HandleReply(to, rbuf)
		}
		checkView(t, p, nodes[p].View(), c)
		checkView(t, to, nodes[to].View(), c)
	}
	// Links are moved and only the failed ones dropped: views stay full
	// on the whole.
	total := 0
	for _, nd := range nodes {
		total += nd.Len()
	}
	if total < n*c*8/10 {
		t.Fatalf("views hold %d links of %d", total, n*c)
	}
}

func TestCyclonConfig(t *testing.T) {
	for _, cfg := range []gossip.CyclonConfig{{ViewSize: 4, ShuffleLen: 5}, {ViewSize: -1}, {ViewSize: gossip.MaxView + 1}} {
		if _, err := gossip.NewCyclon(0, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestAggregatorMass: in any sequence of exchanges every surviving
// counting instance keeps mass 1 and every attribute its sum, and the
// estimates converge to the truth.
func TestAggregatorMass(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n = 30
	cfg := gossip.AggConfig{Period: time.Second, EpochCycles: 1000, Instances: 4, Attributes: 2}
	nodes := make([]*gossip.Aggregator, n)
	var sum [2]float64
	start := time.Unix(0, 0)
	for i := range nodes {
		var err error
		if nodes[i], err = gossip.NewAggregator(cfg, rand.New(rand.NewPCG(uint64(i), 9))); err != nil {
			t.Fatal(err)
		}
		v := []float64{float64(i), float64(i * i)}
		sum[0], sum[1] = sum[0]+v[0], sum[1]+v[1]
		nodes[i].Tick(start, v)
	}
	for range 3000 {
		p, q := rng.IntN(n), rng.IntN(n)
		if p == q {
			continue
		}
		nodes[p].HandleReply(nodes[q].HandleRequest(nodes[p].Request()))
	}
	mass := map[uint64]float64{}
	var got [2]float64
	for _, a := range nodes {
		m := a.Request()
		for _, in := range m.Instances {
			mass[in.Ticket] += in.X
		}
		got[0], got[1] = got[0]+m.Attrs[0], got[1]+m.Attrs[1]
	}
	if len(mass) != cfg.Instances {
		t.Fatalf("%d instances survive, want %d", len(mass), cfg.Instances)
	}
	for tk, m := range mass {
		if math.Abs(m-1) > 1e-9 {
			t.Fatalf("instance %x has mass %v", tk, m)
		}
	}
	for i := range got {
		if math.Abs(got[i]-sum[i]) > 1e-6*sum[i] {
			t.Fatalf("attribute %d sums to %v, was %v", i, got[i], sum[i])
		}
	}
	for _, a := range nodes {
		e := a.Current()
		if math.Abs(e.Size-n) > 1e-6 || math.Abs(e.Means[0]-sum[0]/n) > 1e-6 || e.Instances != cfg.Instances {
			t.Fatalf("estimate %+v, want size %d mean %v", e, n, sum[0]/n)
		}
	}
}

// TestAggregatorEpochs: a node that starts midway through an epoch waits
// for the next; a message from a later epoch moves a node on, and one from
// an earlier epoch is answered so its sender catches up.
func TestAggregatorEpochs(t *testing.T) {
	cfg := gossip.AggConfig{Period: time.Second, EpochCycles: 10}
	rng := rand.New(rand.NewPCG(5, 6))
	a, _ := gossip.NewAggregator(cfg, rng)
	b, _ := gossip.NewAggregator(cfg, rng)
	a.Tick(time.Unix(10, 0), nil) // the start of epoch 1
	b.Tick(time.Unix(13, 0), nil) // midway through epoch 1
	if e, joined := a.Epoch(); e != 1 || !joined {
		t.Fatalf("a: epoch %d joined %v", e, joined)
	}
	if e, joined := b.Epoch(); e != 1 || joined {
		t.Fatalf("b: epoch %d joined %v", e, joined)
	}
	// An exchange with a node not taking part changes nothing.
	before := a.Current().Size
	a.HandleReply(b.HandleRequest(a.Request()))
	if a.Current().Size != before {
		t.Fatal("an exchange with a node not taking part counted")
	}
	b.Tick(time.Unix(20, 0), nil) // epoch 2: b takes part
	a.HandleReply(b.HandleRequest(a.Request()))
	if e, joined := a.Epoch(); e != 2 || !joined {
		t.Fatalf("a after hearing epoch 2: epoch %d joined %v", e, joined)
	}
	if last := a.Last(); last.Epoch != 1 || last.Size != 1 {
		t.Fatalf("a's estimate of epoch 1 (alone): %+v", last)
	}
	a.HandleReply(b.HandleRequest(a.Request()))
	if e := a.Current(); e.Size != 2 {
		t.Fatalf("two nodes estimate %v", e.Size)
	}
}

func TestRankerAndSlices(t *testing.T) {
	r, err := gossip.NewRanker(gossip.Key{Value: 0.7, Tie: 1}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Rank() != 0.5 {
		t.Fatalf("rank before samples %v", r.Rank())
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 20000 {
		r.Observe(gossip.Key{Value: rng.Float64(), Tie: uint64(i + 2)})
	}
	if math.Abs(r.Rank()-0.7) > 0.05 || r.Slice(10) != 7 && r.Slice(10) != 6 {
		t.Fatalf("rank %v slice %d, want about 0.7", r.Rank(), r.Slice(10))
	}
	if !r.InTop(400, 1000) || r.InTop(200, 1000) {
		t.Fatalf("rank %v: top-400 of 1000 %v, top-200 %v", r.Rank(), r.InTop(400, 1000), r.InTop(200, 1000))
	}
	// The value changes: old samples fade and the rank follows.
	r.SetOwn(gossip.Key{Value: 0.2, Tie: 1})
	for i := range 20000 {
		r.Observe(gossip.Key{Value: rng.Float64(), Tie: uint64(i + 2)})
	}
	if math.Abs(r.Rank()-0.2) > 0.05 {
		t.Fatalf("rank %v after the value fell to 0.2", r.Rank())
	}
	for _, tc := range []struct {
		rank float64
		s    int
		want int
	}{{0, 10, 0}, {0.999, 10, 9}, {1, 10, 9}, {0.5, 2, 1}, {-1, 4, 0}} {
		if got := gossip.SliceOf(tc.rank, tc.s); got != tc.want {
			t.Errorf("SliceOf(%v, %d) = %d, want %d", tc.rank, tc.s, got, tc.want)
		}
	}
}

func TestTopKMerge(t *testing.T) {
	item := func(p int, v float64) gossip.Item[int] {
		return gossip.Item[int]{Peer: p, Key: gossip.Key{Value: v, Tie: uint64(p)}}
	}
	a, err := gossip.NewTopK(3, item(1, 0.1))
	if err != nil {
		t.Fatal(err)
	}
	a.Merge([]gossip.Item[int]{item(2, 0.9), item(3, 0.5)})
	a.Merge([]gossip.Item[int]{item(4, 0.2), item(2, 0.9), item(5, 0.95)}) // not best-first: sorted
	want := []int{5, 2, 3}
	for i, it := range a.Items() {
		if it.Peer != want[i] {
			t.Fatalf("top-3 %v, want peers %v", a.Items(), want)
		}
	}
	a.Remove(2)
	if len(a.Items()) != 2 {
		t.Fatalf("after Remove: %v", a.Items())
	}
	a.Reset(item(1, 0.1))
	if len(a.Items()) != 1 || a.Items()[0].Peer != 1 {
		t.Fatalf("after Reset: %v", a.Items())
	}
	if _, err := gossip.NewTopK(0, item(1, 0)); err == nil {
		t.Fatal("k=0 accepted")
	}
}

// TestAggregatorHostileAndConcurrent: an exchange answered while the
// node's own is in flight keeps the mass; a request before the first Tick
// and a message from an implausibly late epoch are void.
func TestAggregatorHostileAndConcurrent(t *testing.T) {
	cfg := gossip.AggConfig{Period: time.Second, EpochCycles: 100, Attributes: 1}
	start := time.Unix(1000, 0) // the start of epoch 10
	mk := func(v float64, seed uint64) *gossip.Aggregator {
		a, err := gossip.NewAggregator(cfg, rand.New(rand.NewPCG(seed, 1)))
		if err != nil {
			t.Fatal(err)
		}
		a.Tick(start, []float64{v})
		return a
	}
	a, b, c := mk(100, 1), mk(0, 2), mk(0, 3)
	total := func() (attr, mass float64) {
		for _, x := range []*gossip.Aggregator{a, b, c} {
			m := x.Request() // a snapshot; a later HandleReply is then void
			attr += m.Attrs[0]
			for _, in := range m.Instances {
				mass += in.X
			}
		}
		return
	}
	// a starts an exchange with b; before b's answer arrives, a answers c.
	req := a.Request()
	replyB := b.HandleRequest(req)
	replyB = gossip.AggMsg{Epoch: replyB.Epoch, Joined: replyB.Joined,
		Instances: append([]gossip.Instance(nil), replyB.Instances...), Attrs: append([]float64(nil), replyB.Attrs...)}
	c.HandleReply(a.HandleRequest(c.Request()))
	a.HandleReply(replyB)
	if attr, mass := total(); math.Abs(attr-100) > 1e-9 || math.Abs(mass-3) > 1e-9 {
		t.Fatalf("overlapping exchanges: attribute sum %v (want 100), mass %v (want 3)", attr, mass)
	}

	// A node that has not ticked voids an exchange and learns nothing.
	fresh, _ := gossip.NewAggregator(cfg, rand.New(rand.NewPCG(4, 1)))
	if r := fresh.HandleRequest(a.Request()); r.Joined {
		t.Fatal("a node that has not ticked took part in an exchange")
	}
	if e, _ := fresh.Epoch(); e != 0 {
		t.Fatalf("an exchange before the first tick moved the node to epoch %d", e)
	}

	// A message from far in the future is ignored, by both sides.
	future := a.Request()
	future.Epoch = math.MaxUint64
	b.HandleRequest(future)
	a.Request()
	a.HandleReply(future)
	for _, x := range []*gossip.Aggregator{a, b} {
		if e, _ := x.Epoch(); e != 10 {
			t.Fatalf("a message from epoch 2^64-1 moved a node to epoch %d", e)
		}
	}
	// The next epoch is plausible (a peer's clock a little ahead).
	next := a.Request()
	next.Epoch = 11
	b.HandleRequest(next)
	if e, _ := b.Epoch(); e != 11 {
		t.Fatalf("a message from the next epoch left the node in %d", e)
	}

	// Huge attribute values average without overflowing.
	big1, big2 := mk(math.MaxFloat64, 5), mk(math.MaxFloat64, 6)
	big2.HandleReply(big1.HandleRequest(big2.Request()))
	if v := big1.Attr(0); math.IsInf(v, 0) || v != math.MaxFloat64 {
		t.Fatalf("averaging two MaxFloat64 gives %v", v)
	}
}
