// Package erasure turns k sealed chunks into a stripe of k+m shards and back.
//
// A stripe is k data shards and m parity shards computed with Reed-Solomon
// (github.com/klauspost/reedsolomon). Data shards are stored exactly as given
// (a sealed chunk, or several sealed chunks packed together) and are only
// padded with zeros, in memory, to the stripe's shard size while parity is
// computed or a lost shard is rebuilt; parity shards are always ShardSize
// long. A data slot may be empty (size 0): it stands for a shard of zeros
// that is never stored and is always "present", which lets a stripe that
// closes early (the end of a batch) cost only what it holds.
//
// Every shard is named by its ShardID, the unkeyed BLAKE3-256 of its bytes,
// so any peer that holds a shard can check it without a key, and a reader
// can tell exactly which of the shards it fetched is corrupt. A Descriptor
// records k, m, the shard size and every shard's ID and length; its binary
// encoding is versioned (see docs/format.md).
//
// Any k of the k+m shards rebuild the rest. With fewer, Reconstruct returns
// an error matching ErrTooFewShards that says how many verified shards were
// found and how many are needed; it never returns wrong bytes.
//
// This package imports nothing of Murmur's: it sees byte slices, not chunks
// or keys.
package erasure
