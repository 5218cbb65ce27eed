package fs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"sync"

	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// BlockSize is the unit in which a file's contents are fetched from the
// cloud into its cache file and tracked as local.
const BlockSize = 1 << 20

// InlineMax is the size up to which a new file's contents live in memory
// and in its record in the state directory instead of a cache file of
// their own: most files are small, and a file per file would cost a
// local create for each.
const InlineMax = 64 << 10

// content is a regular file's contents in a Tree with a state directory:
// the uploaded version (a pipeline manifest, the "base"), and a cache file
// holding the blocks that are local — fetched from the base, or written
// since. A block b is local if have[b] is set or it starts at or past
// limit: base bytes past limit were truncated away, so what the cache file
// holds there (zeros or new writes) is the contents.
//
// The file's size is its inode's Attr.Size; the cache file may be shorter
// (reads past its end are zeros) or, after a crash, longer.
type content struct {
	ino Ino

	mu       sync.Mutex
	manifest []byte // the base, in the pipeline's encoding; nil: none
	m        *pipeline.Manifest
	have     []uint64
	limit    int64
	dirty    bool   // differs from the base: to upload
	gen      uint64 // bumps on every change of the bytes
	since    int64  // when it became dirty (Tree's clock, ns)
	written  int64  // when it last changed
	fetching map[int64]chan struct{}

	pins  int // users of f: open handles and operations in progress
	f     *os.File
	used  int64 // Tree.uses when last used, for eviction
	freed bool  // the inode is gone: its cache file must not come back
	// inline says the contents are data, whole, with no cache file; a
	// file leaves this mode for good when it grows past InlineMax or its
	// local copy is dropped.
	inline bool
	data   []byte
	synced bool // inline bytes reached the state with a sync
	// trim, if not negative, is the size recorded when the state was
	// loaded: a crash can leave a cache file longer than that, and bytes
	// past it must read as zeros if the file grows again.
	trim int64
}

func newContent(ino Ino, manifest []byte) (*content, error) {
	c := &content{ino: ino, fetching: map[int64]chan struct{}{}, trim: -1}
	return c, c.setBase(manifest)
}

// setBase makes manifest the uploaded version, with nothing of it local.
func (c *content) setBase(manifest []byte) error {
	c.manifest, c.m, c.have, c.limit = manifest, nil, nil, 0
	if len(manifest) == 0 {
		c.manifest = nil
		return nil
	}
	m, err := pipeline.ParseManifest(manifest)
	if err != nil {
		return fmt.Errorf("%w: manifest of inode %d: %v", ErrDamaged, c.ino, err)
	}
	c.m, c.limit = m, m.Size
	return nil
}

// local reports whether block b needs no fetch.
func (c *content) local(b int64) bool {
	if b*BlockSize >= c.limit {
		return true
	}
	i := b / 64
	return i < int64(len(c.have)) && c.have[i]&(1<<(b%64)) != 0
}

func (c *content) mark(b int64) {
	i := int(b / 64)
	if i >= len(c.have) {
		c.have = slices.Grow(c.have, i+1-len(c.have))[:i+1]
	}
	c.have[i] |= 1 << (b % 64)
}

