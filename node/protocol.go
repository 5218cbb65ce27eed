package node

import "github.com/libp2p/go-libp2p/core/protocol"

// Protocol returns the ID of protocol sub (such as "/compute/1") in this
// node's cloud, for a layer above node that serves its own protocol on
// the node's host: the cloud's prefix keeps it among members.
func (n *Node) Protocol(sub string) protocol.ID { return n.cfg.Secret.Protocol(sub) }
