package sim

import (
	"fmt"

	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/placement"
)

// reportsPerMessage is how many reputation reports ride on one shuffle
// message.
const reportsPerMessage = 8

// probe records, in p's book, whether q answered.
func (s *Sim) probe(p, q Peer, answered bool) {
	if r := s.nodes[p].rep; r != nil {
		o := gossip.ProbeUnanswered
		if answered {
			o = gossip.ProbeAnswered
		}
		r.Observe(q, o, s.Now())
	}
}

// report delivers from's reputation reports to to, as they would ride on a
// shuffle message: an honest node's first-hand summaries, or a liar's lies
// about as many random peers.
func (s *Sim) report(from, to Peer) {
	book := s.nodes[to].rep
	if book == nil {
		return
	}
	var reports []gossip.Report[Peer]
	if s.nodes[from].liar {
		for range reportsPerMessage {
			subj := Peer(s.rng.IntN(len(s.nodes)))
			score := 0.0
			if s.nodes[subj].liar {
				score = 1
			}
			reports = append(reports, gossip.Report[Peer]{Subject: subj, Score: score, Weight: 1e9})
		}
	} else {
		reports = s.nodes[from].rep.Reports(s.Now(), reportsPerMessage, s.rng)
	}
	book.Hear(from, reports, s.Now())
}

// LiarFigures is what lying did to placement.
type LiarFigures struct {
	Observers  int
	Stripes    int     // placed per observer
	LiarShare  float64 // of the shards placed
	FairShare  float64 // the liars' share of the peers that deserve shards
	HonestOut  int     // steady honest peers outside an observer's reliable slice (summed)
	Steady     int     // steady honest peers known to the observers (summed)
	FlakyShare float64 // of the shards placed on flaky nodes
}

// PlaceByReputation has `observers` live, steady, honest nodes place
// `stripes` stripes of k+m shards each over the peers their books know,
// with placement.Reliable, and reports the liars' share of the shards
// against their fair share (their share of the steady peers and liars,
// all equally available), and how many steady honest peers each observer
// left out of its reliable slice.
func (s *Sim) PlaceByReputation(observers, stripes, k, m int) (LiarFigures, error) {
	f := LiarFigures{Observers: observers, Stripes: stripes}
	var shards, onLiars, onFlaky, deserving, liars int
	seen := 0
	for _, o := range s.Live() {
		n := s.nodes[o]
		if seen == observers {
			break
		}
		if n.rep == nil || n.liar || n.flaky {
			continue
		}
		seen++
		var cands []placement.Candidate
		var peers []Peer
		for _, q := range n.rep.Subjects() {
			if !s.nodes[q].alive {
				continue
			}
			r := n.rep.Score(q, s.Now())
			cands = append(cands, placement.Candidate{ID: fmt.Sprint(q), Free: -1, Reliability: r.Value, Evidence: r.Evidence})
			peers = append(peers, q)
			switch {
			case s.nodes[q].liar:
				liars++
				deserving++
			case !s.nodes[q].flaky:
				deserving++
			}
		}
		p, err := placement.NewReliable(placement.ReliableConfig{Seed: uint64(o)})
		if err != nil {
			return f, err
		}
		in := map[Peer]bool{}
		for _, i := range p.Slice(cands) {
			in[peers[i]] = true
		}
		for _, q := range peers {
			if !s.nodes[q].liar && !s.nodes[q].flaky {
				f.Steady++
				if !in[q] {
					f.HonestOut++
				}
			}
		}
		for range stripes {
			got, err := p.Place(cands, make([]int, k+m))
			if err != nil {
				return f, err
			}
			for _, i := range got {
				shards++
				switch q := peers[i]; {
				case s.nodes[q].liar:
					onLiars++
				case s.nodes[q].flaky:
					onFlaky++
				}
			}
		}
	}
	if seen < observers || shards == 0 || deserving == 0 {
		return f, fmt.Errorf("sim: %d observers placed %d shards", seen, shards)
	}
	f.Observers = seen
	f.LiarShare = float64(onLiars) / float64(shards)
	f.FlakyShare = float64(onFlaky) / float64(shards)
	f.FairShare = float64(liars) / float64(deserving)
	return f, nil
}
