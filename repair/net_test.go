package repair_test

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/repair"
)

// P is a test peer.
type P = uint32

func keyOf(p P) repair.Key {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], p)
	return sha256.Sum256(b[:])
}

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// testNet drives Machines over an in-memory network with an injected
// clock: messages may be lost, duplicated and delayed (so reordered), and
// a fake executor carries out plans, each taking planTime. It checks the
// claim protocol's promises as it goes: no two plans for a stripe run at
// once, and no (stripe, version) commits twice.
type testNet struct {
	t         *testing.T
	rng       *rand.Rand
	now       time.Time
	ms        map[P]*repair.Machine[P]
	order     []P
	up        map[P]bool // answers checks and messages
	gone      map[P]bool // left for good
	spares    []P        // where new shards go
	loss      float64
	dup       float64
	delay     time.Duration // at most, uniformly drawn
	planTime  time.Duration
	inflight  []flight
	running   map[repair.StripeID]running
	commits   map[string]bool
	started   []repair.Plan[P]
	starters  []P
	startedAt []time.Time
	maxBy     map[P]int
	rebuilt   map[string]int // stripe/version/slot → times rebuilt by a committed repair
	cfg       func(P) repair.Config[P]
	discards  map[P][]repair.StripeID
	refused   map[P][]repair.Refusal[P]
	dones     map[repair.StripeID]repair.Done[P] // the last Done sent of each stripe
	msgs      int
}

type flight struct {
	at       time.Time
	from, to P
	msg      repair.Message[P]
}

type running struct {
	by   P
	plan repair.Plan[P]
	done time.Time
}

func newNet(t *testing.T, seed uint64, cfg func(P) repair.Config[P]) *testNet {
	return &testNet{
		t: t, rng: rand.New(rand.NewPCG(seed, 7)), now: t0, ms: map[P]*repair.Machine[P]{}, up: map[P]bool{}, gone: map[P]bool{},
		running: map[repair.StripeID]running{}, commits: map[string]bool{}, rebuilt: map[string]int{}, cfg: cfg,
		planTime: time.Minute, discards: map[P][]repair.StripeID{}, maxBy: map[P]int{},
		refused: map[P][]repair.Refusal[P]{}, dones: map[repair.StripeID]repair.Done[P]{},
	}
}

func baseConfig(p P) repair.Config[P] {
	return repair.Config[P]{Self: p, KeyOf: keyOf, Bandwidth: -1, Availability: 0.95, Grace: repair.GraceConfig{Default: 2 * time.Hour}, Sign: signer(p), Verify: verify}
}

// tag is p's test signature over stmt: only p's Machine (and a test that
// means to) makes it.
func tag(p P, stmt []byte) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], p)
	h := sha256.Sum256(append(b[:], stmt...))
	return h[:8]
}

func signer(p P) func([]byte) []byte { return func(stmt []byte) []byte { return tag(p, stmt) } }

func verify(p P, stmt, sig []byte) bool { return string(tag(p, stmt)) == string(sig) }

func (n *testNet) machine(p P) *repair.Machine[P] {
	if m := n.ms[p]; m != nil {
		return m
	}
	m, err := repair.New(n.cfg(p), n.now)
	if err != nil {
		n.t.Fatal(err)
	}
	n.ms[p], n.up[p] = m, true
	n.order = append(n.order, p)
	return m
}

// stripe makes a stripe on holders 1..k+m (and machines for them).
func (n *testNet) stripe(id byte, k, m int, holders []P) repair.Stripe[P] {
	rec := repair.Stripe[P]{ID: repair.StripeID{id}, K: k, M: m, ShardSize: 1 << 20, Holders: holders}
	for _, h := range holders {
		if err := n.machine(h).Hold(rec, n.now); err != nil {
			n.t.Fatal(err)
		}
	}
	return rec
}

func seq(from, count P) []P {
	var out []P
	for i := range count {
		out = append(out, from+i)
	}
	return out
}

