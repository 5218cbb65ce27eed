package proof_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

var benchSizes = []int{1 << 20, 64 << 20}

func sizeName(n int) string { return fmt.Sprintf("%dMiB", n>>20) }

// BenchmarkRoot compares the proof root's throughput with a plain BLAKE3
// of the same bytes (the shard ID).
func BenchmarkRoot(b *testing.B) {
	for _, n := range benchSizes {
		shard := shardOf(1, n)
		b.Run(sizeName(n)+"/tree", func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				proof.RootOf(shard)
			}
		})
		b.Run(sizeName(n)+"/blake3", func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				blake3.Sum256(shard)
			}
		})
	}
}

// BenchmarkProof measures a 4-leaf audit: proving from the whole shard
// (every leaf hashed), from a kept Tree (the leaves asked for read and
// checked), and verifying; proof-B is the encoded proof's size.
func BenchmarkProof(b *testing.B) {
	for _, n := range benchSizes {
		shard := shardOf(2, n)
		leaves := proof.Leaves(n)
		ch := &proof.Challenge{Shard: erasure.SumShard(shard), Nonce: proof.Nonce{1}, Leaves: []int{0, leaves / 3, 2 * leaves / 3, leaves - 1}}
		p, _ := proof.Prove(shard, ch)
		enc, _ := p.MarshalBinary()
		root, tree := proof.RootOf(shard), proof.NewTree(shard)
		b.Run(sizeName(n)+"/prove", func(b *testing.B) {
			for b.Loop() {
				proof.Prove(shard, ch)
			}
			b.ReportMetric(float64(len(enc)), "proof-B")
		})
		b.Run(sizeName(n)+"/prove-tree", func(b *testing.B) {
			r := bytes.NewReader(shard)
			for b.Loop() {
				tree.Prove(ch, r)
			}
			b.ReportMetric(float64(len(enc)), "proof-B")
		})
		b.Run(sizeName(n)+"/verify", func(b *testing.B) {
			for b.Loop() {
				q, err := proof.ParseProof(enc)
				if err != nil || proof.Verify(root, ch, q) != nil {
					b.Fatal("does not verify")
				}
			}
			b.ReportMetric(float64(len(enc)), "proof-B")
		})
	}
}
