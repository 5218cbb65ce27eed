// Package node is a Murmur peer: the libp2p host in a private network keyed
// by the cloud secret, the shard protocol (put, get, has, prove), the local
// shard store on badger, the Kademlia DHT (provider records for shards,
// signed drive-root records), repair and audits, and the daemon's local
// API. Its stores implement store.ShardStore and pass storetest.Run.
//
// It holds no code yet: it is built by the node issue, on top of the data
// path (chunk, crypt, erasure, pipeline, store).
package node
