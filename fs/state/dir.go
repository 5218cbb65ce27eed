package state

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/internal/journal"
	"github.com/murmur-cloud/murmur/pipeline"
)

// Source reads a file's base from the cloud.
type Source interface {
	// ReadBase fills p with the bytes of m, the base of inode ino, at off.
	ReadBase(ctx context.Context, ino fs.Ino, m *pipeline.Manifest, p []byte, off int64) error
	// Forget lets go of what was kept to read ino (its inode is gone).
	Forget(ino fs.Ino)
}

// Options configure a Dir.
type Options struct {
	// Clock times changes, for the drive's background commit. Nil:
	// time.Now.
	Clock func() time.Time
	// Readahead is how many blocks a read fetches ahead of itself. Zero:
	// 32; negative: none.
	Readahead int
	// CompactAt is the journal's Options.CompactAt.
	CompactAt int64
	Logger    *slog.Logger
	// Synced, if not nil, is called with a file's path each time the
	// directory made that file survive a crash of the machine (a cache
	// file's fsync, the journal's): a test's model of such a crash keeps
	// what each file held at its last sync, and loses the rest.
	Synced func(path string)
}

// Dir is an open state directory.
type Dir struct {
	dir  string
	j    *journal.Log
	lock *os.File
	log  *slog.Logger
	temp bool // remove dir at close

	clock     func() time.Time
	synced    func(path string)
	readahead int
	prefetch  chan struct{} // bounds background block fetches
	uses      atomic.Int64  // a clock of content use, for eviction
	src       atomic.Pointer[Source]

	flushMu sync.Mutex // one flush at a time, so a later one never lands under an earlier one

	mu      sync.Mutex
	touched map[fs.Ino]struct{} // content states changed, to save with the next flush
	// doomed are the cache files of gone inodes, removed once a flush has
	// saved that the inodes are gone: until then a crash brings the inode
	// back from the journal, and its bytes must be there.
	doomed []fs.Ino
	// unsynced are the files whose cache files were written since their
	// last fsync: every sync of the journal syncs them first, so the
	// journal never vouches, after a crash of the machine, for blocks a
	// cache file lost (docs/drive.md, "The durability contract").
	unsynced map[fs.Ino]*File
	// inlineSaved are the inline files whose records reached the journal
	// since its last sync: once it syncs, their bytes survive a crash of
	// the machine, and a move to a cache file must sync that file first.
	inlineSaved map[fs.Ino]*File
}

// Keys in the journal.
const (
	keyMeta  = "m"
	keyInode = 'i' // + ino (8 bytes, big-endian)
)

func inodeKey(ino fs.Ino) string {
	return string(binary.BigEndian.AppendUint64([]byte{keyInode}, uint64(ino)))
}

// Open opens or makes the state directory dir, and locks it: a second
// Open of the same directory, by this process or another, fails with
// fs.ErrBusy until the first is closed.
func Open(dir string, o Options) (*Dir, error) {
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, fmt.Errorf("fs: state directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("fs: state directory: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("fs: the state directory %s is in use: the drive is mounted from it already (give a second mount its own state directory): %w", dir, fs.ErrBusy)
		}
		return nil, fmt.Errorf("fs: lock state directory %s: %w", dir, err)
	}
	d := &Dir{dir: dir, lock: lock, log: o.Logger, clock: o.Clock, synced: o.Synced, readahead: o.Readahead,
		touched: map[fs.Ino]struct{}{}, unsynced: map[fs.Ino]*File{}, inlineSaved: map[fs.Ino]*File{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.clock == nil {
		d.clock = time.Now
	}
	switch {
	case d.readahead == 0:
		d.readahead = 32
	case d.readahead < 0:
		d.readahead = 0
	}
	d.prefetch = make(chan struct{}, 32)
	if err := d.setAsideOld(); err != nil {
		lock.Close()
		return nil, err
	}
	d.j, err = journal.Open(filepath.Join(dir, "journal"), journal.Options{CompactAt: o.CompactAt, Logger: d.log, Synced: o.Synced})
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("fs: state directory %s: %w", dir, err)
	}
	return d, nil
}

