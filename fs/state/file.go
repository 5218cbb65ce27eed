package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"sync"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/pipeline"
)

// BlockSize is the unit in which a file's contents are fetched from the
// cloud into its cache file and tracked as local.
const BlockSize = 1 << 20

// InlineMax is the size up to which a new file's contents live in memory
// and in its record in the journal instead of a cache file of their own:
// most files are small, and a file per file would cost a local create for
// each.
const InlineMax = 64 << 10

// File is a regular file's contents in a state directory: the uploaded
// version (a pipeline manifest, the "base"), and a cache file holding the
// blocks that are local — fetched from the base, or written since. A
// block b is local if have[b] is set or it starts at or past limit: base
// bytes past limit were truncated away, so what the cache file holds
// there (zeros or new writes) is the contents.
//
// The file's size is its inode's Attr.Size; the cache file may be shorter
// (reads past its end are zeros) or, after a crash, longer.
type File struct {
	d   *Dir
	ino fs.Ino

	mu       sync.Mutex
	manifest []byte // the base, in the pipeline's encoding; nil: none
	m        *pipeline.Manifest
	have     []uint64
	limit    int64
	dirty    bool   // differs from the base: to upload
	gen      uint64 // bumps on every change of the bytes
	since    int64  // when it became dirty (ns)
	written  int64  // when it last changed
	fetching map[int64]chan struct{}

	pins  int // users of f: open handles and operations in progress
	f     *os.File
	used  int64 // Dir.uses when last used, for eviction
	freed bool  // the inode is gone: its cache file must not come back
	// inline says the contents are data, whole, with no cache file; a
	// file leaves this mode for good when it grows past InlineMax or its
	// local copy is dropped.
	inline bool
	data   []byte
	synced bool // inline bytes reached the journal with a sync
	// trim, if not negative, is the size recorded when the state was
	// loaded: a crash can leave a cache file longer than that, and bytes
	// past it must read as zeros if the file grows again.
	trim int64
}

var _ fs.File = (*File)(nil)

func (d *Dir) newFile(ino fs.Ino, manifest []byte) (*File, error) {
	f := &File{d: d, ino: ino, fetching: map[int64]chan struct{}{}, trim: -1}
	return f, f.setBase(manifest)
}

// setBase makes manifest the uploaded version, with nothing of it local.
func (c *File) setBase(manifest []byte) error {
	c.manifest, c.m, c.have, c.limit = manifest, nil, nil, 0
	if len(manifest) == 0 {
		c.manifest = nil
		return nil
	}
	m, err := pipeline.ParseManifest(manifest)
	if err != nil {
		return fmt.Errorf("%w: manifest of inode %d: %v", fs.ErrDamaged, c.ino, err)
	}
	c.m, c.limit = m, m.Size
	return nil
}

// local reports whether block b needs no fetch.
func (c *File) local(b int64) bool {
	if b*BlockSize >= c.limit {
		return true
	}
	i := b / 64
	return i < int64(len(c.have)) && c.have[i]&(1<<(b%64)) != 0
}

func (c *File) mark(b int64) {
	i := int(b / 64)
	if i >= len(c.have) {
		c.have = slices.Grow(c.have, i+1-len(c.have))[:i+1]
	}
	c.have[i] |= 1 << (b % 64)
}

// localBytes is about how much of the cache file is in use.
func (c *File) localBytes(size int64) int64 {
	if c.inline {
		return int64(len(c.data))
	}
	if c.m == nil {
		return size
	}
	var n int64
	for _, w := range c.have {
		n += int64(bits.OnesCount64(w))
	}
	return n*BlockSize + max(0, size-c.limit)
}

// Open opens the cache file if it is not, and pins it: an open handle.
func (c *File) Open() error {
	_, err := c.acquire()
	return err
}

// Release drops a pin, closing the cache file with the last one.
func (c *File) Release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pins--
	if c.pins == 0 && c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// acquire opens the cache file if it is not, and pins it; an inline file
// has none (nil).
func (c *File) acquire() (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		return nil, fmt.Errorf("fs: inode %d: %w", c.ino, fs.ErrNotExist)
	}
	if c.inline {
		c.pins++
		c.used = c.d.uses.Add(1)
		return nil, nil
	}
	if c.f == nil {
		f, err := os.OpenFile(c.d.cachePath(c.ino), os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
		}
		if c.trim >= 0 {
			if fi, err := f.Stat(); err == nil && fi.Size() > c.trim {
				if err := f.Truncate(c.trim); err != nil {
					f.Close()
					return nil, fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
				}
			}
			c.trim = -1
		}
		c.f = f
	}
	c.pins++
	c.used = c.d.uses.Add(1)
	return c.f, nil
}

