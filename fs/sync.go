package fs

import (
	"fmt"
	"os"
)

// Fsync makes regular file ino's contents and every inode's attributes
// survive a crash of the mount process and of the machine, as the
// durability contract in docs/drive.md says. A Tree without a state
// directory keeps everything in memory, where Fsync has nothing to do.
func (t *Tree) Fsync(ino Ino) error {
	if t.closed.Load() {
		return inoErr("fsync", ino, errClosed)
	}
	t.mu.Lock()
	n, err := t.get(ino)
	t.mu.Unlock()
	if err != nil || t.st == nil {
		return inoErr("fsync", ino, err)
	}
	if n.content != nil {
		n.content.mu.Lock()
		dirty := n.content.dirty
		n.content.mu.Unlock()
		if dirty {
			if err := t.syncContent(n.content); err != nil {
				return inoErr("fsync", ino, err)
			}
		}
	}
	return inoErr("fsync", ino, t.flush(nil, true))
}

// Flush is called at every close of a handle on ino. Like close(2) on a
// local filesystem it makes nothing more durable: the changed records
// reach the state directory within DriveConfig.FlushEvery anyway, and a
// sync per close would make copying many small files as slow as the
// disk's fsync. Programs that need a file on disk call fsync.
func (t *Tree) Flush(ino Ino) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.get(ino)
	return inoErr("flush", ino, err)
}

// StatFS is a filesystem's statfs: sizes in blocks of Bsize bytes.
type StatFS struct {
	Bsize         uint32
	Blocks        uint64 // total
	Bfree, Bavail uint64
	Files, Ffree  uint64
	NameLen       uint32
}

// StatFS reports the drive's capacity: with a cloud, the cloud's capacity
// and free bytes as gossip estimates them, scaled by the erasure code's
// overhead (what files can still take); without one, or before gossip
// knows, a nominal 1 TiB. Files counts inodes in use and free.
func (t *Tree) StatFS() StatFS {
	const bsize = 4096
	total, free := uint64(1<<40), uint64(0)
	known := false
	if t.cloud != nil {
		if tot, fr, ok := t.cloud.space(); ok && tot > 0 {
			total, free, known = tot, fr, true
		}
	}
	t.mu.Lock()
	var used uint64
	for _, n := range t.nodes {
		used += n.attr.Size
	}
	inodes := uint64(len(t.nodes))
	t.mu.Unlock()
	if !known {
		free = total - min(total, used)
	}
	const maxInodes = 1 << 32
	return StatFS{
		Bsize: bsize, Blocks: total / bsize, Bfree: free / bsize, Bavail: free / bsize,
		Files: maxInodes, Ffree: maxInodes - min(maxInodes, inodes), NameLen: MaxNameLen,
	}
}

// openTemp gives a tree without a state directory of its own (a
// read-only mount, a snapshot) one in a new temporary directory, removed
// when it closes.
func (t *Tree) openTemp() error {
	dir, err := os.MkdirTemp("", "murmur-mount-")
	if err != nil {
		return fmt.Errorf("fs: temporary state directory: %w", err)
	}
	st, err := openState(dir, t.log)
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	st.temp = true
	t.st = st
	return nil
}

// clearState empties the state directory, for a state that fell behind
// the cloud and holds nothing uncommitted.
func (t *Tree) clearState() error {
	if err := t.st.db.DropAll(); err != nil {
		return fmt.Errorf("fs: clear state: %w", err)
	}
	dir := t.st.cachePath(0)
	dir = dir[:len(dir)-1]
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("fs: clear state: %w", err)
	}
	return os.MkdirAll(dir, 0o700)
}

// closeState closes the state directory, if any.
func (t *Tree) closeState() error {
	t.closed.Store(true)
	if t.st == nil {
		return nil
	}
	err := t.st.close()
	if t.st.temp {
		os.RemoveAll(t.st.dir)
	}
	t.st = nil
	return err
}