// localBytes is about how much of the cache file is in use.
func (c *content) localBytes(size int64) int64 {
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

// The content state's encoding, kept in the state directory:
// version(1) | flags(1: dirty, 2: inline) | limit | have (length-prefixed
// bytes, little-endian words) | data (length-prefixed; inline only).
const contentVersion = 1

func (c *content) appendState(b []byte) []byte {
	b = append(b, contentVersion)
	var flags byte
	if c.dirty {
		flags |= 1
	}
	if c.inline {
		flags |= 2
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(c.limit))
	b = binary.AppendUvarint(b, uint64(8*len(c.have)))
	for _, w := range c.have {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	if c.inline {
		b = binary.AppendUvarint(b, uint64(len(c.data)))
		b = append(b, c.data...)
	}
	return b
}

func (c *content) parseState(b []byte) error {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != contentVersion {
		r.Fail("content state version %d", v)
	}
	flags := r.Byte()
	limit := int64(r.Uvarint(1<<63 - 1))
	have := r.LenBytes(1 << 20)
	var data []byte
	if flags&2 != 0 {
		data = r.LenBytes(InlineMax)
	}
	r.Done()
	if err := r.Err(); err != nil {
		return err
	}
	if len(have)%8 != 0 {
		return fmt.Errorf("%w: content bitmap of %d bytes", ErrDamaged, len(have))
	}
	c.dirty = flags&1 != 0
	c.inline = flags&2 != 0
	c.data = bytes.Clone(data)
	if c.m != nil {
		c.limit = min(limit, c.m.Size)
		c.have = make([]uint64, len(have)/8)
		for i := range c.have {
			c.have[i] = binary.LittleEndian.Uint64(have[8*i:])
		}
	}
	return nil
}

// acquire opens the cache file if it is not, and pins it.
func (t *Tree) acquire(c *content) (*os.File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.freed {
		return nil, fmt.Errorf("fs: inode %d: %w", c.ino, ErrNotExist)
	}
	t.active.Store(t.now())
	if c.inline {
		c.pins++
		c.used = t.uses.Add(1)
		return nil, nil
	}
	if c.f == nil {
		f, err := os.OpenFile(t.st.cachePath(c.ino), os.O_RDWR|os.O_CREATE, 0o600)
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
	c.used = t.uses.Add(1)
	return c.f, nil
}

// unpin drops a pin, closing the cache file with the last one.
func (c *content) unpin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pins--
	if c.pins == 0 && c.f != nil {
		c.f.Close()
		c.f = nil
	}
}

// ensure makes every block overlapping [lo, hi) local, fetching what is
// not from the base, several blocks at once; and starts fetching the
// readahead blocks after hi in the background.
func (t *Tree) ensure(ctx context.Context, c *content, lo, hi int64, readahead int) error {
	if hi <= lo {
		return nil
	}
	first, last := lo/BlockSize, (hi-1)/BlockSize
	var wg sync.WaitGroup
	errs := make([]error, last-first+1)
	for b := first; b <= last; b++ {
		wg.Go(func() { errs[b-first] = t.fetchBlock(ctx, c, b) })
	}
	for b := last + 1; b <= last+int64(readahead); b++ {
		c.mu.Lock()
		need := !c.local(b) && c.fetching[b] == nil
		c.mu.Unlock()
		if !need {
			continue
		}
		select {
		case t.prefetch <- struct{}{}:
			go func() {
				defer func() { <-t.prefetch }()
				if _, err := t.acquire(c); err != nil {
					return
				}
				defer c.unpin()
				t.fetchBlock(context.Background(), c, b)
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
func (t *Tree) fetchBlock(ctx context.Context, c *content, b int64) error {
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
		err := t.readBase(ctx, c, m, buf, b*BlockSize)
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
			}
		}
		c.mu.Unlock()
		return err
	}
}

// readBase reads len(p) bytes of the base m at off, from the cloud.
func (t *Tree) readBase(ctx context.Context, c *content, m *pipeline.Manifest, p []byte, off int64) error {
	if t.cloud == nil {
		return fmt.Errorf("fs: contents of %d are in the cloud, and this tree has none", c.ino)
	}
	r, err := t.cloud.reader(ctx, c.ino, m)
	if err != nil {
		return err
	}
	n, err := r.ReadAtContext(ctx, p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("fs: fetch %d bytes of %d at %d: %w", len(p), c.ino, off, err)
	}
	return nil
}

// readContent reads regular file c at off into p, which the caller has
// cut to the file's size.
func (t *Tree) readContent(ctx context.Context, c *content, p []byte, off int64) error {
	c.mu.Lock()
	if c.inline {
		n := copy(p, c.data[min(off, int64(len(c.data))):])
		clear(p[n:])
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	f, err := t.acquire(c)
	if err != nil {
		return err
	}
	defer c.unpin()
	if err := t.ensure(ctx, c, off, off+int64(len(p)), t.readahead); err != nil {
		return err
	}
	n, err := f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	clear(p[n:]) // past the cache file's end: zeros
	return nil
}

// writeContent writes p into c at off: the partly written blocks at both
// ends are made local first, then the bytes go into the cache file.
func (t *Tree) writeContent(ctx context.Context, c *content, p []byte, off int64) error {
	end := off + int64(len(p))
	done, err := t.inlineChange(c, end, func() {
		c.data = resized(c.data, max(int64(len(c.data)), end))
		copy(c.data[off:], p)
	})
	if done || err != nil {
		return err
	}
	f, err := t.acquire(c)
	if err != nil {
		return err
	}
	defer c.unpin()
	first, last := off/BlockSize, (end-1)/BlockSize
	if off%BlockSize != 0 {
		if err := t.fetchBlock(ctx, c, first); err != nil {
			return err
		}
	}
	if end%BlockSize != 0 && (last != first || off%BlockSize == 0) {
		if err := t.fetchBlock(ctx, c, (end-1)/BlockSize); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := f.WriteAt(p, off); err != nil {
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	if c.m != nil {
		for b := off / BlockSize; b <= (end-1)/BlockSize; b++ {
			c.mark(b)
		}
	}
	c.changed(t.now())
	return nil
}

// inlineChange applies fn, a change leaving the contents size bytes long,
// to c's inline data if c is inline and size is at most InlineMax, and
// reports true. An inline file the change would take past InlineMax moves
// to a cache file first, and false is returned: the caller makes the
// change there, as for any file not inline.
func (t *Tree) inlineChange(c *content, size int64, fn func()) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.inline:
		return false, nil
	case size <= InlineMax:
		fn()
		c.changed(t.now())
		return true, nil
	}
	return false, t.toFile(c)
}

// resized returns b cut or zero-extended to n bytes.
func resized(b []byte, n int64) []byte {
	if grow := int(n) - len(b); grow > 0 {
		return append(b, make([]byte, grow)...)
	}
	return b[:n]
}

// changed records a change of the bytes at time now.
func (c *content) changed(now int64) {
	if !c.dirty {
		c.dirty, c.since = true, now
	}
	c.gen++
	c.written = now
}

// truncateContent changes c's size from old to size.
func (t *Tree) truncateContent(ctx context.Context, c *content, old, size int64) error {
	done, err := t.inlineChange(c, size, func() { c.data = resized(c.data, size) })
	if done || err != nil {
		return err
	}
	f, err := t.acquire(c)
	if err != nil {
		return err
	}
	defer c.unpin()
	if size < old && size%BlockSize != 0 {
		if err := t.fetchBlock(ctx, c, size/BlockSize); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("fs: cache file of %d: %w", c.ino, err)
	}
	c.limit = min(c.limit, old, size)
	c.changed(t.now())
	return nil
}

// syncContent makes c's cache file survive a crash of the machine.
func (t *Tree) syncContent(c *content) error {
	c.mu.Lock()
	inline := c.inline
	c.mu.Unlock()
	if inline {
		return nil // the contents are in the state, which the caller syncs
	}
	f, err := t.acquire(c)
	if err != nil {
		return err
	}
	defer c.unpin()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fs: sync cache file of %d: %w", c.ino, err)
	}
	return nil
}

// dropLocal forgets the local blocks of clean, unpinned c, and empties its
// cache file; it reports the bytes given back.
func (t *Tree) dropLocal(c *content, size int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty || c.m == nil || c.pins > 0 || len(c.fetching) > 0 {
		return 0
	}
	n := c.localBytes(size)
	if c.inline {
		// A cache file left by a crash must not show through later.
		if err := os.Truncate(t.st.cachePath(c.ino), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0
		}
		c.inline, c.data, c.have, c.limit = false, nil, nil, c.m.Size
		return n
	}
	if err := os.Truncate(t.st.cachePath(c.ino), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0
	}
	c.have, c.limit = nil, c.m.Size
	return n
}

// toFile moves inline contents into a cache file, for good. The caller
// holds c.mu. Every byte is local in the file afterwards.
func (t *Tree) toFile(c *content) error {
	f, err := os.OpenFile(t.st.cachePath(c.ino), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
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
	}
	c.inline, c.data, c.trim, c.synced = false, nil, -1, false
	if c.pins > 0 {
		c.f = f // the pins taken in inline mode now hold the file
	} else {
		f.Close()
	}
	return nil
}
