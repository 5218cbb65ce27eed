package proof

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/merkle"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// The encodings (docs/format.md, "Stripe records"):
//
//	challenge: version | shard ID(32) | nonce(16) | uvarint count | count × uvarint index
//	proof:     version | shard ID(32) | nonce(16) | uvarint size | uvarint count
//	           | count × (uvarint index | leaf bytes | uvarint n | n × sibling(32))
//	tree:      version | uvarint size | Leaves(size) × leaf hash(32)
//
// A leaf's length follows from the size and its index, and a path's from
// the index and the number of leaves; parsers check both, and accept only
// the canonical encoding.
const (
	// Version is the first byte of an encoded challenge, proof or tree.
	Version byte = 1
	// maxDepth is the longest path: that of a leaf of the largest shard.
	maxDepth = 13
	// MaxChallengeLen bounds an encoded challenge.
	MaxChallengeLen = 1 + 32 + NonceSize + 1 + MaxChallengeLeaves*2
	// MaxProofLen bounds an encoded proof.
	MaxProofLen = 1 + 32 + NonceSize + 4 + 1 + MaxChallengeLeaves*(2+LeafSize+1+maxDepth*32)
)

// AppendBinary appends the challenge's encoding to b.
func (c *Challenge) AppendBinary(b []byte) ([]byte, error) {
	if err := c.Check(erasure.MaxShardSize); err != nil {
		return nil, err
	}
	b = append(b, Version)
	b = append(b, c.Shard[:]...)
	b = append(b, c.Nonce[:]...)
	b = binary.AppendUvarint(b, uint64(len(c.Leaves)))
	for _, i := range c.Leaves {
		b = binary.AppendUvarint(b, uint64(i))
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (c *Challenge) MarshalBinary() ([]byte, error) { return c.AppendBinary(nil) }

// ParseChallenge decodes a challenge that fills b exactly.
func ParseChallenge(b []byte) (*Challenge, error) {
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown challenge version %d", ErrMalformed, v)
	}
	c := &Challenge{}
	copy(c.Shard[:], r.Bytes(32))
	copy(c.Nonce[:], r.Bytes(NonceSize))
	n := r.Count(MaxChallengeLeaves, 1)
	if r.Err() == nil {
		c.Leaves = make([]int, n)
	}
	for i := range c.Leaves {
		c.Leaves[i] = r.Int(MaxShardLeaves - 1)
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return c, wire.Canonical(b, c, ErrMalformed)
}

// AppendBinary appends the proof's encoding to b.
func (p *Proof) AppendBinary(b []byte) ([]byte, error) {
	if err := p.wellFormed(); err != nil {
		return nil, err
	}
	b = append(b, Version)
	b = append(b, p.Shard[:]...)
	b = append(b, p.Nonce[:]...)
	b = binary.AppendUvarint(b, uint64(p.Size))
	b = binary.AppendUvarint(b, uint64(len(p.Leaves)))
	for _, l := range p.Leaves {
		b = binary.AppendUvarint(b, uint64(l.Index))
		b = append(b, l.Data...)
		b = binary.AppendUvarint(b, uint64(len(l.Path)))
		for _, s := range l.Path {
			b = append(b, s[:]...)
		}
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (p *Proof) MarshalBinary() ([]byte, error) { return p.AppendBinary(nil) }

// wellFormed checks what the encoding relies on: lengths that follow
// from the size and the indices.
func (p *Proof) wellFormed() error {
	if p.Size < 0 || p.Size > erasure.MaxShardSize {
		return fmt.Errorf("%w: shard size %d", ErrMalformed, p.Size)
	}
	if len(p.Leaves) < 1 || len(p.Leaves) > MaxChallengeLeaves {
		return fmt.Errorf("%w: %d leaves", ErrMalformed, len(p.Leaves))
	}
	n := Leaves(p.Size)
	for _, l := range p.Leaves {
		switch {
		case l.Index < 0 || l.Index >= n:
			return fmt.Errorf("%w: leaf %d of a shard of %d", ErrMalformed, l.Index, n)
		case len(l.Data) != leafLen(p.Size, l.Index):
			return fmt.Errorf("%w: leaf %d has %d bytes, want %d", ErrMalformed, l.Index, len(l.Data), leafLen(p.Size, l.Index))
		case len(l.Path) != merkle.PathLen(l.Index, n):
			return fmt.Errorf("%w: leaf %d has a path of %d, want %d", ErrMalformed, l.Index, len(l.Path), merkle.PathLen(l.Index, n))
		}
	}
	return nil
}

// ParseProof decodes a proof that fills b exactly. The proof does not
// alias b.
func ParseProof(b []byte) (*Proof, error) {
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown proof version %d", ErrMalformed, v)
	}
	p := &Proof{}
	copy(p.Shard[:], r.Bytes(32))
	copy(p.Nonce[:], r.Bytes(NonceSize))
	p.Size = r.Int(erasure.MaxShardSize)
	n := Leaves(p.Size)
	// Each leaf takes at least 2 bytes (an index and a path length).
	count := r.Count(MaxChallengeLeaves, 2)
	if r.Err() == nil {
		p.Leaves = make([]Leaf, count)
	}
	for k := range p.Leaves {
		l := &p.Leaves[k]
		l.Index = r.Int(n - 1)
		l.Data = bytes.Clone(r.Bytes(leafLen(p.Size, l.Index)))
		depth := r.Count(maxDepth, 32)
		if r.Err() == nil {
			l.Path = make([]merkle.Hash, depth)
		}
		for j := range l.Path {
			copy(l.Path[j][:], r.Bytes(32))
		}
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return p, wire.Canonical(b, p, ErrMalformed)
}

// MarshalBinary encodes the tree, for a holder to keep beside its shard.
func (t *Tree) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, 1+binary.MaxVarintLen32+32*len(t.leaves))
	b = append(b, Version)
	b = binary.AppendUvarint(b, uint64(t.size))
	for _, l := range t.leaves {
		b = append(b, l[:]...)
	}
	return b, nil
}

// ParseTree decodes a tree that fills b exactly. It cannot tell whether
// the tree matches a shard: compare its Root with the shard's.
func ParseTree(b []byte) (*Tree, error) {
	r := wire.NewReader(b, ErrMalformed)
	if v := r.Byte(); r.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown tree version %d", ErrMalformed, v)
	}
	t := &Tree{size: r.Int(erasure.MaxShardSize)}
	if n := Leaves(t.size); r.Err() == nil && r.Len() != 32*n {
		r.Fail("a tree of %d leaves needs %d bytes, have %d", n, 32*n, r.Len())
	}
	if r.Err() == nil {
		t.leaves = make([]merkle.Hash, Leaves(t.size))
	}
	for i := range t.leaves {
		copy(t.leaves[i][:], r.Bytes(32))
	}
	r.Done()
	if r.Err() != nil {
		return nil, r.Err()
	}
	return t, wire.Canonical(b, t, ErrMalformed)
}
