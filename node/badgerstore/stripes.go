package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// Stripe records (package stripe), in the same database as the shards.
//
//	held:      'k' | stripe ID → version | uvarint n | n × uvarint shard
//	           index | record: the record of a stripe this node holds
//	           shards of, and which
//	by shard:  'x' | shard ID | stripe ID → empty: the stripes a shard is in
//	tombstone: 't' | stripe ID → the tombstone's encoding
//	owned:     'o' | stripe ID → the record of a stripe this node owns
//	           (signed the retention of), as it last sent it
//	owned by shard: 'O' | shard ID | stripe ID → empty
//	proof tree: 'p' | shard ID → the shard's leaf hashes (proof.Tree), so
//	           an audit reads only the leaves it asks for (Prove)
//
// A held record and its shard are written in one commit, so a shard put
// with a record is never held without it. Updates of one stripe's records
// are serialised by a lock of its bucket (stripeLocks).
const (
	prefixHeld    = 'k'
	prefixByShard = 'x'
	prefixTomb    = 't'
	prefixOwned   = 'o'
	prefixOwnedBy = 'O'
	prefixTree    = 'p'
	heldVersion   = 1
)

// ErrRefused reports a put or renewal a stripe's record does not allow:
// the record is invalid or expired, or a tombstone blocks it (the error
// wraps stripe's reason: stripe.ErrBadRecord, ErrExpired, ErrReleased,
// ErrOwner).
var ErrRefused = errors.New("badgerstore: refused by the stripe's record")

// Held is a stripe this node holds shards of: its record, and the indexes
// of the shards held, ascending.
type Held struct {
	Record *stripe.Record
	Shards []int
}

func heldKey(id stripe.ID) []byte { return append([]byte{prefixHeld}, id[:]...) }
func treeKey(id erasure.ShardID) []byte {
	return append([]byte{prefixTree}, id[:]...)
}
func tombKey(id stripe.ID) []byte  { return append([]byte{prefixTomb}, id[:]...) }
func ownedKey(id stripe.ID) []byte { return append([]byte{prefixOwned}, id[:]...) }
func byShardKey(sh erasure.ShardID, id stripe.ID) []byte {
	k := append([]byte{prefixByShard}, sh[:]...)
	return append(k, id[:]...)
}

// AppendHeld encodes a held entry.
func AppendHeld(b []byte, h *Held) ([]byte, error) {
	b = append(b, heldVersion)
	b = binary.AppendUvarint(b, uint64(len(h.Shards)))
	for j, i := range h.Shards {
		if i < 0 || i >= len(h.Record.Descriptor.Shards) || (j > 0 && h.Shards[j-1] >= i) {
			return nil, fmt.Errorf("%w: held shards %v", stripe.ErrBadRecord, h.Shards)
		}
		b = binary.AppendUvarint(b, uint64(i))
	}
	return h.Record.AppendBinary(b)
}

// ParseHeld decodes a held entry. It checks the form, not the record's
// signature (which was checked when it was stored).
func ParseHeld(b []byte) (*Held, error) {
	r := wire.NewReader(b, stripe.ErrBadRecord)
	if v := r.Byte(); r.Err() == nil && v != heldVersion {
		r.Fail("unknown held-record version %d", v)
	}
	n := r.Count(erasure.MaxShards, 1)
	h := &Held{}
	for range n {
		h.Shards = append(h.Shards, r.Int(erasure.MaxShards-1))
	}
	if r.Err() != nil {
		return nil, r.Err()
	}
	rec, err := stripe.ParseRecord(r.Bytes(r.Len()))
	if err != nil {
		return nil, err
	}
	h.Record = rec
	again, err := AppendHeld(nil, h)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: non-canonical held record", stripe.ErrBadRecord)
	}
	return h, nil
}

// lockStripes locks the buckets of ids in ascending order and returns the
// unlock.
func (s *Store) lockStripes(ids ...stripe.ID) func() {
	var bs []int
	for _, id := range ids {
		bs = append(bs, int(id[0])%len(s.stripeLocks))
	}
	slices.Sort(bs)
	bs = slices.Compact(bs)
	for _, b := range bs {
		s.stripeLocks[b].Lock()
	}
	return func() {
		for _, b := range bs {
			s.stripeLocks[b].Unlock()
		}
	}
}

