package proof_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// shardOf returns n seeded random bytes.
func shardOf(seed uint64, n int) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(seed, n64(n)))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func n64(n int) uint64 { return uint64(n) }

var sizes = []int{0, 1, proof.LeafSize - 1, proof.LeafSize, proof.LeafSize + 1, 3 * proof.LeafSize, 3*proof.LeafSize + 5, 13*proof.LeafSize + 77}

// TestRoot: the streaming Hasher, fed in pieces of every size, the Tree
// and RootOf agree, and the root binds the shard's length.
func TestRoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[proof.Root]int{}
	for _, n := range sizes {
		b := shardOf(7, n)
		root := proof.RootOf(b)
		if tr := proof.NewTree(b); tr.Root() != root || tr.Size() != n {
			t.Fatalf("size %d: the tree's root differs", n)
		}
		for range 20 {
			h := proof.NewHasher()
			for rest := b; len(rest) > 0; {
				k := min(len(rest), 1+rng.IntN(3*proof.LeafSize))
				h.Write(rest[:k])
				rest = rest[k:]
				if h.Size() == n/2 && h.Root() == root && n > 1 {
					t.Fatalf("size %d: half the shard has its root", n)
				}
			}
			if h.Root() != root || h.Root() != root {
				t.Fatalf("size %d: the streamed root differs (or Root is not repeatable)", n)
			}
		}
		if m, dup := seen[root]; dup {
			t.Fatalf("sizes %d and %d have one root", m, n)
		}
		seen[root] = n
	}
	// Zeros of two lengths in one leaf: only the bound length tells them apart.
	if proof.RootOf(make([]byte, 10)) == proof.RootOf(make([]byte, 11)) {
		t.Fatal("the root does not bind the length")
	}
}

func challenge(rng *rand.Rand, shard []byte, count int) *proof.Challenge {
	ch := &proof.Challenge{Shard: erasure.SumShard(shard)}
	for i := range ch.Nonce {
		ch.Nonce[i] = byte(rng.Uint32())
	}
	n := proof.Leaves(len(shard))
	picked := rng.Perm(n)[:min(count, n)]
	for i := range n {
		for _, p := range picked {
			if p == i {
				ch.Leaves = append(ch.Leaves, i)
			}
		}
	}
	return ch
}

// TestProveVerify: honest proofs verify, before and after a round trip
// through their encoding, and every kind of wrong answer is refused.
func TestProveVerify(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range sizes {
		b := shardOf(9, n)
		root := proof.RootOf(b)
		for _, count := range []int{1, 2, 4, proof.MaxChallengeLeaves} {
			ch := challenge(rng, b, count)
			p, err := proof.Prove(b, ch)
			if err != nil {
				t.Fatalf("size %d: %v", n, err)
			}
			if err := proof.Verify(root, ch, p); err != nil {
				t.Fatalf("size %d: an honest proof: %v", n, err)
			}
			enc, err := p.MarshalBinary()
			if err != nil || len(enc) > proof.MaxProofLen {
				t.Fatalf("size %d: encoding of %d bytes: %v", n, len(enc), err)
			}
			q, err := proof.ParseProof(enc)
			if err != nil {
				t.Fatalf("size %d: parse: %v", n, err)
			}
			if err := proof.Verify(root, ch, q); err != nil {
				t.Fatalf("size %d: the parsed proof: %v", n, err)
			}
			for name, bad := range wrongAnswers(rng, b, ch, p) {
				if err := proof.Verify(root, ch, bad); !errors.Is(err, proof.ErrBadProof) {
					t.Fatalf("size %d, %d leaves, %s: %v", n, count, name, err)
				}
			}
			if err := proof.Verify(proof.RootOf(append(b, 0)), ch, p); !errors.Is(err, proof.ErrBadProof) {
				t.Fatalf("size %d: another shard's root: %v", n, err)
			}
		}
	}
}