// ensure makes every block overlapping [lo, hi) local, fetching what is
// not from the base, several blocks at once; and starts fetching the
// readahead blocks after hi in the background.
func (c *File) ensure(ctx context.Context, lo, hi int64, readahead int) error {
	if hi <= lo {
		return nil
	}
	first, last := lo/BlockSize, (hi-1)/BlockSize
	var wg sync.WaitGroup
	errs := make([]error, last-first+1)
	for b := first; b <= last; b++ {
		wg.Go(func() { errs[b-first] = c.fetchBlock(ctx, b) })
	}
	for b := last + 1; b <= last+int64(readahead); b++ {
		c.mu.Lock()
		need := !c.local(b) && c.fetching[b] == nil
		c.mu.Unlock()
		if !need {
			continue
		}
		select {
		case c.d.prefetch <- struct{}{}:
			go func() {
				defer func() { <-c.d.prefetch }()
				if _, err := c.acquire(); err != nil {
					return
				}
				defer c.Release()
				c.fetchBlock(context.Background(), b)
			}()
		default:
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fetchBlock makes block b local: reads it from the base and writes it
// into the cache file, unless a write made it local meanwhile. One fetch
// per block runs at a time; others wait for it. The caller holds a pin.
func (c *File) fetchBlock(ctx context.Context, b int64) error {
	for {
		c.mu.Lock()
		if c.local(b) {
			c.mu.Unlock()
			return nil
		}
		if ch := c.fetching[b]; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.fetching[b] = ch
		m, f, limit := c.m, c.f, c.limit
		c.mu.Unlock()

		buf := make([]byte, min(BlockSize, limit-b*BlockSize))
		err := c.readBase(ctx, m, buf, b*BlockSize)
		c.mu.Lock()
		delete(c.fetching, b)
		close(ch)
		if err == nil && c.m == m && !c.local(b) {
			// Truncation may have moved limit into this block: only
			// the bytes still below it are the base's.
			n := min(int64(len(buf)), max(0, c.limit-b*BlockSize))
			if _, werr := f.WriteAt(buf[:n], b*BlockSize); werr != nil {
				err = fmt.Errorf("fs: cache file of %d: %w", c.ino, werr)
			} else {
				c.mark(b)
				c.d.touch(c.ino)
				c.d.written(c)
			}
		}
		c.mu.Unlock()
		return err
	}
}

// readBase reads len(p) bytes of the base m at off, from the cloud.
func (c *File) readBase(ctx context.Context, m *pipeline.Manifest, p []byte, off int64) error {
	src := c.d.source()
	if src == nil {
		return fmt.Errorf("fs: contents of %d are in the cloud, and this state has none", c.ino)
	}
	if err := src.ReadBase(ctx, c.ino, m, p, off); err != nil {
		return fmt.Errorf("fs: fetch %d bytes of %d at %d: %w", len(p), c.ino, off, err)
	}
	return nil
}

// ReadAt reads the contents at off into p, which the caller has cut to
// the file's size.
func (c *File) ReadAt(ctx context.Context, p []byte, off int64) error {
	c.mu.Lock()
	if c.inline {
		n := 0
		if off < int64(len(c.data)) {
			n = copy(p, c.data[off:])
		}
		clear(p[n:])
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	f, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.Release()
	if f == nil {
		// Inline after all: only a load makes a file inline, never a
		// change, so this is a bug, not a race to retry.
		return fmt.Errorf("fs: inode %d went inline while being read", c.ino)
	}
	if err := c.ensure(ctx, off, off+int64(len(p)), c.d.readahead); err != nil {
		return err
	}
	n, err := f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	clear(p[n:]) // past the cache file's end: zeros
	return nil
}

// WriteAt writes p at off: the partly written blocks at both ends are
// made local first, then the bytes go into the cache file.
func (c *File) WriteAt(ctx context.Context, p []byte, off int64) error {
	end := off + int64(len(p))
	done, err := c.inlineChange(end, func() {
		c.data = resized(c.data, max(int64(len(c.data)), end))
		copy(c.data[off:], p)
	})
	if done || err != nil {
		return err
	}
	f, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.Release()
	first, last := off/BlockSize, (end-1)/BlockSize
	if off%BlockSize != 0 {
		if err := c.fetchBlock(ctx, first); err != nil {
			return err
		}
	}
	if end%BlockSize != 0 && (last != first || off%BlockSize == 0) {
		if err := c.fetchBlock(ctx, last); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := f.WriteAt(p, off); err != nil {
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	c.d.written(c)
	if c.m != nil {
		for b := first; b <= last; b++ {
			c.mark(b)
		}
	}
	c.changed()
	return nil
}

// inlineChange applies fn, a change leaving the contents size bytes long,
// to the inline data if the file is inline and size is at most InlineMax,
// and reports true. An inline file the change would take past InlineMax
// moves to a cache file first, and false is returned: the caller makes
// the change there, as for any file not inline.
func (c *File) inlineChange(size int64, fn func()) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.inline:
		return false, nil
	case size <= InlineMax:
		fn()
		c.changed()
		return true, nil
	}
	return false, c.toFile()
}

// resized returns b cut or zero-extended to n bytes.
func resized(b []byte, n int64) []byte {
	if grow := int(n) - len(b); grow > 0 {
		return append(b, make([]byte, grow)...)
	}
	return b[:n]
}

// changed records a change of the bytes. The caller holds c.mu.
func (c *File) changed() {
	now := c.d.now()
	if !c.dirty {
		c.dirty, c.since = true, now
	}
	c.gen++
	c.written = now
}

// Written bumps the generation again once the tree shows the change: a
// commit that read the bytes between the write and now saw them with the
// old size, and must not take them as the file's (Uploaded compares
// generations).
func (c *File) Written() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.changed()
}

// Truncate changes the size from old to size.
func (c *File) Truncate(ctx context.Context, old, size int64) error {
	done, err := c.inlineChange(size, func() { c.data = resized(c.data, size) })
	if done || err != nil {
		return err
	}
	f, err := c.acquire()
	if err != nil {
		return err
	}
	defer c.Release()
	if size < old && size%BlockSize != 0 {
		if err := c.fetchBlock(ctx, size/BlockSize); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	c.d.written(c)
	c.limit = min(c.limit, old, size)
	c.changed()
	return nil
}

// Sync makes the cache file survive a crash of the machine. Inline bytes
// are in the journal, which the tree's Fsync syncs next.
func (c *File) Sync() error {
	c.d.mu.Lock()
	delete(c.d.unsynced, c.ino)
	c.d.mu.Unlock()
	if err := c.syncCache(); err != nil {
		c.d.written(c)
		return err
	}
	return nil
}

// syncCache fsyncs the cache file, if the file has one and is not gone
// or inline. It makes none: a file with no cache file has nothing local
// to lose.
func (c *File) syncCache() error {
	c.mu.Lock()
	if c.inline || c.freed {
		c.mu.Unlock()
		return nil
	}
	f := c.f
	if f != nil {
		c.pins++ // kept open through the sync
	}
	c.mu.Unlock()
	if f != nil {
		defer c.Release()
	} else {
		// Any descriptor syncs the file's pages.
		var err error
		if f, err = os.Open(c.d.cachePath(c.ino)); errors.Is(err, os.ErrNotExist) {
			return nil
		} else if err != nil {
			return fmt.Errorf("fs: sync cache file of %d: %w", c.ino, err)
		}
		defer f.Close()
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fs: sync cache file of %d: %w", c.ino, err)
	}
	c.d.notify(f.Name())
	return nil
}

// toFile moves inline contents into a cache file, for good. The caller
// holds c.mu. Every byte is local in the file afterwards.
func (c *File) toFile() error {
	f, err := os.OpenFile(c.d.cachePath(c.ino), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	if _, err := f.WriteAt(c.data, 0); err != nil {
		f.Close()
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	if c.m != nil {
		c.limit = min(c.limit, int64(len(c.data)))
		for b := int64(0); b*BlockSize < int64(len(c.data)); b++ {
			c.mark(b)
		}
	}
	if c.synced {
		// The inline bytes were fsynced: the file holding them now must
		// be too before the state says they are there.
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
		}
		c.d.notify(f.Name())
	} else {
		c.d.written(c)
	}
	c.inline, c.data, c.trim, c.synced = false, nil, -1, false
	if c.pins > 0 {
		c.f = f // the pins taken in inline mode now hold the file
	} else {
		f.Close()
	}
	c.d.touch(c.ino)
	return nil
}
