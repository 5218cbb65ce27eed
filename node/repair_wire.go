package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/repair/rebuild"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

// The repair protocol's driver side: the Machine's messages to and from
// the wire (proto.RepairMsg), the plans' execution with a
// rebuild.Rebuilder, and the repair puts that hand a new holder its
// rebuilt shard with the record naming it.

// maxRetry bounds the Done and Watch messages kept for a peer that is
// down.
const maxRetry = 1024

// wireMsg encodes a Machine's message, with the record it carries. It
// reports false for one whose record this node no longer has.
func (r *repairs) wireMsg(msg repair.Message[peer.ID]) (proto.RepairMsg, bool) {
	withRecord := func(kind proto.RepairKind, v repair.Stripe[peer.ID]) (proto.RepairMsg, bool) {
		// A Done carries the rebuilder's record, which the Machine dates
		// one version after the old one and the record by the clock: the
		// record kept is the newest.
		rec := r.recs[v.ID]
		if d := r.dones[v.ID]; kind == proto.RepairDone && d != nil {
			rec = d // this node's own repair, which may have ended its part
		}
		if rec == nil || rec.Seq < v.Version {
			return proto.RepairMsg{}, false
		}
		return proto.RepairMsg{Kind: kind, Record: rec}, true
	}
	switch x := msg.(type) {
	case repair.Claim[peer.ID]:
		m, ok := withRecord(proto.RepairClaim, x.Record)
		m.Ballot, m.Sent, m.TTL, m.Slots, m.Cert = x.Ballot, x.Sent, x.TTL, x.Slots, certToWire(x.Cert)
		return m, ok
	case repair.Grant[peer.ID]:
		return proto.RepairMsg{Kind: proto.RepairGrant, Stripe: stripe.ID(x.Stripe), Version: x.Version, Ballot: x.Ballot, Sent: x.Sent, Sig: x.Sig}, true
	case repair.Deny[peer.ID]:
		return proto.RepairMsg{Kind: proto.RepairDeny, Stripe: stripe.ID(x.Stripe), Version: x.Version, Ballot: x.Ballot, Holder: string(x.Holder), Remaining: max(x.Remaining, 0)}, true
	case repair.Stale[peer.ID]:
		m, ok := withRecord(proto.RepairStale, x.Record)
		m.Cert = certToWire(x.Cert)
		return m, ok
	case repair.Release[peer.ID]:
		return proto.RepairMsg{Kind: proto.RepairRelease, Stripe: stripe.ID(x.Stripe), Ballot: x.Ballot}, true
	case repair.Done[peer.ID]:
		m, ok := withRecord(proto.RepairDone, x.Record)
		m.Cert = certToWire(x.Cert)
		return m, ok
	case repair.Watch[peer.ID]:
		m, ok := withRecord(proto.RepairWatch, x.Record)
		m.Cert = certToWire(x.Cert)
		return m, ok
	}
	return proto.RepairMsg{}, false
}

// certToWire and certFromWire convert a grant certificate.
func certToWire(c *repair.Cert[peer.ID]) *proto.RepairCert {
	if c == nil {
		return nil
	}
	out := &proto.RepairCert{Version: c.Version, Ballot: c.Ballot, Claimant: string(c.Claimant), Slots: c.Slots, Commit: c.Commit, Prev: certToWire(c.Prev)}
	for _, g := range c.Grants {
		out.Grants = append(out.Grants, proto.RepairSigned{From: string(g.From), Sig: g.Sig})
	}
	for _, h := range c.Holders {
		out.Holders = append(out.Holders, string(h))
	}
	return out
}

func certFromWire(c *proto.RepairCert) *repair.Cert[peer.ID] {
	if c == nil {
		return nil
	}
	out := &repair.Cert[peer.ID]{Version: c.Version, Ballot: c.Ballot, Claimant: peer.ID(c.Claimant), Slots: c.Slots, Commit: c.Commit, Prev: certFromWire(c.Prev)}
	for _, g := range c.Grants {
		out.Grants = append(out.Grants, repair.Signed[peer.ID]{From: peer.ID(g.From), Sig: g.Sig})
	}
	for _, h := range c.Holders {
		out.Holders = append(out.Holders, peer.ID(h))
	}
	return out
}

