package daemon

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/node"
)

// The daemon is the edge between node's types and the API's: the wire
// types and the table of error kinds are the client's (package client),
// which does not import node. What node calls by its own names is
// translated here, once.

// nodeKinds pairs node's sentinels, which the client cannot import, with
// the client's sentinels of the same text, which the table of kinds names.
var nodeKinds = []struct{ node, wire error }{
	{node.ErrBusy, client.ErrBusy},
	{node.ErrPeer, client.ErrPeer},
}

// asWire is an error of node's that also matches the client's sentinel
// of its kind; its message is the node's.
type asWire struct {
	err, wire error
}

func (e *asWire) Error() string   { return e.err.Error() }
func (e *asWire) Unwrap() []error { return []error{e.err, e.wire} }

// writeError answers with err, classified by the client's table of kinds.
func writeError(w http.ResponseWriter, err error) {
	for _, k := range nodeKinds {
		if errors.Is(err, k.node) {
			err = &asWire{err: err, wire: k.wire}
			break
		}
	}
	kind, status := client.Classify(err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(client.ErrorBody{Error: err.Error(), Kind: kind})
}

// gossipStatus is node's gossip status as the API sends it.
func gossipStatus(g node.GossipStatus) client.GossipStatus {
	var peers []client.PeerStatus // nil stays nil: null in JSON, as node's
	if g.Peers != nil {
		peers = make([]client.PeerStatus, len(g.Peers))
		for i, p := range g.Peers {
			peers[i] = client.PeerStatus(p)
		}
	}
	return client.GossipStatus{
		Cycles: g.Cycles, Epoch: g.Epoch, Size: g.Size, Instances: g.Instances,
		Capacity: g.Capacity, Free: g.Free, Stored: g.Stored, View: g.View,
		Rank: g.Rank, Slice: g.Slice, BytesPerCyc: g.BytesPerCyc, Peers: peers,
	}
}
