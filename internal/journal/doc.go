// Package journal is a key-value store kept as one append-only file of
// atomic batches: the write-ahead log of a drive's local state.
//
// Every Write appends one batch of sets and deletes, of any size, as a run
// of checksummed frames; the last frame of a batch says it is the last.
// Opening the file replays it: a batch whose frames are not all there, or
// whose checksums fail, is dropped with everything after it, so a crash at
// any point leaves exactly the batches written before it (Write returns
// after write(2), so a batch survives a crash of the writing process at
// once, and of the machine after Sync). Nothing is ever applied in part.
//
// The file holds old values until it is compacted: when the bytes no
// longer live exceed both the live bytes and Options.CompactAt, the live
// values are copied into a new file, synced, and renamed over the old
// one, so a crash during compaction leaves the old file whole.
//
// Only the index (key to value's place in the file) is kept in memory;
// Load and Get read values from the file.
//
// The file format (docs/format.md, "Local state"):
//
//	header: "MURMURJ" version(1)
//	frame:  length(4, little-endian, of the payload) | flags(1: 1 = the
//	        batch goes on in the next frame) | CRC-32C(4) of length,
//	        flags and payload | payload
//	payload: { op(1: 1 set, 2 delete) | key length (uvarint) | key |
//	         set only: value length (uvarint) | value }...
//
// A Log is safe for concurrent use; writes are serialised.
package journal