// getValue returns a copy of k's value, nil when there is none.
func getValue(txn *badger.Txn, k []byte) ([]byte, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func getHeld(txn *badger.Txn, id stripe.ID) (*Held, error) {
	v, err := getValue(txn, heldKey(id))
	if err != nil || v == nil {
		return nil, err
	}
	return ParseHeld(v)
}

// tombFor returns the tombstone that decides a record of owner's: t if
// its release is owner's, else none. A holder keeps the tombstone of a
// stripe it does not hold on the word of whoever signed the release,
// unchecked against the stripe's owner (which it does not know), so a
// release by another key must not block the owner's retentions: any
// member could otherwise sign a release of anybody's stripe and keep it
// off every member that does not hold it yet (a repair target, a put in
// flight), for as long as the release's date lets it live.
func tombFor(t *stripe.Tombstone, owner stripe.Owner) *stripe.Tombstone {
	if t == nil || t.Release.Owner != owner {
		return nil
	}
	return t
}

// checkTerm refuses a retention that runs longer from now than any may
// (stripe.MaxTerm, with stripe.MaxSkew for the clocks): one issued ahead
// of this clock would otherwise keep its stripe, and the lease on its
// shards, for as long as its owner dated it, without a renewal.
func checkTerm(ret *stripe.Retention, now time.Time) error {
	if limit := now.Add(stripe.MaxTerm + stripe.MaxSkew); ret.Until.After(limit) {
		return fmt.Errorf("%w: %w: kept until %v, past %v", ErrRefused, stripe.ErrBadRecord, ret.Until, limit)
	}
	return nil
}

func getTomb(txn *badger.Txn, id stripe.ID) (*stripe.Tombstone, error) {
	v, err := getValue(txn, tombKey(id))
	if err != nil || v == nil {
		return nil, err
	}
	return stripe.ParseTombstone(v)
}

func setHeld(txn *badger.Txn, h *Held) error {
	v, err := AppendHeld(nil, h)
	if err != nil {
		return err
	}
	id := h.Record.ID()
	if err := txn.Set(heldKey(id), v); err != nil {
		return err
	}
	for _, i := range h.Shards {
		if err := txn.Set(byShardKey(h.Record.Descriptor.Shards[i].ID, id), nil); err != nil {
			return err
		}
	}
	return nil
}

// deleteHeld deletes a held entry and its by-shard keys (those of shards
// no other index of the stripe held here has).
func deleteHeld(txn *badger.Txn, h *Held) error {
	id := h.Record.ID()
	if err := txn.Delete(heldKey(id)); err != nil {
		return err
	}
	for _, i := range h.Shards {
		if err := txn.Delete(byShardKey(h.Record.Descriptor.Shards[i].ID, id)); err != nil {
			return err
		}
	}
	return nil
}

// PutStriped stores shard i of rec's stripe, with owner's lease on it
// until the retention of the record kept ends, and keeps the record
// (merged with the one held, stripe.Receive: the retention that outlasts
// the other), all in one durable commit. So a put carrying an older
// retention than the one held here (a repair planned before a renewal)
// leases the shard to the renewal's end. The bytes
// must be the record's shard i (Record.CheckShard: store.ErrBadShard if
// not); a record that is invalid, expired, or blocked by a tombstone is
// refused (ErrRefused) and nothing is stored. It returns the record kept.
func (s *Store) PutStriped(ctx context.Context, rec *stripe.Record, i int, data []byte, owner []byte) (*stripe.Record, error) {
	if i < 0 || i >= len(rec.Descriptor.Shards) || !rec.Descriptor.Stored(i) {
		return nil, fmt.Errorf("badgerstore: put shard %d of stripe %s: %w: no such stored shard", i, rec.ID().Short(), ErrRefused)
	}
	// Record.CheckShard, hashing the leaves once for the tree as well.
	sh := rec.Descriptor.Shards[i]
	var tree *proof.Tree
	switch {
	case len(data) != sh.Size:
		return nil, fmt.Errorf("badgerstore: put shard %d of stripe %s: %w: %d bytes, the record says %d", i, rec.ID().Short(), store.ErrBadShard, len(data), sh.Size)
	case !sh.ID.Verify(data):
		return nil, fmt.Errorf("badgerstore: put shard %d of stripe %s: %w: the bytes are not %s", i, rec.ID().Short(), store.ErrBadShard, sh.ID.Short())
	default:
		if tree = proof.NewTree(data); tree.Root() != rec.Roots[i] {
			return nil, fmt.Errorf("badgerstore: put shard %d of stripe %s: %w: its proof root is not the record's", i, rec.ID().Short(), store.ErrBadShard)
		}
	}
	treeBytes, err := tree.MarshalBinary()
	if err != nil {
		return nil, err
	}
	id := rec.ID()
	unlock := s.lockStripes(id)
	defer unlock()
	if err := checkTerm(&rec.Retention, s.cfg.Now()); err != nil {
		return nil, fmt.Errorf("badgerstore: put shard %d of stripe %s: %w", i, id.Short(), err)
	}
	var kept *Held
	check := func(txn *badger.Txn) error {
		held, err := getHeld(txn, id)
		if err != nil {
			return err
		}
		tomb, err := getTomb(txn, id)
		if err != nil {
			return err
		}
		var old *stripe.Record
		h := &Held{Shards: []int{i}}
		if held != nil {
			old, h.Shards = held.Record, held.Shards
			if j, found := slices.BinarySearch(h.Shards, i); !found {
				h.Shards = slices.Insert(slices.Clone(h.Shards), j, i)
			}
		}
		if h.Record, err = stripe.Receive(old, rec, tombFor(tomb, rec.Owner()), s.cfg.Now()); err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		kept = h
		return nil
	}
	// Check before writing any bytes, and again in the commit.
	if err := s.db.View(check); err != nil {
		return nil, fmt.Errorf("badgerstore: put shard %d of stripe %s: %w", i, id.Short(), err)
	}
	err = s.putLeased(ctx, sh.ID, data, owner, rec.Retention.Until, func(txn *badger.Txn) error {
		if err := check(txn); err != nil {
			return err
		}
		if err := txn.Set(treeKey(sh.ID), treeBytes); err != nil {
			return err
		}
		if len(owner) > 0 && kept.Record.Retention.Until.After(rec.Retention.Until) {
			if err := setLease(txn, sh.ID, owner, kept.Record.Retention.Until); err != nil {
				return err
			}
		}
		return setHeld(txn, kept)
	})
	if err != nil {
		return nil, err
	}
	return kept.Record, nil
}

// UpdateHeld takes rec as a newer record of a stripe this node holds
// shards of (new holder hints, a later retention), merged with the one
// held. It reports whether this node holds the stripe; a record that
// Receive refuses is refused (ErrRefused).
func (s *Store) UpdateHeld(ctx context.Context, rec *stripe.Record) (*stripe.Record, bool, error) {
	return s.UpdateHeldFrom(ctx, rec, "", true)
}

// UpdateHeldFrom is UpdateHeld for a record handed over by from, a holder
// name, which is the stripe's owner if owner is set. Hints are unsigned,
// so they are taken only from the owner or from a holder the held record
// already hints: a member with no part in the stripe could otherwise point
// its auditors at honest peers that never had its shards (each audit of
// them then a Missing against them) and away from the real holders.
func (s *Store) UpdateHeldFrom(ctx context.Context, rec *stripe.Record, from string, owner bool) (*stripe.Record, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	id := rec.ID()
	if err := checkTerm(&rec.Retention, s.cfg.Now()); err != nil {
		return nil, false, fmt.Errorf("badgerstore: update stripe %s: %w", id.Short(), err)
	}
	unlock := s.lockStripes(id)
	defer unlock()
	var out *stripe.Record
	err := s.update(func(txn *badger.Txn) error {
		held, err := getHeld(txn, id)
		if err != nil || held == nil {
			return err
		}
		tomb, err := getTomb(txn, id)
		if err != nil {
			return err
		}
		if !owner && !hints(held.Record, from) {
			return fmt.Errorf("%w: %w: hints from a peer the stripe's record does not name", ErrRefused, stripe.ErrOwner)
		}
		r, err := stripe.Receive(held.Record, rec, tombFor(tomb, held.Record.Owner()), s.cfg.Now())
		if err != nil {
			return fmt.Errorf("%w: %w", ErrRefused, err)
		}
		held.Record, out = r, r
		return setHeld(txn, held)
	})
	if err != nil {
		return nil, false, fmt.Errorf("badgerstore: update stripe %s: %w", id.Short(), err)
	}
	return out, out != nil, nil
}

// hints reports whether rec names holder h for one of its shards.
func hints(rec *stripe.Record, h string) bool {
	for _, names := range rec.Holders {
		if slices.Contains(names, h) {
			return true
		}
	}
	return false
}

// RenewStripes applies an owner's renewal to the stripes it names that
// this node holds (stripe.Record.Renew), in one commit, and extends
// owner's leases on their shards to the retention's end. It reports, per
// entry, whether the stripe is held and now kept at least that long.
func (s *Store) RenewStripes(ctx context.Context, ren *stripe.Renewal, owner []byte) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ids := make([]stripe.ID, len(ren.Entries))
	for i, e := range ren.Entries {
		ids[i] = e.Stripe
	}
	now := s.cfg.Now()
	if err := checkTerm(&ren.Retention, now); err != nil {
		return nil, fmt.Errorf("badgerstore: renew stripes: %w", err)
	}
	rn := stripe.NewRenewer(ren.Retention) // one signature check for the batch
	unlock := s.lockStripes(ids...)
	kept := make([]bool, len(ids))
	var shards []erasure.ShardID
	err := s.update(func(txn *badger.Txn) error {
		for j, e := range ren.Entries {
			held, err := getHeld(txn, e.Stripe)
			if err != nil {
				return err
			}
			if held == nil {
				continue
			}
			tomb, err := getTomb(txn, e.Stripe)
			if err != nil {
				return err
			}
			r, err := rn.Renew(held.Record, e.Path, tombFor(tomb, held.Record.Owner()), now)
			if err != nil {
				continue // not this owner's, released, or a forged path
			}
			held.Record = r
			if err := setHeld(txn, held); err != nil {
				return err
			}
			kept[j] = !r.Retention.Until.Before(ren.Retention.Until)
			for _, i := range held.Shards {
				shards = append(shards, r.Descriptor.Shards[i].ID)
			}
		}
		return nil
	})
	unlock()
	if err != nil {
		return nil, fmt.Errorf("badgerstore: renew stripes: %w", err)
	}
	if len(shards) > 0 {
		if _, err := s.Renew(ctx, shards, owner, ren.Retention.Until); err != nil {
			return nil, err
		}
	}
	return kept, nil
}

