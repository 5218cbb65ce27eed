package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// What the drive asks of a File: its base and whether it differs from it,
// what to upload, what to evict.

// Base returns the uploaded version: its encoding and manifest, nil if
// the file has none. The manifest must not be changed.
func (c *File) Base() ([]byte, *pipeline.Manifest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.manifest, c.m
}

// Dirty reports whether the contents differ from the base, and their
// generation: Uploaded takes an upload made at that generation.
func (c *File) Dirty() (dirty bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dirty, c.gen
}

// Busy reports whether the file is open and was written within quiet ns
// of now, and has not waited longer than maxWait ns since it first
// differed from its base: a background commit leaves it for later.
func (c *File) Busy(now, quiet, maxWait int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pins > 0 && now-c.written < quiet && now-c.since < maxWait
}

// Freed reports whether the inode is gone.
func (c *File) Freed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.freed
}

// Uploaded makes an upload the file's base: enc is m's encoding, and gen
// the generation the upload read. Every block is local (the upload read
// them all). The file stays dirty if it changed since gen.
func (c *File) Uploaded(enc []byte, m *pipeline.Manifest, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.manifest, c.m, c.limit = enc, m, m.Size
	c.have = nil
	for b := int64(0); b*BlockSize < m.Size; b++ {
		c.mark(b)
	}
	if c.gen == gen {
		c.dirty = false
	}
}

// Rebase makes manifest the base, discarding the local bytes: another
// commit of the drive holds other contents for this inode. The cache file
// is emptied, so none of the old version shows through if the file grows.
func (c *File) Rebase(manifest []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.setBase(manifest); err != nil {
		return err
	}
	c.inline, c.data, c.dirty = false, nil, false
	if c.f != nil {
		c.f.Truncate(0)
	} else {
		os.Truncate(c.d.cachePath(c.ino), 0)
	}
	c.d.written(c)
	c.gen++
	c.d.touch(c.ino)
	return nil
}

// SameBase reports whether manifest is the file's base.
func (c *File) SameBase(manifest []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.manifest) == string(manifest)
}

// Usage returns about how many local bytes the file takes, given its
// size, whether it could be evicted (uploaded, not dirty) and when it was
// last used (a counter; lower is older).
func (c *File) Usage(size int64) (local int64, clean bool, used int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.localBytes(size), !c.dirty && c.m != nil, c.used
}

// Drop forgets the local blocks of a clean, unused file and empties its
// cache file; it reports the bytes given back.
func (c *File) Drop(size int64) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty || c.m == nil || c.pins > 0 || len(c.fetching) > 0 {
		return 0
	}
	n := c.localBytes(size)
	// Inline or not, a cache file a crash left must not show through.
	if err := os.Truncate(c.d.cachePath(c.ino), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0
	}
	c.inline, c.data, c.have, c.limit = false, nil, nil, c.m.Size
	c.d.touch(c.ino)
	c.d.written(c)
	return n
}

// Distrust forgets which blocks of an uploaded, clean file are local,
// after a crash: the cache file was never synced for them, so they are
// fetched again when read. A dirty file's blocks are the only copy, and
// stay; inline bytes are in the journal, whose checksums vouch for them.
func (c *File) Distrust() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m != nil && !c.dirty && !c.inline {
		c.have, c.limit = nil, c.m.Size
		c.d.touch(c.ino)
	}
}

// Unsynced records that the cache file may hold bytes not yet synced
// though the journal holds their state: after a crash of the mount
// process, whose writes are still in the page cache. The next sync of the
// state syncs it before the journal, which then vouches for its bytes.
func (c *File) Unsynced() {
	c.mu.Lock()
	inline := c.inline
	c.mu.Unlock()
	if !inline {
		c.d.written(c)
	}
}

// The content state's encoding, kept in the journal beside the record:
// version(1) | flags(1: dirty, 2: inline) | limit | have (length-prefixed
// bytes, little-endian words) | data (length-prefixed; inline only).
const contentVersion = 1

func (c *File) appendState(b []byte) []byte {
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

// parseState reads a content state into c, whose base is set.
func (c *File) parseState(b []byte) error {
	r := wire.NewReader(b, fs.ErrDamaged)
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
	if flags&^3 != 0 || len(have)%8 != 0 {
		return fmt.Errorf("%w: content state flags %#x, bitmap of %d bytes", fs.ErrDamaged, flags, len(have))
	}
	c.dirty = flags&1 != 0
	c.inline = flags&2 != 0
	c.data = append([]byte(nil), data...)
	if c.m != nil {
		c.limit = min(limit, c.m.Size)
		c.have = make([]uint64, len(have)/8)
		for i := range c.have {
			c.have[i] = binary.LittleEndian.Uint64(have[8*i:])
		}
	}
	return nil
}
