package proof

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/zeebo/blake3"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/merkle"
)

const (
	// LeafSize is the length of every leaf but a shard's last.
	LeafSize = 8 << 10
	// MaxShardLeaves is the number of leaves of the largest shard.
	MaxShardLeaves = erasure.MaxShardSize / LeafSize
	// MaxChallengeLeaves bounds the leaves one challenge asks for.
	MaxChallengeLeaves = 64
	// NonceSize is the length of a challenge's nonce.
	NonceSize = 16
)

// The BLAKE3 derive-key contexts of the proof tree.
const (
	leafContext = "murmur proof leaf v1"
	nodeContext = "murmur proof node v1"
	rootContext = "murmur proof root v1"
)

var (
	// ErrMalformed reports an encoded challenge, proof or tree that does
	// not parse.
	ErrMalformed = errors.New("proof: malformed encoding")
	// ErrBadProof reports a proof that does not answer its challenge.
	ErrBadProof = errors.New("proof: the proof does not verify")
	// ErrBadChallenge reports a challenge a shard cannot answer: a leaf
	// it does not have, leaves out of order, too many.
	ErrBadChallenge = errors.New("proof: invalid challenge")
	// ErrCorrupt reports, to a holder proving, that the leaves it read do
	// not match the tree it keeps: its copy of the shard has rotted.
	ErrCorrupt = errors.New("proof: the shard does not match its tree")
)

// Root is a shard's proof root.
type Root [32]byte

// String returns the root in lowercase hex.
func (r Root) String() string { return hex.EncodeToString(r[:]) }

// Nonce makes a challenge unique.
type Nonce [NonceSize]byte

// Leaves returns the number of leaves of a shard of size bytes.
func Leaves(size int) int { return max(1, (size+LeafSize-1)/LeafSize) }

// leafLen returns the length of leaf i of a shard of size bytes.
func leafLen(size, i int) int { return min(LeafSize, size-i*LeafSize) }

func newHasher() *merkle.Hasher { return merkle.NewHasher(leafContext, nodeContext) }

// rootOf binds the tree's top to the shard's length, so that the root
// fixes the number of leaves and the last one's length.
func rootOf(size int, top merkle.Hash) Root {
	h := blake3.NewDeriveKey(rootContext)
	var b [8 + 32]byte
	binary.BigEndian.PutUint64(b[:8], uint64(size))
	copy(b[8:], top[:])
	_, _ = h.Write(b[:])
	var r Root
	h.Sum(r[:0])
	return r
}

// Hasher computes a shard's proof root as the shard streams through it,
// in O(log n) memory. It is an io.Writer that never fails.
type Hasher struct {
	h      *merkle.Hasher
	stack  *merkle.Stack
	leaves []merkle.Hash // kept only when building a Tree
	keep   bool
	buf    []byte
	size   int
}

// NewHasher returns a Hasher for a shard's bytes.
func NewHasher() *Hasher {
	h := newHasher()
	return &Hasher{h: h, stack: merkle.NewStack(h), buf: make([]byte, 0, LeafSize)}
}

func (h *Hasher) leaf(b []byte) {
	l := h.h.Leaf(b)
	h.stack.Push(l)
	if h.keep {
		h.leaves = append(h.leaves, l)
	}
}

// Write adds p to the shard.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	h.size += n
	for len(p) > 0 {
		// A full leaf waits in buf until more bytes come: if none do,
		// it is the last leaf.
		if len(h.buf) == LeafSize {
			h.leaf(h.buf)
			h.buf = h.buf[:0]
		}
		if len(h.buf) == 0 && len(p) > LeafSize {
			h.leaf(p[:LeafSize])
			p = p[LeafSize:]
			continue
		}
		k := min(len(p), LeafSize-len(h.buf))
		h.buf, p = append(h.buf, p[:k]...), p[k:]
	}
	return n, nil
}

// Size returns the number of bytes written.
func (h *Hasher) Size() int { return h.size }

// Root returns the proof root of the bytes written so far. The Hasher
// stays usable.
func (h *Hasher) Root() Root {
	// The pending leaf is the last one (or the one empty leaf).
	s := h.stack.Clone()
	s.Push(h.h.Leaf(h.buf))
	return rootOf(h.size, s.Root())
}

// RootOf returns the proof root of a shard.
func RootOf(shard []byte) Root {
	h := NewHasher()
	_, _ = h.Write(shard)
	return h.Root()
}

// Tree is a shard's leaf hashes: what a holder keeps beside the shard to
// answer challenges by reading only the leaves asked for. A Tree is
// immutable.
type Tree struct {
	size   int
	leaves []merkle.Hash
}

// NewTree hashes a shard's leaves.
func NewTree(shard []byte) *Tree {
	t, _ := ReadTree(bytes.NewReader(shard))
	return t
}

// ReadTree hashes the leaves of the shard r reads to its end.
func ReadTree(r io.Reader) (*Tree, error) {
	h := NewHasher()
	h.keep = true
	if _, err := io.Copy(h, r); err != nil {
		return nil, err
	}
	leaves := append(h.leaves, h.h.Leaf(h.buf))
	return &Tree{size: h.size, leaves: leaves}, nil
}

// Size returns the shard's length.
func (t *Tree) Size() int { return t.size }

