package badgerstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Key layout. Shard bytes: 's' | id, in the value log, for a shard not
// kept as a file (files.go). Shard sizes: 'z' | id, value 4 bytes
// big-endian, and a fifth byte 1 for a shard kept as a file, in the LSM
// tree, so listing shards reads no shard bytes (badger only estimates a
// value-log entry's size).
// Leases: 'l' | id | owner, value the expiry in Unix nanoseconds (8 bytes,
// big-endian).
// DHT records: 'r' | a go-datastore key ("/murmur-root/…"), value the
// record as the DHT stores it (records.go). Stripe records, tombstones and
// the owner's own records: 'k', 'x', 't', 'o' (stripes.go).
const (
	prefixShard  = 's'
	prefixSize   = 'z'
	prefixLease  = 'l'
	prefixRecord = 'r'
	// MaxOwnerLen bounds a lease owner's name.
	MaxOwnerLen = 128
)

// Config configures a Store. Zero fields take the defaults shown.
type Config struct {
	Dir      string // required
	Capacity int64  // bytes of shards; 0: no quota

	MemTableSize   int64 // 8 MiB
	BlockCacheSize int64 // 8 MiB
	IndexCacheSize int64 // 8 MiB
	VlogFileSize   int64 // 64 MiB: smaller files let GC return space sooner

	// FileThreshold is the size from which a shard is kept as a file of
	// its own rather than in badger's value log (files.go). Default 128 KiB.
	FileThreshold int

	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("badgerstore: Config.Dir is required")
	}
	if c.Capacity < 0 {
		return c, fmt.Errorf("badgerstore: negative capacity %d", c.Capacity)
	}
	def := func(v *int64, d int64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MemTableSize, 8<<20)
	def(&c.BlockCacheSize, 8<<20)
	def(&c.IndexCacheSize, 8<<20)
	def(&c.VlogFileSize, 64<<20)
	if c.FileThreshold <= 0 {
		c.FileThreshold = 128 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Store is a ShardStore on badger. It is safe for concurrent use.
type Store struct {
	cfg  Config
	db   *badger.DB
	recs *Records // the DHT's records, in the same database

	mu      sync.Mutex
	used    int64                             // bytes of shards held or being written
	count   int64                             // shards held
	pending map[erasure.ShardID]chan struct{} // Puts in progress

	stripeLocks [256]sync.Mutex // stripes.go

	// dropping is held for writing while Reclaim's DropPrefix runs, which
	// makes badger refuse every other commit (ErrBlockedWrites); every
	// commit holds it for reading, so it waits instead. Taken after the
	// reservations, everywhere.
	dropping sync.RWMutex
}

// damagedBlob reports whether id's record says it is a file that is
// missing or not of the recorded size.
func (s *Store) damagedBlob(id erasure.ShardID) bool {
	var n int
	var inFile bool
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		n, inFile, err = readSize(txn, id)
		return err
	})
	if err != nil || !inFile {
		return false
	}
	fi, err := os.Stat(s.blobPath(id))
	return err != nil || fi.Size() != int64(n)
}

// update runs one read-write transaction, never alongside a DropPrefix.
func (s *Store) update(fn func(txn *badger.Txn) error) error {
	s.dropping.RLock()
	defer s.dropping.RUnlock()
	return s.db.Update(fn)
}

var _ store.ShardStore = (*Store)(nil)

