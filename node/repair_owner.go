package node

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/stripe"
)

// The owner of a repaired stripe. Its renewals and releases go to the
// holders its own record of the stripe names (badgerstore's owned
// records), so a repair's next record must reach the owner, and the owner
// takes the new hints into its record: its next renewal then reaches the
// new holders, whose shards are kept under its lease.
//
// The repairer, and every holder that takes a repair's newer record,
// keeps that record as owed to the owner, in its store (badgerstore's
// owed records), and offers it over the owner protocol when the owner
// connects, answers a check, and once a check period while it stays
// connected; the owner answers which records are settled (taken, or
// nothing to take), and only those are forgotten. So an owner away during
// the repair learns its new holders when it returns, also when it cannot
// yet verify a new holder the moment it connects (it checks that each new
// holder has its shard: hints are not signed), and also when the
// repairer or the owner restarted in between.

// maxOffer bounds the owed records one offer reads from the store.
const maxOffer = 1024

// owing is what this node knows of the records it owes an owner.
type owing struct {
	last time.Time // when they were last offered
	gen  int       // counts the records owed since
	busy bool      // an offer is under way
}

// doneCert returns the grant certificate the Machine put in the Done
// messages of w for rec (nil: none).
func doneCert(w *work, rec *stripe.Record) *proto.RepairCert {
	for _, msgs := range w.sends {
		if j := slices.IndexFunc(msgs, func(m proto.RepairMsg) bool { return m.Kind == proto.RepairDone && m.Record == rec }); j >= 0 {
			return msgs[j].Cert
		}
	}
	return nil
}

// tellOwner keeps rec, a repair's next record, with cert (the repair's
// grant certificate), as owed to its stripe's owner and offers it at
// once; this node's own record is updated at once when it is the owner.
func (r *repairs) tellOwner(ctx context.Context, rec *stripe.Record, cert *proto.RepairCert) {
	if rec.Owner() == r.n.Owner() {
		if settled, _ := r.ownerTakes(ctx, rec, certFromWire(cert)); settled {
			return
		}
	}
	r.owe(ctx, rec, cert)
}

// owe keeps rec, with cert, as owed to its stripe's owner and offers it.
func (r *repairs) owe(ctx context.Context, rec *stripe.Record, cert *proto.RepairCert) {
	cb, err := proto.AppendRepairCert(nil, cert)
	if err != nil {
		r.n.log.Warn("a repaired stripe's certificate does not encode", "stripe", rec.ID().Short(), "err", err)
		return
	}
	owner, err := ownerPeer(rec.Owner())
	if err != nil {
		return
	}
	if err := r.n.store.PutOwed(ctx, []byte(owner), rec, cb); err != nil {
		r.n.log.Warn("a repaired stripe's record was not kept for its owner", "stripe", rec.ID().Short(), "err", err)
		return
	}
	r.mu.Lock()
	o := r.owed[owner]
	if o == nil {
		o = &owing{}
		r.owed[owner] = o
	}
	o.gen++
	r.mu.Unlock()
	r.offer(owner)
}

// offer offers owner the records owed to it, unless an offer is under
// way.
func (r *repairs) offer(owner peer.ID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.owed[owner]
	if o == nil || o.busy || r.closed {
		return
	}
	o.busy, o.last = true, r.n.cfg.Now()
	r.busy.Add(1)
	r.wg.Go(func() {
		defer r.busy.Add(-1)
		r.settle(owner)
	})
}

// offerDue offers the records owed to every connected owner (this node
// included) not offered for a check period.
func (r *repairs) offerDue(now time.Time) {
	r.mu.Lock()
	var due []peer.ID
	for p, o := range r.owed {
		if !o.busy && now.Sub(o.last) >= r.m.Config().CheckPeriod && (p == r.n.ID() || r.n.host.Network().Connectedness(p) == network.Connected) {
			due = append(due, p)
		}
	}
	r.mu.Unlock()
	for _, p := range due {
		r.offer(p)
	}
}

// settle offers owner what is owed to it, forgets what it settles, and
// forgets the owner once nothing more is owed.
func (r *repairs) settle(owner peer.ID) {
	ctx := r.ctx
	for {
		r.mu.Lock()
		gen := r.owed[owner].gen
		r.mu.Unlock()
		all, err := r.offerOnce(ctx, owner)
		r.mu.Lock()
		o := r.owed[owner]
		switch {
		case err == nil && all && o.gen == gen:
			delete(r.owed, owner)
		case err == nil && o.gen != gen:
			r.mu.Unlock()
			continue // owed more meanwhile: offer that too
		default:
			o.busy = false
		}
		r.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			r.n.log.Debug("records owed to an owner not delivered", "owner", owner.ShortString(), "err", err)
		}
		return
	}
}

