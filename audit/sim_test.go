package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// kind is how a simulated peer treats the shards it holds.
type kind int

const (
	honest    kind = iota
	deleter        // dropped its shards but kept their trees: says it has them, cannot prove
	corrupter      // a quarter of every shard's leaves corrupt; answers with the honest paths
	replayer       // keeps the first proof of each shard, drops the shards (after a day, or four periods), replays
	silent         // never answers (it still audits others)
	rotting        // honest, but one of its shards rots (on day 3, or after three periods) unknown to it
)

var kindNames = [...]string{"honest", "deleter", "corrupter", "replayer", "silent", "rotting"}

func (k kind) String() string { return kindNames[k] }

// liar reports whether the peer misbehaves on purpose.
func (k kind) liar() bool { return k == deleter || k == corrupter || k == replayer || k == silent }

type simShard struct {
	orig, data []byte // data is what the peer still has; nil when dropped
	tree       *proof.Tree
}

type simPeer struct {
	name   string
	kind   kind
	aud    *audit.Auditor
	rep    *gossip.Reputation[string]
	shards map[erasure.ShardID]*simShard
	kept   map[erasure.ShardID][]byte // a replayer's first proofs
}

// sent is one challenge as it left an auditor.
type sent struct {
	auditor, peer string
	shard         erasure.ShardID
	leaves        []int
	at            time.Time
}

type scrubbed struct {
	peer  string
	shard erasure.ShardID
	size  int
	at    time.Time
}

type place struct {
	stripe stripe.ID
	shard  int
	peer   string
}

// sim is a cloud of peers auditing each other.
type sim struct {
	cfg      audit.Config
	start    time.Time
	rotAt    time.Time // when the rotting peer's shard rots
	dropAt   time.Time // when the replayer drops its shards
	peers    []*simPeer
	byName   map[string]*simPeer
	places   []place // every stored shard at its holder
	idOf     map[place]erasure.ShardID
	rotten   place                     // the shard that rots
	auditors map[place][]string        // who audits each place
	results  map[string][]audit.Result // by auditor
	sent     []sent
	batches  []audit.Batch
	scrubs   []scrubbed
	busy     map[[2]string]int // challenges an auditor's last batch to a peer has unanswered
	overlap  int               // batches sent to a peer while that auditor's previous batch to it was unanswered
}