// hintsFit reports whether rec's hints, if newer, differ from held's only
// where the Machine's view sees a new holder: each slot whose names
// changed names one peer, the slot's new holder. A certificate covers the Machine's
// view (one holder a slot), so a change it cannot see (a name added
// beside the old holder's) is refused.
func hintsFit(held, rec *stripe.Record, self peer.ID) error {
	if held == nil || rec.Seq <= held.Seq {
		return nil // nothing held, or not newer: the Machine ignores it
	}
	a, b := adapt(held, self), adapt(rec, self)
	for i := range rec.Descriptor.Shards {
		names := holderNames(rec, i)
		if slices.Equal(names, holderNames(held, i)) {
			continue
		}
		if len(names) != 1 || i >= len(b.Holders) || string(b.Holders[i]) != names[0] || a.Holders[i] == b.Holders[i] {
			return fmt.Errorf("%w: stripe %s: the hints of shard %d change beside its holder", repair.ErrCert, rec.ID().Short(), i)
		}
	}
	return nil
}

// fromWire decodes a message from peer from; a record it carries is
// verified first (signature, retention, tombstone: stripe.Receive).
func (r *repairs) fromWire(ctx context.Context, from peer.ID, m proto.RepairMsg) (repair.Message[peer.ID], *stripe.Record, error) {
	var rec *stripe.Record
	var v repair.Stripe[peer.ID]
	if m.Record != nil {
		id := m.Record.ID()
		tomb, err := r.n.store.Tombstone(ctx, id)
		if err != nil {
			return nil, nil, err
		}
		if rec, err = stripe.Receive(nil, m.Record, tomb, r.n.cfg.Now()); err != nil {
			return nil, nil, err
		}
		v = adapt(rec, r.n.ID())
	}
	switch m.Kind {
	case proto.RepairClaim:
		return repair.Claim[peer.ID]{Record: v, Claimant: from, Ballot: m.Ballot, Sent: m.Sent, TTL: m.TTL, Slots: m.Slots, Cert: certFromWire(m.Cert)}, rec, nil
	case proto.RepairGrant:
		return repair.Grant[peer.ID]{Stripe: repair.StripeID(m.Stripe), Version: m.Version, Ballot: m.Ballot, Sent: m.Sent, Sig: m.Sig}, nil, nil
	case proto.RepairDeny:
		return repair.Deny[peer.ID]{Stripe: repair.StripeID(m.Stripe), Version: m.Version, Ballot: m.Ballot, Holder: peer.ID(m.Holder), Remaining: m.Remaining}, nil, nil
	case proto.RepairStale:
		return repair.Stale[peer.ID]{Record: v, Cert: certFromWire(m.Cert)}, rec, nil
	case proto.RepairRelease:
		return repair.Release[peer.ID]{Stripe: repair.StripeID(m.Stripe), Ballot: m.Ballot}, nil, nil
	case proto.RepairDone:
		return repair.Done[peer.ID]{Record: v, Repairer: from, Cert: certFromWire(m.Cert)}, rec, nil
	case proto.RepairWatch:
		return repair.Watch[peer.ID]{Record: v, Cert: certFromWire(m.Cert)}, rec, nil
	}
	return nil, nil, fmt.Errorf("%w: %v", proto.ErrMalformed, m.Kind)
}

// deliver sends msgs to p, batched; the Done and Watch messages of a
// batch p does not take are kept for when it answers a check again.
func (r *repairs) deliver(p peer.ID, msgs []proto.RepairMsg) {
	batches, err := proto.RepairBatches(msgs)
	if err != nil {
		r.n.log.Error("repair messages do not encode", "peer", p.ShortString(), "err", err)
		return
	}
	for _, b := range batches {
		if err := r.send(p, b); err != nil {
			r.n.log.Debug("repair messages not delivered", "peer", p.ShortString(), "messages", len(b), "err", err)
			r.mu.Lock()
			for _, m := range b {
				if (m.Kind == proto.RepairDone || m.Kind == proto.RepairWatch) && len(r.retry[p]) < maxRetry {
					r.retry[p] = append(r.retry[p], m)
				}
			}
			r.mu.Unlock()
		}
	}
}

