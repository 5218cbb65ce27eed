package sim

import (
	"math"
	"slices"

	"github.com/murmur-cloud/murmur/gossip"
)

// Stats summarises a set of values.
type Stats struct {
	N                   int
	Mean, Std, Min, Max float64
}

func stats(v []float64) Stats {
	st := Stats{N: len(v), Min: math.Inf(1), Max: math.Inf(-1)}
	if len(v) == 0 {
		return Stats{}
	}
	for _, x := range v {
		st.Mean += x
		st.Min = math.Min(st.Min, x)
		st.Max = math.Max(st.Max, x)
	}
	st.Mean /= float64(len(v))
	for _, x := range v {
		st.Std += (x - st.Mean) * (x - st.Mean)
	}
	st.Std = math.Sqrt(st.Std / float64(len(v)))
	return st
}

// Variance returns the variance of the live nodes' current value of
// aggregation attribute i (over the nodes taking part in the epoch).
func (s *Sim) Variance(i int) float64 {
	var v []float64
	for _, p := range s.Live() {
		if _, joined := s.nodes[p].agg.Epoch(); joined {
			v = append(v, s.nodes[p].agg.Attr(i))
		}
	}
	st := stats(v)
	return st.Std * st.Std
}

// SizeEstimates summarises the live nodes' size estimates: of the epoch in
// progress if current, else of the last completed epoch (nodes without one
// are left out).
func (s *Sim) SizeEstimates(current bool) Stats {
	var v []float64
	for _, p := range s.Live() {
		a := s.nodes[p].agg
		e := a.Last()
		if current {
			e = a.Current()
		}
		if e.Size > 0 && !math.IsInf(e.Size, 0) {
			v = append(v, e.Size)
		}
	}
	return stats(v)
}

// InDegrees summarises how many live nodes' views link to each live node.
func (s *Sim) InDegrees() Stats {
	in := make([]float64, len(s.nodes))
	for _, p := range s.Live() {
		for _, e := range s.nodes[p].cy.View() {
			in[e.Peer]++
		}
	}
	v := make([]float64, 0, len(s.Live()))
	for _, p := range s.Live() {
		v = append(v, in[p])
	}
	return stats(v)
}

// DeadLinks counts the links in live nodes' views that lead to dead nodes.
func (s *Sim) DeadLinks() int {
	n := 0
	for _, p := range s.Live() {
		for _, e := range s.nodes[p].cy.View() {
			if !s.nodes[e.Peer].alive {
				n++
			}
		}
	}
	return n
}

// Components returns how many connected components the live nodes form
// (links taken as undirected, links to dead nodes ignored) and the size of
// the largest.
func (s *Sim) Components() (count, largest int) {
	parent := make([]Peer, len(s.nodes))
	for i := range parent {
		parent[i] = Peer(i)
	}
	var find func(Peer) Peer
	find = func(x Peer) Peer {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, p := range s.Live() {
		for _, e := range s.nodes[p].cy.View() {
			if s.nodes[e.Peer].alive {
				a, b := find(p), find(e.Peer)
				if a != b {
					parent[a] = b
				}
			}
		}
	}
	size := map[Peer]int{}
	for _, p := range s.Live() {
		size[find(p)]++
	}
	for _, n := range size {
		largest = max(largest, n)
	}
	return len(size), largest
}

// SliceDisorder returns the slice disorder measure over the live nodes for
// n slices: the sum over nodes of the distance between the slice a node
// believes it is in and its true one (by rank among the live nodes), and
// that sum divided by the number of nodes.
func (s *Sim) SliceDisorder(n int) (total int, perNode float64) {
	live := slices.Clone(s.Live())
	slices.SortFunc(live, func(a, b Peer) int { return cmpKey(s.keys[a], s.keys[b]) })
	for i, p := range live {
		truth := gossip.SliceOf(float64(i)/float64(len(live)), n)
		d := s.nodes[p].rank.Slice(n) - truth
		total += max(d, -d)
	}
	return total, float64(total) / float64(len(live))
}

func cmpKey(a, b gossip.Key) int {
	switch {
	case a.Less(b):
		return -1
	case b.Less(a):
		return 1
	}
	return 0
}

// TrueTopK returns the k live nodes with the highest keys, best first.
func (s *Sim) TrueTopK(k int) []Peer {
	live := slices.Clone(s.Live())
	slices.SortFunc(live, func(a, b Peer) int { return cmpKey(s.keys[b], s.keys[a]) })
	return live[:min(k, len(live))]
}

// TopKReached returns the fraction of live nodes whose top-k list is the
// true top k.
func (s *Sim) TopKReached() float64 {
	want := s.TrueTopK(s.cfg.TopK)
	ok := 0
	for _, p := range s.Live() {
		items := s.nodes[p].top.Items()
		if len(items) != len(want) {
			continue
		}
		same := true
		for i := range items {
			same = same && items[i].Peer == want[i]
		}
		if same {
			ok++
		}
	}
	return float64(ok) / float64(len(s.Live()))
}
