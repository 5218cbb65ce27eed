package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/stripe"
)

// The records of the stripes this node owns (key layout: stripes.go).

func ownedByKey(sh erasure.ShardID, id stripe.ID) []byte {
	k := append([]byte{prefixOwnedBy}, sh[:]...)
	return append(k, id[:]...)
}

// PutOwned keeps the records of stripes this node owns, in one commit
// (replacing those of the same stripes).
func (s *Store) PutOwned(ctx context.Context, recs []*stripe.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.update(func(txn *badger.Txn) error {
		for _, r := range recs {
			v, err := r.MarshalBinary()
			if err != nil {
				return err
			}
			id := r.ID()
			if err := txn.Set(ownedKey(id), v); err != nil {
				return err
			}
			for i, sh := range r.Descriptor.Shards {
				if r.Descriptor.Stored(i) {
					if err := txn.Set(ownedByKey(sh.ID, id), nil); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
}

// DeleteOwned forgets the records of owned stripes (released).
func (s *Store) DeleteOwned(ctx context.Context, ids []stripe.ID) error {
	return s.update(func(txn *badger.Txn) error {
		for _, id := range ids {
			item, err := txn.Get(ownedKey(id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if r, err := stripe.ParseRecord(v); err == nil {
				for _, sh := range r.Descriptor.Shards {
					if err := txn.Delete(ownedByKey(sh.ID, id)); err != nil {
						return err
					}
				}
			}
			if err := txn.Delete(ownedKey(id)); err != nil {
				return err
			}
		}
		return nil
	})
}

// OwnedOf returns the records of the owned stripes that have a shard
// among ids, each once, in stripe ID order.
func (s *Store) OwnedOf(ctx context.Context, ids []erasure.ShardID) ([]*stripe.Record, error) {
	var out []*stripe.Record
	seen := map[stripe.ID]bool{}
	err := s.db.View(func(txn *badger.Txn) error {
		for _, sh := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			prefix := append([]byte{prefixOwnedBy}, sh[:]...)
			it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
			var found []stripe.ID
			for it.Rewind(); it.Valid(); it.Next() {
				var id stripe.ID
				copy(id[:], it.Item().Key()[len(prefix):])
				if !seen[id] {
					seen[id] = true
					found = append(found, id)
				}
			}
			it.Close()
			for _, id := range found {
				item, err := txn.Get(ownedKey(id))
				if errors.Is(err, badger.ErrKeyNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				r, err := stripe.ParseRecord(v)
				if err != nil {
					return err
				}
				out = append(out, r)
			}
		}
		return nil
	})
	slices.SortFunc(out, func(a, b *stripe.Record) int {
		x, y := a.ID(), b.ID()
		return bytes.Compare(x[:], y[:])
	})
	return out, err
}

// WalkOwned calls fn with the record of every stripe this node owns.
func (s *Store) WalkOwned(ctx context.Context, fn func(*stripe.Record) error) error {
	return s.walkPrefix(ctx, prefixOwned, func(v []byte) error {
		r, err := stripe.ParseRecord(v)
		if err != nil {
			return err
		}
		return fn(r)
	})
}