func (r *repairs) send(p peer.ID, msgs []proto.RepairMsg) error {
	body, err := proto.AppendRepairRequest(nil, msgs)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.n.cfg.RequestTimeout)
	defer cancel()
	buf, err := r.n.exchange(ctx, p, r.proto, body, proto.MaxRepairResponse)
	if err != nil {
		return err
	}
	st, msg, err := proto.ParseRepairResponse(buf)
	if err != nil {
		return err
	}
	if st != proto.StatusOK {
		return fmt.Errorf("%w: %v: %s", ErrPeer, st, msg)
	}
	return nil
}

// serve takes one batch of repair messages on s.
func (r *repairs) serve(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(r.n.cfg.RequestTimeout))
	answer := func(st proto.Status, msg string) {
		if err := proto.WriteFrame(s, proto.AppendRepairResponse(nil, st, msg)); err != nil {
			s.Reset()
		}
	}
	br := bufio.NewReaderSize(s, 4096)
	size, err := proto.ReadFrameSize(br, proto.MaxRepairRequest)
	if err != nil {
		answer(proto.StatusBadRequest, err.Error())
		return
	}
	if err := s.Scope().ReserveMemory(size, network.ReservationPriorityAlways); err != nil {
		answer(proto.StatusBusy, "no memory for the request")
		return
	}
	defer s.Scope().ReleaseMemory(size)
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		answer(proto.StatusBadRequest, "truncated frame")
		return
	}
	msgs, err := proto.ParseRepairRequest(buf)
	if err != nil {
		answer(proto.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.n.cfg.RequestTimeout)
	defer cancel()
	for _, m := range msgs {
		r.take(ctx, from, m)
	}
	answer(proto.StatusOK, "")
}

// take hands one message to the Machine; a newer record it carries that
// the Machine takes goes to the store too.
func (r *repairs) take(ctx context.Context, from peer.ID, m proto.RepairMsg) {
	msg, rec, err := r.fromWire(ctx, from, m)
	if err != nil {
		r.n.log.Info("a repair message refused", "peer", from.ShortString(), "kind", m.Kind, "err", err)
		return
	}
	var update *stripe.Record
	renewsHints := false // the record changes the hints of one held
	r.mu.Lock()
	if rec != nil {
		if err := hintsFit(r.recs[repair.StripeID(rec.ID())], rec, r.n.ID()); err != nil {
			r.mu.Unlock()
			r.n.log.Warn("a repair message's newer record refused", "peer", from.ShortString(), "kind", m.Kind, "err", err)
			return
		}
	}
	r.m.Handle(from, msg, r.n.cfg.Now())
	if rec != nil {
		// A newer record the Machine took goes to the store, also when it
		// ends this node's part (the Machine forgot the stripe, and its
		// Discard finds the shard named elsewhere). One it refused (no
		// valid certificate) does not.
		id := repair.StripeID(rec.ID())
		before := r.recs[id]
		r.took(id, rec)
		h, held := r.m.Health(id)
		if before != nil && rec.Seq > before.Seq && (!held || h.Version == rec.Seq) || r.recs[id] == rec && before == nil {
			update = rec
		}
		renewsHints = update != nil && before != nil && rec.Seq > before.Seq
	}
	w := r.drainLocked()
	r.mu.Unlock()
	if update != nil {
		r.keep(ctx, update)
	}
	// The owner learns the record with the certificate it came with (a
	// Done's, a Stale's or a Claim's: each vouches for its record's hints).
	switch {
	case rec != nil && m.Kind == proto.RepairDone && rec.Owner() == r.n.Owner():
		r.tellOwner(ctx, rec, m.Cert)
	case update != nil && renewsHints:
		r.owe(r.ctx, update, m.Cert) // the repairer may not live to tell the owner
	}
	r.do(w)
}

