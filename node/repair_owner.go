package node

import (
	"context"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/stripe"
)

// The owner of a repaired stripe. Its renewals and releases go to the
// holders its own record of the stripe names (badgerstore's owned
// records), so a repair's next record goes to the owner too (a Done),
// and the owner takes the new hints into its record: its next renewal
// then reaches the new holders, whose shards are kept under its lease. An
// owner that is away gets the Done when it connects again.

// tellOwner adds the owner of rec's stripe to the recipients of its Done,
// unless it is this node, whose own record is updated at once.
// The Done carries the repair's grant certificate, which the Machine put
// in the Done messages of w.
func (r *repairs) tellOwner(ctx context.Context, w *work, rec *stripe.Record) {
	var cert *proto.RepairCert
	for _, msgs := range w.sends {
		if j := slices.IndexFunc(msgs, func(m proto.RepairMsg) bool { return m.Kind == proto.RepairDone && m.Record == rec }); j >= 0 {
			cert = msgs[j].Cert
		}
	}
	owner, err := ownerPeer(rec.Owner())
	switch {
	case err != nil:
	case owner == r.n.ID():
		r.ownerTakes(ctx, rec, certFromWire(cert))
	case !slices.ContainsFunc(w.sends[owner], func(m proto.RepairMsg) bool { return m.Kind == proto.RepairDone && m.Record == rec }):
		w.send(owner, proto.RepairMsg{Kind: proto.RepairDone, Record: rec, Cert: cert})
	}
}

// ownerTakes takes the hints of rec, a verified newer record of a stripe
// this node owns, into its owned record. Hints are not signed by the
// owner, so a change of holders needs the repair's grant certificate
// against the owned record (a majority of its holders granted the
// repair of those slots, and the repairer signed the new holders), and
// every slot whose hints changed must name a holder that says it has the
// shard.
func (r *repairs) ownerTakes(ctx context.Context, rec *stripe.Record, cert *repair.Cert[peer.ID]) {
	id := rec.ID()
	if rec.Owner() != r.n.Owner() {
		return
	}
	var owned *stripe.Record
	var ids []erasure.ShardID
	for i, sh := range rec.Descriptor.Shards {
		if rec.Descriptor.Stored(i) {
			ids = append(ids, sh.ID)
		}
	}
	recs, err := r.n.store.OwnedOf(ctx, ids)
	if err != nil {
		return
	}
	for _, o := range recs {
		if o.ID() == id {
			owned = o
		}
	}
	if owned == nil || rec.Seq <= owned.Seq {
		return
	}
	self := r.n.ID()
	err = hintsFit(owned, rec, self)
	if err == nil {
		err = repair.CheckCert(adapt(owned, self), adapt(rec, self), cert, peerKey, verifyPeer)
	}
	if err != nil {
		r.n.log.Warn("a repaired stripe's new hints are not taken: no valid grant certificate", "stripe", id.Short(), "err", err)
		return
	}
	for i := range rec.Descriptor.Shards {
		names := holderNames(rec, i)
		if !rec.Descriptor.Stored(i) || slices.Equal(names, holderNames(owned, i)) {
			continue
		}
		if !slices.Contains(names, string(r.n.ID())) && !r.heldElsewhere(ctx, rec, i, names) {
			r.n.log.Warn("a repaired stripe's new hints are not taken: its new holder does not prove it has the shard", "stripe", id.Short(), "shard", i)
			return
		}
	}
	merged, err := stripe.Merge(owned, rec)
	if err == nil {
		err = r.n.store.PutOwned(ctx, []*stripe.Record{merged})
	}
	if err != nil {
		r.n.log.Warn("a repaired stripe's new hints were not kept; its renewals miss the new holders", "stripe", id.Short(), "err", err)
		return
	}
	r.n.log.Info("took a repaired stripe's new holders", "stripe", id.Short())
}

// watchConnections sends a peer the Done and Watch messages it missed as
// soon as it connects again (an owner that was away is checked by no
// Machine).
func (r *repairs) watchConnections() {
	r.n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) { r.flushRetry(c.RemotePeer()) },
	})
}

func (r *repairs) flushRetry(p peer.ID) {
	r.mu.Lock()
	msgs := r.retry[p]
	delete(r.retry, p)
	r.mu.Unlock()
	if len(msgs) > 0 {
		r.go_(func() { r.deliver(p, msgs) })
	}
}
