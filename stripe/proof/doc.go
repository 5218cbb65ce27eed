// Package proof is Murmur's proof of storage: how a holder shows, without
// sending the shard, that it still keeps every byte of it.
//
// A shard is cut into leaves of LeafSize bytes (the last may be shorter;
// a shard of size 0 has one empty leaf) and its proof root is the root of
// a binary hash tree over them (internal/merkle, under contexts of its
// own) bound to the shard's length. The owner computes each shard's root
// when it writes the stripe, and the stripe's record carries it, signed
// along through the stripe ID (package stripe). A Challenge names a shard,
// a random nonce and random leaf indices; the holder answers with a Proof:
// those leaves' bytes, each with its sibling path, and the challenge's
// shard and nonce, so the answer is good for that one challenge only.
// Verify checks a proof against the root alone, so any peer with the
// record can audit any holder; the leaf bytes it sees are ciphertext.
//
// Why 8 KiB leaves. A proof costs a leaf plus 32 bytes a tree level per
// leaf challenged: 8,608 bytes for a 64 MiB shard (13 levels), 8,416 for
// 1 MiB, against 1,536 and 1,344 with 1 KiB leaves. Smaller leaves make
// smaller proofs, but BLAKE3 hashes 8 KiB at a time with all its SIMD
// lanes: measured here, a plain BLAKE3 runs at 1.1 GB/s over 1 KiB inputs,
// 1.9 GB/s over 4 KiB and 3.4 GB/s over 8 KiB, against 4.0 GB/s over a
// whole 64 MiB shard, and a tree is hashed whenever a shard is written,
// repaired or scrubbed. With 8 KiB leaves a root is computed at about 80%
// of a plain BLAKE3's throughput over 1 MiB and 95% over 64 MiB
// (BenchmarkRoot), and the leaf hashes, the Tree a holder keeps to answer
// without reading the whole shard, take 32 bytes per 8 KiB (0.4%). A
// four-leaf audit sends about 34 KB whatever the shard's size.
//
// A holder that keeps a fraction f of a shard's leaves passes a challenge
// of c leaves with probability f^c: one that dropped the shard fails every
// audit, one that lost a quarter of it fails a four-leaf challenge two
// times in three. A holder can always rebuild a lost shard from k others
// of its stripe in time to answer; that costs it k shards of traffic per
// audit, more than keeping the shard.
//
// The package imports nothing of Murmur's but erasure's ShardID and the
// internal wire and merkle helpers. Every parser is bounded and fuzzed;
// the formats are in docs/format.md, pinned by testdata/v1.
package proof
