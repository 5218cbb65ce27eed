package fs

import (
	"context"
	"fmt"
)

// SetAttrMask says which fields of a SetAttrIn to apply.
type SetAttrMask uint32

// The fields SetAttr can change.
const (
	SetMode     SetAttrMask = 1 << iota // Mode, masked with ModeMask
	SetUid                              // Uid
	SetGid                              // Gid
	SetSize                             // Size: truncate, or extend with zeros; regular files only
	SetAtime                            // Atime
	SetMtime                            // Mtime
	SetAtimeNow                         // atime to the clock's now, overriding SetAtime
	SetMtimeNow                         // mtime to the clock's now, overriding SetMtime
	// SetCtime changes nothing but ctime, which any change sets: what
	// chown(2) with an owner and a group of -1 does.
	SetCtime
)

const setAll = SetMode | SetUid | SetGid | SetSize | SetAtime | SetMtime | SetAtimeNow | SetMtimeNow | SetCtime

// SetAttrIn is a change of attributes: the fields named in Valid.
type SetAttrIn struct {
	Valid        SetAttrMask
	Mode         uint32
	Uid, Gid     uint32
	Size         uint64
	Atime, Mtime int64 // ns since the Unix epoch
}

// SetAttr applies the change in to inode ino, atomically, and returns the
// new attributes. Any change sets ctime; a change of size also sets mtime
// unless the change gives one. Size on a directory is ErrIsDir, on a
// symlink ErrInvalid, past Config.MaxFileSize ErrFileTooBig; unknown bits
// in Valid are ErrInvalid. An empty Valid changes nothing.
func (t *Tree) SetAttr(ino Ino, in SetAttrIn) (Attr, error) {
	if in.Valid&SetSize != 0 {
		// The contents change first, outside the tree's lock: a shrink
		// may fetch the block it cuts through.
		if err := t.truncate(ino, in); err != nil {
			return Attr{}, inoErr("setattr", ino, err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	a, err := t.setAttr(ino, in)
	return a, inoErr("setattr", ino, err)
}

// truncate changes the size of regular file ino's contents, after the
// checks setAttr makes.
func (t *Tree) truncate(ino Ino, in SetAttrIn) error {
	t.mu.Lock()
	n, err := t.get(ino)
	if err == nil && in.Valid&^setAll != 0 {
		err = ErrInvalid
	}
	if err == nil {
		err = t.checkData(n)
	}
	if err == nil && in.Size > uint64(t.maxSize) {
		err = ErrFileTooBig
	}
	if err == nil {
		err = t.writable()
	}
	if err != nil {
		t.mu.Unlock()
		return err
	}
	f, old := n.file, int64(n.Attr.Size)
	t.mu.Unlock()
	if old == int64(in.Size) {
		return nil
	}
	return f.Truncate(context.Background(), old, int64(in.Size))
}

func (t *Tree) setAttr(ino Ino, in SetAttrIn) (Attr, error) {
	n, err := t.get(ino)
	if err != nil {
		return Attr{}, err
	}
	if in.Valid&^setAll != 0 {
		return Attr{}, ErrInvalid
	}
	if in.Valid == 0 {
		return n.Attr, nil
	}
	if err := t.writable(); err != nil {
		return Attr{}, err
	}
	if in.Valid&SetSize != 0 {
		if err := t.checkData(n); err != nil {
			return Attr{}, err
		}
		if in.Size > uint64(t.maxSize) {
			return Attr{}, ErrFileTooBig
		}
	}
	now := t.now()
	a := &n.Attr
	if in.Valid&SetMode != 0 {
		a.Mode = in.Mode & ModeMask
	}
	if in.Valid&SetUid != 0 {
		a.Uid = in.Uid
	}
	if in.Valid&SetGid != 0 {
		a.Gid = in.Gid
	}
	if in.Valid&SetSize != 0 {
		a.Size = in.Size // the contents changed already (truncate)
		a.Mtime = now
		n.file.Written() // as finishWrite does
	}
	switch {
	case in.Valid&SetAtimeNow != 0:
		a.Atime = now
	case in.Valid&SetAtime != 0:
		a.Atime = in.Atime
	}
	switch {
	case in.Valid&SetMtimeNow != 0:
		a.Mtime = now
	case in.Valid&SetMtime != 0:
		a.Mtime = in.Mtime
	}
	a.Ctime = now
	t.mark(ino)
	return *a, nil
}

// checkData reports whether n has contents: directories are ErrIsDir,
// symlinks, fifos, sockets and devices ErrInvalid.
func (t *Tree) checkData(n *inode) error {
	switch n.Attr.Kind {
	case Regular:
		return nil
	case Directory:
		return ErrIsDir
	}
	return ErrInvalid
}

// ReadAt copies into p the contents of regular file ino from offset off,
// and returns the number of bytes copied: fewer than len(p) only at the end
// of the file, 0 at or past it, without io.EOF, as a FUSE read expects.
// A directory is ErrIsDir, a symlink ErrInvalid, a negative off ErrInvalid.
func (t *Tree) ReadAt(ino Ino, p []byte, off int64) (int, error) {
	return t.ReadAtContext(context.Background(), ino, p, off)
}

// ReadAtContext is ReadAt, with ctx bounding a fetch from the cloud.
func (t *Tree) ReadAtContext(ctx context.Context, ino Ino, p []byte, off int64) (int, error) {
	t.mu.Lock()
	n, err := t.get(ino)
	if err == nil {
		err = t.checkData(n)
	}
	if err == nil && off < 0 {
		err = ErrInvalid
	}
	if err != nil {
		t.mu.Unlock()
		return 0, inoErr("read", ino, err)
	}
	size := int64(n.Attr.Size)
	if off >= size {
		t.mu.Unlock()
		return 0, nil
	}
	p = p[:min(int64(len(p)), size-off)]
	f := n.file
	t.mu.Unlock()
	t.now()
	if err := f.ReadAt(ctx, p, off); err != nil {
		return 0, inoErr("read", ino, err)
	}
	return len(p), nil
}

// WriteAt writes p into regular file ino at offset off, extending it (with
// zeros between the old end and off) as needed, and returns len(p). It
// sets mtime and ctime unless p is empty. Errors are ReadAt's, and
// ErrFileTooBig for a write ending past Config.MaxFileSize; the file does
// not change.
func (t *Tree) WriteAt(ino Ino, p []byte, off int64) (int, error) {
	return t.WriteAtContext(context.Background(), ino, p, off)
}

// WriteAtContext is WriteAt, with ctx bounding a fetch from the cloud of
// the blocks the write covers only in part.
func (t *Tree) WriteAtContext(ctx context.Context, ino Ino, p []byte, off int64) (int, error) {
	t.mu.Lock()
	n, err := t.get(ino)
	if err == nil {
		err = t.checkData(n)
	}
	switch {
	case err != nil:
	case off < 0:
		err = ErrInvalid
	case off > t.maxSize-int64(len(p)):
		err = ErrFileTooBig
	case len(p) > 0:
		err = t.writable()
	}
	if err != nil {
		t.mu.Unlock()
		return 0, fmt.Errorf("fs: write %d at %d: %w", ino, off, err)
	}
	if len(p) == 0 {
		t.mu.Unlock()
		return 0, nil
	}
	end := off + int64(len(p))
	f := n.file
	t.mu.Unlock()
	if err := f.WriteAt(ctx, p, off); err != nil {
		return 0, fmt.Errorf("fs: write %d at %d: %w", ino, off, err)
	}
	t.finishWrite(n, end)
	return len(p), nil
}

// finishWrite sets the size and times after a write to n's contents that
// ended at end. File.Written runs under the tree's lock: a commit that
// read the contents between the write and this saw the new bytes with the
// old size, and must not take them for the file's.
func (t *Tree) finishWrite(n *inode, end int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if uint64(end) > n.Attr.Size {
		n.Attr.Size = uint64(end)
	}
	now := t.now()
	n.Attr.Mtime, n.Attr.Ctime = now, now
	n.file.Written()
	t.mark(n.Attr.Ino)
}
