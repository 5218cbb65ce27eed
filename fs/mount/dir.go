package mount

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// dirHandle is an open directory: one t.Open, matched by one t.Release
// when the kernel releases it. It lists a snapshot of the entries, taken
// at the first read and again at every rewind to offset 0, so offsets
// stay stable while a program pages through a directory that changes.
type dirHandle struct {
	node *node

	mu      sync.Mutex
	entries []fuse.DirEntry // nil: not read since open or rewind
	next    int             // index of the next entry to return
	release sync.Once
}

// Readdirent returns the next entry, or nil at the end. Entries are "."
// and "..", then the model's, sorted by name; an entry's Off is its index
// plus one, the offset a seekdir to just after it names.
func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.entries == nil {
		if err := d.load(); err != nil {
			return nil, d.node.srv.errno(err)
		}
	}
	if d.next >= len(d.entries) {
		return nil, 0
	}
	e := d.entries[d.next]
	d.next++
	return &e, 0
}

// load takes the snapshot of the directory's entries.
func (d *dirHandle) load() error {
	list, err := d.node.tree().ReadDir(d.node.ino)
	if err != nil {
		return err
	}
	d.entries = make([]fuse.DirEntry, 0, len(list)+2)
	self := uint64(d.node.ino)
	d.entries = append(d.entries,
		fuse.DirEntry{Name: ".", Ino: self, Mode: syscall.S_IFDIR},
		fuse.DirEntry{Name: "..", Ino: d.parentIno(), Mode: syscall.S_IFDIR})
	for _, e := range list {
		d.entries = append(d.entries, fuse.DirEntry{Name: e.Name, Ino: uint64(e.Ino), Mode: typeBits(e.Kind)})
	}
	for i := range d.entries {
		d.entries[i].Off = uint64(i + 1)
	}
	return nil
}

// parentIno returns the inode number to list for "..": the parent the
// kernel reached the directory through, or the directory itself for the
// root. Linux takes ".." from its own dentries, never from this number.
func (d *dirHandle) parentIno() uint64 {
	if _, p := d.node.Parent(); p != nil {
		return p.StableAttr().Ino
	}
	return uint64(d.node.ino)
}

// Seekdir moves to offset off, as telldir returned it; offset 0, a
// rewinddir, takes a new snapshot.
func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off == 0 {
		d.entries, d.next = nil, 0
		return 0
	}
	if d.entries == nil {
		if err := d.load(); err != nil {
			return d.node.srv.errno(err)
		}
	}
	if off > uint64(len(d.entries)) {
		return syscall.EINVAL
	}
	d.next = int(off)
	return 0
}

// Fsyncdir is fsync(2) of a directory: the model's Fsync.
func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return d.node.srv.errno(d.node.tree().Fsync(d.node.ino))
}

// Releasedir drops the handle's hold on the directory, once.
func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {
	d.release.Do(func() {
		if err := d.node.tree().Release(d.node.ino); err != nil {
			d.node.srv.errno(err)
		}
	})
}
