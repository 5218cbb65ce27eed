package proof_test

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/fuzzseed"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

var update = flag.Bool("update", false, "rewrite testdata/v1 (only when the v1 format itself was wrong) and the fuzz seed corpora")

// goldenShard is the v1 vectors' shard: 3 full leaves and 100 bytes of
// ChaCha8 seeded with "murmur proof golden vector v1", zero-padded to 32
// bytes.
func goldenShard() []byte {
	var seed [32]byte
	copy(seed[:], "murmur proof golden vector v1")
	b := make([]byte, 3*proof.LeafSize+100)
	rand.NewChaCha8(seed).Read(b)
	return b
}

// goldenChallenge asks for leaves 1 and 3 with the nonce 0x00..0x0f.
func goldenChallenge(shard []byte) *proof.Challenge {
	ch := &proof.Challenge{Shard: erasure.SumShard(shard), Leaves: []int{1, 3}}
	for i := range ch.Nonce {
		ch.Nonce[i] = byte(i)
	}
	return ch
}

// goldenRoots lists the roots of prefixes of the golden shard, one
// "size root" line each: every tree shape from 1 to 4 leaves.
func goldenRoots(shard []byte) []byte {
	var b bytes.Buffer
	for _, n := range []int{0, 1, proof.LeafSize, proof.LeafSize + 1, 2*proof.LeafSize + 7, len(shard)} {
		fmt.Fprintf(&b, "%d %s\n", n, proof.RootOf(shard[:n]))
	}
	return b.Bytes()
}

func goldenFiles(t *testing.T) map[string][]byte {
	t.Helper()
	shard := goldenShard()
	ch := goldenChallenge(shard)
	p, err := proof.Prove(shard, ch)
	if err != nil {
		t.Fatal(err)
	}
	must := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return map[string][]byte{
		"roots.txt":     goldenRoots(shard),
		"challenge.bin": must(ch.MarshalBinary()),
		"proof.bin":     must(p.MarshalBinary()),
		"tree.bin":      must(proof.NewTree(shard).MarshalBinary()),
	}
}

// TestGoldenV1: the committed v1 objects parse and verify, and today's
// code makes the same bytes.
func TestGoldenV1(t *testing.T) {
	v1 := fuzzseed.Golden(t, "testdata/v1", goldenFiles(t), *update)
	read := func(name string) []byte { return v1[name] }
	shard := goldenShard()
	var root proof.Root
	for _, line := range strings.Split(strings.TrimSpace(string(read("roots.txt"))), "\n") {
		var n int
		var hex string
		fmt.Sscan(line, &n, &hex)
		root = proof.RootOf(shard[:n])
		if root.String() != hex {
			t.Errorf("root of %d bytes: %s, v1 says %s", n, root, hex)
		}
	}
	ch, err := proof.ParseChallenge(read("challenge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := proof.ParseProof(read("proof.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.Verify(root, ch, p); err != nil {
		t.Fatalf("the v1 proof: %v", err)
	}
	tr, err := proof.ParseTree(read("tree.bin"))
	if err != nil || tr.Root() != root {
		t.Fatalf("the v1 tree: %v", err)
	}
}

// TestSpecV1 recomputes the golden roots from docs/format.md alone, with
// BLAKE3's derive-key mode and RFC 6962's recursion: the tree code is
// not used.
func TestSpecV1(t *testing.T) {
	derive := func(context string, parts ...[]byte) []byte {
		out := make([]byte, 32)
		blake3.DeriveKey(context, bytes.Join(parts, nil), out)
		return out
	}
	var mth func(leaves [][]byte) []byte
	mth = func(leaves [][]byte) []byte {
		if len(leaves) == 1 {
			return derive("murmur proof leaf v1", leaves[0])
		}
		k := 1
		for 2*k < len(leaves) {
			k *= 2
		}
		return derive("murmur proof node v1", mth(leaves[:k]), mth(leaves[k:]))
	}
	shard := goldenShard()
	for _, n := range []int{0, 1, proof.LeafSize, proof.LeafSize + 1, 2*proof.LeafSize + 7, len(shard)} {
		leaves := [][]byte{shard[:min(n, proof.LeafSize)]}
		for off := proof.LeafSize; off < n; off += proof.LeafSize {
			leaves = append(leaves, shard[off:min(n, off+proof.LeafSize)])
		}
		size := binary.BigEndian.AppendUint64(nil, uint64(n))
		want := derive("murmur proof root v1", size, mth(leaves))
		if got := proof.RootOf(shard[:n]); !bytes.Equal(got[:], want) {
			t.Fatalf("size %d: the code's root is not the spec's", n)
		}
	}
}