// keep stores a newer record of a stripe this node holds. A retention
// it carries that outlasts the one held (the owner's, signed: the owner
// renewed while a repair ran, and the repairer carries the renewal on)
// extends the owner's leases on the shards held, as the renewal would.
func (r *repairs) keep(ctx context.Context, rec *stripe.Record) {
	kept, held, err := r.n.store.UpdateHeld(ctx, rec)
	if err != nil {
		r.n.log.Warn("a stripe's newer record was not kept", "stripe", rec.ID().Short(), "err", err)
		return
	}
	if !held {
		return
	}
	r.n.audits.update(kept)
	if err := r.leaseHeld(ctx, kept); err != nil {
		r.n.log.Warn("a stripe's shards were not leased to its retention", "stripe", rec.ID().Short(), "err", err)
	}
}

// leaseHeld extends the owner's leases on the shards of rec's stripe held
// here to rec's retention (leases never shorten).
func (r *repairs) leaseHeld(ctx context.Context, rec *stripe.Record) error {
	h, err := r.n.store.GetHeld(ctx, rec.ID())
	if err != nil || h == nil {
		return err
	}
	owner, err := ownerPeer(rec.Owner())
	if err != nil {
		return err
	}
	ids := make([]erasure.ShardID, len(h.Shards))
	for j, i := range h.Shards {
		ids[j] = h.Record.Descriptor.Shards[i].ID
	}
	_, err = r.n.store.Renew(ctx, ids, []byte(owner), h.Record.Retention.Until)
	return err
}

// retained returns rec with the retention of the record this node's
// store keeps of its stripe when that one outlasts rec's: renewals change
// the retention, not the version, so the record a plan was made with can
// be older than the store's, and what it hands new holders must carry
// the renewal.
func (r *repairs) retained(ctx context.Context, rec *stripe.Record) *stripe.Record {
	h, err := r.n.store.GetHeld(ctx, rec.ID())
	if err != nil || h == nil || h.Record.Owner() != rec.Owner() || !h.Record.Retention.Outlasts(&rec.Retention) {
		return rec
	}
	out := rec.Clone()
	out.Retention, out.Path = h.Record.Retention, h.Record.Path
	return out
}

// execute carries out a plan and reports it to the Machine. A failure
// that placed some shards commits those: their holders keep them with a
// record naming them, so the next record must name them too.
func (r *repairs) execute(s start) {
	id := s.plan.Record.ID
	var out rebuild.Outcome[peer.ID]
	if s.rec == nil {
		out.Result = repair.Result[peer.ID]{Stripe: id, Ballot: s.plan.Ballot, Err: errors.New("node: no record of the stripe")}
	} else {
		out = r.rb.Run(s.ctx, s.plan, r.retained(s.ctx, s.rec))
	}
	if out.Record != nil {
		out.Record = r.retained(r.ctx, out.Record) // renewed while it ran
	}
	now := r.n.cfg.Now()
	r.mu.Lock()
	run, ok := r.runs[id]
	if !ok || run.ballot != s.plan.Ballot {
		r.mu.Unlock()
		return // aborted: the Machine has moved on
	}
	delete(r.runs, id)
	run.cancel()
	res := out.Result
	if res.Err != nil && len(res.Placed) > 0 && out.Record != nil {
		r.n.log.Warn("a repair placed part of what it rebuilt; committing that", "stripe", id.Short(), "placed", len(res.Placed), "of", len(s.plan.Rebuild), "err", res.Err)
		res.Err = nil
	}
	if out.Record != nil {
		res.Version = out.Record.Seq // what the commit signs, and the Done carries
	}
	ferr := r.m.Finish(res, now)
	committed := ferr == nil && res.Err == nil && len(res.Placed) > 0 && out.Record != nil
	if committed {
		r.recs[id] = out.Record
		if err := r.m.Hold(adapt(out.Record, r.n.ID()), now); err != nil {
			r.n.log.Error("a repaired stripe's record", "stripe", id.Short(), "err", err)
		}
		r.took(id, out.Record)
	}
	for _, src := range out.Corrupt {
		_ = r.m.Damaged(id, src.Slot, src.Holder, now)
	}
	if committed {
		r.dones[id] = out.Record
	}
	w := r.drainLocked()
	delete(r.dones, id)
	r.mu.Unlock()
	for _, src := range out.Corrupt {
		r.n.Observe(src.Holder, gossip.TransferCorrupt)
	}
	for _, p := range out.Failed {
		r.n.Observe(p, gossip.ProbeUnanswered)
	}
	switch {
	case committed:
		r.keep(r.ctx, out.Record)
		r.tellOwner(r.ctx, out.Record, doneCert(&w, out.Record))
		r.n.log.Info("repaired a stripe", "stripe", id.Short(), "slots", len(res.Placed), "read", out.Read, "written", out.Written)
	case ferr != nil:
		r.n.log.Warn("a repair finished too late to count", "stripe", id.Short(), "err", ferr)
	case res.Err != nil && r.ctx.Err() == nil:
		r.n.log.Warn("a repair failed; it will be tried again", "stripe", id.Short(), "err", res.Err)
	}
	r.do(w)
}