// newSim places 60 stripes of 4+2 (every fifth with only two data shards)
// over 24 peers: 2 deleters, 2 corrupters, a replayer, 2 silent peers,
// a rotting one and 16 honest ones. One retention, one signature, keeps
// all the stripes.
func newSim(t *testing.T, cfg audit.Config, start time.Time) *sim {
	t.Helper()
	kinds := []kind{deleter, deleter, corrupter, corrupter, replayer, silent, silent, rotting}
	for len(kinds) < 24 {
		kinds = append(kinds, honest)
	}
	s := &sim{cfg: cfg, start: start, rotAt: start.Add(3 * 24 * time.Hour), byName: map[string]*simPeer{},
		auditors: map[place][]string{}, results: map[string][]audit.Result{}, idOf: map[place]erasure.ShardID{}, busy: map[[2]string]int{}}
	s.dropAt = start.Add(min(24*time.Hour, 4*cfg.Period))
	if cfg.Period < 24*time.Hour {
		s.rotAt = start.Add(3 * cfg.Period)
	}
	for i, k := range kinds {
		c := cfg
		c.Seed = [32]byte{byte(i), 'a', 'u', 'd', 'i', 't'}
		name := fmt.Sprintf("p%02d", i)
		a, err := audit.New(name, c)
		if err != nil {
			t.Fatal(err)
		}
		rep, _ := gossip.NewReputation(name, gossip.ReputationConfig{})
		p := &simPeer{name: name, kind: k, aud: a, rep: rep, shards: map[erasure.ShardID]*simShard{}, kept: map[erasure.ShardID][]byte{}}
		s.peers = append(s.peers, p)
		s.byName[name] = p
	}

	rng := rand.New(rand.NewPCG(5, 6))
	coder, _ := erasure.NewCoder(4, 2)
	type coded struct {
		rec    *stripe.Record
		shards [][]byte
	}
	var all []coded
	var ids []stripe.ID
	for n := range 60 {
		data := make([][]byte, 4)
		if n%5 == 0 {
			data = data[:2]
		}
		for i := range data {
			data[i] = make([]byte, (4+rng.IntN(10))*proof.LeafSize+rng.IntN(proof.LeafSize))
			for j := range data[i] {
				data[i][j] = byte(rng.Uint32())
			}
		}
		d, parity, err := coder.Encode(data)
		if err != nil {
			t.Fatal(err)
		}
		shards := append(append(data, make([][]byte, 4-len(data))...), parity...)
		rec, err := stripe.New(d, shards)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, coded{rec, shards})
		ids = append(ids, rec.ID())
	}
	owner := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	set, _ := stripe.NewSet(ids)
	ret, err := stripe.SignRetention(owner, start, start.Add(30*24*time.Hour), set)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range all {
		rec, err := c.rec.Cover(ret, set)
		if err != nil {
			t.Fatal(err)
		}
		holders := rng.Perm(len(s.peers))
		for i := range c.shards {
			if rec.Descriptor.Stored(i) {
				rec, _ = rec.WithHolders(i, []string{s.peers[holders[i]].name}, start)
			}
		}
		if _, err := stripe.Receive(nil, rec, nil, start); err != nil {
			t.Fatal(err)
		}
		var stored []int
		for i, b := range c.shards {
			if !rec.Descriptor.Stored(i) {
				continue
			}
			stored = append(stored, i)
			p := s.peers[holders[i]]
			if err := rec.CheckShard(i, b); err != nil {
				t.Fatal(err)
			}
			if err := p.aud.Hold(rec, i, start); err != nil {
				t.Fatal(err)
			}
			sh := &simShard{orig: b, data: bytes.Clone(b), tree: proof.NewTree(b)}
			switch p.kind {
			case deleter:
				sh.data = nil
			case corrupter:
				for off := 0; off < len(b); off += 4 * proof.LeafSize {
					sh.data[off] ^= 0x5a
				}
			}
			p.shards[rec.Descriptor.Shards[i].ID] = sh
			pl := place{rec.ID(), i, p.name}
			s.places = append(s.places, pl)
			s.idOf[pl] = rec.Descriptor.Shards[i].ID
		}
		// The expected auditors of each place: the holders of the
		// cfg.Auditors stored shards before it.
		for pos, j := range stored {
			pl := place{rec.ID(), j, s.peers[holders[j]].name}
			for step := 1; step <= min(s.cfg.Auditors, len(stored)-1); step++ {
				i := stored[(pos-step+len(stored))%len(stored)]
				s.auditors[pl] = append(s.auditors[pl], s.peers[holders[i]].name)
			}
		}
	}
	for _, pl := range s.places {
		if s.byName[pl.peer].kind == rotting {
			s.rotten = pl
			break
		}
	}
	return s
}

// answer is what peer p replies to a batch at now.
func (s *sim) answer(p *simPeer, b audit.Batch, now time.Time) []audit.Reply {
	if p.kind == silent {
		return nil
	}
	var out []audit.Reply
	for _, ch := range b.Challenges {
		r := audit.Reply{Nonce: ch.Nonce, Held: true}
		sh := p.shards[ch.Shard]
		if sh == nil {
			out = append(out, audit.Reply{Nonce: ch.Nonce})
			continue
		}
		switch {
		case p.kind == deleter || p.kind == replayer && sh.data == nil && p.kept[ch.Shard] == nil:
			pr, _ := proof.Prove(make([]byte, len(sh.orig)), ch)
			r.Proof, _ = pr.MarshalBinary()
		case p.kind == replayer && sh.data == nil:
			r.Proof = p.kept[ch.Shard]
		case p.kind == corrupter:
			// The honest paths, from the tree it kept, with the leaves it has.
			pr, _ := proof.Prove(sh.orig, ch)
			for k := range pr.Leaves {
				off := pr.Leaves[k].Index * proof.LeafSize
				pr.Leaves[k].Data = sh.data[off : off+len(pr.Leaves[k].Data)]
			}
			r.Proof, _ = pr.MarshalBinary()
		default:
			pr, err := sh.tree.Prove(ch, bytes.NewReader(sh.data))
			if errors.Is(err, proof.ErrCorrupt) {
				r.Held = false // an honest node's copy rotted: it says so
				break
			}
			r.Proof, _ = pr.MarshalBinary()
			if p.kind == replayer && p.kept[ch.Shard] == nil {
				p.kept[ch.Shard] = r.Proof
			}
		}
		out = append(out, r)
	}
	return out
}

// scrub is a peer's check of its own shard.
func (s *sim) scrub(p *simPeer, id erasure.ShardID) audit.Verdict {
	sh := p.shards[id]
	switch {
	case sh == nil || sh.data == nil:
		return audit.Missing
	case !id.Verify(sh.data):
		return audit.Failed
	}
	return audit.Passed
}

