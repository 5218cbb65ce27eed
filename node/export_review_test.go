package node

import "crypto/ed25519"

// OwnerKey returns n's stripe owner key (its identity key), so that a
// test can sign statements as n would, or as a rogue member could.
func OwnerKey(n *Node) ed25519.PrivateKey { return n.key }
