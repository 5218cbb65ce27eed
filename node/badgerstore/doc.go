// Package badgerstore keeps a node's shards on disk in badger
// (github.com/dgraph-io/badger/v4). It implements store.ShardStore and
// passes storetest.Run.
//
// Durability: the database is opened with SyncWrites, so Put returns only
// after the shard is in the value log and fsynced; a shard a peer has
// acknowledged survives a crash of the process (tested with SIGKILL) and
// of the machine. Concurrent Puts share one fsync (badger batches the
// commits that arrive together).
//
// Capacity: a Store may be given a quota of shard bytes; a Put that would
// exceed it fails with store.ErrFull and changes nothing.
//
// Leases: only the owner of a shard may cause its deletion. A shard stored
// for a peer carries a lease per owner (an opaque owner name, in practice
// the peer ID the shard protocol authenticated) with an expiry. Owners
// renew their leases; Release drops one owner's lease; Reclaim deletes
// every shard that no unexpired lease holds (shards put without a lease
// included) and then lets badger's value-log GC give the space back.
//
// Memory: the tables, block cache and index cache are sized for a node
// that holds a million shards in tens of MiB (see Config), and shard bytes
// live in the value log, not in the LSM tree.
package badgerstore