// wrongAnswers returns mutations of the honest proof p of ch.
func wrongAnswers(rng *rand.Rand, shard []byte, ch *proof.Challenge, p *proof.Proof) map[string]*proof.Proof {
	clone := func() *proof.Proof {
		q := *p
		q.Leaves = make([]proof.Leaf, len(p.Leaves))
		for i, l := range p.Leaves {
			q.Leaves[i] = proof.Leaf{Index: l.Index, Data: bytes.Clone(l.Data), Path: append(l.Path[:0:0], l.Path...)}
		}
		return &q
	}
	bad := map[string]*proof.Proof{}
	k := rng.IntN(len(p.Leaves))
	if len(p.Leaves[k].Data) > 0 {
		q := clone()
		q.Leaves[k].Data[rng.IntN(len(q.Leaves[k].Data))] ^= 1 << rng.IntN(8)
		bad["a flipped leaf bit"] = q
		q = clone()
		q.Leaves[k].Data = make([]byte, len(q.Leaves[k].Data))
		bad["zeros for a leaf"] = q
		q = clone()
		q.Leaves[k].Data = q.Leaves[k].Data[1:]
		bad["a short leaf"] = q
	}
	if len(p.Leaves[k].Path) > 0 {
		q := clone()
		q.Leaves[k].Path[rng.IntN(len(q.Leaves[k].Path))][rng.IntN(32)] ^= 1
		bad["a flipped sibling"] = q
		q = clone()
		q.Leaves[k].Path = q.Leaves[k].Path[1:]
		bad["a short path"] = q
	}
	q := clone()
	q.Nonce[rng.IntN(proof.NonceSize)] ^= 1
	bad["another nonce"] = q
	q = clone()
	q.Shard[0] ^= 1
	bad["another shard"] = q
	q = clone()
	q.Size++
	bad["another size"] = q
	q = clone()
	q.Leaves = q.Leaves[1:]
	bad["a leaf left out"] = q
	if n := proof.Leaves(len(shard)); n > 1 {
		// The right bytes of another leaf, with its own path.
		other := (ch.Leaves[k] + 1) % n
		alt, _ := proof.Prove(shard, &proof.Challenge{Shard: ch.Shard, Nonce: ch.Nonce, Leaves: []int{other}})
		q = clone()
		q.Leaves[k] = alt.Leaves[0]
		bad["another leaf, well proven"] = q
		q = clone()
		q.Leaves[k].Index = other
		bad["the index changed"] = q
	}
	return bad
}

// TestReplay: a proof kept from an earlier challenge of the same leaves
// does not answer a new one.
func TestReplay(t *testing.T) {
	b := shardOf(11, 5*proof.LeafSize)
	old := &proof.Challenge{Shard: erasure.SumShard(b), Nonce: proof.Nonce{1}, Leaves: []int{0, 3}}
	p, _ := proof.Prove(b, old)
	fresh := *old
	fresh.Nonce = proof.Nonce{2}
	if err := proof.Verify(proof.RootOf(b), &fresh, p); !errors.Is(err, proof.ErrBadProof) {
		t.Fatalf("a replayed proof: %v", err)
	}
}

// TestTreeProve: a holder answering from its kept tree reads only the
// leaves asked for, gives the same proof as Prove, and learns that its
// copy rotted when a leaf asked for no longer matches.
func TestTreeProve(t *testing.T) {
	b := shardOf(13, 6*proof.LeafSize+10)
	tr := proof.NewTree(b)
	ch := &proof.Challenge{Shard: erasure.SumShard(b), Leaves: []int{1, 6}}
	want, _ := proof.Prove(b, ch)
	r := &countingReader{b: b}
	got, err := tr.Prove(ch, r)
	if err != nil {
		t.Fatal(err)
	}
	we, _ := want.MarshalBinary()
	ge, _ := got.MarshalBinary()
	if !bytes.Equal(we, ge) || r.n != proof.LeafSize+10 {
		t.Fatalf("the tree's proof differs, or it read %d bytes", r.n)
	}
	rotten := bytes.Clone(b)
	rotten[6*proof.LeafSize+3] ^= 0x10
	if _, err := tr.Prove(ch, bytes.NewReader(rotten)); !errors.Is(err, proof.ErrCorrupt) {
		t.Fatalf("a rotten leaf asked for: %v", err)
	}
	if _, err := tr.Prove(&proof.Challenge{Leaves: []int{0, 2}}, bytes.NewReader(rotten)); err != nil {
		t.Fatalf("only intact leaves asked for: %v", err)
	}
	if _, err := tr.Prove(ch, bytes.NewReader(b[:len(b)-1])); err == nil || errors.Is(err, proof.ErrCorrupt) {
		t.Fatalf("a shard cut short: %v", err)
	}
	enc, _ := tr.MarshalBinary()
	back, err := proof.ParseTree(enc)
	if err != nil || back.Root() != tr.Root() || back.Size() != tr.Size() {
		t.Fatalf("tree round trip: %v", err)
	}
}

type countingReader struct {
	b []byte
	n int
}

// ReadAt reports io.EOF with a read that reaches the end, as
// io.ReaderAt allows.
func (r *countingReader) ReadAt(p []byte, off int64) (int, error) {
	r.n += len(p)
	n, err := bytes.NewReader(r.b).ReadAt(p, off)
	if err == nil && off+int64(n) == int64(len(r.b)) {
		err = io.EOF
	}
	return n, err
}

