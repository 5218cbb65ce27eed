package fstree

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
)

// OwnerPolicy says whether a Restorer restores owners.
type OwnerPolicy int

const (
	// OwnersAuto, the zero value, restores owners with lchown; its errors
	// are reported when running as root and ignored otherwise (a user
	// can give a file only to itself and its own groups).
	OwnersAuto OwnerPolicy = iota
	// OwnersRestore restores owners and reports every lchown error.
	OwnersRestore
	// OwnersSkip leaves new objects owned by the restoring user.
	OwnersSkip
)

// RestoreOptions configure a Restorer.
type RestoreOptions struct {
	// Target is the directory to restore into. It must exist: empty, or
	// a tree to restore over.
	Target string
	// Owners: whether Uid and Gid are restored (see OwnerPolicy).
	Owners OwnerPolicy
	// OnError, like ScanOptions.OnError, is called with each entry that
	// could not be restored (or whose metadata could not all be set); if
	// it returns nil the restore goes on, if it returns an error Restore
	// or Finish returns it. A nil OnError makes every error returned.
	OnError func(path string, err error) error
}

// A Restorer writes scanned entries back under a target directory. It
// walks the target only through directory fds opened without following
// symlinks, so neither an unsafe path nor a symlink (planted in the
// target or restored from the backup) leads it outside the target. It is
// not safe for concurrent use.
type Restorer struct {
	opt       RestoreOptions
	chown     bool // lchown at all
	chownErrs bool // and report its errors
	// stack holds the open directories from the target down to the last
	// entry's parent; a directory restored here is finished (its owner,
	// attributes, mode and times set) when the restore leaves it.
	stack []openDir
	seq   uint64 // temporary names
	err   error  // the first error not swallowed by OnError
	done  bool
	buf   []byte
}

type openDir struct {
	name string // its name in its parent; "" for the target
	path string // its entry's path
	fd   int
	e    *Entry // the entry to finish it with; nil if not restored here
	// extra: it may hold attributes its entry lacks (it was there
	// before, or inherited ACLs), to be removed when it is finished.
	extra bool
	// inherits: it has a default ACL, which what is made in it inherits.
	inherits bool
}

// NewRestorer opens opt.Target, which must be a directory.
func NewRestorer(opt RestoreOptions) (*Restorer, error) {
	if opt.Target == "" {
		return nil, errors.New("fstree: no restore target")
	}
	if opt.Owners < OwnersAuto || opt.Owners > OwnersSkip {
		return nil, fmt.Errorf("fstree: unknown owner policy %d", opt.Owners)
	}
	fd, err := unix.Open(opt.Target, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: opt.Target, Err: err}
	}
	r := &Restorer{
		opt:   opt,
		stack: []openDir{{path: ".", fd: fd, inherits: hasDefaultACL(fd)}},
		buf:   make([]byte, 1<<20),
	}
	switch opt.Owners {
	case OwnersAuto:
		r.chown, r.chownErrs = true, os.Geteuid() == 0
	case OwnersRestore:
		r.chown, r.chownErrs = true, true
	}
	return r, nil
}

// Restore writes e under the target. Entries must come in Scan order (a
// directory before its contents, each directory's contents together),
// and an entry's parent must exist: restored before, or in the target.
// The "." entry, if any, is the target itself and must be a directory;
// its metadata are set by Finish.
//
// A regular file with no Link is written from exactly e.Attr.Size bytes
// of contents (nil for an empty file) into a temporary name in its
// directory, sparsely: a 4 KiB-aligned block of zeros is skipped, so it
// becomes a hole, and the file is truncated to its size. Its owner,
// extended attributes, mode (after the owner, which clears setuid) and
// times are set before it is renamed over whatever has its name. An
// entry with Link becomes a hard link to the already restored Link, and
// contents must be nil. Other kinds are created in place of whatever has
// their name; a directory that has it is removed with its contents,
// except for a directory entry, which keeps an existing directory and
// what is in it. A directory's owner, attributes, mode and times are set
// when the restore leaves it, or by Finish.
func (r *Restorer) Restore(e *Entry, contents io.Reader) error {
	if r.done {
		return errors.New("fstree: Restore after Finish")
	}
	return r.check(e.Path, r.restore(e, contents))
}

// check passes err to OnError and keeps what is left of it as the first
// error.
func (r *Restorer) check(path string, err error) error {
	if err == nil {
		return nil
	}
	if r.opt.OnError != nil {
		err = r.opt.OnError(path, err)
	}
	if err != nil && r.err == nil {
		r.err = err
	}
	return err
}

