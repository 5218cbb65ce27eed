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
// no longer match its tree fails with proof.ErrCorrupt, unless it is the
// tree that rotted (the shard still hashes to its ID): then the tree is
// made anew from the shard and the challenge answered.
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
		pr, err := tree.Prove(ch, bytes.NewReader(b))
		if errors.Is(err, proof.ErrCorrupt) {
			return s.proveAnew(ctx, ch, b, err)
		}
		return pr, err
	}
	f, err := os.Open(s.blobPath(id))
	if err != nil {
		return nil, fmt.Errorf("prove %s: its file: %v: %w", id.Short(), err, store.ErrNotFound)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(size) {
		return nil, fmt.Errorf("prove %s: its file is damaged: %w", id.Short(), store.ErrNotFound)
	}
	pr, err := tree.Prove(ch, f)
	if errors.Is(err, proof.ErrCorrupt) {
		b, gerr := s.Get(ctx, id)
		if gerr != nil {
			return nil, err
		}
		return s.proveAnew(ctx, ch, b, err)
	}
	return pr, err
}

// proveAnew answers ch from b, the whole shard, when its leaves did not
// match the tree kept (corrupt, the error Prove got): if b is still the
// shard its ID names, the tree is what rotted, and it is made anew from
// b, kept in place of the rotted one (at best: a failure to write it
// costs only the next audit the same detour) and used for the answer.
func (s *Store) proveAnew(ctx context.Context, ch *proof.Challenge, b []byte, corrupt error) (*proof.Proof, error) {
	if !ch.Shard.Verify(b) {
		return nil, corrupt
	}
	tree := proof.NewTree(b)
	if tb, err := tree.MarshalBinary(); err == nil {
		_ = s.update(func(txn *badger.Txn) error {
			if _, err := txn.Get(treeKey(ch.Shard)); err != nil {
				return nil // the shard went meanwhile
			}
			return txn.Set(treeKey(ch.Shard), tb)
		})
	}
	return tree.Prove(ch, bytes.NewReader(b))
}
