package fs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/dgraph-io/badger/v4"
)

// state is a mount's state directory: a badger database holding every
// inode's record and its content's local state, and one cache file per
// regular file holding the blocks of its contents that are local.
//
//	"i" ino(8, big-endian) -> inode record (record.go)
//	"c" ino(8)             -> content state (content.go)
//	"x" ino(8)             -> (empty) the inode changed since the last commit
//	"m"                    -> the drive's local metadata (drive.go)
//
// Writes go to badger without a sync of their own: badger's log is a
// shared mapping, so what was written survives a crash of the mount
// process; sync makes it survive a crash of the machine.
type state struct {
	dir  string
	db   *badger.DB
	log  *slog.Logger
	temp bool // remove dir at close

	mu sync.Mutex // orders writes, so a later flush never lands under an earlier one
}

const (
	keyRecord  = 'i'
	keyContent = 'c'
	keyChanged = 'x'
	keyMeta    = 'm'
)

func inoKey(prefix byte, ino Ino) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, uint64(ino))
}

// openState opens or makes the state directory dir.
func openState(dir string, log *slog.Logger) (*state, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("fs: state directory: %w", err)
	}
	opts := badger.DefaultOptions(filepath.Join(dir, "meta")).
		WithSyncWrites(false).
		WithLogger(nil).
		WithMemTableSize(64 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(16 << 20).
		WithIndexCacheSize(8 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		WithDetectConflicts(false)
	db, err := badger.Open(opts)
	if err != nil && strings.Contains(err.Error(), "Another process is using this Badger database") {
		return nil, fmt.Errorf("fs: the state directory %s is in use: the drive is mounted from it already (give a second mount its own state directory): %w", dir, ErrBusy)
	}
	if err != nil {
		return nil, fmt.Errorf("fs: open state %s: %w", dir, err)
	}
	return &state{dir: dir, db: db, log: log}, nil
}

// cachePath is where ino's cache file lives.
func (s *state) cachePath(ino Ino) string {
	return filepath.Join(s.dir, "data", strconv.FormatUint(uint64(ino), 16))
}

// batch is one atomic write to the state: records and content states to
// set (nil: delete), and the metadata if not nil.
type batch struct {
	records  map[Ino][]byte
	contents map[Ino][]byte
	changed  map[Ino]bool // set or clear the inode's "changed" mark
	meta     []byte
}

func (b *batch) empty() bool {
	return len(b.records) == 0 && len(b.contents) == 0 && len(b.changed) == 0 && b.meta == nil
}

// write applies b atomically, and syncs badger's log if sync.
func (s *state) write(b *batch, sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !b.empty() {
		txn := s.db.NewTransaction(true)
		defer txn.Discard()
		set := func(k, v []byte) error {
			if v == nil {
				return txn.Delete(k)
			}
			return txn.Set(k, v)
		}
		for ino, v := range b.records {
			if err := set(inoKey(keyRecord, ino), v); err != nil {
				return s.writeErr(err)
			}
		}
		for ino, v := range b.contents {
			if err := set(inoKey(keyContent, ino), v); err != nil {
				return s.writeErr(err)
			}
		}
		for ino, on := range b.changed {
			var v []byte
			if on {
				v = []byte{}
			}
			if err := set(inoKey(keyChanged, ino), v); err != nil {
				return s.writeErr(err)
			}
		}
		if b.meta != nil {
			if err := txn.Set([]byte{keyMeta}, b.meta); err != nil {
				return s.writeErr(err)
			}
		}
		if err := txn.Commit(); err != nil {
			return s.writeErr(err)
		}
	}
	if sync {
		if err := s.db.Sync(); err != nil {
			return s.writeErr(err)
		}
	}
	return nil
}

func (s *state) writeErr(err error) error {
	if errors.Is(err, badger.ErrTxnTooBig) {
		return fmt.Errorf("fs: state write too big for one transaction: %w", err)
	}
	return fmt.Errorf("fs: state write: %w", err)
}

// scan calls fn for every key of prefix with its value, which fn must copy
// to keep.
func (s *state) scan(prefix byte, fn func(ino Ino, v []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{prefix}, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if len(k) != 9 {
				return fmt.Errorf("%w: state key %x", ErrDamaged, k)
			}
			err := it.Item().Value(func(v []byte) error {
				return fn(Ino(binary.BigEndian.Uint64(k[1:])), v)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// getMeta returns the drive's local metadata, nil if there is none.
func (s *state) getMeta() ([]byte, error) {
	var out []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte{keyMeta})
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

func (s *state) close() error { return s.db.Close() }