// run advances the clock by d in steps of at most step, doing everything due.
func (n *testNet) run(d, step time.Duration) {
	end := n.now.Add(d)
	for n.now.Before(end) {
		n.now = minTime(n.now.Add(step), end)
		n.tick()
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (n *testNet) tick() {
	// Checks.
	for _, p := range n.order {
		if !n.up[p] {
			continue
		}
		m := n.ms[p]
		for _, q := range m.Due(n.now) {
			m.Checked(q, n.up[q], n.now)
		}
		m.Tick(n.now)
	}
	// Plans finishing.
	ids := make([]repair.StripeID, 0, len(n.running))
	for id := range n.running {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b repair.StripeID) int { return slices.Compare(a[:], b[:]) })
	for _, id := range ids {
		r := n.running[id]
		if !n.up[r.by] {
			delete(n.running, id) // the repairer died: its work is lost
			continue
		}
		if r.done.After(n.now) {
			continue
		}
		delete(n.running, id)
		placed := map[int]P{}
		for _, slot := range r.plan.Rebuild {
			for _, c := range n.spares {
				if n.up[c] && !slices.Contains(r.plan.Exclude, c) && !slices.Contains(mapValues(placed), c) {
					placed[slot] = c
					break
				}
			}
		}
		err := n.ms[r.by].Finish(repair.Result[P]{Stripe: id, Ballot: r.plan.Ballot, Placed: placed, Moved: r.plan.Bytes}, n.now)
		if err == nil && len(placed) > 0 {
			key := fmt.Sprintf("%x/%d", id[:4], r.plan.Record.Version)
			if n.commits[key] {
				n.t.Fatalf("%s committed twice", key)
			}
			n.commits[key] = true
			for slot := range placed {
				n.rebuilt[fmt.Sprintf("%s/%d", key, slot)]++
			}
		}
	}
	// Messages: deliver those due, in arrival order.
	slices.SortStableFunc(n.inflight, func(a, b flight) int { return a.at.Compare(b.at) })
	for len(n.inflight) > 0 && !n.inflight[0].at.After(n.now) {
		f := n.inflight[0]
		n.inflight = n.inflight[1:]
		if n.up[f.to] {
			n.machine(f.to).Handle(f.from, f.msg, n.now)
		}
	}
	n.collect()
}

func mapValues(m map[int]P) []P {
	var out []P
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// collect drains every live machine's output.
func (n *testNet) collect() {
	for again := true; again; {
		again = false
		for _, p := range n.order {
			m := n.ms[p]
			if !n.up[p] || !m.Pending() {
				continue
			}
			again = true
			out := m.Drain()
			for _, e := range out.Send {
				n.msgs++
				if d, ok := e.Msg.(repair.Done[P]); ok {
					n.dones[d.Record.ID] = d
				}
				if n.rng.Float64() < n.loss {
					continue
				}
				copies := 1
				if n.rng.Float64() < n.dup {
					copies = 2
				}
				for range copies {
					var d time.Duration
					if n.delay > 0 {
						d = time.Duration(n.rng.Int64N(int64(n.delay)))
					}
					n.inflight = append(n.inflight, flight{at: n.now.Add(d), from: p, to: e.To, msg: e.Msg})
				}
			}
			for _, a := range out.Abort {
				if r, ok := n.running[a.Stripe]; ok && r.by == p && r.plan.Ballot == a.Ballot {
					delete(n.running, a.Stripe)
				}
			}
			for _, pl := range out.Start {
				if r, ok := n.running[pl.Record.ID]; ok {
					n.t.Fatalf("at %v: %d starts a repair of %x while %d runs one", n.now.Sub(t0), p, pl.Record.ID[:4], r.by)
				}
				n.running[pl.Record.ID] = running{by: p, plan: pl, done: n.now.Add(n.planTime)}
				n.started = append(n.started, pl)
				n.starters = append(n.starters, p)
				n.startedAt = append(n.startedAt, n.now)
				c := 0
				for _, r := range n.running {
					if r.by == p {
						c++
					}
				}
				n.maxBy[p] = max(n.maxBy[p], c)
			}
			n.discards[p] = append(n.discards[p], out.Discard...)
			n.refused[p] = append(n.refused[p], out.Refused...)
		}
		// Delivery without delay happens in the same instant.
		if n.delay == 0 {
			for len(n.inflight) > 0 && !n.inflight[0].at.After(n.now) {
				f := n.inflight[0]
				n.inflight = n.inflight[1:]
				if n.up[f.to] {
					n.machine(f.to).Handle(f.from, f.msg, n.now)
					again = true
				}
			}
		}
	}
}

// health returns what p knows of the stripe.
func (n *testNet) health(p P, id byte) repair.Health {
	h, ok := n.ms[p].Health(repair.StripeID{id})
	if !ok {
		n.t.Fatalf("%d does not know stripe %d", p, id)
	}
	return h
}