// run drives the cloud until end, every peer ticking when it has work.
func (s *sim) run(end time.Time) {
	dropped, rotted := false, false
	for {
		var now time.Time
		for _, p := range s.peers {
			if n := p.aud.Next(); !n.IsZero() && (now.IsZero() || n.Before(now)) {
				now = n
			}
		}
		if now.IsZero() || now.After(end) {
			return
		}
		if !dropped && !now.Before(s.dropAt) {
			dropped = true
			for _, p := range s.peers {
				if p.kind == replayer {
					for _, sh := range p.shards {
						sh.data = nil
					}
				}
			}
		}
		if !rotted && !now.Before(s.rotAt) {
			rotted = true
			s.byName[s.rotten.peer].shards[s.idOf[s.rotten]].data[7] ^= 1
		}
		for _, p := range s.peers {
			if n := p.aud.Next(); n.IsZero() || n.After(now) {
				continue
			}
			w := p.aud.Tick(now)
			s.record(p, w.Results)
			for _, b := range w.Batches {
				k := [2]string{p.name, b.Peer}
				if s.busy[k] > 0 {
					s.overlap++
				}
				s.busy[k] = len(b.Challenges)
				for _, ch := range b.Challenges {
					s.sent = append(s.sent, sent{p.name, b.Peer, ch.Shard, ch.Leaves, now})
				}
				s.batches = append(s.batches, b)
				s.record(p, p.aud.Answer(b.Peer, s.answer(s.byName[b.Peer], b, now), now))
			}
			if w.Scrub != nil {
				s.scrubs = append(s.scrubs, scrubbed{p.name, w.Scrub.Shard, w.Scrub.Size, now})
				s.record(p, p.aud.Scrubbed(w.Scrub.Shard, s.scrub(p, w.Scrub.Shard), now))
			}
		}
	}
}

func (s *sim) record(p *simPeer, rs []audit.Result) {
	for _, r := range rs {
		s.results[p.name] = append(s.results[p.name], r)
		if r.Scrub {
			continue
		}
		s.busy[[2]string{p.name, r.Peer}]--
		p.rep.Observe(r.Peer, r.Outcome(), r.At)
	}
}

// TestSimulatedDays runs the cloud for eight days with the default
// period (a day) and for a day with a period of two hours, and checks
// coverage, that every kind of liar is caught, that honest peers never
// are, and what the reputation book makes of it.
func TestSimulatedDays(t *testing.T) {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		cfg  audit.Config
		run  time.Duration
	}{
		{"default", audit.Config{ScrubPeriod: 2 * 24 * time.Hour, ScrubRate: 256 << 10}, 8 * 24 * time.Hour},
		{"short", audit.Config{Period: 2 * time.Hour, Deadline: 30 * time.Second, ScrubPeriod: 6 * time.Hour, ScrubRate: 256 << 10}, 24 * time.Hour},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := c.cfg.WithDefaults()
			if err != nil {
				t.Fatal(err)
			}
			cfg.Seed = [32]byte{}
			s := newSim(t, cfg, start)
			end := start.Add(c.run)
			s.run(end)
			s.checkCoverage(t, end)
			s.checkVerdicts(t)
			s.checkBatches(t)
			s.checkScrubs(t, end)
			s.checkReputation(t, end)
		})
	}
}