// Finish sets the metadata of the directories still open, deepest first,
// the target's last (if a "." entry was restored), and closes them. It
// returns the first error Restore or Finish met that OnError did not
// swallow.
func (r *Restorer) Finish() error {
	if r.done {
		return r.err
	}
	r.popTo(0)
	r.done = true
	return r.err
}

func (r *Restorer) restore(e *Entry, contents io.Reader) error {
	parts, err := splitPath(e.Path)
	if err != nil {
		return err
	}
	full := osPath(r.opt.Target, e.Path)
	kind := e.Attr.Kind
	switch {
	case kind < fs.Regular || kind > fs.MaxKind:
		return &os.PathError{Op: "restore", Path: full, Err: fmt.Errorf("%w: %v", ErrUnknownKind, kind)}
	case contents != nil && kind != fs.Regular:
		return &os.PathError{Op: "restore", Path: full, Err: fmt.Errorf("contents given for a %v", kind)}
	case contents != nil && e.Link != "":
		return &os.PathError{Op: "restore", Path: full, Err: errors.New("contents given for a hard link")}
	case e.Link != "" && kind == fs.Directory:
		return &os.PathError{Op: "restore", Path: full, Err: errors.New("a directory with a Link")}
	}
	if len(parts) == 0 {
		if kind != fs.Directory {
			return &os.PathError{Op: "restore", Path: full, Err: fmt.Errorf("the root is a %v, not a directory", kind)}
		}
		if _, err := r.cd(nil); err != nil {
			return err
		}
		r.stack[0].e, r.stack[0].extra = e, true
		return nil
	}
	dirfd, err := r.cd(parts[:len(parts)-1])
	if err != nil {
		return err
	}
	name := parts[len(parts)-1]
	inherits := r.stack[len(r.stack)-1].inherits
	switch {
	case e.Link != "":
		return r.link(dirfd, name, full, e)
	case kind == fs.Directory:
		return r.mkdir(dirfd, name, full, e, inherits)
	case kind == fs.Regular:
		return r.file(dirfd, name, full, e, contents, inherits)
	}
	return r.node(dirfd, name, full, e, inherits)
}

// cd makes the directory with the components dir the top of the stack,
// leaving (and finishing) the directories not on its way, and returns
// its fd.
func (r *Restorer) cd(dir []string) (int, error) {
	n := 1
	for n < len(r.stack) && n-1 < len(dir) && r.stack[n].name == dir[n-1] {
		n++
	}
	r.popTo(n)
	for _, c := range dir[n-1:] {
		top := r.stack[len(r.stack)-1]
		path := join(top.path, c)
		fd, err := openDirAt(top.fd, c)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: osPath(r.opt.Target, path), Err: err}
		}
		r.stack = append(r.stack, openDir{name: c, path: path, fd: fd, inherits: hasDefaultACL(fd)})
	}
	return r.stack[len(r.stack)-1].fd, nil
}

// openDirAt opens directory name in dirfd, failing on a symlink.
func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// popTo leaves the directories above the first n of the stack, finishing
// those restored here and passing their errors to check.
func (r *Restorer) popTo(n int) {
	for len(r.stack) > n {
		d := r.stack[len(r.stack)-1]
		r.stack = r.stack[:len(r.stack)-1]
		if d.e != nil {
			var err error
			if len(r.stack) > 0 {
				err = r.finishDir(d, r.stack[len(r.stack)-1].fd)
			} else {
				err = r.finishDir(d, -1)
			}
			r.check(d.path, err)
		}
		unix.Close(d.fd)
	}
}

// finishDir sets a directory's owner, extended attributes, mode and
// times; parentfd is -1 for the target.
func (r *Restorer) finishDir(d openDir, parentfd int) error {
	m := metaErrs{path: osPath(r.opt.Target, d.path)}
	e := d.e
	m.add("chown", r.doChown(func() error { return unix.Fchown(d.fd, int(e.Attr.Uid), int(e.Attr.Gid)) }))
	if d.extra {
		m.add("removexattr", removeExtraXattrs(d.fd, e.Xattrs))
	}
	m.add("setxattr", setXattrs(e.Xattrs, func(k string, v []byte) error { return unix.Fsetxattr(d.fd, k, v, 0) }))
	m.add("chmod", unix.Fchmod(d.fd, e.Attr.Mode&fs.ModeMask))
	if parentfd < 0 {
		m.add("utimensat", unix.UtimesNanoAt(unix.AT_FDCWD, r.opt.Target, times(e), 0))
	} else {
		m.add("utimensat", unix.UtimesNanoAt(parentfd, d.name, times(e), unix.AT_SYMLINK_NOFOLLOW))
	}
	return m.err()
}

