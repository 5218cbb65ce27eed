// Package pipeline is Murmur's data path as one API: it turns an io.Reader
// into content-defined chunks, seals each chunk, packs sealed chunks into
// data shards, erasure-codes k data shards into a stripe of k+m shards and
// hands every shard to a store.ShardPutter; and it reads files back,
// streaming or at random offsets, from a store.ShardGetter.
//
// Writing is a pipeline over both cores: one goroutine chunks the input,
// a pool of workers computes each chunk's ID (keyed BLAKE3) and seals it
// (crypt), one goroutine packs sealed chunks into shards in order, and
// stripes are encoded and stored concurrently. A Writer is a batch: the
// chunks of every file added to it share stripes, so a thousand small files
// cost (k+m)/k of their size, not (1+m) each. A data shard holds whole
// sealed chunks only, so a peer holding it holds the chunks entire.
//
// A file is described by a Manifest: its size, its chunks (ID, size and
// where the sealed chunk lies: stripe, data shard, offset) and the
// descriptors of the stripes it touches. A manifest is sealed itself under
// the drive's metadata key and named by a keyed hash of its plaintext.
//
// Reading fetches only the data shards that hold the requested bytes,
// verifies each against its shard ID, and opens the sealed chunks. A shard
// that is missing or fails verification makes the reader fetch other
// shards of the same stripe (any k) and rebuild it; with fewer than k
// intact the read fails with an error matching erasure.ErrTooFewShards and
// never returns wrong bytes.
package pipeline
