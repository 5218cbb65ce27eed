package fstree

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
)

// Errors, wrapped in an *os.PathError naming the path.
var (
	// ErrUnsafePath: an entry's path (or Link) is absolute, empty, or has
	// an empty, "." or ".." component, so it could name something outside
	// the tree.
	ErrUnsafePath = errors.New("fstree: unsafe path")
	// ErrNotRegular: Open found something other than a regular file.
	ErrNotRegular = errors.New("fstree: not a regular file")
	// ErrUnknownKind: lstat reported a file type that fs.Kind has no name for.
	ErrUnknownKind = errors.New("fstree: unknown file type")
	// ErrDevNumber: a device number does not fit Linux's 32-bit encoding
	// (major above 4095 or minor above 1048575).
	ErrDevNumber = errors.New("fstree: device number out of range")
)

// Entry is one object of a scanned tree.
type Entry struct {
	// Path is relative to the scanned root, slash-separated, "." for the
	// root itself.
	Path string
	// Attr holds the kind, mode (fs.ModeMask bits), owners, link count,
	// size (a regular file's length, a symlink's target length, 0 for
	// anything else), device number (device nodes only) and the three
	// times in nanoseconds. Attr.Ino is the source inode number.
	Attr fs.Attr
	// Dev is the source st_dev.
	Dev uint64
	// Target is a symlink's target.
	Target string
	// Xattrs holds every extended attribute llistxattr lists and
	// lgetxattr can read, POSIX ACLs (system.posix_acl_*) included; nil
	// if there are none. An attribute with an empty value maps to an
	// empty, non-nil slice.
	Xattrs map[string][]byte
	// Link is set, for a non-directory with Nlink > 1 whose (Dev, Ino)
	// was already seen in the same scan, to the Path of the first entry
	// with it: Restore makes a hard link to it. "" otherwise.
	Link string
	// Blocks is st_blocks in 512-byte units: below Size/512 for a sparse
	// file.
	Blocks int64
}

// newEntry fills an entry from a stat. Target and Xattrs are the
// caller's.
func newEntry(path string, st *unix.Stat_t) (*Entry, error) {
	kind, ok := fs.KindOf(st.Mode)
	if !ok {
		return nil, &os.PathError{Op: "lstat", Path: path, Err: fmt.Errorf("%w: mode %#o", ErrUnknownKind, st.Mode)}
	}
	e := &Entry{
		Path: path,
		Attr: fs.Attr{
			Ino:   fs.Ino(st.Ino),
			Kind:  kind,
			Mode:  st.Mode & fs.ModeMask,
			Uid:   st.Uid,
			Gid:   st.Gid,
			Nlink: uint32(st.Nlink),
			Atime: st.Atim.Nano(),
			Mtime: st.Mtim.Nano(),
			Ctime: st.Ctim.Nano(),
		},
		Dev:    st.Dev,
		Blocks: st.Blocks,
	}
	switch kind {
	case fs.Regular, fs.Symlink:
		e.Attr.Size = uint64(st.Size)
	case fs.CharDevice, fs.BlockDevice:
		rdev, ok := encodeDev(unix.Major(st.Rdev), unix.Minor(st.Rdev))
		if !ok {
			return nil, &os.PathError{Op: "lstat", Path: path, Err: fmt.Errorf("%w: %d:%d", ErrDevNumber, unix.Major(st.Rdev), unix.Minor(st.Rdev))}
		}
		e.Attr.Rdev = rdev
	}
	return e, nil
}

// encodeDev packs a device number the way Linux's new_encode_dev does:
// the low 8 bits of the minor, then 12 bits of major, then the minor's
// upper 12 bits. It is what stat's st_rdev holds for every number the
// kernel's own 32-bit dev_t can represent, so it loses nothing on Linux.
func encodeDev(major, minor uint32) (uint32, bool) {
	if major > 0xfff || minor > 0xfffff {
		return 0, false
	}
	return minor&0xff | major<<8 | (minor&^0xff)<<12, true
}

