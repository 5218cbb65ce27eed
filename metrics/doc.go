// Package metrics exposes a Murmur process's figures to Prometheus on
// /metrics.
//
// Most series are read at scrape time: a Source (the daemon, or a node
// of `murmur up` without one) fills a Figures with what `murmur status`
// already shows, and the Registry's collector turns it into gauges and
// counters. Only what must be counted as it happens is counted here: the
// shard requests a node serves, by operation, with their latency
// (Requests, handed to the node as its Config.OnRequest hook).
//
// Every series is named murmur_…, in base units (bytes, seconds), with
// the _total, _bytes and _seconds suffixes Prometheus expects, and
// carries one label of ours, node: the index of the node in its process
// (always "0" for `murmur node`, 0 to 5 for the six nodes of `murmur
// up`). No series is labelled by a peer ID, shard ID or stripe ID, so the
// number of series does not grow with the cloud or its data. Each
// process has its own registry (never prometheus.DefaultRegisterer), so
// that several nodes or tests in one process do not collide; libp2p's
// own series are registered in it too (node.Config.Registerer), and
// there the hosts of one process share libp2p's collectors, their
// figures summed.
//
// Listen binds an address given as just ":PORT" to 127.0.0.1; a
// non-loopback host is served only when given explicitly.
package metrics
