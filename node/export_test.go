package node

import "github.com/libp2p/go-libp2p/core/protocol"

// CloudSecretProtocol returns the shard protocol ID n serves.
func CloudSecretProtocol(n *Node) protocol.ID { return n.shard }

// RoutingTableSize returns how many peers n's DHT routing table holds.
func RoutingTableSize(n *Node) int { return n.dht.RoutingTable().Size() }