// Open opens (creating if needed) the store in cfg.Dir.
func Open(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	opts := badger.DefaultOptions(cfg.Dir).
		WithSyncWrites(true).
		WithLogger(logger{cfg.Logger}).
		WithMemTableSize(cfg.MemTableSize).
		WithNumMemtables(2).
		WithBlockCacheSize(cfg.BlockCacheSize).
		WithIndexCacheSize(cfg.IndexCacheSize).
		WithValueLogFileSize(cfg.VlogFileSize).
		WithValueThreshold(1 << 10). // shard bytes go to the value log
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithMetricsEnabled(false).
		WithDetectConflicts(false)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open %s: %w", cfg.Dir, err)
	}
	s := &Store{cfg: cfg, db: db, pending: map[erasure.ShardID]chan struct{}{}}
	s.recs = &Records{s: s}
	if err := s.openBlobs(); err != nil {
		db.Close()
		return nil, fmt.Errorf("badgerstore: %w", err)
	}
	err = s.walk(context.Background(), func(_ erasure.ShardID, size int) error {
		s.used += int64(size)
		s.count++
		return nil
	})
	if err == nil {
		// Files a crash left without a record (written but never
		// committed, or deleted but not yet unlinked) count against no
		// quota: remove them now rather than at the first Reclaim.
		err = s.sweepOrphans(context.Background())
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database, after closing Records (which waits for its
// calls in progress). Shards and records already acknowledged are on disk.
func (s *Store) Close() error {
	s.recs.Close()
	return s.db.Close()
}

// Used returns the bytes of shards held.
func (s *Store) Used() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used
}

// Count returns the number of shards held.
func (s *Store) Count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Capacity returns the quota (0: none).
func (s *Store) Capacity() int64 { return s.cfg.Capacity }

func shardKey(id erasure.ShardID) []byte { return append([]byte{prefixShard}, id[:]...) }

func sizeKey(id erasure.ShardID) []byte { return append([]byte{prefixSize}, id[:]...) }

func leaseKey(id erasure.ShardID, owner []byte) []byte {
	k := append([]byte{prefixLease}, id[:]...)
	return append(k, owner...)
}

// Get implements store.ShardGetter.
func (s *Store) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	var size int
	var inFile bool
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		if size, inFile, err = readSize(txn, id); err != nil || inFile {
			return err
		}
		item, err := txn.Get(shardKey(id))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if err == nil && inFile {
		out, err = s.readBlob(id, size)
	}
	if errors.Is(err, badger.ErrKeyNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", id.Short(), store.ErrNotFound)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		// The record's file is short: the shard is not held whole, which
		// a reader treats as not held (a Put of it heals the file).
		return nil, fmt.Errorf("get %s: its file is damaged (%v): %w", id.Short(), err, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("badgerstore: get %s: %w", id.Short(), err)
	}
	return out, nil
}

// Put implements store.ShardPutter. It returns once the shard is fsynced.
func (s *Store) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	return s.PutLeased(ctx, id, data, nil, time.Time{})
}

// PutLeased stores a shard and, if owner is not empty, gives owner a lease
// on it until the given time (extending an existing lease, never
// shortening it), in one durable commit.
func (s *Store) PutLeased(ctx context.Context, id erasure.ShardID, data []byte, owner []byte, until time.Time) error {
	if err := store.CheckPut(id, data); err != nil {
		return err
	}
	return s.putLeased(ctx, id, data, owner, until, nil)
}

