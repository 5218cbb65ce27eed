// Package badgerstore keeps a node's shards on disk: shards of at least
// Config.FileThreshold bytes (128 KiB; nearly all of them with the default
// chunking) as files of their own, smaller ones in badger
// (github.com/dgraph-io/badger/v4), and for every shard a size record and
// its leases in badger, which is the index: a shard is held exactly when
// its size record is there. It implements store.ShardStore and passes
// storetest.Run.
//
// Durability: a Put returns only after the shard is durable. A shard file
// is written with write(2) and fsynced, then its directory, and only then
// is the size record committed; the database is opened with SyncWrites, so
// the commit is fsynced too, and concurrent commits share one fsync
// (badger batches the commits that arrive together). A shard a peer has
// acknowledged survives a crash of the process (tested with SIGKILL) and
// of the machine. A file whose record never committed is an orphan that
// Get never reads and Reclaim removes (files.go says why files and not
// badger's memory-mapped value log).
//
// Capacity: a Store may be given a quota of shard bytes; a Put that would
// exceed it fails with store.ErrFull and changes nothing.
//
// Leases: only the owner of a shard may cause its deletion. A shard stored
// for a peer carries a lease per owner (an opaque owner name, in practice
// the peer ID the shard protocol authenticated) with an expiry. Owners
// renew their leases; Release drops one owner's lease; Reclaim deletes
// every shard that no unexpired lease holds (shards put without a lease
// included), removes orphan files, and then lets badger's value-log GC
// give back the space of small shards. A deleted shard's file is removed
// at once.
//
// DHT records: Records is a go-datastore Batching over the same database,
// under a key prefix of its own, where the node's DHT keeps the records put
// to it (drive roots), so they outlive a restart. Shards and records never
// see each other: Walk and Reclaim leave records alone, and a record query
// lists no shard.
//
// Memory: the tables, block cache and index cache are sized for a node
// that holds a million shards in tens of MiB (see Config); shard files are
// read into fresh buffers, never mapped.
package badgerstore
