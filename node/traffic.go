package node

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
