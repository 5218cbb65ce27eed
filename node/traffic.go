package node

import (
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-cloud/murmur/node/proto"
)

// libp2pMetrics is the libp2p option for its own metrics: registered
// with reg, or off when reg is nil. (Several hosts registering with one
// registry share libp2p's collectors: their figures add up.)
func libp2pMetrics(reg prometheus.Registerer) libp2p.Option {
	if reg == nil {
		return libp2p.DisableMetrics()
	}
	return libp2p.PrometheusRegisterer(reg)
}

// served tells Config.OnRequest of a shard request served.
func (n *Node) served(op proto.Op, start time.Time, ok bool) {
	f := n.cfg.OnRequest
	if f == nil {
		return
	}
	name := "bad"
	if op != 0 {
		name = op.String()
	}
	f(name, time.Since(start), ok)
}

// Traffic returns the bytes the node has received and sent over libp2p
// since it started, every protocol and peer together (the host's
// bandwidth counter; its own rates are smoothed, the dashboard samples
// these totals instead).
func (n *Node) Traffic() (in, out int64) {
	t := n.bw.GetBandwidthTotals()
	return t.TotalIn, t.TotalOut
}

// Zone is the failure zone the node was started in ("" if none).
func (n *Node) Zone() string { return n.cfg.Zone }

// PeerTraffic returns the bytes the node has received from and sent to p
// since it started.
func (n *Node) PeerTraffic(p peer.ID) (in, out int64) {
	t := n.bw.GetBandwidthForPeer(p)
	return t.TotalIn, t.TotalOut
}

// Shards returns the number of shards the node's store holds.
func (n *Node) Shards() int64 { return n.store.Count() }

// ComputeFree returns the compute slots free now, as the compute layer
// last said (SetComputeFree; all of them until it does).
func (n *Node) ComputeFree() int { return int(n.gossip.computeFree.Load()) }
