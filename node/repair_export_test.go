package node

import (
	"sync/atomic"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/stripe"
)

// ShareRepairBusy makes a node count its repair work in flight in b:
// nodes sharing one counter are all quiet when it reads zero (a node's
// work for another's message starts before that message's delivery
// ends).
func ShareRepairBusy(c *Config, b *atomic.Int64) { c.Repair.busy = b }

// RepairStep runs what n's repair Machine has due now, as its loop does
// when it wakes.
func RepairStep(n *Node) { n.repairs.step(n.repairs.ctx) }

// TakeAuditRepairs hands n's repair Machine the audits' repair
// candidates, as its loop does when the audits are not manual.
func TakeAuditRepairs(n *Node) { n.repairs.takeAudits() }

// OnRepairPace makes f see every admission of n's repair pacer.
func OnRepairPace(n *Node, f func(bytes int)) { n.repairs.onPace.Store(&f) }

// Whole reports whether every stripe of st is whole and no repair waits.
func (st RepairStatus) Whole() bool { return st.whole() }

// SendRepair sends repair messages from n to p over the repair protocol.
func SendRepair(n *Node, p peer.ID, msgs []proto.RepairMsg) error { return n.repairs.send(p, msgs) }

// HeldElsewhere reports whether one of names proves to n that it holds
// shard i of rec, as n's discard of a replaced shard asks.
func HeldElsewhere(n *Node, rec *stripe.Record, i int, names []string) bool {
	return n.repairs.heldElsewhere(n.repairs.ctx, rec, i, names)
}

// SendOwner offers p records over the owner protocol, as n's repairs do.
func SendOwner(n *Node, p peer.ID, offers []proto.OwnerOffer) ([]bool, error) {
	return n.repairs.sendOwner(n.repairs.ctx, p, offers)
}

// RepairPut hands p shard slot of rec's stripe over the repair put
// protocol, as n's repairs do.
func RepairPut(n *Node, p peer.ID, rec *stripe.Record, slot int, data []byte) error {
	return n.repairs.putShard(n.repairs.ctx, p, rec, slot, data)
}
