// Package chunk cuts byte streams into content-defined chunks and names each
// chunk by a keyed hash of its plaintext. It is the first step of Murmur's
// data path: a file is a list of chunk IDs, and a chunk that two files (or two
// versions of one file) share is stored once.
//
// # Model
//
// Boundaries depend only on the bytes near them, not on offsets, so inserting
// or deleting bytes changes the chunks around the edit and leaves the rest
// with their old boundaries and IDs. Params bound chunk sizes; a drive fixes
// them once. Params.Cut is the pure boundary function, and a Chunker applies
// it to an io.Reader, returning chunks that alias its buffer. A Hasher turns a
// chunk's plaintext into its ID.
//
// # Boundary rule
//
// The rule is FastCDC (Xia et al., USENIX ATC 2016; IEEE TPDS 2020) with cut
// point skipping and normalized chunking at level 2. It is part of the storage
// format: changing any detail below, the gear table included, moves
// boundaries and so breaks deduplication against existing data. The golden
// vectors in testdata/golden.json pin it.
//
// The gear table is 256 uint64 values: gear[j] is the (j+1)-th output of
// SplitMix64 seeded with 0x6d75726d7572 (the ASCII bytes "murmur"), where
// each output adds 0x9e3779b97f4a7c15 to the state z and returns
//
//	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
//	z = (z ^ z>>27) * 0x94d049bb133111eb
//	z ^ z>>31
//
// With k = log2(Avg), MaskS is the top k+2 bits of a uint64 and MaskL the top
// k-2 bits (MaskS = ^uint64(0) << (64-(k+2)), MaskL = ^uint64(0) << (64-(k-2))).
// Given the bytes b[0], b[1], … that follow a chunk boundary (or the start of
// the stream), let n = min(Max, number of bytes left in the stream). The next
// chunk is:
//
//   - all n bytes if n <= Min;
//   - otherwise, with fp = 0 and i running from Min up to n-1, after
//     fp = fp<<1 + gear[b[i]] (mod 2^64), the first i at which
//     fp & MaskS == 0 if i < Avg, or fp & MaskL == 0 if i >= Avg, ends the
//     chunk, which is then i+1 bytes long (the byte b[i] is its last);
//   - all n bytes if no such i exists.
//
// The first Min bytes are not hashed, and the hash starts from zero at b[Min],
// so every chunk but the last is Min+1 to Max bytes long and the last is 1 to
// Max bytes long. The top bits of fp depend on the last 64 bytes rolled in,
// which is the effective window. Cut points are rarer (about one per 4*Avg
// bytes) between Min and Avg and more frequent (about one per Avg/4 bytes)
// after Avg, which concentrates chunk sizes near Avg; the mean on random data
// is about 1.1 to 1.15 times Avg. The implementation rolls four bytes per loop
// iteration, which computes the same hashes.
//
// # Chunk IDs
//
// An ID is BLAKE3 in keyed_hash mode, 32 bytes of output, keyed with a 32-byte
// per-drive secret. Unkeyed content hashes would let anyone who holds or sees
// an ID confirm a guess of the plaintext by hashing it (and would link
// identical files across drives); with a key only the drive's members can
// compute IDs, while equal plaintext in one drive still gets equal IDs and is
// deduplicated. The IDs are not the only fingerprint: chunk lengths follow
// from the public boundary rule, and docs/security.md says what they leak.
package chunk