// discard deletes this node's shards of stripes whose newer record names
// other holders for them: the owner's lease on each is released (the
// shard goes once no lease remains) and the held record forgets it. A
// shard whose record names nobody else is kept; one whose new holders do
// not say they have it (not reached yet, as when this node has just come
// back, or never: a forged record) is kept, and they are asked again each
// check period while the record is held.
func (r *repairs) discard(ids []stripe.ID) {
	ctx := r.ctx
	self := string(r.n.ID())
	for _, id := range ids {
		h, err := r.n.store.GetHeld(ctx, id)
		if err != nil || h == nil {
			continue
		}
		owner, err := ownerPeer(h.Record.Owner())
		if err != nil {
			continue
		}
		var gone []erasure.ShardID
		for _, i := range h.Shards {
			names := holderNames(h.Record, i)
			if len(names) == 0 || slices.Contains(names, self) {
				continue
			}
			sh := h.Record.Descriptor.Shards[i].ID
			if !r.heldElsewhere(ctx, h.Record, i, names) {
				r.n.log.Warn("a replaced shard is kept for now: none of its new holders proves it has it", "stripe", id.Short(), "shard", sh.Short())
				r.mu.Lock()
				r.kept[id] = true // asked again a check period on
				r.mu.Unlock()
				continue
			}
			gone = append(gone, sh)
		}
		if len(gone) == 0 {
			continue
		}
		if err := r.n.store.Release(ctx, gone, []byte(owner)); err != nil {
			r.n.log.Warn("a replaced shard was not released", "stripe", id.Short(), "err", err)
			continue
		}
		r.n.dropShards(ctx, gone)
		r.n.log.Info("deleted shards a repair replaced", "stripe", id.Short(), "shards", len(gone))
	}
}

// heldElsewhere reports whether one of the holders named proves it has
// shard i of rec: it answers an audit challenge of random leaves against
// the record's proof root for the shard. A record that names holders
// without the shard (a repair gone wrong, a forged hint) deletes nothing,
// nor does a holder's word that it has it.
func (r *repairs) heldElsewhere(ctx context.Context, rec *stripe.Record, i int, names []string) bool {
	for _, name := range names {
		p := peer.ID(name)
		if p.Validate() != nil || p == r.n.ID() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, r.cfg.CheckTimeout)
		err := r.n.audits.possession(cctx, p, rec, i)
		cancel()
		if err == nil {
			return true
		}
		r.n.log.Info("a shard's new holder did not prove it has it", "peer", p.ShortString(), "stripe", rec.ID().Short(), "shard", i, "err", err)
	}
	return false
}

func holderNames(rec *stripe.Record, i int) []string {
	if rec.Holders == nil || i >= len(rec.Holders) {
		return nil
	}
	return rec.Holders[i]
}

