package fs

// Fsync makes regular file ino's contents and every inode's attributes
// survive a crash of the mount process and of the machine, as the
// durability contract in docs/drive.md says: the file's contents are
// synced, then Config.Sync saves every change of the tree. On any other
// kind of inode only the second half applies. A Tree in memory has
// nothing to do.
func (t *Tree) Fsync(ino Ino) error {
	if t.closed.Load() {
		return inoErr("fsync", ino, errClosed)
	}
	t.mu.Lock()
	n, err := t.get(ino)
	t.mu.Unlock()
	if err != nil {
		return inoErr("fsync", ino, err)
	}
	if n.file != nil {
		if err := n.file.Sync(); err != nil {
			return inoErr("fsync", ino, err)
		}
	}
	if t.syncFn != nil {
		return inoErr("fsync", ino, t.syncFn())
	}
	return nil
}

// Flush is called at every close of a handle on ino. Like close(2) on a
// local filesystem it makes nothing more durable: the changed records
// reach the state directory within a second anyway, and a sync per close
// would make copying many small files as slow as the disk's fsync.
// Programs that need a file on disk call fsync.
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

// StatFS reports the tree's room, from Config.Space: Blocks its total,
// Bfree what is not used, Bavail what can still be written (so df shows
// Used as the stored bytes). Without a Space, or when it gives no total
// (the room is not known), a nominal 1 TiB less the bytes of the files.
// Files counts inodes in use and free.
func (t *Tree) StatFS() StatFS {
	const bsize = 4096
	var sp Space
	if t.spaceFn != nil {
		sp = t.spaceFn()
	}
	t.mu.Lock()
	if sp.Total == 0 {
		var used uint64
		for _, n := range t.nodes {
			used += n.Attr.Size
		}
		sp = Space{Total: 1 << 40, Used: used, Avail: 1<<40 - min(1<<40, used)}
	}
	inodes := uint64(len(t.nodes))
	t.mu.Unlock()
	free := sp.Total - min(sp.Total, sp.Used)
	const maxInodes = 1 << 32
	return StatFS{
		Bsize: bsize, Blocks: sp.Total / bsize, Bfree: free / bsize, Bavail: min(free, sp.Avail) / bsize,
		Files: maxInodes, Ffree: maxInodes - min(maxInodes, inodes), NameLen: MaxNameLen,
	}
}

// Close makes the tree refuse every change and fsync from now on: its
// state is being closed, and nothing more would be kept.
func (t *Tree) Close() { t.closed.Store(true) }
