// Package merkle is the binary hash tree under Murmur's proofs of storage
// (stripe/proof) and under the sets of stripes an owner signs at once
// (stripe): a tree over n leaf hashes whose levels pair neighbours from the
// left and carry an unpaired last node up unchanged. That is the shape of
// RFC 6962's tree (the left subtree of n leaves holds the largest power of
// two below n), built level by level.
//
// A Scheme names the tree's use: its leaves and inner nodes are hashed
// under BLAKE3 derive-key contexts of their own, so a leaf is never taken
// for a node, nor one use's tree for another's. What the leaves and the
// root stand for is the caller's business.
package merkle

import (
	"slices"

	"github.com/zeebo/blake3"
)

// Hash is a leaf, inner node or root of a tree.
type Hash = [32]byte

// Hasher hashes the leaves and inner nodes of one scheme. It is not safe
// for concurrent use; NewHasher is cheap enough to make one per tree.
type Hasher struct {
	leaf, node *blake3.Hasher
	pair       [64]byte
}

// NewHasher returns a hasher whose leaves are hashed under the BLAKE3
// derive-key context leafContext and whose nodes under nodeContext.
func NewHasher(leafContext, nodeContext string) *Hasher {
	return &Hasher{leaf: blake3.NewDeriveKey(leafContext), node: blake3.NewDeriveKey(nodeContext)}
}

// Leaf returns the hash of a leaf's bytes.
func (h *Hasher) Leaf(b []byte) Hash {
	h.leaf.Reset()
	_, _ = h.leaf.Write(b)
	var out Hash
	h.leaf.Sum(out[:0])
	return out
}

// Node returns the hash of an inner node with children l and r.
func (h *Hasher) Node(l, r Hash) Hash {
	copy(h.pair[:32], l[:])
	copy(h.pair[32:], r[:])
	h.node.Reset()
	_, _ = h.node.Write(h.pair[:])
	var out Hash
	h.node.Sum(out[:0])
	return out
}

// Levels returns every level of the tree over leaves: levels[0] is leaves
// itself, each next level pairs neighbours and carries an unpaired last
// node up, and the last level holds the root alone. It returns nil for no
// leaves.
func (h *Hasher) Levels(leaves []Hash) [][]Hash {
	if len(leaves) == 0 {
		return nil
	}
	levels := [][]Hash{leaves}
	for cur := leaves; len(cur) > 1; {
		next := make([]Hash, (len(cur)+1)/2)
		for i := range next {
			if 2*i+1 < len(cur) {
				next[i] = h.Node(cur[2*i], cur[2*i+1])
			} else {
				next[i] = cur[2*i]
			}
		}
		levels = append(levels, next)
		cur = next
	}
	return levels
}

// Path returns the siblings of leaf i from the bottom up, for levels made
// by Levels; an unpaired node has no sibling at its level.
func Path(levels [][]Hash, i int) []Hash {
	var path []Hash
	for _, level := range levels[:len(levels)-1] {
		if s := i ^ 1; s < len(level) {
			path = append(path, level[s])
		}
		i >>= 1
	}
	return path
}

// PathLen returns the number of siblings on the path of leaf i of n, or -1
// if i is not a leaf of a tree of n.
func PathLen(i, n int) int {
	if i < 0 || i >= n {
		return -1
	}
	k := 0
	for ; n > 1; n = (n + 1) / 2 {
		if i^1 < n {
			k++
		}
		i >>= 1
	}
	return k
}

// RootFromPath returns the root that leaf, the hash of leaf i of n, and
// its path imply, and false if i is not a leaf of n or the path has the
// wrong length.
func (h *Hasher) RootFromPath(leaf Hash, i, n int, path []Hash) (Hash, bool) {
	if PathLen(i, n) != len(path) {
		return Hash{}, false
	}
	for ; n > 1; n = (n + 1) / 2 {
		switch {
		case i^1 >= n: // unpaired: carried up
		case i&1 == 0:
			leaf, path = h.Node(leaf, path[0]), path[1:]
		default:
			leaf, path = h.Node(path[0], leaf), path[1:]
		}
		i >>= 1
	}
	return leaf, true
}

// Stack computes a tree's root from its leaves one at a time, in
// O(log n) memory: it keeps the roots of the perfect subtrees so far,
// largest first, and merges two of equal size as soon as they meet.
type Stack struct {
	h     *Hasher
	nodes []Hash
	sizes []uint64
	n     uint64
}

// NewStack returns an empty stack hashing with h.
func NewStack(h *Hasher) *Stack { return &Stack{h: h} }

// Push adds the next leaf hash.
func (s *Stack) Push(leaf Hash) {
	s.nodes, s.sizes = append(s.nodes, leaf), append(s.sizes, 1)
	for k := len(s.nodes); k >= 2 && s.sizes[k-1] == s.sizes[k-2]; k-- {
		s.nodes[k-2] = s.h.Node(s.nodes[k-2], s.nodes[k-1])
		s.sizes[k-2] *= 2
		s.nodes, s.sizes = s.nodes[:k-1], s.sizes[:k-1]
	}
	s.n++
}

// Clone returns a copy of s that can be pushed to apart from it.
func (s *Stack) Clone() *Stack {
	return &Stack{h: s.h, nodes: slices.Clone(s.nodes), sizes: slices.Clone(s.sizes), n: s.n}
}

// Len returns the number of leaves pushed.
func (s *Stack) Len() uint64 { return s.n }

// Root returns the root of the leaves pushed so far (the zero Hash for
// none). The stack stays usable.
func (s *Stack) Root() Hash {
	if len(s.nodes) == 0 {
		return Hash{}
	}
	root := s.nodes[len(s.nodes)-1]
	for k := len(s.nodes) - 2; k >= 0; k-- {
		root = s.h.Node(s.nodes[k], root)
	}
	return root
}
