package mount

import (
	"context"
	"fmt"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/murmur-cloud/murmur/fs"
)

// fileHandle is an open regular file: one t.Open, matched by exactly one
// t.Release when the kernel releases the handle.
type fileHandle struct {
	srv     *Server
	ino     fs.Ino
	release sync.Once
}

// open opens inode ino in the model and returns its handle.
func (s *Server) open(ino fs.Ino) (*fileHandle, error) {
	if err := s.tree.Open(ino); err != nil {
		return nil, err
	}
	return &fileHandle{srv: s, ino: ino}, nil
}

// Read copies the file's contents at off into dest; short only at the end
// of the file.
func (f *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := f.srv.tree.ReadAt(f.ino, dest, off)
	if err != nil {
		return nil, f.srv.errno(err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write writes data into the file at off.
func (f *fileHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if err := f.srv.checkWritable("write"); err != nil {
		return 0, f.srv.errno(err)
	}
	n, err := f.srv.tree.WriteAt(f.ino, data, off)
	if err != nil {
		return 0, f.srv.errno(err)
	}
	return uint32(n), 0
}

// Flush runs at every close(2) of a descriptor of the handle: the model's
// Flush, whose error close returns.
func (f *fileHandle) Flush(ctx context.Context) syscall.Errno {
	return f.srv.errno(f.srv.tree.Flush(f.ino))
}

// Fsync is fsync(2) and fdatasync(2): the model's Fsync.
func (f *fileHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return f.srv.errno(f.srv.tree.Fsync(f.ino))
}

// Release drops the handle's hold on the inode, once.
func (f *fileHandle) Release(ctx context.Context) syscall.Errno {
	var err error
	f.release.Do(func() { err = f.srv.tree.Release(f.ino) })
	return f.srv.errno(err)
}

// Allocate is fallocate(2), for the modes the model can express: mode 0
// extends the file with zeros to off+size if it is shorter, and
// FALLOC_FL_KEEP_SIZE, which only reserves space, has nothing to do in a
// model without blocks. Punching holes and zeroing ranges are
// EOPNOTSUPP, as on filesystems without them. The size is read and then
// set in two calls; the kernel holds the inode's lock across fallocate,
// writes and truncates, so nothing comes between them.
func (f *fileHandle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	if err := f.srv.checkWritable("fallocate"); err != nil {
		return f.srv.errno(err)
	}
	switch mode {
	case 0:
		return f.srv.errno(f.extend(off + size))
	case fallocKeepSize:
		_, err := f.srv.tree.GetAttr(f.ino)
		return f.srv.errno(err)
	}
	return syscall.EOPNOTSUPP
}

// fallocKeepSize is FALLOC_FL_KEEP_SIZE.
const fallocKeepSize = 1

// extend grows the file to size bytes if it is shorter.
func (f *fileHandle) extend(size uint64) error {
	a, err := f.srv.tree.GetAttr(f.ino)
	if err != nil {
		return err
	}
	if a.Size >= size {
		return nil
	}
	if _, err := f.srv.tree.SetAttr(f.ino, fs.SetAttrIn{Valid: fs.SetSize, Size: size}); err != nil {
		return fmt.Errorf("mount: fallocate %d to %d bytes: %w", f.ino, size, err)
	}
	return nil
}
