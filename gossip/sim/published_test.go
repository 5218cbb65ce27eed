package sim_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/gossip/sim"
)

func uniform(_ sim.Peer, rng *rand.Rand) []float64 { return []float64{rng.Float64()} }

// convergence runs averaging for cycles and returns the geometric mean of
// the per-cycle variance ratio.
func convergence(t *testing.T, cfg sim.Config, cycles int) float64 {
	t.Helper()
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Step() // the first Tick starts the epoch; values are in
	prev := s.Variance(0)
	logSum := 0.0
	for range cycles {
		s.Step()
		v := s.Variance(0)
		logSum += math.Log(v / prev)
		prev = v
	}
	return math.Exp(logSum / float64(cycles))
}

// TestAveragingConvergenceFactor: push-pull averaging cuts the variance
// by about 1/(2·sqrt(e)) ≈ 0.303 per cycle, and about 0.40 when 20% of
// exchanges are lost (Jelasity, Montresor, Babaoglu, TOCS 2005).
func TestAveragingConvergenceFactor(t *testing.T) {
	want := 1 / (2 * math.Sqrt(math.E))
	// With exchange loss p a node takes part in Bin(1,1-p)+Poisson(1-p)
	// exchanges, so the factor is (p+(1-p)/2)·e^(-(1-p)/2).
	lossy := (0.2 + 0.8/2) * math.Exp(-0.8/2)
	for _, tc := range []struct {
		name string
		cfg  sim.Config
		want float64
	}{
		{"uniform peers", sim.Config{UniformPeers: true}, want},
		{"cyclon peers", sim.Config{}, want},
		{"uniform peers, 20% lost", sim.Config{UniformPeers: true, Loss: 0.2}, lossy},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Nodes, cfg.Seed = 10000, 1
			cfg.Agg = gossip.AggConfig{Attributes: 1, EpochCycles: 1000}
			cfg.Values = uniform
			got := convergence(t, cfg, 15)
			t.Logf("variance factor per cycle %.3f (published %.3f)", got, tc.want)
			if math.Abs(got-tc.want) > 0.04 {
				t.Fatalf("variance factor %.3f, want %.3f ± 0.04", got, tc.want)
			}
		})
	}
}

// TestCounting: with several instances combined, every node's size
// estimate at 10,000 nodes is within 1% of the truth within 30 cycles.
func TestCounting(t *testing.T) {
	s, err := sim.New(sim.Config{Nodes: 10000, Seed: 2, Agg: gossip.AggConfig{EpochCycles: 30, Instances: 8}})
	if err != nil {
		t.Fatal(err)
	}
	s.Run(30)
	st := s.SizeEstimates(true)
	t.Logf("after 30 cycles: estimates %.1f..%.1f (mean %.2f) of 10000", st.Min, st.Max, st.Mean)
	if st.N != 10000 || st.Min < 9900 || st.Max > 10100 {
		t.Fatalf("after 30 cycles %d nodes estimate %.1f..%.1f, want 10000 ± 1%%", st.N, st.Min, st.Max)
	}
	// The next epoch publishes it as every node's estimate.
	s.Step()
	if last := s.SizeEstimates(false); last.N != 10000 || last.Min < 9900 || last.Max > 10100 {
		t.Fatalf("completed epoch: %+v", last)
	}
}

// TestCountingHalfDieMidEpoch: half the nodes crashing in the middle of an
// epoch does not throw the estimates off wildly, and the next epoch counts
// the survivors.
func TestCountingHalfDieMidEpoch(t *testing.T) {
	s, err := sim.New(sim.Config{Nodes: 10000, Seed: 3, Agg: gossip.AggConfig{EpochCycles: 30, Instances: 8}})
	if err != nil {
		t.Fatal(err)
	}
	s.Run(15)
	s.KillFraction(0.5)
	s.Run(16) // to the end of the epoch and into the next
	st := s.SizeEstimates(false)
	t.Logf("epoch with 50%% dying midway: estimates %.0f..%.0f (mean %.0f); 10000 at its start, 5000 at its end", st.Min, st.Max, st.Mean)
	if st.N != 5000 || st.Min < 5000*0.9 || st.Max > 10000*1.1 {
		t.Fatalf("estimates %.0f..%.0f over %d nodes: want between the sizes before and after", st.Min, st.Max, st.N)
	}
	s.Run(30)
	st = s.SizeEstimates(false)
	t.Logf("next epoch: estimates %.1f..%.1f of 5000", st.Min, st.Max)
	if st.Min < 5000*0.99 || st.Max > 5000*1.01 {
		t.Fatalf("the epoch after the crash estimates %.1f..%.1f, want 5000 ± 1%%", st.Min, st.Max)
	}
}

// TestCyclonInDegree: with view 20 and shuffle length 8 at 10,000 nodes
// the in-degree standard deviation settles near 1.5, where a random graph
// of the same out-degree has about 4.5 (Voulgaris et al. 2005).
func TestCyclonInDegree(t *testing.T) {
	s, err := sim.New(sim.Config{Nodes: 10000, Seed: 4, Cyclon: gossip.CyclonConfig{ViewSize: 20, ShuffleLen: 8}})
	if err != nil {
		t.Fatal(err)
	}
	random := s.InDegrees() // the start: every view 20 uniform random links
	s.Run(100)
	st := s.InDegrees()
	t.Logf("in-degree std: %.2f after 100 cycles, %.2f for the random start (published: about 1.5 and 4.5)", st.Std, random.Std)
	if st.Mean != 20 || st.Std > 2.0 || random.Std < 4 || random.Std > 5 {
		t.Fatalf("in-degree mean %.2f std %.2f (random start %.2f)", st.Mean, st.Std, random.Std)
	}
}

