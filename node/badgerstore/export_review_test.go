package badgerstore

import (
	"github.com/dgraph-io/badger/v4"

	"github.com/murmur-cloud/murmur/erasure"
)

// FlipTreeBit flips the lowest bit of byte i of the proof tree kept for
// shard id, as bit rot in the database would.
func FlipTreeBit(s *Store, id erasure.ShardID, i int) error {
	return s.db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(treeKey(id))
		if err != nil {
			return err
		}
		b, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		b[i] ^= 1
		return txn.Set(treeKey(id), b)
	})
}
