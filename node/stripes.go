package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/stripe"
)

// Stripe records. A stripe this node puts (Cloud.PutStripe) goes to its
// holders with its record (package stripe): the descriptor, each shard's
// proof root, where each shard is held, and a retention signed by this
// node's identity key, which is an Ed25519 key and so an owner key. Each
// holder checks the record and its shard against it and keeps both in one
// commit (badgerstore.PutStriped); it refuses a record that is not
// valid, not live, not the sender's (the retention's owner must be the
// key of the peer that sends it), or blocked by a tombstone. The
// retention's end is also the end of the sender's lease on the shard, so
// a holder's space is accounted as before (leases.go).
//
// The owner keeps its stripes' records (badgerstore owned records) and
// renews them with its leases: Cloud.Renew signs one retention over every
// stripe that has a shard among those renewed and sends each holder the
// paths of its stripes; Cloud.Release signs one release over every stripe
// all of whose shards are released, and each holder deletes their shards
// and keeps a tombstone, so nothing released comes back.

// ErrRefused reports a put or renewal a holder refused because of the
// stripe's record (invalid, expired, another owner's, or released).
var ErrRefused = errors.New("node: refused by the stripe's record")

// ownerKey returns the node's identity key as a stripe owner's key.
func ownerKeyOf(k crypto.PrivKey) (ed25519.PrivateKey, error) {
	if k.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("node: the identity key is %v, not Ed25519", k.Type())
	}
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("node: the identity key: %v", err)
	}
	return ed25519.PrivateKey(raw), nil
}

// ownerOf returns the stripe owner key of peer p: its identity key.
func ownerOf(p peer.ID) (stripe.Owner, error) {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return stripe.Owner{}, err
	}
	raw, err := pub.Raw()
	if err != nil || pub.Type() != crypto.Ed25519 || len(raw) != len(stripe.Owner{}) {
		return stripe.Owner{}, fmt.Errorf("peer %s has no Ed25519 key", p.ShortString())
	}
	return stripe.Owner(raw), nil
}

// Owner returns this node's stripe owner key.
func (n *Node) Owner() stripe.Owner { return stripe.OwnerOf(n.key) }

// newRecord returns the record of a stripe this node is putting, kept
// for a lease term from now.
func (n *Node) newRecord(d *erasure.Descriptor, shards [][]byte) (*stripe.Record, error) {
	rec, err := stripe.New(d, shards)
	if err != nil {
		return nil, err
	}
	now := n.cfg.Now()
	ret, entries, err := stripe.SignRenewal(n.key, now, now.Add(n.retentionTerm()), []stripe.ID{rec.ID()})
	if err != nil {
		return nil, err
	}
	rec = rec.Clone()
	rec.Retention, rec.Path = ret, entries[rec.ID()].Path
	return rec, nil
}

// putStriped stores shard i of rec's stripe in this node's own store, as
// a holder does (the owner being this node).
func (n *Node) putStriped(ctx context.Context, rec *stripe.Record, i int, data []byte, from peer.ID) error {
	kept, err := n.store.PutStriped(ctx, rec, i, data, []byte(from))
	if err != nil {
		return err
	}
	n.announce.add(rec.Descriptor.Shards[i].ID)
	n.audits.hold(kept, i)
	n.repairs.hold(kept)
	return nil
}

// checkOwner refuses a statement of another owner than the sender.
func checkOwner(o stripe.Owner, from peer.ID) error {
	want, err := ownerOf(from)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	if o != want {
		return fmt.Errorf("%w: %w: the stripe is not the sender's", ErrRefused, stripe.ErrOwner)
	}
	return nil
}

// handleStripe answers the stripe ops of the shard protocol.
// A put of a shard not held before returns its undo too (serve runs it
// when the answer cannot be sent).
func (n *Node) handleStripe(ctx context.Context, req *proto.Request, from peer.ID) (*proto.Response, func(context.Context)) {
	switch req.Op {
	case proto.OpPutStripe:
		rec, err := stripe.ParseRecord(req.Body)
		if err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		if err := checkOwner(rec.Owner(), from); err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		if req.Index >= len(rec.Descriptor.Shards) {
			return refuse(proto.StatusRefused, fmt.Errorf("no shard %d in the stripe", req.Index)), nil
		}
		id := rec.Descriptor.Shards[req.Index].ID
		fresh := !n.held(ctx, id)
		if err := n.putStriped(ctx, rec, req.Index, req.Data, from); err != nil {
			return refuseErr(err), nil
		}
		if fresh {
			return &proto.Response{}, n.undoPut(id, []byte(from))
		}
		return &proto.Response{}, nil
	case proto.OpRecord:
		rec, err := stripe.ParseRecord(req.Body)
		if err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		// Only the owner hands hints over this way: a holder's changes of
		// holders come as repair messages, with their grant certificate.
		if err := checkOwner(rec.Owner(), from); err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		kept, held, err := n.store.UpdateHeldFrom(ctx, rec, string(from), true)
		if err != nil {
			return refuseErr(err), nil
		}
		if held {
			n.audits.update(kept)
			n.repairs.hold(kept)
		}
		return &proto.Response{}, nil
	case proto.OpRenewStripes:
		ren, err := stripe.ParseRenewal(req.Body)
		if err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		if err := checkOwner(ren.Retention.Owner, from); err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		kept, err := n.store.RenewStripes(ctx, ren, []byte(from))
		if err != nil {
			return refuseErr(err), nil
		}
		return &proto.Response{Bits: kept}, nil
	case proto.OpReleaseStripes:
		rel, err := stripe.ParseReleasing(req.Body)
		if err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		if err := checkOwner(rel.Release.Owner, from); err != nil {
			return refuse(proto.StatusRefused, err), nil
		}
		if _, err := n.store.ReleaseStripes(ctx, rel, []byte(from)); err != nil {
			return refuseErr(err), nil
		}
		n.forgetReleased(ctx, rel)
		return &proto.Response{}, nil
	}
	return refuse(proto.StatusBadRequest, fmt.Errorf("unknown op %v", req.Op)), nil
}

