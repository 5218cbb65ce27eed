package fstree

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
)

// ScanOptions tune Scan. The zero value scans everything and stops at the
// first error.
type ScanOptions struct {
	// OneFileSystem keeps the scan from descending into a directory on
	// another device than the root: the mount point itself is reported,
	// what is mounted on it is not.
	OneFileSystem bool
	// Exclude, if not nil, is asked about every entry but the root; an
	// excluded entry is not reported and an excluded directory is not
	// descended into.
	Exclude func(path string, isDir bool) bool
	// OnError is called with an entry that cannot be read: its lstat,
	// readlink, directory reading or extended attributes failed. If it
	// returns nil the scan goes on: an entry whose lstat or readlink
	// failed is skipped, a directory that cannot be opened is reported
	// but not descended into, one whose reading failed part way keeps the
	// names read, and an entry whose extended attributes could not all be
	// read is reported with those that could. If it returns an error the
	// scan stops with it. A nil OnError stops at the first error.
	OnError func(path string, err error) error
}

// Scan walks the tree at root and calls fn once per entry: the root
// first (lstat'd: a symlink root is reported and not followed), then each
// directory's entries sorted bytewise by name, depth first, a directory
// before what it contains. fn owns the Entry it is given. An error from
// fn, or ctx's end, stops the scan with that error.
//
// Scan holds one directory's names per level being walked, and a table
// of the files with more than one link. Each entry costs one fstatat and
// one llistxattr (lgetxattr only for the names listed, readlinkat for a
// symlink); directories are opened relative to their parent without
// following symlinks, and with O_NOATIME where allowed, so a scan does
// not move the source's atimes (a symlink's readlink can: Linux updates
// it, under relatime, once; the entry reports the atime after it).
func Scan(ctx context.Context, root string, opt ScanOptions, fn func(*Entry) error) error {
	s := &scanner{ctx: ctx, opt: opt, fn: fn, links: make(map[devIno]string)}
	if err := ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		return s.fail(".", &os.PathError{Op: "lstat", Path: root, Err: err})
	}
	s.rootDev = st.Dev
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		t, _, err := readlink(unix.AT_FDCWD, root, nil)
		if err != nil {
			return s.fail(".", &os.PathError{Op: "readlink", Path: root, Err: err})
		}
		return s.report(".", root, &st, t)
	}
	if err := s.report(".", root, &st, ""); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return err
	}
	fd, err := s.openDir(unix.AT_FDCWD, root, root, &st)
	if err != nil {
		return s.fail(".", err)
	}
	return s.dir(fd, ".", root)
}

type devIno struct{ dev, ino uint64 }

type scanner struct {
	ctx     context.Context
	opt     ScanOptions
	fn      func(*Entry) error
	rootDev uint64
	links   map[devIno]string // files with Nlink > 1: the first path seen
	xattrs  xattrReader
	link    []byte // readlink's buffer
}

// fail passes an entry's error to OnError, or returns it if there is
// none.
func (s *scanner) fail(path string, err error) error {
	if s.opt.OnError == nil {
		return err
	}
	return s.opt.OnError(path, err)
}

// report builds the entry of path (full on the system) from its stat and
// target, reads its extended attributes, and gives it to fn.
func (s *scanner) report(path, full string, st *unix.Stat_t, target string) error {
	e, err := newEntry(path, st)
	if err != nil {
		return s.fail(path, err)
	}
	e.Target = target
	if e.Xattrs, err = s.xattrs.read(full); err != nil {
		if err := s.fail(path, err); err != nil {
			return err
		}
	}
	if e.Attr.Kind != fs.Directory && e.Attr.Nlink > 1 {
		k := devIno{st.Dev, st.Ino}
		if first, ok := s.links[k]; ok {
			e.Link = first
		} else {
			s.links[k] = path
		}
	}
	return s.fn(e)
}

// openDir opens directory name in dirfd without following a symlink and
// checks it is still the directory st describes. full names it in
// errors.
func (s *scanner) openDir(dirfd int, name, full string, st *unix.Stat_t) (int, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: full, Err: err}
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		unix.Close(fd)
		return -1, &os.PathError{Op: "fstat", Path: full, Err: err}
	}
	if now.Dev != st.Dev || now.Ino != st.Ino {
		unix.Close(fd)
		return -1, &os.PathError{Op: "open", Path: full, Err: errors.New("directory replaced during the scan")}
	}
	return fd, nil
}

// dir reports the contents of the directory open as fd (path in the
// scan, full on the system) and closes fd.
func (s *scanner) dir(fd int, path, full string) error {
	f := os.NewFile(uintptr(fd), full)
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		if err := s.fail(path, err); err != nil {
			return err
		}
	}
	slices.SortFunc(ents, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, d := range ents {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		cpath := join(path, name)
		cfull := osPath(full, name)
		isDir := d.IsDir()
		if s.opt.Exclude != nil && s.opt.Exclude(cpath, isDir) {
			continue
		}
		// A symlink's target is read before its stat: readlink may move
		// its atime, and the entry should report the atime it leaves.
		var target string
		haveTarget := false
		if d.Type()&os.ModeSymlink != 0 {
			if target, s.link, err = readlink(fd, name, s.link); err == nil {
				haveTarget = true
			}
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if err := s.fail(cpath, &os.PathError{Op: "lstat", Path: cfull, Err: err}); err != nil {
				return err
			}
			continue
		}
		kind := st.Mode & unix.S_IFMT
		if (kind == unix.S_IFDIR) != isDir && s.opt.Exclude != nil && s.opt.Exclude(cpath, !isDir) {
			continue // it was replaced since the directory was read
		}
		if kind == unix.S_IFLNK && !haveTarget {
			if target, s.link, err = readlink(fd, name, s.link); err != nil {
				if err := s.fail(cpath, &os.PathError{Op: "readlink", Path: cfull, Err: err}); err != nil {
					return err
				}
				continue
			}
		}
		if kind != unix.S_IFLNK {
			target = ""
		}
		if err := s.report(cpath, xattrPath(fd, cfull, name), &st, target); err != nil {
			return err
		}
		if kind != unix.S_IFDIR || s.opt.OneFileSystem && st.Dev != s.rootDev {
			continue
		}
		cfd, err := s.openDir(fd, name, cfull, &st)
		if err != nil {
			if err := s.fail(cpath, err); err != nil {
				return err
			}
			continue
		}
		if err := s.dir(cfd, cpath, cfull); err != nil {
			return err
		}
	}
	return nil
}

// xattrPath returns a path by which the l*xattr calls reach name in the
// directory open as dirfd: its full path, or, if that is too long for
// the kernel, one through /proc/self/fd.
func xattrPath(dirfd int, full, name string) string {
	if len(full) < unix.PathMax {
		return full
	}
	return fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, name)
}