// checkCoverage: every stored shard is challenged at each holder by each
// of its auditors within the first period and then at least once a
// period, at times spread by the jitter.
func (s *sim) checkCoverage(t *testing.T, end time.Time) {
	t.Helper()
	times := map[[2]string][]time.Time{} // (auditor, place) → sends
	shardPlace := map[[2]string]place{}  // (shard ID, peer) → place
	for _, pl := range s.places {
		shardPlace[[2]string{s.idOf[pl].String(), pl.peer}] = pl
	}
	for _, c := range s.sent {
		pl, ok := shardPlace[[2]string{c.shard.String(), c.peer}]
		if !ok {
			t.Fatalf("%s challenged %s for a shard it does not hold", c.auditor, c.peer)
		}
		if !slices.Contains(s.auditors[pl], c.auditor) {
			t.Fatalf("%s audits %s's shard %d, not one of its auditors %v", c.auditor, c.peer, pl.shard, s.auditors[pl])
		}
		k := [2]string{c.auditor, fmt.Sprint(pl)}
		times[k] = append(times[k], c.at)
	}
	P := s.cfg.Period
	var gaps []float64
	for _, pl := range s.places {
		if len(s.auditors[pl]) == 0 {
			t.Fatalf("no auditor for %v", pl)
		}
		for _, a := range s.auditors[pl] {
			ts := times[[2]string{a, fmt.Sprint(pl)}]
			if len(ts) == 0 {
				t.Fatalf("%s never audited %s's shard %d", a, pl.peer, pl.shard)
			}
			prev := s.start
			for _, at := range append(ts, end) {
				if g := at.Sub(prev); g > P {
					t.Fatalf("%s left %s's shard %d unaudited for %v, longer than the period %v", a, pl.peer, pl.shard, g, P)
				}
				if prev != s.start && at != end {
					gaps = append(gaps, float64(at.Sub(prev))/float64(P))
				}
				prev = at
			}
		}
	}
	lo, hi := slices.Min(gaps), slices.Max(gaps)
	if lo > 0.55 || hi < 0.9 {
		t.Fatalf("audit gaps span %.2f..%.2f periods: not spread by the jitter", lo, hi)
	}
	t.Logf("%d places, %d challenges, gaps %.2f..%.2f periods", len(s.places), len(s.sent), lo, hi)
}

// checkVerdicts: honest peers only pass (bar the rotted shard, which its
// holder admits is gone); every liar is caught; every shard a liar holds
// reaches the repair queue.
func (s *sim) checkVerdicts(t *testing.T) {
	t.Helper()
	byKind := map[kind]map[audit.Verdict]int{}
	repair := map[place]bool{}
	shardPlace := map[[2]string]place{}
	for _, pl := range s.places {
		shardPlace[[2]string{s.idOf[pl].String(), pl.peer}] = pl
	}
	for _, rs := range s.results {
		for _, r := range rs {
			if r.Scrub {
				continue
			}
			pl := shardPlace[[2]string{r.ShardID.String(), r.Peer}]
			if pl.stripe != r.Stripe || pl.shard != r.Shard {
				t.Fatalf("a result names shard %d of %s at %s, which is not there", r.Shard, r.Stripe.Short(), r.Peer)
			}
			k := s.byName[r.Peer].kind
			if byKind[k] == nil {
				byKind[k] = map[audit.Verdict]int{}
			}
			byKind[k][r.Verdict]++
			if r.Repair() {
				repair[pl] = true
			}
			switch {
			case k == honest && r.Verdict != audit.Passed:
				t.Fatalf("honest %s reported %v for shard %d: %v", r.Peer, r.Verdict, r.Shard, r.Err)
			case k == rotting && r.Verdict != audit.Passed && (pl != s.rotten || r.Verdict != audit.Missing || r.At.Before(s.rotAt)):
				t.Fatalf("rotting %s reported %v for shard %d at %v", r.Peer, r.Verdict, r.Shard, r.At)
			case (k == deleter || k == silent) && r.Verdict == audit.Passed:
				t.Fatalf("%s %s passed an audit", k, r.Peer)
			case k == silent && r.Verdict != audit.TimedOut:
				t.Fatalf("silent %s: %v", r.Peer, r.Verdict)
			case k == replayer && r.Verdict == audit.Passed && !r.At.Before(s.dropAt):
				t.Fatalf("replayer %s passed after dropping its shards", r.Peer)
			case (k == deleter || k == corrupter || k == replayer) && r.Verdict == audit.Failed && !errors.Is(r.Err, proof.ErrBadProof):
				t.Fatalf("%s's failure: %v", k, r.Err)
			}
		}
	}
	for _, k := range []kind{deleter, corrupter, replayer} {
		if byKind[k][audit.Failed] == 0 {
			t.Fatalf("no %s caught: %v", k, byKind[k])
		}
	}
	if byKind[silent][audit.TimedOut] == 0 || byKind[honest][audit.Passed] == 0 {
		t.Fatalf("verdicts %v", byKind)
	}
	for _, pl := range s.places {
		k := s.byName[pl.peer].kind
		if want := k == deleter || k == corrupter || k == replayer || pl == s.rotten; repair[pl] != want {
			t.Fatalf("%s %s's shard %d: sent to repair %v", k, pl.peer, pl.shard, repair[pl])
		}
	}
	t.Logf("verdicts by kind: %v", byKind)
}

