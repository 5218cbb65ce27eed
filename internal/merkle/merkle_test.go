package merkle_test

import (
	"encoding/binary"
	"testing"

	"github.com/murmur-cloud/murmur/internal/merkle"
)

func leaves(h *merkle.Hasher, n int) []merkle.Hash {
	l := make([]merkle.Hash, n)
	for i := range l {
		l[i] = h.Leaf(binary.BigEndian.AppendUint32(nil, uint32(i)))
	}
	return l
}

// rfc6962 is the tree of RFC 6962 §2.1, written from its definition.
func rfc6962(h *merkle.Hasher, l []merkle.Hash) merkle.Hash {
	if len(l) == 1 {
		return l[0]
	}
	k := 1
	for k*2 < len(l) {
		k *= 2
	}
	return h.Node(rfc6962(h, l[:k]), rfc6962(h, l[k:]))
}

// TestShapes: for every size up to 130 the levels, the stack and RFC 6962
// agree on the root, and every leaf's path leads to it.
func TestShapes(t *testing.T) {
	h := merkle.NewHasher("test leaf", "test node")
	for n := 1; n <= 130; n++ {
		l := leaves(h, n)
		levels := h.Levels(l)
		root := levels[len(levels)-1][0]
		if want := rfc6962(h, l); root != want {
			t.Fatalf("n=%d: levels give another root than RFC 6962", n)
		}
		s := merkle.NewStack(h)
		for _, x := range l {
			s.Push(x)
		}
		if s.Root() != root || s.Len() != uint64(n) {
			t.Fatalf("n=%d: the stack gives another root", n)
		}
		for i := range n {
			p := merkle.Path(levels, i)
			if len(p) != merkle.PathLen(i, n) {
				t.Fatalf("n=%d i=%d: path of %d, PathLen %d", n, i, len(p), merkle.PathLen(i, n))
			}
			got, ok := h.RootFromPath(l[i], i, n, p)
			if !ok || got != root {
				t.Fatalf("n=%d i=%d: the path does not lead to the root", n, i)
			}
			if _, ok := h.RootFromPath(l[i], i, n, append(p, merkle.Hash{})); ok {
				t.Fatalf("n=%d i=%d: a path one too long is taken", n, i)
			}
			if got, _ := h.RootFromPath(l[(i+1)%n], i, n, p); n > 1 && got == root {
				t.Fatalf("n=%d i=%d: another leaf's hash leads to the root", n, i)
			}
			if len(p) > 0 {
				bad := append([]merkle.Hash(nil), p...)
				bad[len(bad)-1][0] ^= 1
				if got, _ := h.RootFromPath(l[i], i, n, bad); got == root {
					t.Fatalf("n=%d i=%d: a changed sibling leads to the root", n, i)
				}
			}
		}
		if merkle.PathLen(n, n) != -1 || merkle.PathLen(-1, n) != -1 {
			t.Fatalf("n=%d: PathLen of a leaf outside the tree", n)
		}
	}
}

// TestSchemes: two schemes, and a leaf and a node of one, hash the same
// bytes apart.
func TestSchemes(t *testing.T) {
	a := merkle.NewHasher("a leaf", "a node")
	b := merkle.NewHasher("b leaf", "b node")
	var l, r merkle.Hash
	l[0], r[0] = 1, 2
	pair := append(l[:], r[:]...)
	if a.Leaf(pair) == a.Node(l, r) || a.Leaf(pair) == b.Leaf(pair) || a.Node(l, r) == b.Node(l, r) {
		t.Fatal("domains collide")
	}
	if (merkle.NewStack(a).Root() != merkle.Hash{}) {
		t.Fatal("an empty stack has a root")
	}
}