// Root returns the shard's proof root.
func (t *Tree) Root() Root {
	s := merkle.NewStack(newHasher())
	for _, l := range t.leaves {
		s.Push(l)
	}
	return rootOf(t.size, s.Root())
}

// Challenge asks the holder of a shard for some of its leaves.
type Challenge struct {
	Shard  erasure.ShardID
	Nonce  Nonce
	Leaves []int // leaf indices, ascending, 1..MaxChallengeLeaves of them
}

// Check reports whether a shard of size bytes can answer c.
func (c *Challenge) Check(size int) error {
	n := Leaves(size)
	switch {
	case len(c.Leaves) < 1 || len(c.Leaves) > MaxChallengeLeaves:
		return fmt.Errorf("%w: %d leaves asked, want 1..%d", ErrBadChallenge, len(c.Leaves), MaxChallengeLeaves)
	case c.Leaves[0] < 0 || c.Leaves[len(c.Leaves)-1] >= n:
		return fmt.Errorf("%w: leaves %d..%d asked of a shard of %d", ErrBadChallenge, c.Leaves[0], c.Leaves[len(c.Leaves)-1], n)
	}
	for i := 1; i < len(c.Leaves); i++ {
		if c.Leaves[i] <= c.Leaves[i-1] {
			return fmt.Errorf("%w: leaves not in ascending order", ErrBadChallenge)
		}
	}
	return nil
}

// Leaf is one leaf of a proof with its sibling path, bottom up.
type Leaf struct {
	Index int
	Data  []byte
	Path  []merkle.Hash
}

// Proof answers a Challenge: the leaves it asked for, in its order, for
// its shard and nonce.
type Proof struct {
	Shard  erasure.ShardID
	Nonce  Nonce
	Size   int // the shard's length, bound into its root
	Leaves []Leaf
}

// Prove answers ch from a whole shard in memory. It hashes every leaf;
// a holder that keeps the shard's Tree answers with Tree.Prove instead.
func Prove(shard []byte, ch *Challenge) (*Proof, error) {
	return NewTree(shard).Prove(ch, bytes.NewReader(shard))
}

// Prove answers ch, reading the leaves asked for from shard, the bytes t
// was made from. A leaf that no longer matches t fails with ErrCorrupt:
// the holder's copy has rotted and the shard needs repair.
func (t *Tree) Prove(ch *Challenge, shard io.ReaderAt) (*Proof, error) {
	if err := ch.Check(t.size); err != nil {
		return nil, err
	}
	h := newHasher()
	levels := h.Levels(t.leaves)
	p := &Proof{Shard: ch.Shard, Nonce: ch.Nonce, Size: t.size, Leaves: make([]Leaf, len(ch.Leaves))}
	for k, i := range ch.Leaves {
		data := make([]byte, leafLen(t.size, i))
		// ReaderAt may report io.EOF with a full read of the last bytes.
		if n, err := shard.ReadAt(data, int64(i)*LeafSize); n < len(data) {
			return nil, fmt.Errorf("proof: reading leaf %d: %w", i, cmp.Or(err, io.ErrUnexpectedEOF))
		}
		if h.Leaf(data) != t.leaves[i] {
			return nil, fmt.Errorf("%w: leaf %d of shard %s", ErrCorrupt, i, ch.Shard.Short())
		}
		p.Leaves[k] = Leaf{Index: i, Data: data, Path: merkle.Path(levels, i)}
	}
	return p, nil
}

// Verify checks that p answers ch for the shard whose proof root is root.
// It returns nil or an error wrapping ErrBadProof.
func Verify(root Root, ch *Challenge, p *Proof) error {
	switch {
	case p.Shard != ch.Shard:
		return fmt.Errorf("%w: a proof for shard %s, asked for %s", ErrBadProof, p.Shard.Short(), ch.Shard.Short())
	case p.Nonce != ch.Nonce:
		return fmt.Errorf("%w: it answers another challenge", ErrBadProof)
	case p.Size < 0 || p.Size > erasure.MaxShardSize:
		return fmt.Errorf("%w: shard size %d", ErrBadProof, p.Size)
	case len(p.Leaves) != len(ch.Leaves):
		return fmt.Errorf("%w: %d leaves, %d asked", ErrBadProof, len(p.Leaves), len(ch.Leaves))
	}
	h, n := newHasher(), Leaves(p.Size)
	for k, l := range p.Leaves {
		switch {
		case l.Index != ch.Leaves[k]:
			return fmt.Errorf("%w: leaf %d where %d was asked", ErrBadProof, l.Index, ch.Leaves[k])
		case l.Index < 0 || l.Index >= n:
			return fmt.Errorf("%w: leaf %d of a shard of %d", ErrBadProof, l.Index, n)
		case len(l.Data) != leafLen(p.Size, l.Index):
			return fmt.Errorf("%w: leaf %d has %d bytes, want %d", ErrBadProof, l.Index, len(l.Data), leafLen(p.Size, l.Index))
		}
		top, ok := h.RootFromPath(h.Leaf(l.Data), l.Index, n, l.Path)
		if !ok {
			return fmt.Errorf("%w: leaf %d has a path of %d, want %d", ErrBadProof, l.Index, len(l.Path), merkle.PathLen(l.Index, n))
		}
		if rootOf(p.Size, top) != root {
			return fmt.Errorf("%w: leaf %d does not lead to the root", ErrBadProof, l.Index)
		}
	}
	return nil
}