func TestChallengeCheck(t *testing.T) {
	const size = 4 * proof.LeafSize // leaves 0..3
	many := make([]int, proof.MaxChallengeLeaves+1)
	for i := range many {
		many[i] = i
	}
	for name, leaves := range map[string][]int{
		"none": nil, "out of range": {4}, "negative": {-1}, "unsorted": {2, 1}, "repeated": {1, 1}, "too many": many,
	} {
		ch := &proof.Challenge{Leaves: leaves}
		if err := ch.Check(size); !errors.Is(err, proof.ErrBadChallenge) {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := proof.Prove(make([]byte, size), ch); !errors.Is(err, proof.ErrBadChallenge) {
			t.Fatalf("%s: Prove: %v", name, err)
		}
	}
	if err := (&proof.Challenge{Leaves: []int{0, 3}}).Check(size); err != nil {
		t.Fatal(err)
	}
}

// TestHostile: a flipped byte of an encoded challenge, proof or tree
// either fails to parse or changes what it says (the proof then fails to
// verify); no truncation parses.
func TestHostile(t *testing.T) {
	b := shardOf(17, 2*proof.LeafSize+300)
	root := proof.RootOf(b)
	ch := &proof.Challenge{Shard: erasure.SumShard(b), Nonce: proof.Nonce{9, 9}, Leaves: []int{0, 2}}
	p, _ := proof.Prove(b, ch)
	pe, _ := p.MarshalBinary()
	ce, _ := ch.MarshalBinary()
	te, _ := proof.NewTree(b).MarshalBinary()
	for i := range pe {
		bad := bytes.Clone(pe)
		bad[i] ^= 0x41
		if q, err := proof.ParseProof(bad); err == nil {
			if err := proof.Verify(root, ch, q); !errors.Is(err, proof.ErrBadProof) {
				t.Fatalf("proof byte %d flipped: it still verifies (%v)", i, err)
			}
		} else if !errors.Is(err, proof.ErrMalformed) {
			t.Fatalf("proof byte %d flipped: %v", i, err)
		}
	}
	for i := range ce {
		bad := bytes.Clone(ce)
		bad[i] ^= 0x41
		if c, err := proof.ParseChallenge(bad); err == nil {
			if err := proof.Verify(root, c, p); err == nil {
				t.Fatalf("challenge byte %d flipped: the old proof answers it", i)
			}
		} else if !errors.Is(err, proof.ErrMalformed) {
			t.Fatalf("challenge byte %d flipped: %v", i, err)
		}
	}
	for i := range te {
		bad := bytes.Clone(te)
		bad[i] ^= 0x41
		if tr, err := proof.ParseTree(bad); err == nil && tr.Root() == root {
			t.Fatalf("tree byte %d flipped: same root", i)
		}
	}
	parsers := map[string]func([]byte) error{
		"proof":     func(b []byte) error { _, err := proof.ParseProof(b); return err },
		"challenge": func(b []byte) error { _, err := proof.ParseChallenge(b); return err },
		"tree":      func(b []byte) error { _, err := proof.ParseTree(b); return err },
	}
	for name, enc := range map[string][]byte{"proof": pe, "challenge": ce, "tree": te} {
		for n := range len(enc) {
			if err := parsers[name](enc[:n]); !errors.Is(err, proof.ErrMalformed) {
				t.Fatalf("%s truncated to %d: %v", name, n, err)
			}
		}
	}
	// A non-minimal varint (the challenge's count) is another byte form.
	long := append(append(bytes.Clone(ce[:49]), 0x82, 0x00), ce[50:]...)
	if _, err := proof.ParseChallenge(long); !errors.Is(err, proof.ErrMalformed) {
		t.Fatalf("non-minimal count: %v", err)
	}
}

// TestLargest: the proof of the most leaves of the largest shard fits
// MaxProofLen, and challenges fit MaxChallengeLen.
func TestLargest(t *testing.T) {
	b := make([]byte, erasure.MaxShardSize)
	ch := &proof.Challenge{}
	for i := range proof.MaxChallengeLeaves {
		ch.Leaves = append(ch.Leaves, proof.MaxShardLeaves-proof.MaxChallengeLeaves+i)
	}
	p, err := proof.Prove(b, ch)
	if err != nil {
		t.Fatal(err)
	}
	pe, _ := p.MarshalBinary()
	ce, _ := ch.MarshalBinary()
	if len(pe) > proof.MaxProofLen || len(ce) > proof.MaxChallengeLen {
		t.Fatalf("proof %d > %d or challenge %d > %d", len(pe), proof.MaxProofLen, len(ce), proof.MaxChallengeLen)
	}
	if err := proof.Verify(proof.RootOf(b), ch, p); err != nil {
		t.Fatal(err)
	}
}
