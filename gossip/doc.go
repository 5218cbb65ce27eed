// Package gossip keeps a cloud of unreliable machines informed about itself
// without a master: peer sampling (Cyclon-like), aggregation by push-pull
// averaging (network size, capacity, load, reliability), ordered slicing and
// top-k queries. Every protocol is a state machine driven by messages and a
// clock, so the same code runs over libp2p and inside a deterministic
// simulator of 100,000 nodes.
//
// It holds no code yet: it is built by the gossip issue.
package gossip