// ownerPeer returns the peer whose identity key is the stripe owner o:
// the one whose leases hold its shards.
func ownerPeer(o stripe.Owner) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(o[:])
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

// repairShards moves a repair's shards: fetched over the shard protocol
// (or from this node's store), stored with repair puts.
type repairShards struct{ r *repairs }

func (s repairShards) Fetch(ctx context.Context, holder peer.ID, rec *stripe.Record, slot int) ([]byte, error) {
	id := rec.Descriptor.Shards[slot].ID
	if holder == s.r.n.ID() {
		return s.r.n.store.Get(ctx, id)
	}
	b, err := s.r.n.Remote(holder).Get(ctx, id)
	if err == nil {
		s.r.bytesIn.Add(int64(len(b)))
	}
	return b, err
}

func (s repairShards) Store(ctx context.Context, holder peer.ID, rec *stripe.Record, slot int, shard []byte) error {
	n := s.r.n
	owner, err := ownerPeer(rec.Owner())
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	rec = s.r.retained(ctx, rec) // renewed since the plan started
	if holder == n.ID() {
		return n.putStriped(ctx, rec, slot, shard, owner)
	}
	if err := s.r.putShard(ctx, holder, rec, slot, shard); err != nil {
		return err
	}
	s.r.bytesOut.Add(int64(len(shard)))
	return nil
}

// repairPlacer places rebuilt shards as puts do: placement.Reliable over
// gossip's candidates among this node and its connected peers, none of
// the stripe's holders.
type repairPlacer struct{ r *repairs }

func (pl repairPlacer) PlaceShards(v repair.Stripe[peer.ID], slots []int, exclude []peer.ID) ([]peer.ID, error) {
	n := pl.r.n
	var members []peer.ID
	for _, p := range append([]peer.ID{n.ID()}, n.Peers()...) {
		if !slices.Contains(exclude, p) {
			members = append(members, p)
		}
	}
	sizes := make([]int, len(slots))
	for i := range sizes {
		sizes[i] = int(v.ShardSize)
	}
	idx, err := pl.r.placer.Place(n.candidates(members), sizes)
	if err != nil {
		return nil, err
	}
	out := make([]peer.ID, len(idx))
	for i, j := range idx {
		out[i] = members[j]
	}
	return out, nil
}

// chunkPacer paces repair bytes with an x/time/rate limiter whose burst
// is one chunk: a wait for more is a wait for each chunk in turn.
type chunkPacer struct {
	lim *rate.Limiter
	r   *repairs
}

func newChunkPacer(bps int64, r *repairs) *chunkPacer {
	return &chunkPacer{lim: rate.NewLimiter(rate.Limit(bps), int(min(bps, pacerChunk))), r: r}
}

func (p *chunkPacer) WaitN(ctx context.Context, n int) error {
	for n > 0 {
		c := min(n, p.lim.Burst())
		if err := p.lim.WaitN(ctx, c); err != nil {
			return err
		}
		if f := p.r.onPace.Load(); f != nil {
			(*f)(c)
		}
		n -= c
	}
	return nil
}

