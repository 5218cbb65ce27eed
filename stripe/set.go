package stripe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/murmur-cloud/murmur/internal/merkle"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// MaxSet bounds the stripes one retention or release covers.
const MaxSet = 1 << 24

// maxSetDepth is the longest path in a set of MaxSet.
const maxSetDepth = 24

// The BLAKE3 derive-key contexts of a set's tree.
const (
	setLeafContext = "murmur stripe set leaf v1"
	setNodeContext = "murmur stripe set node v1"
)

func newSetHasher() *merkle.Hasher { return merkle.NewHasher(setLeafContext, setNodeContext) }

// Set is the stripes a retention or release covers: their IDs in
// ascending order, each once, as the leaves of a hash tree.
type Set struct {
	ids    []ID
	levels [][]merkle.Hash
}

// NewSet returns the set of ids (in any order, repeats ignored): 1 to
// MaxSet stripes.
func NewSet(ids []ID) (*Set, error) {
	ids = slices.Clone(ids)
	slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	ids = slices.Compact(ids)
	if len(ids) < 1 || len(ids) > MaxSet {
		return nil, fmt.Errorf("%w: a set of %d stripes, want 1..%d", ErrBadStatement, len(ids), MaxSet)
	}
	h := newSetHasher()
	leaves := make([]merkle.Hash, len(ids))
	for i, id := range ids {
		leaves[i] = h.Leaf(id[:])
	}
	return &Set{ids: ids, levels: h.Levels(leaves)}, nil
}

// Len returns the number of stripes in the set.
func (s *Set) Len() int { return len(s.ids) }

// IDs returns the stripes, ascending. The caller must not change them.
func (s *Set) IDs() []ID { return s.ids }

// Root returns the root of the set's tree, which a statement signs.
func (s *Set) Root() [32]byte { return s.levels[len(s.levels)-1][0] }

// Path returns where id is in the set, and false if it is not.
func (s *Set) Path(id ID) (Path, bool) {
	i, ok := slices.BinarySearchFunc(s.ids, id, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	if !ok {
		return Path{}, false
	}
	return Path{Index: i, Siblings: merkle.Path(s.levels, i)}, true
}

// Path is where a stripe is in a set: its index and its siblings in the
// set's tree, bottom up.
type Path struct {
	Index    int
	Siblings [][32]byte
}

// leadsTo reports whether p shows id in a set of count stripes with the
// root given.
func (p Path) leadsTo(id ID, count int, root [32]byte) bool {
	h := newSetHasher()
	got, ok := h.RootFromPath(h.Leaf(id[:]), p.Index, count, p.Siblings)
	return ok && got == root
}

// AppendBinary appends the path's encoding to b:
//
//	uvarint index | uvarint n | n × sibling(32)
func (p Path) AppendBinary(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(p.Index))
	b = binary.AppendUvarint(b, uint64(len(p.Siblings)))
	for _, s := range p.Siblings {
		b = append(b, s[:]...)
	}
	return b
}

// readPath reads a path from r; whether it fits its set is checked by
// the statement it is used with.
func readPath(r *wire.Reader) Path {
	p := Path{Index: r.Int(MaxSet - 1)}
	n := r.Count(maxSetDepth, 32)
	if r.Err() != nil {
		return Path{}
	}
	p.Siblings = make([][32]byte, n)
	for i := range p.Siblings {
		copy(p.Siblings[i][:], r.Bytes(32))
	}
	return p
}