// TestCyclonSelfHealing: after half the nodes crash every dead link is
// purged within a few tens of cycles; after 70% crash the survivors stay
// in one connected component.
func TestCyclonSelfHealing(t *testing.T) {
	s, err := sim.New(sim.Config{Nodes: 10000, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	s.Run(50)
	s.KillFraction(0.5)
	dead0 := s.DeadLinks()
	cycles := 0
	for ; s.DeadLinks() > 0 && cycles < 100; cycles++ {
		s.Step()
	}
	t.Logf("50%% crashed: %d dead links purged in %d cycles", dead0, cycles)
	if s.DeadLinks() > 0 || cycles > 50 {
		t.Fatalf("%d dead links left after %d cycles", s.DeadLinks(), cycles)
	}
	s2, err := sim.New(sim.Config{Nodes: 10000, Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	s2.Run(50)
	s2.KillFraction(0.7)
	count, largest := s2.Components()
	t.Logf("70%% crashed: %d survivors in %d component(s), the largest %d", len(s2.Live()), count, largest)
	if count != 1 {
		t.Fatalf("after 70%% crashed the %d survivors form %d components", len(s2.Live()), count)
	}
}

// TestSlicingDisorderFalls: the ranking method's slice disorder falls
// toward zero as samples accumulate.
func TestSlicingDisorderFalls(t *testing.T) {
	s, err := sim.New(sim.Config{Nodes: 10000, Seed: 7, Slicing: true, RankWindow: 100000})
	if err != nil {
		t.Fatal(err)
	}
	var per []float64
	for _, c := range []int{1, 10, 40, 100} {
		s.Run(c - s.Cycle())
		_, d := s.SliceDisorder(10)
		per = append(per, d)
	}
	t.Logf("slice disorder per node (10 slices) after 1, 10, 40, 100 cycles: %.3f %.3f %.3f %.3f", per[0], per[1], per[2], per[3])
	for i := 1; i < len(per); i++ {
		if per[i] >= per[i-1] {
			t.Fatalf("disorder did not fall: %v", per)
		}
	}
	// The estimate's error shrinks as 1/sqrt(samples): nodes near a slice
	// boundary are the last to settle.
	if per[3] > per[0]/8 {
		t.Fatalf("disorder %.3f per node after 100 cycles, %.3f after 1", per[3], per[0])
	}
}

// TestTopKSpreads: the true top 10 reaches every node in about log3(N)
// cycles.
func TestTopKSpreads(t *testing.T) {
	const n = 10000
	s, err := sim.New(sim.Config{Nodes: n, Seed: 8, TopK: 10})
	if err != nil {
		t.Fatal(err)
	}
	cycles := 0
	for ; s.TopKReached() < 1 && cycles < 100; cycles++ {
		s.Step()
	}
	log3 := math.Log(n) / math.Log(3)
	t.Logf("top-10 at every one of %d nodes after %d cycles (log3 N = %.1f)", n, cycles, log3)
	if cycles > int(log3)+6 {
		t.Fatalf("top-k took %d cycles, log3(N) = %.1f", cycles, log3)
	}
}

// TestLiarsInGossip: in a simulated cloud where a fifth of the nodes lie
// about everyone in the reports that ride on their shuffles and a tenth of
// the honest ones are often away, nodes that place stripes by their
// reputation books give the liars no more than their fair share, leave no
// more steady honest peers out of their reliable slice than the same cloud
// without liars does, and give flaky nodes less than steady ones.
func TestLiarsInGossip(t *testing.T) {
	run := func(liars float64) sim.LiarFigures {
		s, err := sim.New(sim.Config{Nodes: 300, Seed: 9, Reputation: true, Probes: 16, Liars: liars, Flaky: 0.1, FlakyDown: 0.4})
		if err != nil {
			t.Fatal(err)
		}
		s.Run(300)
		f, err := s.PlaceByReputation(5, 1000, 4, 2)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	honest, lied := run(0), run(0.2)
	t.Logf("with 20%% liars: their share %.3f (fair %.3f), flaky share %.3f, steady honest out of the slice %d of %d (%d of %d without liars)",
		lied.LiarShare, lied.FairShare, lied.FlakyShare, lied.HonestOut, lied.Steady, honest.HonestOut, honest.Steady)
	if lied.LiarShare > lied.FairShare+0.02 {
		t.Fatalf("liars got %.3f of the shards, fair share %.3f", lied.LiarShare, lied.FairShare)
	}
	if out, base := float64(lied.HonestOut)/float64(lied.Steady), float64(honest.HonestOut)/float64(honest.Steady); out > base+0.01 {
		t.Fatalf("liars pushed %.1f%% of steady honest peers out of the slice (%.1f%% without liars)", 100*out, 100*base)
	}
	if lied.FlakyShare > 0.1*0.5 {
		t.Fatalf("flaky nodes (10%% of the honest) got %.3f of the shards", lied.FlakyShare)
	}
}
