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

// tellOwner keeps rec, a repair's next record, as owed to its stripe's
// owner and offers it at once; this node's own record is updated at once
// when it is the owner.
func (r *repairs) tellOwner(ctx context.Context, rec *stripe.Record) {
	if rec.Owner() == r.n.Owner() && r.ownerTakes(ctx, rec) {
		return
	}
	r.owe(ctx, rec)
}

// owe keeps rec as owed to its stripe's owner and offers it.
func (r *repairs) owe(ctx context.Context, rec *stripe.Record) {
	owner, err := ownerPeer(rec.Owner())
	if err != nil {
		return
	}
	if err := r.n.store.PutOwed(ctx, []byte(owner), rec); err != nil {
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
	recs, err := r.n.store.Owed(ctx, []byte(owner), maxOffer)
	if err != nil {
		return false, err
	}
	all := len(recs) < maxOffer
	now := r.n.cfg.Now()
	var settled, live []*stripe.Record
	for _, rec := range recs {
		if rec.Live(now) {
			live = append(live, rec)
		} else {
			settled = append(settled, rec)
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
			for _, rec := range b {
				bits = append(bits, r.ownerTakes(ctx, rec))
			}
		} else if bits, serr = r.sendOwner(ctx, owner, b); serr != nil {
			all = false
			break
		}
		for i, ok := range bits {
			if ok {
				settled = append(settled, b[i])
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

// sendOwner offers owner recs over the owner protocol and returns which
// it settled.
func (r *repairs) sendOwner(ctx context.Context, owner peer.ID, recs []*stripe.Record) ([]bool, error) {
	body, err := proto.AppendOwnerRequest(nil, recs)
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
	case len(settled) != len(recs):
		return nil, fmt.Errorf("%w: %d answers to %d records", ErrPeer, len(settled), len(recs))
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
	recs, err := proto.ParseOwnerRequest(buf)
	if err != nil {
		answer(proto.StatusBadRequest, nil, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.n.cfg.RequestTimeout)
	defer cancel()
	settled := make([]bool, len(recs))
	for i, rec := range recs {
		if _, err := stripe.Receive(nil, rec, nil, r.n.cfg.Now()); err != nil || rec.Owner() != r.n.Owner() {
			settled[i] = true
			continue
		}
		// The owner's own shards of the stripe go only once its new
		// holders are found with theirs (the owner learns it as they do).
		if settled[i] = r.ownerTakes(ctx, rec); settled[i] {
			r.learn(ctx, rec)
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
// this node owns, into its owned record: every slot whose hints changed
// must name a holder that says it has the shard (hints are not signed).
// It reports whether rec is settled: taken, or nothing to take (not a
// stripe this node keeps a record of, or hints no newer than its own).
func (r *repairs) ownerTakes(ctx context.Context, rec *stripe.Record) bool {
	id := rec.ID()
	if rec.Owner() != r.n.Owner() {
		return true
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
		return false
	}
	for _, o := range recs {
		if o.ID() == id {
			owned = o
		}
	}
	if owned == nil || rec.Seq <= owned.Seq {
		return true
	}
	for i := range rec.Descriptor.Shards {
		names := holderNames(rec, i)
		if !rec.Descriptor.Stored(i) || slices.Equal(names, holderNames(owned, i)) {
			continue
		}
		if !slices.Contains(names, string(r.n.ID())) && !r.heldElsewhere(ctx, rec.Descriptor.Shards[i].ID, names) {
			r.n.log.Info("a repaired stripe's new hints are not taken yet: its new holder does not say it has the shard", "stripe", id.Short(), "shard", i)
			return false
		}
	}
	merged, err := stripe.Merge(owned, rec)
	if err == nil {
		err = r.n.store.PutOwned(ctx, []*stripe.Record{merged})
	}
	if err != nil {
		r.n.log.Warn("a repaired stripe's new hints were not kept; its renewals miss the new holders", "stripe", id.Short(), "err", err)
		return false
	}
	r.n.log.Info("took a repaired stripe's new holders", "stripe", id.Short())
	return true
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
