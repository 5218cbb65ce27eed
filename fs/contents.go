package fs

import (
	"context"
	"slices"
	"sync"
)

// Contents keeps the bytes of a Tree's regular files. The Tree asks it for
// a File when it makes a regular file, and hands the File back when the
// file has neither names nor open handles left. MemContents keeps them in
// memory; the drive's state directory (fs/state) in cache files and its
// journal.
type Contents interface {
	// New returns the contents of the new, empty regular file ino.
	New(ino Ino) File
	// Free lets go of f, the contents of ino, which is gone. It is called
	// with the tree's lock held, so it must not block for long.
	Free(ino Ino, f File)
}

// File is one regular file's bytes. The Tree holds the file's size
// (Attr.Size) and cuts reads to it, so a File may hold more bytes than
// that (a crash, a racing truncate) and must read as zeros where it holds
// none. Methods other than Written are called without the tree's lock and
// may run concurrently; a File orders them itself.
type File interface {
	// ReadAt fills p with the bytes at off; p lies within the file's size
	// when the call was made.
	ReadAt(ctx context.Context, p []byte, off int64) error
	// WriteAt writes p at off, growing the contents as needed.
	WriteAt(ctx context.Context, p []byte, off int64) error
	// Truncate changes the size from old to size, with zeros past old.
	Truncate(ctx context.Context, old, size int64) error
	// Written is called, with the tree's lock held, after a WriteAt or
	// Truncate once the tree has set the file's new size and times: from
	// here on the change is the file's, as the tree shows it.
	Written()
	// Sync makes the bytes written so far survive a crash of the machine.
	Sync() error
	// Open records an open handle, and fails if the file was freed;
	// Release drops one.
	Open() error
	Release()
}

// MemContents keeps files' bytes in memory: a Tree made with it holds
// everything in memory and Fsync has nothing to do.
type MemContents struct{}

// New returns an empty in-memory file.
func (MemContents) New(Ino) File { return &memFile{} }

// Free does nothing: the file's bytes go with it.
func (MemContents) Free(Ino, File) {}

type memFile struct {
	mu   sync.Mutex
	data []byte
}

func (f *memFile) ReadAt(_ context.Context, p []byte, off int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	if off < int64(len(f.data)) {
		n = copy(p, f.data[off:])
	}
	clear(p[n:])
	return nil
}

func (f *memFile) WriteAt(_ context.Context, p []byte, off int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(f.data)) {
		f.resize(end)
	}
	copy(f.data[off:], p)
	return nil
}

func (f *memFile) Truncate(_ context.Context, _, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resize(size)
	return nil
}

// resize cuts or zero-extends the bytes to size, giving memory back after
// a large cut. The caller holds f.mu.
func (f *memFile) resize(size int64) {
	if old := int64(len(f.data)); size > old {
		f.data = slices.Grow(f.data, int(size-old))[:size]
		clear(f.data[old:])
		return
	}
	f.data = f.data[:size]
	if int64(cap(f.data)) > 2*size+4096 {
		f.data = slices.Clone(f.data)
	}
}

func (f *memFile) Written()    {}
func (f *memFile) Sync() error { return nil }
func (f *memFile) Open() error { return nil }
func (f *memFile) Release()    {}