// putShard hands p shard slot of rec's stripe with rec, which names p
// for it: a repair put (the repair put protocol, a PutStripe request).
func (r *repairs) putShard(ctx context.Context, p peer.ID, rec *stripe.Record, slot int, data []byte) error {
	b, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	head := proto.PutStripeHeader([]byte{proto.Version, byte(proto.OpPutStripe)}, slot, b)
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.n.cfg.RequestTimeout)
		defer cancel()
	}
	s, err := r.n.host.NewStream(allowLimited(ctx), p, r.putProto)
	if err != nil {
		return fmt.Errorf("repair put on %s: %w: %v", p.ShortString(), ErrPeer, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := proto.WriteFrame(s, head, data); err != nil {
		return fmt.Errorf("repair put on %s: %w: %v", p.ShortString(), ErrPeer, err)
	}
	if err := s.CloseWrite(); err != nil {
		return fmt.Errorf("repair put on %s: %w: %v", p.ShortString(), ErrPeer, err)
	}
	buf, err := readResponse(s, 64<<10)
	if err != nil {
		return fmt.Errorf("repair put on %s: %w: %v", p.ShortString(), ErrPeer, err)
	}
	resp, err := proto.ParseResponse(buf, proto.OpPutStripe, 0)
	if err != nil {
		return fmt.Errorf("repair put on %s: %w: %v", p.ShortString(), ErrPeer, err)
	}
	var class error
	switch resp.Status {
	case proto.StatusOK:
		return nil
	case proto.StatusBadShard:
		class = store.ErrBadShard
	case proto.StatusFull:
		class = store.ErrFull
	case proto.StatusBusy:
		class = ErrBusy
	case proto.StatusRefused:
		class = ErrRefused
	default:
		class = ErrPeer
	}
	return fmt.Errorf("repair put on %s: %w: %s", p.ShortString(), class, resp.Message)
}

// servePut takes one repair put on s: a shard with the record that names
// this node for it. The shard is kept under the stripe owner's lease, as
// the owner's own put would be, so the owner's renewals and releases
// reach it.
func (r *repairs) servePut(s network.Stream) {
	defer s.Close()
	n := r.n
	_ = s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	ctx, cancel := context.WithTimeout(r.ctx, n.cfg.RequestTimeout)
	defer cancel()
	resp := r.takePut(ctx, s)
	if resp.Status != proto.StatusOK {
		n.log.Info("a repair put refused", "peer", s.Conn().RemotePeer().ShortString(), "status", resp.Status, "msg", resp.Message)
	}
	if err := proto.WriteFrame(s, proto.AppendResponse(nil, proto.OpPutStripe, resp)); err != nil {
		s.Reset()
	}
}

func (r *repairs) takePut(ctx context.Context, s network.Stream) *proto.Response {
	n := r.n
	br := bufio.NewReaderSize(s, 4096)
	size, err := proto.ReadFrameSize(br, proto.MaxFrame)
	if err != nil {
		return refuse(proto.StatusBadRequest, err)
	}
	if err := s.Scope().ReserveMemory(size, network.ReservationPriorityAlways); err != nil {
		return refuse(proto.StatusBusy, fmt.Errorf("no memory for a %d-byte request: %w", size, err))
	}
	defer s.Scope().ReleaseMemory(size)
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		return refuse(proto.StatusBadRequest, fmt.Errorf("%w: truncated frame: %v", proto.ErrMalformed, err))
	}
	req, err := proto.ParseRequest(buf)
	switch {
	case err != nil:
		return refuse(proto.StatusBadRequest, err)
	case req.Op != proto.OpPutStripe:
		return refuse(proto.StatusBadRequest, fmt.Errorf("%v on the repair put protocol", req.Op))
	case len(req.Data) > erasure.MaxShardSize:
		return refuse(proto.StatusBadRequest, fmt.Errorf("a shard of %d bytes exceeds %d", len(req.Data), erasure.MaxShardSize))
	}
	rec, err := stripe.ParseRecord(req.Body)
	if err != nil {
		return refuse(proto.StatusRefused, err)
	}
	if req.Index >= len(rec.Descriptor.Shards) || !slices.Contains(holderNames(rec, req.Index), string(n.ID())) {
		return refuse(proto.StatusRefused, fmt.Errorf("the record does not name this node for shard %d", req.Index))
	}
	// A repair places only on peers that hold nothing of the stripe (never
	// on a current holder): a put to a holder would hand it hints for the
	// other slots that no certificate vouches for.
	if held, err := n.store.GetHeld(ctx, rec.ID()); err != nil {
		return refuseErr(err)
	} else if held != nil {
		return refuse(proto.StatusRefused, fmt.Errorf("this node already holds stripe %s: a repair puts only on new holders", rec.ID().Short()))
	}
	owner, err := ownerPeer(rec.Owner())
	if err != nil {
		return refuse(proto.StatusRefused, err)
	}
	if err := n.putStriped(ctx, rec, req.Index, req.Data, owner); err != nil {
		return refuseErr(err)
	}
	return &proto.Response{}
}