// metaErrs collects the errors of setting an object's metadata: each is
// reported, but none stops the other settings or loses the object.
type metaErrs struct {
	path string
	errs []error
}

func (m *metaErrs) add(op string, err error) {
	if err != nil {
		m.errs = append(m.errs, &os.PathError{Op: op, Path: m.path, Err: err})
	}
}

func (m *metaErrs) err() error { return errors.Join(m.errs...) }

// mkdir makes a directory, or keeps the one there; inherits says its
// parent has a default ACL.
func (r *Restorer) mkdir(dirfd int, name, full string, e *Entry, inherits bool) error {
	existed := false
	err := unix.Mkdirat(dirfd, name, 0o700)
	if err == unix.EEXIST {
		var st unix.Stat_t
		if err = unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFDIR {
				existed = true
			} else if err = unix.Unlinkat(dirfd, name, 0); err == nil {
				err = unix.Mkdirat(dirfd, name, 0o700)
			}
		}
	}
	if err != nil {
		return &os.PathError{Op: "mkdir", Path: full, Err: err}
	}
	fd, err := openDirAt(dirfd, name)
	if err != nil {
		return &os.PathError{Op: "open", Path: full, Err: err}
	}
	if existed {
		inherits = hasDefaultACL(fd)
	}
	r.stack = append(r.stack, openDir{name: name, path: e.Path, fd: fd, e: e, extra: existed || inherits, inherits: inherits})
	return nil
}

// file writes a regular file; inherits says its directory has a default
// ACL, whose copy it gets unless it has an access ACL of its own.
func (r *Restorer) file(dirfd int, name, full string, e *Entry, contents io.Reader, inherits bool) error {
	size := int64(e.Attr.Size)
	if size > 0 && contents == nil {
		return &os.PathError{Op: "restore", Path: full, Err: fmt.Errorf("no contents for %d bytes", size)}
	}
	// Where nothing is in the way (a restore into an empty folder) the file
	// is made at its name at once; where something is, it is written to a
	// temporary name and renamed over it, so an existing file (and its
	// other hard links) is replaced, never written into.
	tmp := name
	fd, err := unix.Openat(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	direct := err == nil
	for err == unix.EEXIST {
		r.seq++
		tmp = ".murmur-restore-" + strconv.FormatUint(r.seq, 10)
		fd, err = unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: full, Err: err}
	}
	f := os.NewFile(uintptr(fd), full)
	renamed := false
	defer func() {
		if f != nil {
			f.Close()
		}
		if !renamed {
			unix.Unlinkat(dirfd, tmp, 0)
		}
	}()
	if err := r.writeSparse(f, contents, size); err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	m := metaErrs{path: full}
	m.add("chown", r.doChown(func() error { return unix.Fchown(fd, int(e.Attr.Uid), int(e.Attr.Gid)) }))
	if _, own := e.Xattrs[aclAccess]; inherits && !own {
		m.add("removexattr", ignoreNoData(unix.Fremovexattr(fd, aclAccess)))
	}
	m.add("setxattr", setXattrs(e.Xattrs, func(k string, v []byte) error { return unix.Fsetxattr(fd, k, v, 0) }))
	m.add("chmod", unix.Fchmod(fd, e.Attr.Mode&fs.ModeMask))
	err, f = f.Close(), nil
	if err != nil {
		return err
	}
	m.add("utimensat", unix.UtimesNanoAt(dirfd, tmp, times(e), unix.AT_SYMLINK_NOFOLLOW))
	if direct {
		renamed = true
		return m.err()
	}
	err = unix.Renameat(dirfd, tmp, dirfd, name)
	if err == unix.EISDIR || err == unix.ENOTEMPTY || err == unix.EEXIST {
		if err = removeAll(dirfd, name); err == nil {
			err = unix.Renameat(dirfd, tmp, dirfd, name)
		}
	}
	if err != nil {
		return &os.PathError{Op: "rename", Path: full, Err: err}
	}
	renamed = true
	return m.err()
}

