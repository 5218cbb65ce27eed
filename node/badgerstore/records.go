package badgerstore

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"

	"github.com/dgraph-io/badger/v4"
	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/query"
)

// ErrClosed reports a call to Records after it, or its Store, was closed.
var ErrClosed = errors.New("badgerstore: closed")

// Records is a go-datastore (github.com/ipfs/go-datastore) Batching over
// the store's database, for the DHT's records: a drive's root record is
// kept on disk, so it outlives a restart of every node of the cloud. Its
// keys are prefixRecord followed by the datastore key's string form. No
// shard, size or lease key starts with that byte, so Walk, IDsFrom and
// ListLeased never see a record, and Reclaim (whose DropPrefix names one
// shard's keys at a time) and the orphan sweep (which reads only shard
// files) never touch one. Records passes go-datastore's own suite
// (dstest.SubtestAll).
//
// Not found: Get and GetSize return ds.ErrNotFound itself, unwrapped (the
// DHT compares with ==); Has returns false; Delete of a missing key is no
// error. Values returned are the caller's own copies; values passed in are
// not kept after the call (a Batch copies them).
//
// Durability: every Put, Delete and Batch commit is fsynced before it
// returns (the database is opened with SyncWrites), so Sync has nothing to
// do. Writes wait out a Reclaim's DropPrefix, as shard writes do.
//
// Query reads the records under the query's prefix in one read
// transaction, into memory, and then applies the query's filters, orders,
// offset and limit (query.NaiveQueryApply): the DHT keeps few records (one
// root per drive) and queries them only to sweep them.
//
// Records is safe for concurrent use. Close (or the Store's Close, which
// calls it) fences it: it waits for the calls in progress, and every later
// call fails with ErrClosed. The DHT's request handlers can outlive the DHT
// and the host, so this is what keeps them off a closed database. Close does
// not close the Store.
type Records struct {
	s *Store

	mu     sync.RWMutex // held for reading by every call, for writing by Close
	closed bool
}

var _ ds.Batching = (*Records)(nil)

// Records returns the store's datastore of DHT records.
func (s *Store) Records() *Records { return s.recs }

func recordKey(k ds.Key) []byte { return append([]byte{prefixRecord}, k.String()...) }

// enter starts a call, unless Records is closed; leave ends it.
func (r *Records) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.RLock()
	if r.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (r *Records) leave() { r.mu.RUnlock() }

// Get implements ds.Read.
func (r *Records) Get(ctx context.Context, key ds.Key) ([]byte, error) {
	if err := r.enter(ctx); err != nil {
		return nil, err
	}
	defer r.leave()
	var v []byte
	err := r.s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(key))
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ds.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("badgerstore: get record %s: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Has implements ds.Read.
func (r *Records) Has(ctx context.Context, key ds.Key) (bool, error) {
	if err := r.enter(ctx); err != nil {
		return false, err
	}
	defer r.leave()
	err := r.s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(recordKey(key))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("badgerstore: has record %s: %w", key, err)
	}
	return true, nil
}

// GetSize implements ds.Read. It reads the value: badger only estimates
// the size of one in the value log.
func (r *Records) GetSize(ctx context.Context, key ds.Key) (int, error) {
	if err := r.enter(ctx); err != nil {
		return -1, err
	}
	defer r.leave()
	n := -1
	err := r.s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(key))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			n = len(v)
			return nil
		})
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return -1, ds.ErrNotFound
	}
	if err != nil {
		return -1, fmt.Errorf("badgerstore: size of record %s: %w", key, err)
	}
	return n, nil
}

