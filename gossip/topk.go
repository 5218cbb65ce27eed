package gossip

import (
	"fmt"
	"slices"
)

// Item is one node in a top-k answer.
type Item[P comparable] struct {
	Peer P
	Key  Key
}

// TopK answers "the k nodes with the highest key" by gossip: each node
// keeps the k best items it has heard of and merges lists with a peer in
// every exchange (push-pull), so the answer spreads like an epidemic and
// reaches every node in about log3(N) cycles. A node keeps the highest key
// it has heard for a peer, so a driver tracks changing values by starting
// over (Reset) every aggregation epoch; a node that left is dropped with
// Remove. The state machine is driven by Items and Merge; it is not safe
// for concurrent use.
type TopK[P comparable] struct {
	k     int
	items []Item[P] // best first
	spare []Item[P]
}

// MaxTopK bounds k (and so a top-k message).
const MaxTopK = 1024

// NewTopK returns a node's top-k state, knowing only itself.
func NewTopK[P comparable](k int, self Item[P]) (*TopK[P], error) {
	if k < 1 || k > MaxTopK {
		return nil, fmt.Errorf("gossip: top-k with k=%d", k)
	}
	t := &TopK[P]{k: k, items: make([]Item[P], 0, k), spare: make([]Item[P], 0, k)}
	t.items = append(t.items, self)
	return t, nil
}

// Reset forgets everything but the node itself.
func (t *TopK[P]) Reset(self Item[P]) {
	t.items = append(t.items[:0], self)
}

// Items returns the best items known, best first; the slice is the
// TopK's own until the next Merge.
func (t *TopK[P]) Items() []Item[P] { return t.items }

// Update sets the key of a node (this one's own when its value changes).
func (t *TopK[P]) Update(it Item[P]) {
	t.Remove(it.Peer)
	t.Merge([]Item[P]{it})
}

// Remove drops a node (one that left).
func (t *TopK[P]) Remove(p P) {
	t.items = slices.DeleteFunc(t.items, func(it Item[P]) bool { return it.Peer == p })
}

// Merge takes in a peer's list, keeping the k best distinct nodes (for a
// node listed twice, its higher key). A list not in best-first order is
// sorted first.
func (t *TopK[P]) Merge(other []Item[P]) {
	if !slices.IsSortedFunc(other, byKeyDesc[P]) {
		other = slices.SortedFunc(slices.Values(other), byKeyDesc[P])
	}
	out := t.spare[:0]
	a, b := t.items, other
	for len(out) < t.k && (len(a) > 0 || len(b) > 0) {
		var next Item[P]
		switch {
		case len(b) == 0 || len(a) > 0 && !a[0].Key.Less(b[0].Key):
			next, a = a[0], a[1:]
		default:
			next, b = b[0], b[1:]
		}
		if !containsPeer(out, next.Peer) {
			out = append(out, next)
		}
	}
	t.spare = t.items
	t.items = out
}

func byKeyDesc[P comparable](a, b Item[P]) int {
	switch {
	case b.Key.Less(a.Key):
		return -1
	case a.Key.Less(b.Key):
		return 1
	}
	return 0
}

func containsPeer[P comparable](items []Item[P], p P) bool {
	for _, it := range items {
		if it.Peer == p {
			return true
		}
	}
	return false
}
