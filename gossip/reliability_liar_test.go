package gossip_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/placement"
)

// liarWorld is the outcome of a simulated cloud in which some nodes lie in
// what they gossip about reliability.
type liarWorld struct {
	liarShare  float64 // the liars' share of the shards placed
	fairShare  float64 // their share of the peers that deserve shards
	honestOut  int     // steady honest peers outside an observer's reliable slice, summed over observers
	weakIn     int     // weak honest peers inside it, likewise
	liarValue  float64 // the liars' mean rating, over observers
	honestMean float64 // the steady honest peers' mean rating, likewise
}

// simulateLiars runs a cloud of 100 nodes for 1,000 one-minute cycles.
// Every node is up each cycle with probability 0.9 (two weak honest
// nodes: 0.6), and probes its own random 30 peers every cycle. Twenty
// nodes lie: in every gossip round (every 100 cycles) they report each
// other at 1.0 and every honest node at 0.0, with a huge weight, about
// all 99 peers; honest nodes report their first-hand evidence. Five
// honest observers hear everyone and each places 1,000 stripes of 4+2 over
// the other 99, by their ratings, with placement.Reliable.
func simulateLiars(t *testing.T, cfg gossip.ReputationConfig, slice float64) liarWorld {
	t.Helper()
	const (
		n           = 100
		liars       = 20
		probed      = 30
		cycles      = 1000
		gossipEvery = 100
		observers   = 5
		stripes     = 1000
	)
	rng := rand.New(rand.NewPCG(11, 12))
	order := rng.Perm(n)
	liar, weak := make([]bool, n), make([]bool, n)
	for _, i := range order[:liars] {
		liar[i] = true
	}
	for _, i := range order[liars : liars+2] {
		weak[i] = true
	}
	observer := order[liars+2 : liars+2+observers]
	avail, zone := make([]float64, n), make([]string, n)
	books, probes := make([]*gossip.Reputation[int], n), make([][]int, n)
	for i := range n {
		avail[i], zone[i] = 0.9, fmt.Sprint("zone", rng.IntN(4))
		if weak[i] {
			avail[i] = 0.6
		}
		b, err := gossip.NewReputation(i, cfg)
		if err != nil {
			t.Fatal(err)
		}
		books[i] = b
		for _, j := range rng.Perm(n - 1)[:probed] {
			probes[i] = append(probes[i], (i+1+j)%n) // anyone but i
		}
	}
	lies := make([][]gossip.Report[int], n)
	for i := range n {
		if !liar[i] {
			continue
		}
		for j := range n {
			if j != i {
				score := 0.0
				if liar[j] {
					score = 1
				}
				lies[i] = append(lies[i], gossip.Report[int]{Subject: j, Score: score, Weight: 1e12})
			}
		}
	}
	up := make([]bool, n)
	for c := range cycles {
		now := relAt(c)
		for j := range n {
			up[j] = rng.Float64() < avail[j]
		}
		for i := range n {
			for _, j := range probes[i] {
				o := gossip.ProbeUnanswered
				if up[j] {
					o = gossip.ProbeAnswered
				}
				books[i].Observe(j, o, now)
			}
		}
		if (c+1)%gossipEvery != 0 {
			continue
		}
		reports := make([][]gossip.Report[int], n)
		for j := range n {
			reports[j] = lies[j]
			if !liar[j] {
				reports[j] = books[j].Reports(now, n, rng)
			}
		}
		for _, i := range observer {
			for _, j := range rng.Perm(n) {
				books[i].Hear(j, reports[j], now)
			}
		}
	}

	var w liarWorld
	now := relAt(cycles)
	var shards, onLiars, liarN, honestN int
	for o, i := range observer {
		var cands []placement.Candidate
		var peers []int
		for j := range n {
			if j == i {
				continue
			}
			r := books[i].Score(j, now)
			cands = append(cands, placement.Candidate{ID: fmt.Sprint(j), Free: -1, Reliability: r.Value, Evidence: r.Evidence, Zone: zone[j]})
			peers = append(peers, j)
			switch {
			case liar[j]:
				w.liarValue += r.Value
				liarN++
			case !weak[j]:
				w.honestMean += r.Value
				honestN++
			}
		}
		p, err := placement.NewReliable(placement.ReliableConfig{Seed: uint64(o), Slice: slice})
		if err != nil {
			t.Fatal(err)
		}
		in := map[int]bool{}
		for _, k := range p.Slice(cands) {
			in[peers[k]] = true
		}
		for _, j := range peers {
			switch {
			case weak[j] && in[j]:
				w.weakIn++
			case !weak[j] && !liar[j] && !in[j]:
				w.honestOut++
			}
		}
		for range stripes {
			got, err := p.Place(cands, make([]int, 6))
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range got {
				shards++
				if liar[peers[k]] {
					onLiars++
				}
			}
		}
	}
	w.liarShare = float64(onLiars) / float64(shards)
	w.fairShare = float64(liars) / float64(n-1-2) // of the peers but the observer and the weak
	w.liarValue /= float64(liarN)
	w.honestMean /= float64(honestN)
	return w
}

// TestLiarsPlacement: with 20% of the nodes lying about reliability, their
// share of the shards stays within their fair share and no steady honest
// node falls out of the reliable slice.
func TestLiarsPlacement(t *testing.T) {
	for _, slice := range []float64{0.5, 0.2} {
		t.Run(fmt.Sprint("slice ", slice), func(t *testing.T) {
			w := simulateLiars(t, gossip.ReputationConfig{}, slice)
			t.Logf("%+v", w)
			if w.liarShare > w.fairShare+0.02 {
				t.Errorf("liars hold %.3f of the shards, their fair share is %.3f", w.liarShare, w.fairShare)
			}
			if w.honestOut != 0 {
				t.Errorf("%d steady honest peers fell out of an observer's reliable slice", w.honestOut)
			}
			if w.weakIn != 0 {
				t.Errorf("%d weak peers are in an observer's reliable slice: the slice does not select", w.weakIn)
			}
			if w.liarValue > w.honestMean+0.01 {
				t.Errorf("liars rate %.3f on average, steady honest peers %.3f", w.liarValue, w.honestMean)
			}
		})
	}
}

// TestLiarsPlacementNaive shows that the liars of TestLiarsPlacement would
// win against a book that believed hearsay — a plain mean, no cap on a
// reporter's weight, hearsay above first-hand evidence, no credibility —
// so each of TestLiarsPlacement's checks can fail. (With the default
// slice of half the peers, smearing every honest peer to 0 flattens them
// into one band that the slice takes whole, so the liars' share of shards
// stays fair; a narrower slice shows it.)
func TestLiarsPlacementNaive(t *testing.T) {
	believer := gossip.ReputationConfig{Trim: 1e-9, ReporterCap: 1e15, HearsayWeight: 1e15, Judge: 1e15, MaxReporters: 128}
	w := simulateLiars(t, believer, 0.5)
	t.Logf("slice 0.5: %+v", w)
	if w.weakIn == 0 || w.liarValue < w.honestMean+0.5 {
		t.Errorf("believing hearsay, the weak peers stay out of the slice and liars rate %.3f, honest peers %.3f", w.liarValue, w.honestMean)
	}
	w = simulateLiars(t, believer, 0.2)
	t.Logf("slice 0.2: %+v", w)
	if w.liarShare < 0.9 || w.honestOut == 0 {
		t.Errorf("believing hearsay, liars hold only %.3f of the shards (fair %.3f) and %d honest peers fell out", w.liarShare, w.fairShare, w.honestOut)
	}
}
