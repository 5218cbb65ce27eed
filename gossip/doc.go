// Package gossip keeps a cloud of unreliable machines informed about itself
// without a master. Every protocol is a state machine driven by messages
// and a clock, generic over the peer type, so the same code runs between
// real nodes over libp2p (node) and inside the deterministic simulator of
// gossip/sim, which runs a million nodes.
//
//   - Cyclon: peer sampling by enhanced shuffling; every node keeps a small
//     view of random live peers, and dead links age out.
//   - Aggregator: push-pull averaging in epochs: the cloud's size (counting
//     with several instances, combined by their median) and the means (so
//     totals) of attributes such as capacity and free space.
//   - Ranker: slicing by ranking; a node's rank by an attribute, and so its
//     slice, from the samples gossip brings it.
//   - TopK: the k nodes with the highest key, spread by push-pull.
//   - Reputation: one node's book of others' reliability, from what it saw
//     itself (probes, transfers, audits, compute results) and a robust aggregate of what
//     others report; never from what a node says of itself.
//
// wire.go encodes the messages real nodes exchange; their descriptors carry
// each node's hints about itself: zone, space and compute slots.
package gossip