// decodeDev undoes encodeDev (new_decode_dev).
func decodeDev(rdev uint32) (major, minor uint32) {
	return (rdev >> 8) & 0xfff, rdev&0xff | (rdev>>12)&0xfff00
}

// splitPath checks a relative slash-separated path and returns its
// components: none for ".".
func splitPath(p string) ([]string, error) {
	if p == "." {
		return nil, nil
	}
	bad := p == "" || strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0
	parts := strings.Split(p, "/")
	for _, c := range parts {
		if c == "" || c == "." || c == ".." {
			bad = true
		}
	}
	if bad {
		return nil, &os.PathError{Op: "check", Path: p, Err: ErrUnsafePath}
	}
	return parts, nil
}

// join returns the scan path of name inside directory dir.
func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// osPath returns the operating system's path of p under root.
func osPath(root, p string) string {
	switch {
	case p == ".":
		return root
	case strings.HasSuffix(root, "/"):
		return root + p
	}
	return root + "/" + p
}

// Stat returns the Entry for path under root, with the same fields Scan
// fills except Link. Use it to check a file again after reading it.
func Stat(root, path string) (*Entry, error) {
	full := osPath(root, path)
	dirfd, name, done, err := resolve(root, path)
	if err != nil {
		return nil, err
	}
	defer done()
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &os.PathError{Op: "lstat", Path: full, Err: err}
	}
	e, err := newEntry(path, &st)
	if err != nil {
		return nil, err
	}
	if e.Attr.Kind == fs.Symlink {
		if e.Target, _, err = readlink(dirfd, name, nil); err != nil {
			return nil, &os.PathError{Op: "readlink", Path: full, Err: err}
		}
	}
	var x xattrReader
	if e.Xattrs, err = x.read(xattrPath(dirfd, full, name)); err != nil {
		return nil, err
	}
	return e, nil
}

// Open opens the regular file path under root for reading. It does not
// follow a symlink swapped in since the scan (O_NOFOLLOW), does not block
// on a fifo swapped in, and does not update the file's atime where the
// kernel allows it (O_NOATIME, which needs the file's owner or
// CAP_FOWNER; without it the open is retried plainly). Anything but a
// regular file is refused with ErrNotRegular.
func Open(root, path string) (*os.File, error) {
	full := osPath(root, path)
	dirfd, name, done, err := resolve(root, path)
	if err != nil {
		return nil, err
	}
	defer done()
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: full, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fstat", Path: full, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: full, Err: ErrNotRegular}
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "fcntl", Path: full, Err: err}
	}
	return os.NewFile(uintptr(fd), full), nil
}

// resolve checks path and returns a directory fd and a name in it by
// which the *at calls reach path under root, and a function to call when
// done with them. A path the kernel takes whole is the name, relative to
// the working directory; a longer one is walked from root one directory
// at a time, without following symlinks.
func resolve(root, path string) (dirfd int, name string, done func(), err error) {
	parts, err := splitPath(path)
	if err != nil {
		return -1, "", nil, err
	}
	full := osPath(root, path)
	if len(full) < unix.PathMax || len(parts) == 0 {
		return unix.AT_FDCWD, full, func() {}, nil
	}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", nil, &os.PathError{Op: "open", Path: root, Err: err}
	}
	for i, c := range parts[:len(parts)-1] {
		next, err := openDirAt(fd, c)
		unix.Close(fd)
		if err != nil {
			return -1, "", nil, &os.PathError{Op: "open", Path: osPath(root, strings.Join(parts[:i+1], "/")), Err: err}
		}
		fd = next
	}
	return fd, parts[len(parts)-1], func() { unix.Close(fd) }, nil
}

// Changed reports whether a file changed between two stats, taken before
// and after reading it: its size, mtime, ctime, inode, device or kind
// differ.
func Changed(before, after *Entry) bool {
	return before.Attr.Size != after.Attr.Size ||
		before.Attr.Mtime != after.Attr.Mtime ||
		before.Attr.Ctime != after.Attr.Ctime ||
		before.Attr.Ino != after.Attr.Ino ||
		before.Attr.Kind != after.Attr.Kind ||
		before.Dev != after.Dev
}
