package gossip

import (
	"fmt"
	"math"
)

// Key orders nodes for slicing and top-k: by Value, ties broken by Tie
// (a number derived from the node's identity), so every node has a
// distinct place in the order.
type Key struct {
	Value float64
	Tie   uint64
}

// Less reports whether k orders before o.
func (k Key) Less(o Key) bool {
	return k.Value < o.Value || k.Value == o.Value && k.Tie < o.Tie
}

// Ranker estimates one node's rank in the cloud by an attribute, by the
// ranking method of slicing (Fernández, Gramoli, Jiménez, Kermarrec and
// Raynal, "Distributed Slicing in Dynamic Systems", ICDCS 2007): the node
// counts, among the attribute values it samples from the peers gossip
// brings it, the fraction below its own. The estimate keeps converging
// under churn and when values change, unlike ordered slicing's swaps of
// random numbers, whose residual disorder never goes away: old samples
// fade (an exponential window of Window samples), so departed nodes and
// old values stop counting. Slices follow from the rank: with s slices the
// node is in slice floor(rank·s).
//
// Ranker is a state machine fed by Observe; it is not safe for concurrent
// use.
type Ranker struct {
	own   Key
	keep  float64 // per-sample fade: 1 - 1/Window
	below float64 // faded count of samples below own
	total float64 // faded count of samples
}

// DefaultWindow is the default number of recent samples a Ranker weighs.
const DefaultWindow = 1000

// NewRanker returns a Ranker for a node with key own that weighs about
// window recent samples (0: DefaultWindow).
func NewRanker(own Key, window int) (*Ranker, error) {
	if window == 0 {
		window = DefaultWindow
	}
	if window < 1 {
		return nil, fmt.Errorf("gossip: ranking window %d", window)
	}
	return &Ranker{own: own, keep: 1 - 1/float64(window)}, nil
}

// SetOwn changes the node's own key (its attribute changed). Samples seen
// so far still count until they fade.
func (r *Ranker) SetOwn(k Key) { r.own = k }

// Own returns the node's key.
func (r *Ranker) Own() Key { return r.own }

// Observe counts another node's key.
func (r *Ranker) Observe(k Key) {
	if k == r.own {
		return
	}
	r.below *= r.keep
	r.total *= r.keep
	if k.Less(r.own) {
		r.below++
	}
	r.total++
}

// Rank returns the estimated fraction of nodes ordered below this one, in
// [0, 1]; 0.5 before any sample.
func (r *Ranker) Rank() float64 {
	if r.total == 0 {
		return 0.5
	}
	return r.below / r.total
}

// Samples returns the faded number of samples the rank rests on.
func (r *Ranker) Samples() float64 { return r.total }

// Slice returns which of s equal slices the node is in, 0 the lowest.
func (r *Ranker) Slice(s int) int { return SliceOf(r.Rank(), s) }

// SliceOf maps a rank in [0, 1] to one of s equal slices.
func SliceOf(rank float64, s int) int {
	return min(s-1, max(0, int(math.Floor(rank*float64(s)))))
}

// InTop reports whether the node is among the top n of a cloud of the
// given (estimated) size: an absolute slice such as "the 50 most reliable
// nodes". Growing or shrinking such a slice is a change of n.
func (r *Ranker) InTop(n int, size float64) bool {
	return (1-r.Rank())*size < float64(n)
}
