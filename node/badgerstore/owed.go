package badgerstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/murmur-cloud/murmur/stripe"
)

// Records owed to their stripes' owners: a repair's newer record that the
// owner has not yet said it took (node tells it when it connects or
// answers; the owner's renewals and releases go to the holders its own
// record names). They outlive restarts of this node, so no owner's news
// depends on a message kept in memory.
//
//	owed: 'w' | len(owner) | owner | stripe ID → the record
const prefixOwed = 'w'

func owedKey(owner []byte, id stripe.ID) []byte {
	k := append([]byte{prefixOwed, byte(len(owner))}, owner...)
	return append(k, id[:]...)
}

func owedPrefix(owner []byte) []byte {
	return append([]byte{prefixOwed, byte(len(owner))}, owner...)
}

func checkOwnerName(owner []byte) error {
	if len(owner) == 0 || len(owner) > MaxOwnerLen {
		return fmt.Errorf("badgerstore: an owner must be 1..%d bytes", MaxOwnerLen)
	}
	return nil
}

// PutOwed keeps rec as owed to owner (a peer), merged with the record
// already owed for its stripe (stripe.Merge: the newer hints, the
// retention that outlasts the other).
func (s *Store) PutOwed(ctx context.Context, owner []byte, rec *stripe.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkOwnerName(owner); err != nil {
		return err
	}
	k := owedKey(owner, rec.ID())
	return s.update(func(txn *badger.Txn) error {
		keep := rec
		if old, err := getOwed(txn, k); err != nil {
			return err
		} else if old != nil {
			if keep, err = stripe.Merge(old, rec); err != nil {
				return err
			}
		}
		v, err := keep.MarshalBinary()
		if err != nil {
			return err
		}
		return txn.Set(k, v)
	})
}

func getOwed(txn *badger.Txn, k []byte) (*stripe.Record, error) {
	v, err := getValue(txn, k)
	if err != nil || v == nil {
		return nil, err
	}
	return stripe.ParseRecord(v)
}

// Owed returns up to limit of the records owed to owner, in stripe ID
// order.
func (s *Store) Owed(ctx context.Context, owner []byte, limit int) ([]*stripe.Record, error) {
	if err := checkOwnerName(owner); err != nil {
		return nil, err
	}
	var out []*stripe.Record
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: owedPrefix(owner)})
		defer it.Close()
		for it.Rewind(); it.Valid() && len(out) < limit; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			rec, err := stripe.ParseRecord(v)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: owed records: %w", err)
	}
	return out, nil
}

// SettleOwed forgets the records owed to owner that recs settle: those of
// their stripes with hints no newer than theirs (a newer record owed
// since stays owed).
func (s *Store) SettleOwed(ctx context.Context, owner []byte, recs []*stripe.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkOwnerName(owner); err != nil {
		return err
	}
	return s.update(func(txn *badger.Txn) error {
		for _, r := range recs {
			k := owedKey(owner, r.ID())
			old, err := getOwed(txn, k)
			if err != nil {
				return err
			}
			if old != nil && old.Seq <= r.Seq {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// OwedOwners returns every owner that records are owed to.
func (s *Store) OwedOwners(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixOwed}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) < 2 || len(k) < 2+int(k[1]) {
				continue
			}
			owner := k[2 : 2+int(k[1])]
			if len(out) == 0 || !bytes.Equal(out[len(out)-1], owner) {
				out = append(out, bytes.Clone(owner))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: owed records: %w", err)
	}
	return out, nil
}

// sweepOwed forgets the records owed whose retention has ended: nobody
// needs their hints any more (an owner that never came back).
func (s *Store) sweepOwed(ctx context.Context, now time.Time) error {
	var dead [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixOwed}, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if rec, err := stripe.ParseRecord(v); err != nil || !rec.Live(now) {
				dead = append(dead, it.Item().KeyCopy(nil))
			}
		}
		return nil
	})
	if err != nil || len(dead) == 0 {
		return err
	}
	// Checked again in the commit: a record owed since may outlast it.
	return s.update(func(txn *badger.Txn) error {
		for _, k := range dead {
			v, err := getValue(txn, k)
			if err != nil {
				return err
			}
			if rec, err := stripe.ParseRecord(v); v != nil && (err != nil || !rec.Live(now)) {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