// offerOnce offers owner the records owed to it and forgets those it
// settles (and those past their retention, which nobody needs). It
// reports whether all were settled.
func (r *repairs) offerOnce(ctx context.Context, owner peer.ID) (bool, error) {
	owed, err := r.n.store.Owed(ctx, []byte(owner), maxOffer)
	if err != nil {
		return false, err
	}
	all := len(owed) < maxOffer
	now := r.n.cfg.Now()
	var settled []*stripe.Record
	var live []proto.OwnerOffer
	for _, o := range owed {
		cert, err := proto.ParseRepairCert(o.Cert)
		switch {
		case !o.Record.Live(now):
			settled = append(settled, o.Record) // nobody needs it now
		case err != nil:
			// Nothing the owner could take: no certificate for its hints.
			r.n.log.Warn("a record owed to its owner has a malformed certificate; dropped", "stripe", o.Record.ID().Short(), "err", err)
			settled = append(settled, o.Record)
		default:
			live = append(live, proto.OwnerOffer{Record: o.Record, Cert: cert})
		}
	}
	batches, err := proto.OwnerBatches(live)
	if err != nil {
		return false, err
	}
	var serr error
	for _, b := range batches {
		var bits []bool
		if owner == r.n.ID() {
			for _, o := range b {
				ok, _ := r.ownerTakes(ctx, o.Record, certFromWire(o.Cert))
				bits = append(bits, ok)
			}
		} else if bits, serr = r.sendOwner(ctx, owner, b); serr != nil {
			all = false
			break
		}
		for i, ok := range bits {
			if ok {
				settled = append(settled, b[i].Record)
			} else {
				all = false
			}
		}
	}
	if err := r.n.store.SettleOwed(ctx, []byte(owner), settled); err != nil {
		return false, err
	}
	return all, serr
}

// sendOwner offers owner offers over the owner protocol and returns
// which it settled.
func (r *repairs) sendOwner(ctx context.Context, owner peer.ID, offers []proto.OwnerOffer) ([]bool, error) {
	body, err := proto.AppendOwnerRequest(nil, offers)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.n.cfg.RequestTimeout)
	defer cancel()
	buf, err := r.n.exchange(ctx, owner, r.ownerProto, body, proto.MaxOwnerResponse)
	if err != nil {
		return nil, err
	}
	st, settled, msg, err := proto.ParseOwnerResponse(buf)
	switch {
	case err != nil:
		return nil, err
	case st != proto.StatusOK:
		return nil, fmt.Errorf("%w: %v: %s", ErrPeer, st, msg)
	case len(settled) != len(offers):
		return nil, fmt.Errorf("%w: %d answers to %d records", ErrPeer, len(settled), len(offers))
	}
	return settled, nil
}

// serveOwner answers an offer of records of this node's stripes: each is
// settled if it is not a genuine live record of a stripe this node owns
// (nothing to take, ever), or its hints are taken or older than the
// owned record's.
func (r *repairs) serveOwner(s network.Stream) {
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(r.n.cfg.RequestTimeout))
	answer := func(st proto.Status, settled []bool, msg string) {
		if err := proto.WriteFrame(s, proto.AppendOwnerResponse(nil, st, settled, msg)); err != nil {
			s.Reset()
		}
	}
	br := bufio.NewReaderSize(s, 4096)
	size, err := proto.ReadFrameSize(br, proto.MaxOwnerRequest)
	if err != nil {
		answer(proto.StatusBadRequest, nil, err.Error())
		return
	}
	if err := s.Scope().ReserveMemory(size, network.ReservationPriorityAlways); err != nil {
		answer(proto.StatusBusy, nil, "no memory for the request")
		return
	}
	defer s.Scope().ReleaseMemory(size)
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		answer(proto.StatusBadRequest, nil, "truncated frame")
		return
	}
	offers, err := proto.ParseOwnerRequest(buf)
	if err != nil {
		answer(proto.StatusBadRequest, nil, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.n.cfg.RequestTimeout)
	defer cancel()
	settled := make([]bool, len(offers))
	for i, o := range offers {
		rec := o.Record
		if _, err := stripe.Receive(nil, rec, nil, r.n.cfg.Now()); err != nil || rec.Owner() != r.n.Owner() {
			settled[i] = true
			continue
		}
		// The owner's own shards of the stripe go only once its new
		// holders are found with theirs (the owner learns, as a holder,
		// the record it now vouches for: its own, never the offer's
		// uncertified hints).
		var vouched *stripe.Record
		if settled[i], vouched = r.ownerTakes(ctx, rec, certFromWire(o.Cert)); vouched != nil {
			r.learn(ctx, vouched)
		}
	}
	answer(proto.StatusOK, settled, "")
}