// Query implements ds.Read.
func (r *Records) Query(ctx context.Context, q query.Query) (query.Results, error) {
	if err := r.enter(ctx); err != nil {
		return nil, err
	}
	defer r.leave()
	// Iterate only over the prefix's subtree ("/a" holds "/a/b", not
	// "/ab"); NaiveQueryApply filters by it again.
	prefix := []byte{prefixRecord}
	if q.Prefix != "" {
		if p := path.Clean("/" + q.Prefix); p != "/" {
			prefix = append(prefix, p+"/"...)
		}
	}
	readValues := !q.KeysOnly || q.ReturnsSizes
	var entries []query.Entry
	err := r.s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: readValues, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			e := query.Entry{Key: string(item.Key()[1:]), Size: -1}
			if readValues {
				v, err := item.ValueCopy(nil)
				if err != nil {
					return err
				}
				e.Size = len(v)
				if !q.KeysOnly {
					if v == nil {
						v = []byte{}
					}
					e.Value = v
				}
			}
			entries = append(entries, e)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: query records: %w", err)
	}
	return query.NaiveQueryApply(q, query.ResultsWithEntries(q, entries)), nil
}

// Put implements ds.Write.
func (r *Records) Put(ctx context.Context, key ds.Key, value []byte) error {
	if err := r.enter(ctx); err != nil {
		return err
	}
	defer r.leave()
	err := r.s.update(func(txn *badger.Txn) error { return txn.Set(recordKey(key), value) })
	if err != nil {
		return fmt.Errorf("badgerstore: put record %s: %w", key, err)
	}
	return nil
}

// Delete implements ds.Write.
func (r *Records) Delete(ctx context.Context, key ds.Key) error {
	if err := r.enter(ctx); err != nil {
		return err
	}
	defer r.leave()
	err := r.s.update(func(txn *badger.Txn) error { return txn.Delete(recordKey(key)) })
	if err != nil {
		return fmt.Errorf("badgerstore: delete record %s: %w", key, err)
	}
	return nil
}

// Sync implements ds.Datastore: every write is already durable.
func (r *Records) Sync(ctx context.Context, _ ds.Key) error {
	if err := r.enter(ctx); err != nil {
		return err
	}
	r.leave()
	return nil
}

// Close waits for the calls in progress and refuses later ones. It may be
// called more than once.
func (r *Records) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return nil
}

// Batch implements ds.BatchingFeature. A batch's operations are applied in
// order at Commit, in as few transactions as badger's transaction size
// allows: not atomically, as go-datastore permits.
func (r *Records) Batch(ctx context.Context) (ds.Batch, error) {
	if err := r.enter(ctx); err != nil {
		return nil, err
	}
	r.leave()
	return &recordBatch{r: r}, nil
}

type recordOp struct {
	key    []byte
	value  []byte
	delete bool
}

// recordBatch is a Batch of Records. It is safe for concurrent use.
type recordBatch struct {
	r   *Records
	mu  sync.Mutex
	ops []recordOp
}

func (b *recordBatch) Put(_ context.Context, key ds.Key, value []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ops = append(b.ops, recordOp{key: recordKey(key), value: append([]byte{}, value...)})
	return nil
}

func (b *recordBatch) Delete(_ context.Context, key ds.Key) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ops = append(b.ops, recordOp{key: recordKey(key), delete: true})
	return nil
}

func (b *recordBatch) Commit(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.r.enter(ctx); err != nil {
		return err
	}
	defer b.r.leave()
	if err := b.r.s.commitOps(b.ops); err != nil {
		return fmt.Errorf("badgerstore: commit a batch of %d records: %w", len(b.ops), err)
	}
	b.ops = nil
	return nil
}

// commitOps applies ops in order, starting a new transaction whenever the
// current one is full, never alongside a DropPrefix.
func (s *Store) commitOps(ops []recordOp) error {
	s.dropping.RLock()
	defer s.dropping.RUnlock()
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	apply := func(op recordOp) error {
		if op.delete {
			return txn.Delete(op.key)
		}
		return txn.Set(op.key, op.value)
	}
	for _, op := range ops {
		err := apply(op)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return err
			}
			txn = s.db.NewTransaction(true)
			err = apply(op)
		}
		if err != nil {
			return err
		}
	}
	return txn.Commit()
}
