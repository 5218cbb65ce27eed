package node

import "github.com/libp2p/go-libp2p/core/peer"

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