// learn takes rec, a verified record, as a holder takes a Done's: when
// it is newer than the record the Machine is at, it goes to the Machine
// and the store (so an owner that also held shards of the stripe, and
// was replaced while away, lets them go).
func (r *repairs) learn(ctx context.Context, rec *stripe.Record) {
	id := repair.StripeID(rec.ID())
	r.mu.Lock()
	if before := r.recs[id]; before == nil || rec.Seq <= before.Seq {
		r.mu.Unlock()
		return
	}
	r.holdLocked(rec)
	w := r.drainLocked()
	r.mu.Unlock()
	r.keep(ctx, rec)
	r.do(w)
}

// ownerTakes takes the hints of rec, a verified newer record of a stripe
// this node owns, into its owned record. Hints are not signed by the
// owner, so a change of holders needs the repair's grant certificate
// against the owned record (a majority of its holders granted the
// repair of those slots, and the repairer signed the new holders), and
// every slot whose hints changed must name a holder that proves it has
// the shard. It reports whether rec is settled: taken, or nothing to
// take, ever (not a stripe this node keeps a record of, or hints no
// newer than its own); one without a valid certificate, or whose new
// holder does not prove its shard yet, is left unsettled. vouched is the owned
// record as it stands when it is at least as new as rec (taken now or
// before), for the node to learn as a holder; nil otherwise.
func (r *repairs) ownerTakes(ctx context.Context, rec *stripe.Record, cert *repair.Cert[peer.ID]) (settled bool, vouched *stripe.Record) {
	id := rec.ID()
	if rec.Owner() != r.n.Owner() {
		return true, nil
	}
	r.ownerMu.Lock() // holders offer the same record at once
	defer r.ownerMu.Unlock()
	var owned *stripe.Record
	var ids []erasure.ShardID
	for i, sh := range rec.Descriptor.Shards {
		if rec.Descriptor.Stored(i) {
			ids = append(ids, sh.ID)
		}
	}
	recs, err := r.n.store.OwnedOf(ctx, ids)
	if err != nil {
		return false, nil
	}
	for _, o := range recs {
		if o.ID() == id {
			owned = o
		}
	}
	if owned == nil {
		return true, nil
	}
	if rec.Seq <= owned.Seq || !hintsChange(owned, rec) {
		// Nothing to take: a record whose hints are the owned record's
		// is not newer, whatever its Seq (which nobody signs).
		return true, owned
	}
	self := r.n.ID()
	err = hintsFit(owned, rec, self)
	if err == nil {
		err = repair.CheckCert(adapt(owned, self), adapt(rec, self), cert, peerKey, verifyPeer)
	}
	if err != nil {
		// Not settled: a holder whose certificate chain does not reach
		// this owner's record yet may offer one that does; what is owed
		// goes at the retention's end anyway.
		r.n.log.Warn("a repaired stripe's new hints are not taken: no valid grant certificate", "stripe", id.Short(), "err", err)
		return false, nil
	}
	for i := range rec.Descriptor.Shards {
		names := holderNames(rec, i)
		if !rec.Descriptor.Stored(i) || slices.Equal(names, holderNames(owned, i)) {
			continue
		}
		if !slices.Contains(names, string(r.n.ID())) && !r.heldElsewhere(ctx, rec, i, names) {
			r.n.log.Info("a repaired stripe's new hints are not taken yet: its new holder does not prove it has the shard", "stripe", id.Short(), "shard", i)
			return false, nil
		}
	}
	merged, err := stripe.Merge(owned, rec)
	if err == nil {
		err = r.n.store.PutOwned(ctx, []*stripe.Record{merged})
	}
	if err != nil {
		r.n.log.Warn("a repaired stripe's new hints were not kept; its renewals miss the new holders", "stripe", id.Short(), "err", err)
		return false, nil
	}
	r.n.log.Info("took a repaired stripe's new holders", "stripe", id.Short())
	return true, merged
}

// watchConnections sends a peer the Done and Watch messages it missed,
// and the records owed to it, as soon as it connects again (an owner
// that was away is checked by no Machine).
func (r *repairs) watchConnections() {
	r.n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			r.flushRetry(c.RemotePeer())
			r.offer(c.RemotePeer())
		},
	})
}

// loadOwed notes the owners this node's store keeps records owed to (at
// start): they are offered when they connect or a check period on.
func (r *repairs) loadOwed(ctx context.Context) error {
	owners, err := r.n.store.OwedOwners(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range owners {
		if p, err := peer.IDFromBytes(o); err == nil && r.owed[p] == nil {
			r.owed[p] = &owing{}
		}
	}
	return nil
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

// hintsChange reports whether rec names other holders than owned for
// some slot.
func hintsChange(owned, rec *stripe.Record) bool {
	for i := range rec.Descriptor.Shards {
		if !slices.Equal(holderNames(owned, i), holderNames(rec, i)) {
			return true
		}
	}
	return false
}
