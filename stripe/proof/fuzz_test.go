package proof_test

import (
	"bytes"
	"testing"

	"github.com/murmur-cloud/murmur/internal/fuzzseed"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// seeds returns the fuzz seeds of each target: the golden objects, a
// truncation and a few hand-made edge cases.
func seeds(t *testing.T) map[string]map[string][]byte {
	files := goldenFiles(t)
	ch, pr, tr := files["challenge.bin"], files["proof.bin"], files["tree.bin"]
	empty, _ := proof.Prove(nil, &proof.Challenge{Leaves: []int{0}})
	emptyProof, _ := empty.MarshalBinary()
	return map[string]map[string][]byte{
		"FuzzParseChallenge": {"golden": ch, "truncated": ch[:40], "huge-count": append(bytes.Clone(ch[:49]), 0xff, 0xff, 0x03)},
		"FuzzParseProof":     {"golden": pr, "empty-shard": emptyProof, "truncated": pr[:len(pr)/2], "huge-size": append(bytes.Clone(pr[:49]), 0xff, 0xff, 0xff, 0x7f)},
		"FuzzParseTree":      {"golden": tr, "truncated": tr[:len(tr)-1], "empty": {1, 0}},
	}
}

// TestWriteFuzzSeeds refreshes testdata/fuzz when run with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	fuzzseed.WriteCorpora(t, "testdata/fuzz", seeds(t))
}

func FuzzParseChallenge(f *testing.F) {
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := proof.ParseChallenge(b)
		if err != nil {
			return
		}
		again, err := c.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed challenge does not re-encode to itself: %v", err)
		}
	})
}

func FuzzParseProof(f *testing.F) {
	f.Add([]byte{1})
	shard := goldenShard()
	root := proof.RootOf(shard)
	ch := goldenChallenge(shard)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := proof.ParseProof(b)
		if err != nil {
			return
		}
		again, err := p.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed proof does not re-encode to itself: %v", err)
		}
		if proof.Verify(root, ch, p) == nil && !bytes.Equal(b, mustMarshal(proof.Prove(shard, ch))) {
			t.Fatal("a proof other than the honest one verifies")
		}
	})
}

func mustMarshal(p *proof.Proof, err error) []byte {
	if err != nil {
		panic(err)
	}
	b, _ := p.MarshalBinary()
	return b
}

func FuzzParseTree(f *testing.F) {
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := proof.ParseTree(b)
		if err != nil {
			return
		}
		again, err := tr.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed tree does not re-encode to itself: %v", err)
		}
		_ = tr.Root()
	})
}