// putLeased is PutLeased of bytes the caller has checked against id,
// running also, when not nil, extra in the commit.
func (s *Store) putLeased(ctx context.Context, id erasure.ShardID, data []byte, owner []byte, until time.Time, extra func(*badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(owner) > MaxOwnerLen {
		return fmt.Errorf("badgerstore: lease owner of %d bytes exceeds %d", len(owner), MaxOwnerLen)
	}
	exists, release, err := s.reserve(ctx, id, int64(len(data)))
	if err != nil {
		return err
	}
	inFile := !exists && len(data) >= s.cfg.FileThreshold
	if exists && s.damagedBlob(id) {
		// The record is there but its file is missing or short (a disk
		// fault, a hand): the bytes in hand make it whole again.
		if err := s.writeBlob(id, data); err != nil {
			release(false)
			return fmt.Errorf("badgerstore: put %s: heal its file: %w", id.Short(), err)
		}
	}
	if inFile {
		if err := s.writeBlob(id, data); err != nil {
			release(false)
			return fmt.Errorf("badgerstore: put %s: %w", id.Short(), err)
		}
	}
	err = s.update(func(txn *badger.Txn) error {
		if !exists {
			if !inFile {
				if err := txn.Set(shardKey(id), data); err != nil {
					return err
				}
			}
			if err := txn.Set(sizeKey(id), sizeRecord(len(data), inFile)); err != nil {
				return err
			}
		}
		if len(owner) > 0 {
			if err := setLease(txn, id, owner, until); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(txn)
		}
		return nil
	})
	if err != nil && inFile {
		s.removeBlob(id)
	}
	if err == nil && !exists {
		s.mu.Lock()
		s.count++
		s.mu.Unlock()
	}
	release(err == nil)
	if err != nil {
		return fmt.Errorf("badgerstore: put %s: %w", id.Short(), err)
	}
	return nil
}

// reserve waits for any Put of the same shard to finish, then reports
// whether the shard is held and, if not, reserves its bytes against the
// quota. release must be called with whether the write succeeded.
func (s *Store) reserve(ctx context.Context, id erasure.ShardID, n int64) (exists bool, release func(ok bool), err error) {
	s.mu.Lock()
	for ch := s.pending[id]; ch != nil; ch = s.pending[id] {
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, nil, ctx.Err()
		}
		s.mu.Lock()
	}
	defer s.mu.Unlock()
	err = s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(sizeKey(id))
		exists = err == nil
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return false, nil, fmt.Errorf("badgerstore: %w", err)
	}
	ch := make(chan struct{})
	s.pending[id] = ch
	if !exists {
		if s.cfg.Capacity > 0 && s.used+n > s.cfg.Capacity {
			delete(s.pending, id)
			close(ch)
			return false, nil, fmt.Errorf("put %s (%d bytes; %d of %d used): %w", id.Short(), n, s.used, s.cfg.Capacity, store.ErrFull)
		}
		s.used += n
	}
	return exists, func(ok bool) {
		s.mu.Lock()
		if !ok && !exists {
			s.used -= n
		}
		delete(s.pending, id)
		s.mu.Unlock()
		close(ch)
	}, nil
}

func setLease(txn *badger.Txn, id erasure.ShardID, owner []byte, until time.Time) error {
	k := leaseKey(id, owner)
	if item, err := txn.Get(k); err == nil {
		old, err := item.ValueCopy(nil)
		if err == nil && len(old) == 8 && int64(binary.BigEndian.Uint64(old)) >= until.UnixNano() {
			return nil // never shorten a lease
		}
	}
	return txn.Set(k, binary.BigEndian.AppendUint64(nil, uint64(until.UnixNano())))
}