// node creates a symlink, fifo, socket or device node; inherits as for
// file.
func (r *Restorer) node(dirfd int, name, full string, e *Entry, inherits bool) error {
	if err := removeAll(dirfd, name); err != nil {
		return &os.PathError{Op: "remove", Path: full, Err: err}
	}
	var err error
	switch e.Attr.Kind {
	case fs.Symlink:
		err = unix.Symlinkat(e.Target, dirfd, name)
	case fs.CharDevice, fs.BlockDevice:
		dev := unix.Mkdev(decodeDev(e.Attr.Rdev))
		err = unix.Mknodat(dirfd, name, fs.TypeBits(e.Attr.Kind)|0o600, int(dev))
	default:
		err = unix.Mknodat(dirfd, name, fs.TypeBits(e.Attr.Kind)|0o600, 0)
	}
	if err != nil {
		return &os.PathError{Op: "create", Path: full, Err: err}
	}
	m := metaErrs{path: full}
	m.add("lchown", r.doChown(func() error {
		return unix.Fchownat(dirfd, name, int(e.Attr.Uid), int(e.Attr.Gid), unix.AT_SYMLINK_NOFOLLOW)
	}))
	// The l*xattr calls take a path: this one reaches name through the
	// parent's fd, so no component of it is looked up again.
	proc := fmt.Sprintf("/proc/self/fd/%d/%s", dirfd, name)
	if _, own := e.Xattrs[aclAccess]; inherits && !own && e.Attr.Kind != fs.Symlink {
		m.add("lremovexattr", ignoreNoData(unix.Lremovexattr(proc, aclAccess)))
	}
	m.add("lsetxattr", setXattrs(e.Xattrs, func(k string, v []byte) error { return unix.Lsetxattr(proc, k, v, 0) }))
	if e.Attr.Kind != fs.Symlink {
		err := unix.Fchmodat(dirfd, name, e.Attr.Mode&fs.ModeMask, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EOPNOTSUPP { // no fchmodat2: name is the node just made
			err = unix.Fchmodat(dirfd, name, e.Attr.Mode&fs.ModeMask, 0)
		}
		m.add("chmod", err)
	}
	m.add("utimensat", unix.UtimesNanoAt(dirfd, name, times(e), unix.AT_SYMLINK_NOFOLLOW))
	return m.err()
}

// link makes name a hard link to the restored e.Link.
func (r *Restorer) link(dirfd int, name, full string, e *Entry) error {
	parts, err := splitPath(e.Link)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return &os.PathError{Op: "link", Path: full, Err: fmt.Errorf("%w: link to the root", ErrUnsafePath)}
	}
	// Walk to the link's directory from the target, outside the stack.
	ldir, opened := r.stack[0].fd, -1
	for _, c := range parts[:len(parts)-1] {
		fd, err := openDirAt(ldir, c)
		if opened >= 0 {
			unix.Close(opened)
		}
		if err != nil {
			return &os.PathError{Op: "link", Path: full, Err: fmt.Errorf("open %s: %w", osPath(r.opt.Target, e.Link), err)}
		}
		ldir, opened = fd, fd
	}
	if opened >= 0 {
		defer unix.Close(opened)
	}
	if err := removeAll(dirfd, name); err != nil {
		return &os.PathError{Op: "remove", Path: full, Err: err}
	}
	if err := unix.Linkat(ldir, parts[len(parts)-1], dirfd, name, 0); err != nil {
		return &os.PathError{Op: "link", Path: full, Err: fmt.Errorf("to %s: %w", osPath(r.opt.Target, e.Link), err)}
	}
	return nil
}

// doChown runs an lchown as the owner policy says.
func (r *Restorer) doChown(chown func() error) error {
	if !r.chown {
		return nil
	}
	if err := chown(); err != nil && r.chownErrs {
		return err
	}
	return nil
}

// removeAll removes name from dirfd, with its contents if it is a
// directory, never following a symlink. A missing name is no error.
func removeAll(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR {
		return err
	}
	fd, err := openDirAt(dirfd, name)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	for _, n := range names {
		if err == nil {
			err = removeAll(fd, n)
		}
	}
	f.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// times returns e's atime and mtime for utimensat.
func times(e *Entry) []unix.Timespec {
	return []unix.Timespec{unix.NsecToTimespec(e.Attr.Atime), unix.NsecToTimespec(e.Attr.Mtime)}
}
