package badgerstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/dgraph-io/badger/v4"

	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// Prove answers an audit challenge from the shard this node holds: with
// the shard's tree, reading only the leaves asked for; without one (a
// shard put with a lease alone), from the whole shard. A shard not held,
// or whose file is gone or short, is store.ErrNotFound; one whose leaves
// no longer match its tree fails with proof.ErrCorrupt.
func (s *Store) Prove(ctx context.Context, ch *proof.Challenge) (*proof.Proof, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := ch.Shard
	var size int
	var inFile bool
	var tb []byte
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if size, inFile, err = readSize(txn, id); err != nil {
			return err
		}
		item, err := txn.Get(treeKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		tb, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("prove %s: %w", id.Short(), store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("badgerstore: prove %s: %w", id.Short(), err)
	}
	var tree *proof.Tree
	if tb != nil {
		if tree, err = proof.ParseTree(tb); err != nil || tree.Size() != size {
			tree = nil // a damaged tree: answer from the whole shard
		}
	}
	if tree == nil || !inFile {
		b, err := s.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if tree == nil {
			return proof.Prove(b, ch)
		}
		return tree.Prove(ch, bytes.NewReader(b))
	}
	f, err := os.Open(s.blobPath(id))
	if err != nil {
		return nil, fmt.Errorf("prove %s: its file: %v: %w", id.Short(), err, store.ErrNotFound)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(size) {
		return nil, fmt.Errorf("prove %s: its file is damaged: %w", id.Short(), store.ErrNotFound)
	}
	return tree.Prove(ch, f)
}