// Renew extends owner's leases on the shards named, until the given time.
// It reports which shards are held; a lease on a shard not held is not made.
func (s *Store) Renew(ctx context.Context, ids []erasure.ShardID, owner []byte, until time.Time) ([]bool, error) {
	if len(owner) == 0 || len(owner) > MaxOwnerLen {
		return nil, fmt.Errorf("badgerstore: lease owner must be 1..%d bytes", MaxOwnerLen)
	}
	// Hold off Reclaim and Release of these shards until the leases are in.
	release, err := s.reserveAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	defer release()
	held, err := s.Has(ctx, ids)
	if err != nil {
		return nil, err
	}
	err = s.update(func(txn *badger.Txn) error {
		for i, id := range ids {
			if held[i] {
				if err := setLease(txn, id, owner, until); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: renew: %w", err)
	}
	return held, nil
}

// reserveAll reserves every distinct ID of ids, in ascending order (as
// Reclaim does, so two callers never wait on each other in a cycle).
func (s *Store) reserveAll(ctx context.Context, ids []erasure.ShardID) (release func(), err error) {
	sorted := slices.Clone(ids)
	slices.SortFunc(sorted, func(a, b erasure.ShardID) int { return bytes.Compare(a[:], b[:]) })
	sorted = slices.Compact(sorted)
	var rels []func(bool)
	release = func() {
		for _, r := range rels {
			r(true)
		}
	}
	for _, id := range sorted {
		_, r, err := s.reserve(ctx, id, 0)
		if err != nil {
			release()
			return nil, err
		}
		rels = append(rels, r)
	}
	return release, nil
}

// Release drops owner's lease on each shard named and, when no other
// unexpired lease remains on it, deletes the shard, in one transaction
// under the shard's reservation (so a Put or Renew of the same shard
// cannot slip in between). An owner that holds no lease on a shard
// changes nothing.
func (s *Store) Release(ctx context.Context, ids []erasure.ShardID, owner []byte) error {
	if len(owner) == 0 || len(owner) > MaxOwnerLen {
		return fmt.Errorf("badgerstore: lease owner must be 1..%d bytes", MaxOwnerLen)
	}
	for _, id := range ids {
		if err := s.release(ctx, id, owner); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) release(ctx context.Context, id erasure.ShardID, owner []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, rel, err := s.reserve(ctx, id, 0)
	if err != nil {
		return err
	}
	defer rel(true)
	freed, inFile := int64(-1), false
	err = s.update(func(txn *badger.Txn) error {
		if _, err := txn.Get(leaseKey(id, owner)); errors.Is(err, badger.ErrKeyNotFound) {
			return nil // not this owner's shard
		} else if err != nil {
			return err
		}
		if err := txn.Delete(leaseKey(id, owner)); err != nil {
			return err
		}
		live, err := s.liveLeases(txn, id, owner)
		if err != nil || live > 0 {
			return err
		}
		freed, inFile, err = deleteShard(txn, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("badgerstore: release %s: %w", id.Short(), err)
	}
	if inFile {
		s.removeBlob(id)
	}
	if freed >= 0 {
		s.mu.Lock()
		s.used -= freed
		s.count--
		s.mu.Unlock()
	}
	return nil
}

// deleteShard deletes a shard, its size record and every lease on it in
// txn, and returns its size, or -1 if it was not held, and whether it is
// kept as a file, which the caller removes once txn is committed.
func deleteShard(txn *badger.Txn, id erasure.ShardID) (int64, bool, error) {
	n, inFile, err := readSize(txn, id)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return -1, false, nil
	}
	if err != nil {
		return -1, false, err
	}
	for _, k := range [][]byte{shardKey(id), sizeKey(id), treeKey(id)} {
		if err := txn.Delete(k); err != nil {
			return -1, false, err
		}
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: leaseKey(id, nil)})
	var keys [][]byte
	for it.Rewind(); it.Valid(); it.Next() {
		keys = append(keys, it.Item().KeyCopy(nil))
	}
	it.Close()
	for _, k := range keys {
		if err := txn.Delete(k); err != nil {
			return -1, false, err
		}
	}
	return int64(n), inFile, nil
}

// liveLeases counts the unexpired leases on id, other than skip's.
func (s *Store) liveLeases(txn *badger.Txn, id erasure.ShardID, skip []byte) (int, error) {
	now := s.cfg.Now().UnixNano()
	prefix := leaseKey(id, nil)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: true, PrefetchSize: 16})
	defer it.Close()
	n := 0
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if skip != nil && bytes.Equal(item.Key()[len(prefix):], skip) {
			continue
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return 0, err
		}
		if len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > now {
			n++
		}
	}
	return n, nil
}

// Reclaim deletes every shard that no unexpired lease holds, with its
// leases, and runs badger's value-log GC until it has nothing left to
// rewrite. It returns how many shards and bytes it deleted.
//
// Badger picks the value-log files to rewrite by discard statistics that
// only compactions gather; a plain deletion sitting in a memtable is in
// none. So Reclaim deletes with DropPrefix, which flushes the memtables
// and compacts the dead keys away, recording the value-log bytes they
// held. Badger refuses other writes while DropPrefix runs, so commits
// wait for it (Store.dropping); the tree it compacts holds only small size
// and lease records, so that is brief. (Delete and Release
// delete at once; the space they free is found by later compactions.)
func (s *Store) Reclaim(ctx context.Context) (shards int, freed int64, err error) {
	var list []dead
	err = s.walk(ctx, func(id erasure.ShardID, size int) error {
		return s.db.View(func(txn *badger.Txn) error {
			n, err := s.liveLeases(txn, id, nil)
			if err == nil && n == 0 {
				list = append(list, dead{id, size})
			}
			return err
		})
	})
	if err != nil {
		return 0, 0, err
	}
	for len(list) > 0 {
		batch := list[:min(len(list), 4096)]
		list = list[len(batch):]
		n, k, err := s.drop(ctx, batch)
		shards += k
		freed += n
		if err != nil {
			return shards, freed, err
		}
	}
	if err := s.sweepOrphans(ctx); err != nil {
		return shards, freed, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return shards, freed, err
		}
		if err := s.db.RunValueLogGC(0.5); err != nil {
			if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
				break
			}
			return shards, freed, fmt.Errorf("badgerstore: value-log GC: %w", err)
		}
	}
	return shards, freed, nil
}