// checkBatches: a batch goes to one peer, never while the auditor's
// previous batch to it is unanswered, and batches group challenges.
func (s *sim) checkBatches(t *testing.T) {
	t.Helper()
	if s.overlap > 0 {
		t.Fatalf("%d batches sent while the previous to the same peer was outstanding", s.overlap)
	}
	multi := 0
	for _, b := range s.batches {
		if len(b.Challenges) < 1 || len(b.Challenges) > s.cfg.MaxBatch {
			t.Fatalf("a batch of %d", len(b.Challenges))
		}
		if len(b.Challenges) > 1 {
			multi++
		}
	}
	if multi == 0 {
		t.Fatal("no batch holds more than one challenge")
	}
	// Leaves are drawn at random: a shard of many leaves is not asked for
	// the same ones each time.
	sets := map[erasure.ShardID]map[string]bool{}
	for _, c := range s.sent {
		if sets[c.shard] == nil {
			sets[c.shard] = map[string]bool{}
		}
		sets[c.shard][fmt.Sprint(c.leaves)] = true
	}
	for id, m := range sets {
		if n := 0; len(m) == 1 {
			for _, c := range s.sent {
				if c.shard == id {
					n++
				}
			}
			if n > 2 {
				t.Fatalf("shard %s asked for the same leaves %d times", id.Short(), n)
			}
		}
	}
	t.Logf("%d batches, %d of more than one challenge, %.2f challenges a batch", len(s.batches), multi, float64(len(s.sent))/float64(len(s.batches)))
}

// checkScrubs: scrubs of one peer start no sooner than the rate allows
// after the last; every own shard is scrubbed once per scrub period; the
// rotted shard is found by its holder's scrub.
func (s *sim) checkScrubs(t *testing.T, end time.Time) {
	t.Helper()
	last := map[string]scrubbed{}
	seen := map[[2]string][]time.Time{}
	for _, sc := range s.scrubs {
		if l, ok := last[sc.peer]; ok {
			if min := time.Duration(float64(l.size) / float64(s.cfg.ScrubRate) * float64(time.Second)); sc.at.Sub(l.at) < min {
				t.Fatalf("%s scrubbed %d bytes and the next shard %v later, the rate allows %v", sc.peer, l.size, sc.at.Sub(l.at), min)
			}
		}
		last[sc.peer] = sc
		k := [2]string{sc.peer, sc.shard.String()}
		seen[k] = append(seen[k], sc.at)
	}
	for _, pl := range s.places {
		ts := seen[[2]string{pl.peer, s.idOf[pl].String()}]
		prev := s.start
		for _, at := range append(ts, end) {
			// A queue of at most every shard of the peer may wait for the rate.
			if at.Sub(prev) > s.cfg.ScrubPeriod+time.Minute {
				t.Fatalf("%s's shard %d went unscrubbed for %v", pl.peer, pl.shard, at.Sub(prev))
			}
			prev = at
		}
	}
	found := false
	for _, r := range s.results[s.rotten.peer] {
		if r.Scrub && r.Verdict == audit.Failed {
			if r.Stripe != s.rotten.stripe || r.Shard != s.rotten.shard || r.At.Before(s.rotAt) {
				t.Fatalf("scrub found %v of shard %d", r.Verdict, r.Shard)
			}
			found = true
		}
	}
	if !found {
		t.Fatal("the rotted shard was not found by its holder's scrub")
	}
	for _, p := range s.peers {
		if p.kind == honest || p.kind == silent {
			for _, r := range s.results[p.name] {
				if r.Scrub {
					t.Fatalf("%s %s's scrub found %v", p.kind, p.name, r.Verdict)
				}
			}
		}
	}
	t.Logf("%d scrubs", len(s.scrubs))
}

// checkReputation: fed to gossip.Reputation, the verdicts rank every liar
// an honest auditor met below every honest peer it met.
func (s *sim) checkReputation(t *testing.T, end time.Time) {
	t.Helper()
	worstHonest, bestLiar := 1.0, 0.0
	for _, a := range s.peers {
		if a.kind != honest {
			continue
		}
		lowest, highest := math.Inf(1), math.Inf(-1)
		for _, subject := range a.rep.Subjects() {
			v := a.rep.Score(subject, end).Value
			switch k := s.byName[subject].kind; {
			case k == honest:
				lowest = min(lowest, v)
			case k.liar():
				highest = max(highest, v)
			}
		}
		if highest >= lowest {
			t.Fatalf("%s rates a liar %.3f, an honest peer %.3f", a.name, highest, lowest)
		}
		worstHonest, bestLiar = min(worstHonest, lowest), max(bestLiar, highest)
	}
	t.Logf("honest peers rated at least %.3f, liars at most %.3f", worstHonest, bestLiar)
}