// ReleaseStripes applies an owner's release to the stripes it names: each
// gets a tombstone (held or not, so that nothing released comes back), its
// held record goes, and owner's lease on each of its shards is released
// unless another stripe held here still has the shard (the shard is
// deleted once no lease remains). A release the held record's retention
// was signed after is refused for that stripe (stripe.ErrStale). It
// returns how many stripes it released.
func (s *Store) ReleaseStripes(ctx context.Context, rel *stripe.Releasing, owner []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ids := make([]stripe.ID, len(rel.Entries))
	for i, e := range rel.Entries {
		ids[i] = e.Stripe
	}
	// A release dated ahead of this clock is refused: its tombstone
	// would outlive every retention it overrides by as long as it likes.
	if ahead := s.cfg.Now().Add(stripe.MaxSkew); rel.Release.Issued.After(ahead) {
		return 0, fmt.Errorf("badgerstore: release stripes: %w: %w: released on %v, ahead of this clock", ErrRefused, stripe.ErrBadStatement, rel.Release.Issued)
	}
	unlock := s.lockStripes(ids...)
	done := 0
	var shards []erasure.ShardID
	err := s.update(func(txn *badger.Txn) error {
		for _, e := range rel.Entries {
			held, err := getHeld(txn, e.Stripe)
			if err != nil {
				return err
			}
			var t *stripe.Tombstone
			if held != nil {
				t, err = held.Record.Release(rel.Release, e.Path)
			} else {
				t, err = stripe.NewTombstone(e.Stripe, rel.Release, e.Path)
			}
			if err != nil {
				continue
			}
			old, err := getTomb(txn, e.Stripe)
			if err != nil {
				return err
			}
			switch {
			case old == nil:
			case old.Release.Owner != t.Release.Owner:
				// Of two keys' tombstones the held record's owner's
				// stays: a stripe not held keeps the first.
				if held == nil {
					continue
				}
			case old.Release.Issued.After(t.Release.Issued):
				t = old
			}
			v, err := t.MarshalBinary()
			if err != nil {
				return err
			}
			if err := txn.Set(tombKey(e.Stripe), v); err != nil {
				return err
			}
			done++
			if held != nil {
				if err := deleteHeld(txn, held); err != nil {
					return err
				}
				for _, i := range held.Shards {
					shards = append(shards, held.Record.Descriptor.Shards[i].ID)
				}
			}
		}
		return nil
	})
	unlock()
	if err != nil {
		return 0, fmt.Errorf("badgerstore: release stripes: %w", err)
	}
	for _, sh := range shards {
		if n, err := s.stripesOf(sh); err != nil {
			return done, err
		} else if len(n) > 0 {
			continue
		}
		if err := s.release(ctx, sh, owner); err != nil {
			return done, err
		}
	}
	return done, nil
}

