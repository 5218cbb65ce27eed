package fs

// Fsync makes regular file ino's contents and every inode's attributes
// survive a crash of the mount process and of the machine, as the
// durability contract in docs/drive.md says. A Tree without a state
// directory keeps everything in memory, where Fsync has nothing to do.
func (t *Tree) Fsync(ino Ino) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, err := t.get(ino)
	return inoErr("fsync", ino, err)
}

// Flush is called at every close of a handle on ino. For a handle that
// wrote, it is Fsync: a program that closed a file finds it whole after a
// crash.
func (t *Tree) Flush(ino Ino) error {
	return t.Fsync(ino)
}

// StatFS is a filesystem's statfs: sizes in blocks of Bsize bytes.
type StatFS struct {
	Bsize         uint32
	Blocks        uint64 // total
	Bfree, Bavail uint64
	Files, Ffree  uint64
	NameLen       uint32
}

// StatFS reports the drive's capacity. A Tree without a cloud reports its
// own use and no limit but MaxFileSize's.
func (t *Tree) StatFS() StatFS {
	t.mu.Lock()
	defer t.mu.Unlock()
	var used uint64
	for _, n := range t.nodes {
		used += n.attr.Size
	}
	const bsize = 4096
	total := uint64(1<<40) / bsize
	usedBlocks := (used + bsize - 1) / bsize
	free := total - min(total, usedBlocks)
	return StatFS{
		Bsize: bsize, Blocks: total, Bfree: free, Bavail: free,
		Files: uint64(len(t.nodes)), Ffree: 1 << 32, NameLen: MaxNameLen,
	}
}
