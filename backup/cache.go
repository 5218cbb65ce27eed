package backup

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// A machine keeps, per set, writer and host, a cache of its last
// snapshot's regular files: each file's path, device, inode, size, mtime
// and ctime, and the manifest its contents were stored under. A file
// whose stat matches is not read again: its manifest is reused. (An
// append-only key cannot read the snapshot back, so the cache is how its
// machine knows the parent.) The cache is written in scan order and read
// alongside the scan, so it costs no memory per file. It lives on the
// machine that was backed up, beside the data it describes, in a file
// only its owner reads; it holds the manifests' chunk keys, which are
// the machine's own data's.
const cacheMagic = "murmur backup cache 1\n"

type cacheEntry struct {
	path           string
	dev, ino, size uint64
	mtime, ctime   int64
	manifest       []byte
}

// cacheReader reads a cache alongside a scan.
type cacheReader struct {
	r      *bufio.Reader
	f      *os.File
	parent SnapshotID
	cur    *cacheEntry
	err    error
}

// openCache opens the cache at name; a missing or unreadable cache is no
// cache (every file is read).
func openCache(name string) *cacheReader {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	c := &cacheReader{f: f, r: bufio.NewReaderSize(f, 1<<20)}
	head := make([]byte, len(cacheMagic)+32)
	if _, err := io.ReadFull(c.r, head); err != nil || string(head[:len(cacheMagic)]) != cacheMagic {
		f.Close()
		return nil
	}
	copy(c.parent[:], head[len(cacheMagic):])
	c.advance()
	return c
}

func (c *cacheReader) close() {
	if c != nil {
		c.f.Close()
	}
}

func (c *cacheReader) advance() {
	c.cur = nil
	if c.err != nil {
		return
	}
	e, err := readCacheEntry(c.r)
	if err != nil {
		c.err = err
		return
	}
	c.cur = e
}

// lookup returns the cached entry of path, if any. Paths must be asked in
// scan order.
func (c *cacheReader) lookup(path string) *cacheEntry {
	if c == nil {
		return nil
	}
	for c.cur != nil && pathLess(c.cur.path, path) {
		c.advance()
	}
	if c.cur != nil && c.cur.path == path {
		return c.cur
	}
	return nil
}

const maxCacheManifest = 64 << 20

func readCacheEntry(r *bufio.Reader) (*cacheEntry, error) {
	e := &cacheEntry{}
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > maxPath*4 {
		return nil, errors.New("backup: cache: path too long")
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return nil, err
	}
	e.path = string(p)
	for _, v := range []*uint64{&e.dev, &e.ino, &e.size} {
		if *v, err = binary.ReadUvarint(r); err != nil {
			return nil, err
		}
	}
	for _, v := range []*int64{&e.mtime, &e.ctime} {
		if *v, err = binary.ReadVarint(r); err != nil {
			return nil, err
		}
	}
	if n, err = binary.ReadUvarint(r); err != nil {
		return nil, err
	}
	if n > maxCacheManifest {
		return nil, errors.New("backup: cache: manifest too long")
	}
	e.manifest = make([]byte, n)
	if _, err := io.ReadFull(r, e.manifest); err != nil {
		return nil, err
	}
	return e, nil
}

// cacheWriter writes the next cache, to be put in place by commit.
type cacheWriter struct {
	name string
	f    *os.File
	w    *bufio.Writer
	buf  []byte
}

func createCache(name string) (*cacheWriter, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(name), filepath.Base(name)+".new-*")
	if err != nil {
		return nil, err
	}
	w := &cacheWriter{name: name, f: f, w: bufio.NewWriterSize(f, 1<<20)}
	// The parent's ID is written at commit, when it is known.
	if _, err := w.w.WriteString(cacheMagic + strings.Repeat("\x00", 32)); err != nil {
		w.abort()
		return nil, err
	}
	return w, nil
}

func (w *cacheWriter) add(e *cacheEntry) error {
	b := w.buf[:0]
	b = binary.AppendUvarint(b, uint64(len(e.path)))
	b = append(b, e.path...)
	for _, v := range []uint64{e.dev, e.ino, e.size} {
		b = binary.AppendUvarint(b, v)
	}
	b = binary.AppendVarint(b, e.mtime)
	b = binary.AppendVarint(b, e.ctime)
	b = binary.AppendUvarint(b, uint64(len(e.manifest)))
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	_, err := w.w.Write(e.manifest)
	return err
}

// commit puts the cache in place as the cache of snapshot id.
func (w *cacheWriter) commit(id SnapshotID) error {
	if err := w.w.Flush(); err != nil {
		w.abort()
		return err
	}
	if _, err := w.f.WriteAt(id[:], int64(len(cacheMagic))); err != nil {
		w.abort()
		return err
	}
	if err := w.f.Sync(); err != nil {
		w.abort()
		return err
	}
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return err
	}
	if err := os.Rename(w.f.Name(), w.name); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("backup: put the cache in place: %w", err)
	}
	return syncDir(filepath.Dir(w.name))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (w *cacheWriter) abort() {
	if w == nil {
		return
	}
	w.f.Close()
	os.Remove(w.f.Name())
}

// pathLess orders snapshot paths as a scan meets them: component by
// component, each bytewise, a directory before what it holds.
func pathLess(a, b string) bool {
	for {
		if a == b {
			return false
		}
		if a == "" {
			return true
		}
		if b == "" {
			return false
		}
		ai, bi := strings.IndexByte(a, '/'), strings.IndexByte(b, '/')
		ac, bc := a, b
		if ai >= 0 {
			ac = a[:ai]
		}
		if bi >= 0 {
			bc = b[:bi]
		}
		if ac != bc {
			return ac < bc
		}
		if ai < 0 {
			return true // a is b's ancestor
		}
		if bi < 0 {
			return false
		}
		a, b = a[ai+1:], b[bi+1:]
	}
}