// sweepOrphans removes the shard files no size record claims (files.go),
// each under the shard's reservation, so a put that has written its file
// but not yet committed its record is waited for, not robbed.
func (s *Store) sweepOrphans(ctx context.Context) error {
	var orphans []erasure.ShardID
	err := s.blobIDs(func(id erasure.ShardID) error {
		held, err := s.Has(ctx, []erasure.ShardID{id})
		if err == nil && !held[0] {
			orphans = append(orphans, id)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("badgerstore: reclaim: %w", err)
	}
	for _, id := range orphans {
		_, release, err := s.reserve(ctx, id, 0)
		if err != nil {
			return err
		}
		held, err := s.Has(ctx, []erasure.ShardID{id})
		if err == nil && !held[0] {
			s.removeBlob(id)
		}
		release(true)
		if err != nil {
			return err
		}
	}
	return nil
}

// dead is a shard Reclaim deletes.
type dead struct {
	id   erasure.ShardID
	size int
}

// drop deletes a batch of shards with DropPrefix and returns the bytes
// freed. It reserves them first (holding off Puts, Renews and Releases of
// the same shards) and checks again, under the reservations, that each is
// still held and still has no live lease: one re-leased or deleted since
// Reclaim's scan is left alone, and only sizes read now are subtracted.
func (s *Store) drop(ctx context.Context, batch []dead) (freed int64, shards int, err error) {
	ids := make([]erasure.ShardID, len(batch))
	for i, d := range batch {
		ids[i] = d.id
	}
	release, err := s.reserveAll(ctx, ids)
	if err != nil {
		return 0, 0, err
	}
	defer release()
	var prefixes [][]byte
	var files []erasure.ShardID
	err = s.db.View(func(txn *badger.Txn) error {
		for _, id := range ids {
			n, inFile, err := readSize(txn, id)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			live, err := s.liveLeases(txn, id, nil)
			if err != nil {
				return err
			}
			if live == 0 {
				prefixes = append(prefixes, shardKey(id), sizeKey(id), leaseKey(id, nil), treeKey(id))
				freed += int64(n)
				shards++
				if inFile {
					files = append(files, id)
				}
			}
		}
		return nil
	})
	if err != nil || len(prefixes) == 0 {
		return 0, 0, err
	}
	s.dropping.Lock() // DropPrefix refuses, rather than holds, other writes
	err = s.db.DropPrefix(prefixes...)
	s.dropping.Unlock()
	if err != nil {
		return 0, 0, fmt.Errorf("badgerstore: reclaim: %w", err)
	}
	for _, id := range files {
		s.removeBlob(id)
	}
	s.mu.Lock()
	s.used -= freed
	s.count -= int64(shards)
	s.mu.Unlock()
	return freed, shards, nil
}

// Has implements store.ShardStatter.
func (s *Store) Has(ctx context.Context, ids []erasure.ShardID) ([]bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]bool, len(ids))
	err := s.db.View(func(txn *badger.Txn) error {
		for i, id := range ids {
			_, err := txn.Get(sizeKey(id))
			switch {
			case err == nil:
				out[i] = true
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: has: %w", err)
	}
	return out, nil
}

// Delete implements store.ShardDeleter: it removes the shard and every
// lease on it. The node only calls it on behalf of the shard's owners
// (Release) or for expired shards (Reclaim).
func (s *Store) Delete(ctx context.Context, id erasure.ShardID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, release, err := s.reserve(ctx, id, 0) // wait out a Put of the same shard
	if err != nil {
		return err
	}
	defer release(true)
	var size int64
	var inFile bool
	err = s.update(func(txn *badger.Txn) error {
		var err error
		size, inFile, err = deleteShard(txn, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("badgerstore: delete %s: %w", id.Short(), err)
	}
	if inFile {
		s.removeBlob(id)
	}
	if size >= 0 {
		s.mu.Lock()
		s.used -= size
		s.count--
		s.mu.Unlock()
	}
	return nil
}

// Walk implements store.ShardWalker. It lists the shards held when it
// starts; fn may call other methods of the store.
func (s *Store) Walk(ctx context.Context, fn func(id erasure.ShardID, size int) error) error {
	type entry struct {
		id   erasure.ShardID
		size int
	}
	var list []entry
	err := s.walk(ctx, func(id erasure.ShardID, size int) error {
		list = append(list, entry{id, size})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range list {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(e.id, e.size); err != nil {
			return err
		}
	}
	return nil
}

// walk iterates over the size records inside one read transaction; fn
// must not write to the store.
func (s *Store) walk(ctx context.Context, fn func(id erasure.ShardID, size int) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixSize}, PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			item := it.Item()
			id, err := idOfSizeKey(item.Key())
			if err != nil {
				return err
			}
			var size int
			err = item.Value(func(v []byte) error {
				var err error
				size, _, err = parseSizeRecord(id, v)
				return err
			})
			if err != nil {
				return err
			}
			if err := fn(id, size); err != nil {
				return err
			}
		}
		return nil
	})
}

// readSize reads a shard's size record: its length and whether it is
// kept as a file.
func readSize(txn *badger.Txn, id erasure.ShardID) (n int, inFile bool, err error) {
	item, err := txn.Get(sizeKey(id))
	if err != nil {
		return 0, false, err
	}
	err = item.Value(func(v []byte) error {
		n, inFile, err = parseSizeRecord(id, v)
		return err
	})
	return n, inFile, err
}

// logger sends badger's messages to slog; its Info and Debug chatter is
// logged at Debug.
type logger struct{ l *slog.Logger }

func (l logger) Errorf(f string, a ...any)   { l.l.Error(fmt.Sprintf("badger: "+f, a...)) }
func (l logger) Warningf(f string, a ...any) { l.l.Warn(fmt.Sprintf("badger: "+f, a...)) }
func (l logger) Infof(f string, a ...any)    { l.l.Debug(fmt.Sprintf("badger: "+f, a...)) }
func (l logger) Debugf(f string, a ...any)   { l.l.Debug(fmt.Sprintf("badger: "+f, a...)) }

// Leased is a shard an owner holds a lease on, as ListLeased reports it.
type Leased struct {
	ID   erasure.ShardID
	Size int
}

// ListLeased returns up to limit shards, in ID order after the ID given,
// on which owner holds a lease (live or not). It is what a peer may learn
// of what this node stores for it, and no more.
func (s *Store) ListLeased(ctx context.Context, owner []byte, after erasure.ShardID, limit int) ([]Leased, error) {
	var out []Leased
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixLease}})
		defer it.Close()
		start := leaseKey(after, nil)
		start = append(start, 0xff) // past every owner of after itself
		for it.Seek(start); it.Valid() && len(out) < limit; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()
			if len(k) < 1+32 || !bytes.Equal(k[1+32:], owner) {
				continue
			}
			var id erasure.ShardID
			copy(id[:], k[1:1+32])
			n, _, err := readSize(txn, id)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, Leased{id, n})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("badgerstore: list: %w", err)
	}
	return out, nil
}

// Size returns the length of shard id, or an error matching
// store.ErrNotFound.
func (s *Store) Size(ctx context.Context, id erasure.ShardID) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := s.db.View(func(txn *badger.Txn) error {
		var err error
		n, _, err = readSize(txn, id)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, fmt.Errorf("size %s: %w", id.Short(), store.ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("badgerstore: size %s: %w", id.Short(), err)
	}
	return n, nil
}
