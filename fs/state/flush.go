package state

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/internal/journal"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// An inode's entry in the journal, under "i" ino:
//
//	version(1) | epoch (uvarint: of its change not yet committed, 0 if
//	none) | record (length-prefixed, fs/format) | content state
//	(length-prefixed; regular files only)
const entryVersion = 1

// maxEntry bounds an entry: the largest record, and inline contents.
const maxEntry = format.MaxManifestLen + 64<<20

func appendEntry(b []byte, n *fs.Node, f *File, epoch uint64) []byte {
	b = append(b, entryVersion)
	b = binary.AppendUvarint(b, epoch)
	var manifest, st []byte
	if f != nil {
		f.mu.Lock()
		manifest = f.manifest
		st = f.appendState(nil)
		f.mu.Unlock()
	}
	rec := format.AppendRecord(nil, n, manifest)
	b = binary.AppendUvarint(b, uint64(len(rec)))
	b = append(b, rec...)
	b = binary.AppendUvarint(b, uint64(len(st)))
	return append(b, st...)
}

// Entry is an inode's entry as the journal holds it.
type Entry struct {
	Record *format.Record
	Epoch  uint64
	State  []byte // the content state; nil if not a regular file
}

// ParseEntry decodes an inode's entry.
func ParseEntry(b []byte) (*Entry, error) {
	r := wire.NewReader(b, fs.ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != entryVersion {
		r.Fail("entry version %d", v)
	}
	e := &Entry{Epoch: r.Uvarint(1<<63 - 1)}
	rec := r.LenBytes(maxEntry)
	st := r.LenBytes(maxEntry)
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	var err error
	if e.Record, err = format.ParseRecord(rec); err != nil {
		return nil, err
	}
	if (e.Record.Attr.Kind == fs.Regular) != (len(st) > 0) {
		return nil, fmt.Errorf("%w: a %s inode with %d bytes of content state", fs.ErrDamaged, e.Record.Attr.Kind, len(st))
	}
	if len(st) > 0 {
		e.State = append([]byte(nil), st...)
	}
	return e, nil
}

// Flush saves, in one batch, everything of t that changed since the last
// Flush: the records of changed and gone inodes, with their content
// states and epochs, and meta if not nil (the drive's metadata). With
// sync it also syncs the journal, so all of it survives a crash of the
// machine. If the write fails, nothing of it is kept and the next Flush
// saves it all again.
func (d *Dir) Flush(t *fs.Tree, meta []byte, sync bool) error {
	d.flushMu.Lock()
	defer d.flushMu.Unlock()
	d.mu.Lock()
	also := make([]fs.Ino, 0, len(d.touched))
	for ino := range d.touched {
		also = append(also, ino)
	}
	d.touched = map[fs.Ino]struct{}{}
	// Freed before the Collect below, so their deletions are in this batch.
	doomed := d.doomed
	d.doomed = nil
	d.mu.Unlock()
	var b journal.Batch
	var inline []*File
	retry := t.Collect(also, func(ino fs.Ino, n *fs.Node, f fs.File, epoch uint64) {
		if n == nil {
			b.Delete(inodeKey(ino))
			return
		}
		c, _ := f.(*File)
		b.Set(inodeKey(ino), appendEntry(nil, n, c, epoch))
		if c != nil {
			inline = append(inline, c)
		}
	})
	if meta != nil {
		b.Set(keyMeta, meta)
	}
	if err := d.j.Write(&b); err != nil {
		retry()
		d.mu.Lock()
		d.doomed = append(d.doomed, doomed...)
		d.mu.Unlock()
		return fmt.Errorf("fs: save state: %w", err)
	}
	d.mu.Lock()
	for _, c := range inline {
		d.inlineSaved[c.ino] = c // whether inline or not: sync looks
	}
	d.mu.Unlock()
	for _, ino := range doomed {
		os.Remove(d.cachePath(ino))
	}
	if !sync {
		return nil
	}
	return d.sync()
}

// Loaded is a tree as a state directory holds it.
type Loaded struct {
	Nodes  map[fs.Ino]*fs.Node
	Files  map[fs.Ino]fs.File
	Epochs map[fs.Ino]uint64 // inodes with a change not yet committed when saved
}

// Load reads every inode the journal holds. A cache file no inode owns,
// or one beside a file that is inline, is removed (a crash left it).
func (d *Dir) Load() (*Loaded, error) {
	l := &Loaded{Nodes: map[fs.Ino]*fs.Node{}, Files: map[fs.Ino]fs.File{}, Epochs: map[fs.Ino]uint64{}}
	err := d.j.Load(string([]byte{keyInode}), func(key string, v []byte) error {
		if len(key) != 9 {
			return fmt.Errorf("%w: state key %x", fs.ErrDamaged, key)
		}
		ino := fs.Ino(binary.BigEndian.Uint64([]byte(key[1:])))
		e, err := ParseEntry(v)
		if err != nil {
			return fmt.Errorf("inode %d: %w", ino, err)
		}
		if e.Record.Attr.Ino != ino {
			return fmt.Errorf("%w: inode %d filed under %d", fs.ErrDamaged, e.Record.Attr.Ino, ino)
		}
		n := e.Record.Node
		l.Nodes[ino] = &n
		if e.Epoch > 0 {
			l.Epochs[ino] = e.Epoch
		}
		if n.Attr.Kind == fs.Regular {
			f, err := d.newFile(ino, e.Record.Manifest)
			if err != nil {
				return err
			}
			if err := f.parseState(e.State); err != nil {
				return fmt.Errorf("inode %d: %w", ino, err)
			}
			f.trim = int64(n.Attr.Size)
			l.Files[ino] = f
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fs: load state %s: %w", d.dir, err)
	}
	d.removeStrays(l)
	return l, nil
}

// removeStrays removes the cache files that no file not inline owns.
func (d *Dir) removeStrays(l *Loaded) {
	entries, err := os.ReadDir(filepath.Join(d.dir, "data"))
	if err != nil {
		return
	}
	for _, e := range entries {
		v, err := strconv.ParseUint(e.Name(), 16, 64)
		if err == nil {
			if f, ok := l.Files[fs.Ino(v)].(*File); ok && !f.inline {
				continue
			}
		}
		os.Remove(filepath.Join(d.dir, "data", e.Name()))
	}
}