// setAsideOld moves a state directory of the badger era (a "meta"
// database beside "data") out of the way: its uncommitted changes, if it
// had any, stay on disk where the log line says, and the mount starts
// from the cloud.
func (d *Dir) setAsideOld() error {
	old := filepath.Join(d.dir, "meta")
	if _, err := os.Stat(old); err != nil {
		return nil
	}
	if _, err := os.Stat(filepath.Join(d.dir, "journal")); err == nil {
		return nil
	}
	aside := filepath.Join(d.dir, "old-state")
	if err := os.MkdirAll(aside, 0o700); err != nil {
		return fmt.Errorf("fs: set aside an old state directory: %w", err)
	}
	for _, name := range []string{"meta", "data"} {
		if err := os.Rename(filepath.Join(d.dir, name), filepath.Join(aside, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("fs: set aside an old state directory: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(d.dir, "data"), 0o700); err != nil {
		return err
	}
	d.log.Warn("fs: the state directory was of an older format; it is kept aside, and the drive is loaded from the cloud (changes that version never committed are in the old state, not in the drive)", "kept", aside)
	return nil
}

// OpenTemp opens a state directory in a new temporary directory, removed
// when it closes: for a read-only mount or a snapshot, which keep nothing.
func OpenTemp(o Options) (*Dir, error) {
	dir, err := os.MkdirTemp("", "murmur-mount-")
	if err != nil {
		return nil, fmt.Errorf("fs: temporary state directory: %w", err)
	}
	d, err := Open(dir, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d.temp = true
	return d, nil
}

// Path returns the directory.
func (d *Dir) Path() string { return d.dir }

// SetSource sets where files' bases are read from.
func (d *Dir) SetSource(s Source) { d.src.Store(&s) }

func (d *Dir) source() Source {
	if p := d.src.Load(); p != nil {
		return *p
	}
	return nil
}

func (d *Dir) now() int64 { return d.clock().UnixNano() }

// cachePath is where ino's cache file lives.
func (d *Dir) cachePath(ino fs.Ino) string {
	return filepath.Join(d.dir, "data", strconv.FormatUint(uint64(ino), 16))
}

// touch records that ino's content state changed, for the next flush.
func (d *Dir) touch(ino fs.Ino) {
	d.mu.Lock()
	d.touched[ino] = struct{}{}
	d.mu.Unlock()
}

// written records that c's cache file was written and not yet synced.
func (d *Dir) written(c *File) {
	d.mu.Lock()
	d.unsynced[c.ino] = c
	d.mu.Unlock()
}

// notify tells Options.Synced that path survives a crash of the machine.
func (d *Dir) notify(path string) {
	if d.synced != nil {
		d.synced(path)
	}
}

// sync makes everything the journal holds survive a crash of the
// machine, in the order that keeps it true: first the cache files
// written since their last sync (a content state the journal holds may
// say their blocks are local), then the journal; then the inline files
// whose records it holds count as synced.
func (d *Dir) sync() error {
	d.mu.Lock()
	files := d.unsynced
	d.unsynced = map[fs.Ino]*File{}
	inline := d.inlineSaved
	d.inlineSaved = map[fs.Ino]*File{}
	d.mu.Unlock()
	var err error
	for ino, c := range files {
		if err == nil {
			err = c.syncCache()
		}
		if err != nil { // tried again by the next sync
			d.mu.Lock()
			if d.unsynced[ino] == nil {
				d.unsynced[ino] = c
			}
			d.mu.Unlock()
		}
	}
	if err == nil {
		err = d.j.Sync()
	}
	if err != nil {
		d.mu.Lock()
		for ino, c := range inline {
			d.inlineSaved[ino] = c
		}
		d.mu.Unlock()
		return fmt.Errorf("fs: sync state: %w", err)
	}
	for _, c := range inline {
		c.mu.Lock()
		if c.inline {
			c.synced = true
		}
		c.mu.Unlock()
	}
	return nil
}

// New returns the contents of a new, empty regular file: inline.
func (d *Dir) New(ino fs.Ino) fs.File {
	f, _ := d.newFile(ino, nil)
	f.inline = true
	return f
}

// NewBase returns the contents of a regular file whose base is manifest,
// nothing of it local: a file loaded from a commit.
func (d *Dir) NewBase(ino fs.Ino, manifest []byte) (*File, error) {
	return d.newFile(ino, manifest)
}

// Free lets go of a gone inode's contents. Its cache file is removed by
// the next flush that saves the inode's deletion: a crash before that
// brings the inode back as the journal last saw it, bytes and all.
func (d *Dir) Free(ino fs.Ino, f fs.File) {
	if c, ok := f.(*File); ok {
		c.mu.Lock()
		c.freed = true
		if c.f != nil && c.pins == 0 {
			c.f.Close()
			c.f = nil
		}
		c.mu.Unlock()
	}
	d.mu.Lock()
	d.doomed = append(d.doomed, ino)
	d.mu.Unlock()
	if s := d.source(); s != nil {
		s.Forget(ino)
	}
}

// Meta returns the drive's metadata as the journal holds it, nil if none.
func (d *Dir) Meta() ([]byte, error) {
	v, ok, err := d.j.Get(keyMeta)
	if err != nil || !ok {
		return nil, err
	}
	return v, nil
}

// Sync makes everything the state holds survive a crash of the machine:
// the cache files written since their last sync, then the journal.
func (d *Dir) Sync() error { return d.sync() }

// Clear empties the state directory: its records and cache files.
func (d *Dir) Clear() error {
	var b journal.Batch
	if err := d.j.Load("", func(key string, _ []byte) error {
		b.Delete(key)
		return nil
	}); err != nil {
		return fmt.Errorf("fs: clear state: %w", err)
	}
	if err := d.j.Write(&b); err != nil {
		return fmt.Errorf("fs: clear state: %w", err)
	}
	if err := d.j.Compact(); err != nil {
		return fmt.Errorf("fs: clear state: %w", err)
	}
	data := filepath.Join(d.dir, "data")
	if err := os.RemoveAll(data); err != nil {
		return fmt.Errorf("fs: clear state: %w", err)
	}
	d.mu.Lock()
	d.touched = map[fs.Ino]struct{}{}
	d.mu.Unlock()
	return os.MkdirAll(data, 0o700)
}

// Close closes the journal, unlocks the directory, and removes it if it
// is temporary. It does not flush: the caller flushes first.
func (d *Dir) Close() error {
	err := d.j.Close()
	d.lock.Close()
	if d.temp {
		os.RemoveAll(d.dir)
	}
	return err
}
