// Package store defines how shards are kept: small role interfaces
// (ShardGetter, ShardPutter, ShardStatter, ShardDeleter, ShardWalker), the
// ShardStore that embeds them, and Mem, an in-memory store.
//
// A shard is an opaque byte string named by its erasure.ShardID (the BLAKE3
// hash of its bytes). Every store verifies that ID on Put and refuses bytes
// that do not match, so a store never holds a shard under a wrong name.
// Stores do not trust what they read back either: readers verify the bytes
// again, because a remote store may lie.
//
// Contracts common to every implementation, checked by storetest.Run:
//   - Get of an unknown ID returns an error matching ErrNotFound;
//   - the slice Get returns belongs to the caller; Put does not retain the
//     slice it is given;
//   - Put of a shard already present succeeds and changes nothing;
//   - all methods are safe for concurrent use and honour ctx cancellation.
//
// Local stores (badger) and remote ones (a peer over libp2p) implement the
// same interfaces, so the pipeline cannot tell them apart. Cross-cutting
// behaviour (fault injection in tests; later retries and metrics) wraps a
// ShardStore and is one.
package store