// dropShards forgets, in the records and the audit schedule, the shards of
// ids this node no longer holds.
func (n *Node) dropShards(ctx context.Context, ids []erasure.ShardID) {
	changed, err := n.store.DropShards(ctx, ids)
	if err != nil {
		n.log.Warn("dropping the records of released shards failed", "err", err)
	}
	for _, id := range changed {
		n.audits.resync(ctx, id)
		n.repairs.resync(ctx, id)
	}
}

// PutStriped puts shard i of rec's stripe on the peer, with the record.
func (r *Remote) PutStriped(ctx context.Context, rec *stripe.Record, i int, data []byte) error {
	b, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = r.do(ctx, &proto.Request{Op: proto.OpPutStripe, Index: i, Body: b}, data)
	return err
}

// PushRecord hands the peer a newer record of a stripe it holds.
func (r *Remote) PushRecord(ctx context.Context, rec *stripe.Record) error {
	b, err := rec.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = r.do(ctx, &proto.Request{Op: proto.OpRecord, Body: b})
	return err
}

// RenewStripes sends the peer a renewal; it reports which of its
// stripes the peer holds and now keeps until the retention's end.
func (r *Remote) RenewStripes(ctx context.Context, ren *stripe.Renewal) ([]bool, error) {
	b, err := ren.MarshalBinary()
	if err != nil {
		return nil, err
	}
	resp, err := r.do(ctx, &proto.Request{Op: proto.OpRenewStripes, Body: b, Limit: len(ren.Entries)})
	if err != nil {
		return nil, err
	}
	return resp.Bits, nil
}

// ReleaseStripes sends the peer a release of stripes.
func (r *Remote) ReleaseStripes(ctx context.Context, rel *stripe.Releasing) error {
	b, err := rel.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = r.do(ctx, &proto.Request{Op: proto.OpReleaseStripes, Body: b})
	return err
}

// holderOf is what the owner's renewals and releases need of a holder,
// this node or a peer.
type holderOf interface {
	RenewStripes(ctx context.Context, ren *stripe.Renewal) ([]bool, error)
	ReleaseStripes(ctx context.Context, rel *stripe.Releasing) error
}

// selfHolder is this node as a holder of its own stripes.
type selfHolder struct{ n *Node }

func (s selfHolder) RenewStripes(ctx context.Context, ren *stripe.Renewal) ([]bool, error) {
	return s.n.store.RenewStripes(ctx, ren, []byte(s.n.ID()))
}

func (s selfHolder) ReleaseStripes(ctx context.Context, rel *stripe.Releasing) error {
	if _, err := s.n.store.ReleaseStripes(ctx, rel, []byte(s.n.ID())); err != nil {
		return err
	}
	s.n.forgetReleased(ctx, rel)
	return nil
}

// forgetReleased takes out of the audit schedule the stripes of rel whose
// records the store no longer holds: those it released. A release it
// refused for a stripe (another key's, stale, a wrong path) must not stop
// the audits of that stripe, or anyone could silence them.
func (n *Node) forgetReleased(ctx context.Context, rel *stripe.Releasing) {
	for _, e := range rel.Entries {
		if h, err := n.store.GetHeld(ctx, e.Stripe); err == nil && h == nil {
			n.audits.forget(e.Stripe)
			n.repairs.drop(e.Stripe)
		}
	}
}

func (n *Node) holder(p peer.ID) holderOf {
	if p == n.ID() {
		return selfHolder{n}
	}
	return n.Remote(p)
}

// sweepStripes drops the held records whose retention has run out, and
// tombstones past their term.
func (n *Node) sweepStripes(ctx context.Context) {
	gone, err := n.store.SweepStripes(ctx, n.cfg.Now())
	if err != nil && ctx.Err() == nil {
		n.log.Warn("sweeping expired stripe records failed", "err", err)
	}
	for _, id := range gone {
		n.audits.forget(id)
		n.repairs.drop(id)
	}
	if len(gone) > 0 {
		n.log.Info("dropped the records of expired stripes", "stripes", len(gone))
	}
}

// holdersOf returns the peers a record's hints name, for the shards
// stored, with the stripes' shard indexes at each.
func holdersOf(rec *stripe.Record) []peer.ID {
	seen := map[peer.ID]bool{}
	var out []peer.ID
	for _, names := range rec.Holders {
		for _, h := range names {
			if p := peer.ID(h); !seen[p] && p.Validate() == nil {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// retentionTerm is how long the retentions this node signs last.
func (n *Node) retentionTerm() time.Duration { return min(n.cfg.Lease, stripe.MaxTerm) }
