package node

import (
	"net"

	"github.com/libp2p/go-libp2p/core/protocol"
	manet "github.com/multiformats/go-multiaddr/net"
)

// CloudSecretProtocol returns the shard protocol ID n serves.
func CloudSecretProtocol(n *Node) protocol.ID { return n.shard }

// RoutingTableSize returns how many peers n's DHT routing table holds.
func RoutingTableSize(n *Node) int { return n.dht.RoutingTable().Size() }

// PrivateConn wraps a TCP connection in the cloud's private network, as
// the transport does with every connection it makes or accepts.
func PrivateConn(c net.Conn, s CloudSecret) (net.Conn, error) {
	mc, err := manet.WrapNetConn(c)
	if err != nil {
		return nil, err
	}
	return newPrivateConn(mc, s), nil
}
