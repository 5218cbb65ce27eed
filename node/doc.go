// Package node is a Murmur peer: the libp2p host in a private network keyed
// by the cloud secret, the shard protocol (put, get, has, list, leases, and
// the stripe ops: put with a record, record updates, batched renewals and
// releases), the audit protocol, the local shard store on badger
// (node/badgerstore), the Kademlia DHT (provider records for shards, signed
// drive-root records), gossip, and the local cloud `murmur up` runs. Its
// stores implement store.ShardStore and pass storetest.Run.
//
// Cloud is the cloud-wide store one node sees: it places each stripe's
// shards on distinct members and sends each holder its shard with the
// stripe's record (package stripe), signed by this node's identity key as
// the stripe's owner (stripes.go). Holders keep the record with the shard
// and refuse puts the record does not allow; a put that fails part-way
// releases what it stored (Cloud.PutStripe; Tracked for a whole file). The
// owner keeps shards alive with leases and, beside them, retentions:
// Cloud.Renew renews both, with one signature over all the stripes
// concerned, and Cloud.Release releases both, after which holders keep
// tombstones (leases.go).
//
// Every node audits the co-holders of the stripes it holds and scrubs its
// own shards on the schedule of an audit.Auditor (audit.go, Config.Audit):
// results are first-hand evidence in the gossip reputation book, which
// placement ranks peers by, and failed, missing or corrupt shards become
// repair candidates (TakeRepairs), as do shards whose audits at a peer go
// unanswered three times in a row. AuditStatus reports the counts.
//
// Every node runs a repair.Machine over the stripes it holds (repair.go,
// repair_wire.go, Config.Repair; docs/repair.md): it checks their other
// holders with a libp2p ping per check period, speaks the claim protocol
// over /repair/1 (node/proto), rebuilds lost and damaged shards with
// repair/rebuild at a capped rate, places them with placement.Reliable,
// hands each new holder its shard with the next record (a repair put,
// kept under the owner's lease) and every holder the record, and deletes
// the shards a newer record no longer names here. RepairStatus reports
// the stripes' health and the repair traffic.
//
// A node that offers compute slots (Config.ComputeSlots) gossips them, and
// how many are free (SetComputeFree), in its descriptor; ComputePeers lists
// the members that offer slots, ranked by this node's book, for the compute
// layer above (compute.go), which reports what results showed with Observe
// (gossip.ComputeAgreed, gossip.ComputeWrong).
package node
