package badgerstore

import (
	"context"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/murmur-cloud/murmur/erasure"
)

// IDsFrom lists, in ascending order, up to len(dst) IDs of the shards held
// that are not below from, into dst, and returns the filled prefix of dst.
// Fewer than len(dst) means the end was reached. It reads only keys of the
// LSM tree, in one short read transaction per call, so a caller can page
// through a million shards holding one page at a time: start at the zero
// ID and continue from Next of the last ID returned. Shards put or deleted
// between calls may or may not be listed.
func (s *Store) IDsFrom(ctx context.Context, from erasure.ShardID, dst []erasure.ShardID) ([]erasure.ShardID, error) {
	n := 0
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSize}})
		defer it.Close()
		for it.Seek(sizeKey(from)); it.Valid() && n < len(dst); it.Next() {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			id, err := idOfSizeKey(it.Item().Key())
			if err != nil {
				return err
			}
			dst[n] = id
			n++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dst[:n], nil
}

// Next returns the ID after id in ascending order, and false if id is the
// last possible one.
func Next(id erasure.ShardID) (erasure.ShardID, bool) {
	for i := len(id) - 1; i >= 0; i-- {
		id[i]++
		if id[i] != 0 {
			return id, true
		}
	}
	return id, false
}

// idOfSizeKey parses a size record's key: prefixSize followed by the ID.
func idOfSizeKey(k []byte) (erasure.ShardID, error) {
	var id erasure.ShardID
	if len(k) != 1+len(id) || k[0] != prefixSize {
		return id, fmt.Errorf("badgerstore: malformed size key of %d bytes", len(k))
	}
	copy(id[:], k[1:])
	return id, nil
}
