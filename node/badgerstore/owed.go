package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
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
//	owed: 'w' | len(owner) | owner | stripe ID → owed value
//	owed value: version(1) | uvarint len | record | certificate
//
// The certificate is the repair's grant certificate for the record's
// hints, opaque here (node encodes it; empty: none): the owner takes a
// change of holders only with it.
const prefixOwed = 'w'

// owedVersion is the owed value's format.
const owedVersion = 1

// Owed is a record owed to its stripe's owner, with the certificate of
// its hints.
type Owed struct {
	Record *stripe.Record
	Cert   []byte
}

// ErrBadOwed marks an owed value that does not parse.
var ErrBadOwed = errors.New("badgerstore: a malformed owed record")

// AppendOwed appends o's owed value to b.
func AppendOwed(b []byte, o Owed) ([]byte, error) {
	rb, err := o.Record.MarshalBinary()
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(append(b, owedVersion), uint64(len(rb)))
	return append(append(b, rb...), o.Cert...), nil
}

// ParseOwed decodes an owed value.
func ParseOwed(v []byte) (Owed, error) {
	if len(v) == 0 || v[0] != owedVersion {
		return Owed{}, fmt.Errorf("%w: unknown version", ErrBadOwed)
	}
	n, k := binary.Uvarint(v[1:])
	if k <= 0 || n > uint64(len(v)-1-k) {
		return Owed{}, fmt.Errorf("%w: a record length past the value", ErrBadOwed)
	}
	rb := v[1+k : 1+k+int(n)]
	rec, err := stripe.ParseRecord(rb)
	if err != nil {
		return Owed{}, fmt.Errorf("%w: %w", ErrBadOwed, err)
	}
	return Owed{Record: rec, Cert: bytes.Clone(v[1+k+int(n):])}, nil
}

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

// PutOwed keeps rec, with cert (its hints' certificate), as owed to
// owner (a peer), merged with the record already owed for its stripe
// (stripe.Merge: the newer hints, the retention that outlasts the other;
// the certificate of the newer hints).
func (s *Store) PutOwed(ctx context.Context, owner []byte, rec *stripe.Record, cert []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkOwnerName(owner); err != nil {
		return err
	}
	k := owedKey(owner, rec.ID())
	return s.update(func(txn *badger.Txn) error {
		keep := Owed{Record: rec, Cert: cert}
		if old, err := getOwed(txn, k); err != nil {
			return err
		} else if old != nil {
			if old.Record.Seq > rec.Seq {
				keep.Cert = old.Cert
			}
			if keep.Record, err = stripe.Merge(old.Record, rec); err != nil {
				return err
			}
		}
		v, err := AppendOwed(nil, keep)
		if err != nil {
			return err
		}
		return txn.Set(k, v)
	})
}

// getOwed returns the owed value at k; nil when there is none or it does
// not parse (it is then nothing anybody can take).
func getOwed(txn *badger.Txn, k []byte) (*Owed, error) {
	v, err := getValue(txn, k)
	if err != nil || v == nil {
		return nil, err
	}
	o, err := ParseOwed(v)
	if err != nil {
		return nil, nil
	}
	return &o, nil
}

// Owed returns up to limit of the records owed to owner, in stripe ID
// order; a value that does not parse is skipped (the sweep removes it).
func (s *Store) Owed(ctx context.Context, owner []byte, limit int) ([]Owed, error) {
	if err := checkOwnerName(owner); err != nil {
		return nil, err
	}
	var out []Owed
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
			if o, err := ParseOwed(v); err == nil {
				out = append(out, o)
			}
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
			if old == nil || old.Record.Seq <= r.Seq {
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
	err := s.walkPrefixKeys(ctx, prefixOwed, func(k, v []byte) error {
		if o, err := ParseOwed(v); err != nil || !o.Record.Live(now) {
			dead = append(dead, bytes.Clone(k))
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
			if o, err := ParseOwed(v); v != nil && (err != nil || !o.Record.Live(now)) {
				if err := txn.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