// stripesOf returns the stripes whose held records have shard sh.
func (s *Store) stripesOf(sh erasure.ShardID) ([]stripe.ID, error) {
	var out []stripe.ID
	prefix := append([]byte{prefixByShard}, sh[:]...)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var id stripe.ID
			copy(id[:], it.Item().Key()[len(prefix):])
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

// DropShards forgets, in the held records, the shards of ids this node no
// longer has (a lease released, a failed put undone): a record left with
// no shard goes. It returns the stripes whose records changed.
func (s *Store) DropShards(ctx context.Context, ids []erasure.ShardID) ([]stripe.ID, error) {
	has, err := s.Has(ctx, ids)
	if err != nil {
		return nil, err
	}
	var changed []stripe.ID
	for j, sh := range ids {
		if has[j] {
			continue
		}
		sids, err := s.stripesOf(sh)
		if err != nil {
			return changed, err
		}
		for _, id := range sids {
			unlock := s.lockStripes(id)
			err := s.update(func(txn *badger.Txn) error {
				held, err := getHeld(txn, id)
				if err != nil || held == nil {
					return err
				}
				if err := deleteHeld(txn, held); err != nil {
					return err
				}
				held.Shards = slices.DeleteFunc(held.Shards, func(i int) bool { return held.Record.Descriptor.Shards[i].ID == sh })
				if len(held.Shards) == 0 {
					return nil
				}
				return setHeld(txn, held)
			})
			unlock()
			if err != nil {
				return changed, fmt.Errorf("badgerstore: drop shard %s: %w", sh.Short(), err)
			}
			changed = append(changed, id)
		}
	}
	return changed, nil
}

// GetHeld returns the held entry of stripe id, or nil if none.
func (s *Store) GetHeld(ctx context.Context, id stripe.ID) (*Held, error) {
	var h *Held
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		h, err = getHeld(txn, id)
		return err
	})
	return h, err
}

