package node

import (
	"cmp"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Compute, as far as the node goes: a node opts in with
// Config.ComputeSlots and gossips its slots, and how many are free, in its
// descriptor (gossip wire version 2); the compute layer above it (package
// compute, which imports node) runs the jobs, reports its free slots with
// SetComputeFree, picks peers for jobs with ComputePeers, and feeds what
// their results showed to the reputation book with Observe
// (gossip.ComputeAgreed, gossip.ComputeWrong).

// Compute limits and defaults.
const (
	MaxComputeSlots      = 1<<16 - 1 // what a descriptor carries
	DefaultComputeMemory = 256 << 20 // bytes a job may take
)

// ComputeConfig returns the compute slots this node offers and the memory
// a job may take, in bytes, defaults filled: DefaultComputeMemory when the
// node offers slots and its Config set no memory.
func (n *Node) ComputeConfig() (slots int, memory int64) {
	return n.cfg.ComputeSlots, n.cfg.ComputeMemory
}

// SetComputeFree sets how many of this node's compute slots are free now,
// clamped to [0, ComputeSlots]; the descriptors the node gossips from then
// on carry it. Until the first call every slot is free. Safe for
// concurrent use.
func (n *Node) SetComputeFree(free int) {
	n.gossip.computeFree.Store(int64(min(max(free, 0), n.cfg.ComputeSlots)))
}

// ComputePeer is a member that offers compute slots, as this node knows it.
type ComputePeer struct {
	ID          peer.ID
	Slots, Free int     // slots offered and free, by its latest descriptor
	Zone        string  // its failure zone, by the same
	Reliability float64 // this node's rating of it (1 for itself), as placement uses
}

// ComputePeers returns the members that offer compute slots: those in the
// gossip view, connected, or in the reputation book whose latest
// descriptor (its own word once it has spoken to this node, a third
// party's link before) has slots, and this node itself if it offers
// any. They are sorted by reliability, highest first, then by ID. Slots
// and Free are hints: a peer that takes a job it cannot run loses
// reliability. The slice is the caller's.
func (n *Node) ComputePeers() []ComputePeer {
	g := n.gossip
	now := n.cfg.Now()
	self := g.self()
	members := map[peer.ID]bool{}
	for _, p := range n.Peers() {
		members[p] = true
	}
	for _, p := range g.rep.Subjects() {
		members[p] = true
	}
	var out []ComputePeer
	g.mu.Lock()
	for _, e := range g.cy.View() {
		members[e.Peer] = true
	}
	for p := range members {
		e, ok := g.desc[p]
		if ok && e.d.Slots > 0 && p != n.ID() {
			out = append(out, ComputePeer{ID: p, Slots: int(e.d.Slots), Free: int(e.d.SlotsFree), Zone: e.d.Zone})
		}
	}
	g.mu.Unlock()
	for i := range out {
		out[i].Reliability = g.rep.Score(out[i].ID, now).Value
	}
	if self.Slots > 0 {
		// A node vouches for itself as far as it is up: it is.
		out = append(out, ComputePeer{ID: n.ID(), Slots: int(self.Slots), Free: int(self.SlotsFree), Zone: self.Zone, Reliability: 1})
	}
	slices.SortFunc(out, func(a, b ComputePeer) int {
		if c := cmp.Compare(b.Reliability, a.Reliability); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}
