package gossip_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/gossip"
)

// relEpoch is cycle 0 of the reliability tests; relAt maps a cycle of one
// minute to a time.
var relEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func relAt(cycle int) time.Time { return relEpoch.Add(time.Duration(cycle) * time.Minute) }

func newBook(t *testing.T, self int, cfg gossip.ReputationConfig) *gossip.Reputation[int] {
	t.Helper()
	b, err := gossip.NewReputation(self, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// probe records n probes of subject from cycle start on, answered with
// probability p (drawn from rng) or, with rng nil, the first round(p*n).
func probe(b *gossip.Reputation[int], subject, start, n int, p float64, rng *rand.Rand) {
	for i := range n {
		up := float64(i) < p*float64(n)+0.5
		if rng != nil {
			up = rng.Float64() < p
		}
		o := gossip.ProbeUnanswered
		if up {
			o = gossip.ProbeAnswered
		}
		b.Observe(subject, o, relAt(start+i))
	}
}

func TestReliabilityTrimmedMean(t *testing.T) {
	w := gossip.RepW
	for _, c := range []struct {
		name string
		vs   []gossip.RepWeighted
		trim float64
		want float64
	}{
		{"one vote", []gossip.RepWeighted{w(0.7, 3)}, 0.5, 0.7},
		{"median odd", []gossip.RepWeighted{w(0.9, 1), w(0.1, 1), w(0.5, 1)}, 0.5, 0.5},
		{"median even averages the middle", []gossip.RepWeighted{w(0.2, 1), w(0.4, 1), w(0.6, 1), w(0.8, 1)}, 0.5, 0.5},
		{"weighted median", []gossip.RepWeighted{w(0.1, 1), w(0.2, 1), w(0.9, 5)}, 0.5, 0.9},
		{"40% liars at 0 stay out of the median", []gossip.RepWeighted{w(0, 1), w(0, 1), w(0.8, 1), w(0.9, 1), w(1, 1)}, 0.5, 0.8},
		{"trim 0.25 drops one of four at each end", []gossip.RepWeighted{w(0, 1), w(0.4, 1), w(0.6, 1), w(1, 1)}, 0.25, 0.5},
		{"trim cuts into a vote", []gossip.RepWeighted{w(0, 1), w(1, 3)}, 0.2, (0.2*0 + 2.2*1) / 2.4},
		{"a tiny trim is almost the mean", []gossip.RepWeighted{w(0, 1), w(1, 1)}, 1e-9, 0.5},
		{"heavy liar is capped by caller, not here", []gossip.RepWeighted{w(0, 100), w(1, 1)}, 0.5, 0},
	} {
		if got := gossip.RepTrimmedMean(c.vs, c.trim); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
	if got := gossip.RepTrimmedMean(nil, 0.5); !math.IsNaN(got) {
		t.Errorf("no votes: got %v, want NaN", got)
	}
}

func TestReliabilityWilsonLower(t *testing.T) {
	for _, c := range []struct {
		p, n, lo, hi float64
	}{
		{1, 0, 0, 0},
		{1, 1, 0.2, 0.3},   // one success proves little
		{1, 10, 0.75, 0.8}, // z=1.645: 10/(10+2.706)
		{0.9, 1000, 0.88, 0.9},
		{0, 50, 0, 0},
	} {
		if got := gossip.RepWilsonLower(c.p, c.n, 1.645); got < c.lo || got > c.hi {
			t.Errorf("WilsonLower(%v, %v) = %v, want in [%v, %v]", c.p, c.n, got, c.lo, c.hi)
		}
	}
}

func TestReliabilityFirstHandBeatsHearsay(t *testing.T) {
	for _, c := range []struct {
		name           string
		probes         int     // first-hand probes
		up             float64 // fraction answered
		heard          float64 // what 50 reporters say
		wantLo, wantHi float64
	}{
		{"seen up, smeared by all", 40, 1, 0, 0.7, 1},
		{"seen down, praised by all", 40, 0, 1, 0, 0.3},
		{"hearsay alone counts", 0, 0, 1, 0.85, 1},
		{"hearsay alone smears", 0, 0, 0, 0, 0.1},
		{"a glimpse yields to hearsay", 2, 1, 0, 0, 0.4},
	} {
		b := newBook(t, 0, gossip.ReputationConfig{})
		probe(b, 1, 0, c.probes, c.up, nil)
		for r := 2; r < 52; r++ {
			b.Hear(r, []gossip.Report[int]{{Subject: 1, Score: c.heard, Weight: 1000}}, relAt(c.probes))
		}
		got := b.Score(1, relAt(c.probes))
		if got.Value < c.wantLo || got.Value > c.wantHi {
			t.Errorf("%s: %+v, want Value in [%v, %v]", c.name, got, c.wantLo, c.wantHi)
		}
		if got.Reporters != 50 && got.Reporters != b.Config().MaxReporters {
			t.Errorf("%s: %d reporters counted", c.name, got.Reporters)
		}
		if (got.FirstHand > 0) != (c.probes > 0) {
			t.Errorf("%s: FirstHand %v after %d probes", c.name, got.FirstHand, c.probes)
		}
	}
}

func TestReliabilityIgnoresSelfReports(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	now := relAt(0)
	b.Hear(7, []gossip.Report[int]{{Subject: 7, Score: 1, Weight: 100}}, now) // about itself
	b.Hear(8, []gossip.Report[int]{{Subject: 0, Score: 1, Weight: 100}}, now) // about the observer
	b.Hear(0, []gossip.Report[int]{{Subject: 9, Score: 1, Weight: 100}}, now) // from the observer
	b.Observe(0, gossip.ProbeAnswered, now)                                   // of the observer
	if s := b.Subjects(); len(s) != 0 {
		t.Fatalf("book holds %v after self-reports only", s)
	}
	for _, p := range []int{0, 7, 9} {
		if r := b.Score(p, now); r.Evidence != 0 || r.Reporters != 0 {
			t.Errorf("peer %d: %+v from self-reports", p, r)
		}
	}
	// Peer 7 praising itself among others' reports changes nothing.
	b.Hear(7, []gossip.Report[int]{{Subject: 7, Score: 1, Weight: 100}, {Subject: 3, Score: 0.5, Weight: 10}}, now)
	if r := b.Score(7, now); r.Evidence != 0 {
		t.Errorf("self-praise counted: %+v", r)
	}
	if r := b.Score(3, now); r.Reporters != 1 {
		t.Errorf("the honest part of the message was lost: %+v", r)
	}
}

func TestReliabilityOneVotePerReporter(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	for i := range 20 {
		b.Hear(5, []gossip.Report[int]{{Subject: 1, Score: 0, Weight: 20}}, relAt(i))
	}
	b.Hear(5, []gossip.Report[int]{{Subject: 1, Score: 1, Weight: 20}}, relAt(20))
	b.Hear(6, []gossip.Report[int]{{Subject: 1, Score: 0.8, Weight: 20}}, relAt(20))
	r := b.Score(1, relAt(20))
	if r.Reporters != 2 {
		t.Fatalf("%d votes from 2 reporters", r.Reporters)
	}
	if want := 0.9; math.Abs(r.Value-want) > 1e-9 { // median of 1 and 0.8
		t.Fatalf("Value %v, want %v: the latest vote must replace the older", r.Value, want)
	}
	// Repeating a report does not add weight.
	before := r
	for range 50 {
		b.Hear(6, []gossip.Report[int]{{Subject: 1, Score: 0.8, Weight: 20}}, relAt(20))
	}
	if r := b.Score(1, relAt(20)); r.Reporters != 2 || r.Value != before.Value {
		t.Fatalf("repeating one vote moved %+v to %+v", before, r)
	}
}

func TestReliabilityMalformedReports(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	now := relAt(0)
	b.Hear(5, []gossip.Report[int]{
		{Subject: 1, Score: math.NaN(), Weight: 1},
		{Subject: 2, Score: -0.1, Weight: 1},
		{Subject: 3, Score: 1.1, Weight: 1},
		{Subject: 4, Score: 0.5, Weight: 0},
		{Subject: 6, Score: 0.5, Weight: math.NaN()},
		{Subject: 7, Score: 0.5, Weight: -1},
	}, now)
	if s := b.Subjects(); len(s) != 0 {
		t.Fatalf("malformed reports created %v", s)
	}
	b.Hear(5, []gossip.Report[int]{{Subject: 8, Score: 1, Weight: math.Inf(1)}}, now)
	b.Hear(6, []gossip.Report[int]{{Subject: 8, Score: 0, Weight: 20}}, now)
	b.Hear(7, []gossip.Report[int]{{Subject: 8, Score: 0, Weight: 20}}, now)
	if r := b.Score(8, now); r.Value > 0.1 {
		t.Fatalf("an infinite weight was not capped: %+v", r)
	}
	b.Observe(1, gossip.Outcome(0), now)
	b.Observe(1, gossip.Outcome(200), now)
	if s := b.Subjects(); len(s) != 1 {
		t.Fatalf("unknown outcomes were recorded: %v", s)
	}
}

// TestReliabilityLiars has 100 reporters, 20 of whom collude: they report
// each other at 1.0 and every honest peer at 0.0, with a huge weight. The
// honest reporters each probe a random half of the 60 subjects, so liars
// are about a third of the reporters about any peer. The
// observer's ratings with the liars present must stay close to its ratings
// without them, whether or not it has first-hand evidence to judge
// reporters by.
func TestReliabilityLiars(t *testing.T) {
	const (
		reporters = 100
		liars     = 20
		subjects  = 60 // 1..60; the first 10 are liars too
		probes    = 200
	)
	isLiar := func(p int) bool { return p <= 10 || p > 1000 && p <= 1000+liars }
	for _, c := range []struct {
		name      string
		firstHand int // subjects the observer probes itself, from subject 6 on
		cfg       gossip.ReputationConfig
		tolerance float64 // how far liars may move anyone
	}{
		// The observer checks 5 liars and 15 honest peers: liars lose
		// their credibility and their votes their slots.
		{"observer judges", 20, gossip.ReputationConfig{}, 0.03},
		// An observer with no first-hand evidence relies on the median
		// alone, which holds while liars are under half of the votes
		// about a peer; it must keep them all to see that.
		{"observer blind", 0, gossip.ReputationConfig{MaxReporters: reporters}, 0.08},
	} {
		t.Run(c.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			avail := map[int]float64{}
			for s := 1; s <= subjects; s++ {
				avail[s] = 0.6 + 0.39*rng.Float64()
				if isLiar(s) {
					avail[s] = 0.9
				}
			}
			// The honest reporters' first-hand evidence.
			var honest [][]gossip.Report[int]
			for r := 1001 + liars; r <= 1000+reporters; r++ {
				rb := newBook(t, r, gossip.ReputationConfig{})
				for _, s := range rng.Perm(subjects)[:subjects/2] {
					probe(rb, s+1, 0, probes, avail[s+1], rng)
				}
				honest = append(honest, rb.Reports(relAt(probes), subjects, rng))
			}
			var lies []gossip.Report[int]
			for s := 1; s <= subjects; s++ {
				lies = append(lies, gossip.Report[int]{Subject: s, Score: map[bool]float64{true: 1, false: 0}[isLiar(s)], Weight: 1e9})
			}
			build := func(withLiars bool) *gossip.Reputation[int] {
				b := newBook(t, 0, c.cfg)
				prng := rand.New(rand.NewPCG(3, 4))
				for s := 6; s < 6+c.firstHand; s++ {
					probe(b, s, 0, probes, avail[s], prng)
				}
				// Reporters are heard in a random order, three times.
				now := relAt(probes)
				for range 3 {
					for _, i := range prng.Perm(reporters) {
						switch {
						case i < liars && withLiars:
							b.Hear(1001+i, lies, now)
						case i >= liars:
							b.Hear(1001+i, honest[i-liars], now)
						}
					}
				}
				return b
			}
			clean, dirty := build(false), build(true)
			now := relAt(probes)
			var worst, gain float64
			for s := 1; s <= subjects; s++ {
				a, b := clean.Score(s, now), dirty.Score(s, now)
				d := b.Value - a.Value
				if isLiar(s) {
					gain = max(gain, d)
				} else {
					worst = max(worst, -d)
				}
				if math.Abs(d) > c.tolerance {
					t.Errorf("subject %d (liar %v, availability %.2f): %.3f without liars, %.3f with", s, isLiar(s), avail[s], a.Value, b.Value)
				}
			}
			t.Logf("liars smeared an honest peer by at most %.3f and gained at most %.3f", worst, gain)
			if c.firstHand > 0 {
				for i := range liars {
					if cr := dirty.Credibility(1001+i, now); cr > 0.3 {
						t.Errorf("liar %d keeps credibility %.2f", 1001+i, cr)
					}
				}
				for i := liars; i < reporters; i++ {
					if cr := dirty.Credibility(1001+i, now); cr < 0.8 {
						t.Errorf("honest reporter %d has credibility %.2f", 1001+i, cr)
					}
				}
			}
		})
	}
}

// TestReliabilityRanking: what a peer does, over time, orders it.
func TestReliabilityRanking(t *testing.T) {
	type history func(b *gossip.Reputation[int], p int)
	steady := func(b *gossip.Reputation[int], p int) {
		probe(b, p, 0, 1000, 0.99, rand.New(rand.NewPCG(5, uint64(p))))
	}
	for _, c := range []struct {
		name          string
		better, worse history
	}{
		{"steady above flaky", steady, func(b *gossip.Reputation[int], p int) {
			probe(b, p, 0, 1000, 0.7, rand.New(rand.NewPCG(6, 7)))
		}},
		{"down repeatedly below down once, same uptime", func(b *gossip.Reputation[int], p int) {
			// One outage of 100 cycles, long ago.
			probe(b, p, 0, 100, 0, nil)
			probe(b, p, 100, 900, 1, nil)
		}, func(b *gossip.Reputation[int], p int) {
			// Ten outages of 10 cycles, spread to the present.
			for i := range 10 {
				probe(b, p, i*100, 90, 1, nil)
				probe(b, p, i*100+90, 10, 0, nil)
			}
		}},
		{"an old outage has faded, a recent one has not", func(b *gossip.Reputation[int], p int) {
			probe(b, p, 0, 200, 0, nil)
			probe(b, p, 200, 4800, 1, nil)
		}, func(b *gossip.Reputation[int], p int) {
			probe(b, p, 0, 4800, 1, nil)
			probe(b, p, 4800, 200, 0, nil)
		}},
		{"a failed audit ranks down", steady, func(b *gossip.Reputation[int], p int) {
			steady(b, p)
			for range 9 {
				b.Observe(p, gossip.AuditPassed, relAt(500))
			}
			b.Observe(p, gossip.AuditFailed, relAt(500))
		}},
		{"a wrong compute result ranks down", steady, func(b *gossip.Reputation[int], p int) {
			steady(b, p)
			for range 9 {
				b.Observe(p, gossip.ComputeAgreed, relAt(500))
			}
			b.Observe(p, gossip.ComputeWrong, relAt(500))
		}},
		{"corrupt bytes rank down", steady, func(b *gossip.Reputation[int], p int) {
			steady(b, p)
			for range 9 {
				b.Observe(p, gossip.TransferOK, relAt(500))
			}
			b.Observe(p, gossip.TransferCorrupt, relAt(500))
		}},
		{"failed transfers rank down", steady, func(b *gossip.Reputation[int], p int) {
			steady(b, p)
			for i := range 10 {
				b.Observe(p, gossip.Outcome(gossip.TransferOK+gossip.Outcome(i%2)), relAt(500))
			}
		}},
	} {
		b := newBook(t, 0, gossip.ReputationConfig{})
		c.better(b, 1)
		c.worse(b, 2)
		now := relAt(5000)
		if x, y := b.Score(1, now), b.Score(2, now); x.Value <= y.Value+0.01 {
			t.Errorf("%s: %.4f is not above %.4f", c.name, x.Value, y.Value)
		}
	}
}

// TestReliabilityComputeIsIntegrity: compute results weigh as audits do,
// a wrong result as a failed audit, and are remembered as long.
func TestReliabilityComputeIsIntegrity(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	steady := func(p int) { probe(b, p, 0, 1000, 0.99, rand.New(rand.NewPCG(5, 1))) }
	for p, o := range map[int][2]gossip.Outcome{1: {gossip.AuditPassed, gossip.AuditFailed}, 2: {gossip.ComputeAgreed, gossip.ComputeWrong}} {
		steady(p)
		for range 9 {
			b.Observe(p, o[0], relAt(500))
		}
		b.Observe(p, o[1], relAt(500))
	}
	steady(3)
	// Now, and ten days on, when the probes have faded but integrity has not.
	for _, at := range []time.Time{relAt(1000), relAt(500).Add(10 * 24 * time.Hour)} {
		audit, compute, clean := b.Score(1, at), b.Score(2, at), b.Score(3, at)
		if math.Abs(audit.Value-compute.Value) > 1e-12 || math.Abs(audit.Evidence-compute.Evidence) > 1e-9 {
			t.Errorf("at %v: compute %+v, audit %+v", at, compute, audit)
		}
		if at.Equal(relAt(1000)) && compute.Value >= clean.Value-0.01 {
			t.Errorf("at %v: a wrong result left %.4f, the clean peer %.4f", at, compute.Value, clean.Value)
		}
	}
	if gossip.ComputeWrong.String() != "compute wrong" || gossip.ComputeAgreed.String() != "compute agreed" {
		t.Errorf("names %q, %q", gossip.ComputeAgreed, gossip.ComputeWrong)
	}
}

func TestReliabilityDecay(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{HalfLife: time.Hour})
	probe(b, 1, 0, 60, 0, nil) // an hour down
	b.Hear(2, []gossip.Report[int]{{Subject: 1, Score: 0, Weight: 20}}, relAt(60))
	fresh := b.Score(1, relAt(60))
	hour := b.Score(1, relAt(120))
	if r := hour.FirstHand / fresh.FirstHand; math.Abs(r-0.5) > 0.01 {
		t.Errorf("after one half-life first-hand evidence kept %.3f of its weight", r)
	}
	old := b.Score(1, relAt(60+20*60))
	if old.Evidence > fresh.Evidence*1e-5 {
		t.Errorf("after 20 half-lives %+v keeps evidence (was %+v)", old, fresh)
	}
	if math.Abs(old.Value-0.5) > 0.01 {
		t.Errorf("with its evidence faded a peer should fall back to the prior: %+v", old)
	}
	// New evidence now outweighs the old outage.
	probe(b, 1, 60+20*60, 10, 1, nil)
	if r := b.Score(1, relAt(60+20*60+10)); r.Value < 0.85 {
		t.Errorf("ten fresh answers after an outage 20 half-lives ago: %+v", r)
	}
	// Credibility fades too: a liar's bad name does not last for ever.
	for s := 10; s < 20; s++ {
		probe(b, s, 0, 20, 1, nil)
	}
	var lies []gossip.Report[int]
	for s := 10; s < 20; s++ {
		lies = append(lies, gossip.Report[int]{Subject: s, Score: 0, Weight: 20})
	}
	b.Hear(99, lies, relAt(20))
	if c := b.Credibility(99, relAt(20)); c > 0.2 {
		t.Errorf("a smearing reporter keeps credibility %.2f", c)
	}
	if c := b.Credibility(99, relAt(20+30*60)); c < 0.95 {
		t.Errorf("after 30 half-lives the reporter's credibility is still %.2f", c)
	}
}

func TestReliabilityNewcomerVettedGradually(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	prev := b.Score(1, relAt(0))
	if prev.Lower != 0 || prev.Evidence != 0 {
		t.Fatalf("unknown peer: %+v", prev)
	}
	for i := range 200 {
		b.Observe(1, gossip.ProbeAnswered, relAt(i))
		r := b.Score(1, relAt(i))
		if r.Lower < prev.Lower || r.Lower > r.Value || r.Value > 1 {
			t.Fatalf("after %d answers %+v (before %+v)", i+1, r, prev)
		}
		prev = r
	}
	if prev.Lower < 0.97 {
		t.Fatalf("200 answers leave the lower bound at %.3f", prev.Lower)
	}
}

func TestReliabilityReports(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	for s := 1; s <= 30; s++ {
		probe(b, s, 0, 10, float64(s)/30, nil)
	}
	b.Hear(99, []gossip.Report[int]{{Subject: 50, Score: 1, Weight: 10}}, relAt(10))
	all := b.Reports(relAt(10), 100, nil)
	if len(all) != 30 {
		t.Fatalf("%d reports of 30 first-hand subjects", len(all))
	}
	for _, r := range all {
		if r.Subject == 50 {
			t.Fatal("hearsay was reported as first-hand")
		}
		// probe answers the first round(p*10) probes; the oldest have
		// faded a little (ten minutes of a 24-hour half-life).
		var up float64
		for i := range 10 {
			if float64(i) < float64(r.Subject)/30*10+0.5 {
				up++
			}
		}
		if math.Abs(r.Score-up/10) > 0.01 || math.Abs(r.Weight-10) > 0.05 {
			t.Errorf("report %+v, want score %v weight 10", r, up/10)
		}
	}
	key := func(rs []gossip.Report[int]) string { return fmt.Sprint(rs) }
	x := b.Reports(relAt(10), 5, rand.New(rand.NewPCG(1, 1)))
	y := b.Reports(relAt(10), 5, rand.New(rand.NewPCG(1, 1)))
	z := b.Reports(relAt(10), 5, rand.New(rand.NewPCG(2, 1)))
	if len(x) != 5 || key(x) != key(y) || key(x) == key(z) {
		t.Fatalf("samples: %v, %v (same seed), %v (another seed)", x, y, z)
	}
	if b.Reports(relAt(10), 0, nil) != nil {
		t.Fatal("max 0 gave reports")
	}
}

func TestReliabilityForget(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	for s := 1; s <= 5; s++ {
		probe(b, s, 0, 10, 1, nil)
	}
	b.Hear(3, []gossip.Report[int]{{Subject: 1, Score: 0, Weight: 10}, {Subject: 2, Score: 0, Weight: 10}}, relAt(10))
	b.Forget(3)
	b.Forget(42)
	if s := b.Subjects(); fmt.Sprint(s) != "[1 2 5 4]" {
		t.Fatalf("subjects after forgetting 3: %v", s)
	}
	if r := b.Score(3, relAt(10)); r.Evidence != 0 {
		t.Fatalf("forgotten peer still rated: %+v", r)
	}
	if r := b.Score(1, relAt(10)); r.Reporters != 1 {
		t.Fatalf("a forgotten peer's votes about others stay until they fade: %+v", r)
	}
}

func TestReliabilityBoundedMemory(t *testing.T) {
	cfg := gossip.ReputationConfig{MaxSubjects: 64, MaxReporters: 4}
	b := newBook(t, 0, cfg)
	for s := 1; s <= 20; s++ {
		probe(b, s, 0, 40, 1, nil)
	}
	// Peers 21..40 are known by the hearsay of several reporters.
	for r := 100; r < 104; r++ {
		var rs []gossip.Report[int]
		for s := 21; s <= 40; s++ {
			rs = append(rs, gossip.Report[int]{Subject: s, Score: 0.9, Weight: 20})
		}
		b.Hear(r, rs, relAt(40))
	}
	// A flood: one reporter names 10,000 peers, 1,000 reporters name peer 1,
	// and 10,000 reporters make themselves known.
	var flood []gossip.Report[int]
	for s := 10_000; s < 20_000; s++ {
		flood = append(flood, gossip.Report[int]{Subject: s, Score: 1, Weight: 1e6})
	}
	b.Hear(666, flood, relAt(41))
	for r := 1000; r < 2000; r++ {
		b.Hear(r, []gossip.Report[int]{{Subject: 1, Score: 0, Weight: 1e6}}, relAt(41))
	}
	for r := 100_000; r < 110_000; r++ {
		b.Hear(r, []gossip.Report[int]{{Subject: 2, Score: 1, Weight: 100}}, relAt(41))
	}
	subjects, votes, reporters := b.Memory()
	if subjects > cfg.MaxSubjects || votes > cfg.MaxSubjects*cfg.MaxReporters || reporters > cfg.MaxSubjects {
		t.Fatalf("memory %d subjects, %d votes, %d reporters over the caps", subjects, votes, reporters)
	}
	for s := 1; s <= 40; s++ {
		if r := b.Score(s, relAt(41)); r.Evidence == 0 {
			t.Errorf("peer %d, known first-hand or by several reporters, was evicted by the flood", s)
		}
	}
	if r := b.Score(1, relAt(41)); r.Value < 0.7 {
		t.Errorf("1,000 reporters that peer 1 could judge smeared it to %+v", r)
	}
}

func TestReliabilityConfig(t *testing.T) {
	for _, c := range []gossip.ReputationConfig{
		{HalfLife: -1},
		{PriorMean: 2},
		{Trim: 0.6},
		{Trim: math.NaN()},
		{ReporterCap: -1},
		{MaxReporters: -1},
		{MaxReporters: gossip.MaxReputationReporters + 1},
		{MaxSubjects: -5},
		{Agree: 1.5},
	} {
		if _, err := c.WithDefaults(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	c, err := gossip.ReputationConfig{}.WithDefaults()
	if err != nil || c.HalfLife != 24*time.Hour || c.Trim != 0.5 || c.MaxReporters != 16 || c.MaxSubjects != 4096 {
		t.Fatalf("defaults %+v, %v", c, err)
	}
}

func TestReliabilityConcurrent(t *testing.T) {
	b := newBook(t, 0, gossip.ReputationConfig{})
	done := make(chan bool)
	for g := range 4 {
		go func() {
			for i := range 500 {
				b.Observe(1+i%7, gossip.ProbeAnswered, relAt(i))
				b.Hear(100+g, []gossip.Report[int]{{Subject: 1 + i%5, Score: 0.9, Weight: 5}}, relAt(i))
				b.Score(1+i%7, relAt(i))
				b.Reports(relAt(i), 3, nil)
			}
			done <- true
		}()
	}
	for range 4 {
		<-done
	}
	if r := b.Score(3, relAt(500)); r.Reporters != 4 || r.FirstHand == 0 {
		t.Fatalf("after concurrent use: %+v", r)
	}
}