// Tombstone returns the tombstone of stripe id, or nil if none.
func (s *Store) Tombstone(ctx context.Context, id stripe.ID) (*stripe.Tombstone, error) {
	var t *stripe.Tombstone
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		t, err = getTomb(txn, id)
		return err
	})
	return t, err
}

// WalkHeld calls fn with every held entry, in stripe ID order.
func (s *Store) WalkHeld(ctx context.Context, fn func(*Held) error) error {
	return s.walkPrefix(ctx, prefixHeld, func(v []byte) error {
		h, err := ParseHeld(v)
		if err != nil {
			return err
		}
		return fn(h)
	})
}

func (s *Store) walkPrefix(ctx context.Context, prefix byte, fn func(v []byte) error) error {
	return s.walkPrefixKeys(ctx, prefix, func(_, v []byte) error { return fn(v) })
}

// walkPrefixKeys calls fn with the key and value of every entry under
// prefix, in key order; v is fn's to keep, k only during the call.
func (s *Store) walkPrefixKeys(ctx context.Context, prefix byte, fn func(k, v []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(it.Item().Key(), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// SweepStripes deletes the held records and the records owed to owners
// whose retention has run out at now and the tombstones past their
// expiry, and returns the stripes whose held records went. (The shards go with their leases, which end with the
// retention: Reclaim.)
func (s *Store) SweepStripes(ctx context.Context, now time.Time) ([]stripe.ID, error) {
	var dead []*Held
	var tombs []stripe.ID
	err := s.WalkHeld(ctx, func(h *Held) error {
		if !h.Record.Live(now) {
			dead = append(dead, h)
		}
		return nil
	})
	if err == nil {
		err = s.walkPrefix(ctx, prefixTomb, func(v []byte) error {
			t, err := stripe.ParseTombstone(v)
			if err == nil && !now.Before(t.Expires()) {
				tombs = append(tombs, t.Stripe)
			}
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("badgerstore: sweep stripes: %w", err)
	}
	var gone []stripe.ID
	for _, h := range dead {
		id := h.Record.ID()
		unlock := s.lockStripes(id)
		err := s.update(func(txn *badger.Txn) error {
			cur, err := getHeld(txn, id)
			if err != nil || cur == nil || cur.Record.Live(now) {
				return err
			}
			gone = append(gone, id)
			return deleteHeld(txn, cur)
		})
		unlock()
		if err != nil {
			return gone, err
		}
	}
	for _, id := range tombs {
		// Under the stripe's lock and checked again: a release since the
		// walk may have put a newer tombstone in its place.
		unlock := s.lockStripes(id)
		err := s.update(func(txn *badger.Txn) error {
			t, err := getTomb(txn, id)
			if err != nil || t == nil || now.Before(t.Expires()) {
				return err
			}
			return txn.Delete(tombKey(id))
		})
		unlock()
		if err != nil {
			return gone, err
		}
	}
	if err := s.sweepOwed(ctx, now); err != nil {
		return gone, fmt.Errorf("badgerstore: sweep stripes: %w", err)
	}
	return gone, nil
}
