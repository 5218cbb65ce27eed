package mount

import (
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/murmur-cloud/murmur/fs"
)

// Defaults for the zero fields of Options.
const (
	// DefaultTimeout is the default entry, attribute and negative entry
	// timeout: how long the kernel trusts what it was told before asking
	// again. See the package doc for why one second and why negative
	// entries are cached too.
	DefaultTimeout = time.Second
	// DefaultName is the default FsName and Name: /proc/mounts shows the
	// mount as "murmur on DIR type fuse.murmur".
	DefaultName = "murmur"
)

// Sizes passed to the kernel at mount.
const (
	// MaxWrite is the largest read or write request the kernel sends:
	// 1 MiB, the kernel's own ceiling (256 pages of 4 KiB).
	MaxWrite = 1 << 20
	// MaxReadAhead is how far the kernel reads ahead of a sequential
	// reader. 128 KiB is what Linux offers a FUSE mount at INIT and the
	// most it accepts there.
	MaxReadAhead = 128 << 10
)

// Options configure a mount. The zero value is a private read-write mount
// with one-second caches.
type Options struct {
	// AllowOther lets local users other than the one mounting use the
	// mount (the allow_other option). Without it the kernel refuses every
	// other user, whatever the permission bits say.
	AllowOther bool
	// ReadOnly mounts read-only: the kernel refuses changes with EROFS,
	// and the layer answers any that reach it with fs.ErrReadOnly.
	ReadOnly bool
	// Debug logs every FUSE request and reply to Logger (or to the
	// standard logger when Logger is nil).
	Debug bool
	// FsName is the source column of /proc/mounts and df; Name the
	// subtype, shown as type "fuse.NAME". Empty: DefaultName.
	FsName, Name string
	// EntryTimeout, AttrTimeout and NegativeTimeout say how long the
	// kernel caches a name's inode, an inode's attributes and a name's
	// absence. Zero: DefaultTimeout; negative: no caching.
	EntryTimeout, AttrTimeout, NegativeTimeout time.Duration
	// Logger receives errors the kernel only sees as EIO, and Debug's
	// output at level Debug. Nil: such errors are not logged, and Debug
	// writes to the standard logger.
	Logger *slog.Logger
}

// withDefaults returns a copy of o with its zero fields filled in.
func (o Options) withDefaults() Options {
	if o.FsName == "" {
		o.FsName = DefaultName
	}
	if o.Name == "" {
		o.Name = DefaultName
	}
	for _, d := range []*time.Duration{&o.EntryTimeout, &o.AttrTimeout, &o.NegativeTimeout} {
		switch {
		case *d == 0:
			*d = DefaultTimeout
		case *d < 0:
			*d = 0
		}
	}
	return o
}

// mountOptions returns the go-fuse options for o, which has its defaults.
func (o Options) mountOptions() *gofs.Options {
	mo := fuse.MountOptions{
		AllowOther: o.AllowOther,
		// The kernel checks permissions against the mode, owner and
		// group that Getattr reports, so the layer needs none of its own
		// and no ACCESS requests are sent.
		Options:      []string{"default_permissions"},
		FsName:       o.FsName,
		Name:         o.Name,
		MaxWrite:     MaxWrite,
		MaxReadAhead: MaxReadAhead,
		// mount(2) directly, as root can, without falling back to a
		// fusermount helper: a failed mount or unmount then reports the
		// kernel's own error (EBUSY, EPERM) instead of a missing helper.
		// The kernel must not drop a file's cached pages because its
		// mtime moved: every write through it updates them, and a
		// change from elsewhere comes with Invalidate.
		ExplicitDataCacheControl: true,
		DirectMount:              true,
		DirectMountStrict:        os.Geteuid() == 0,
		// fusermount's flags, and noatime, which is what the model does:
		// atime changes only when a program sets it.
		DirectMountFlags: syscall.MS_NOSUID | syscall.MS_NODEV | syscall.MS_NOATIME,
		Debug:            o.Debug,
	}
	if o.ReadOnly {
		mo.DirectMountFlags |= syscall.MS_RDONLY
	}
	if o.Debug && o.Logger != nil {
		mo.Logger = slog.NewLogLogger(o.Logger.Handler(), slog.LevelDebug)
	}
	return &gofs.Options{
		MountOptions:    mo,
		EntryTimeout:    &o.EntryTimeout,
		AttrTimeout:     &o.AttrTimeout,
		NegativeTimeout: &o.NegativeTimeout,
		// Mode 0 means mode 0 here: the model's permission bits pass
		// to the kernel unchanged.
		NullPermissions: true,
		RootStableAttr:  &gofs.StableAttr{Ino: uint64(fs.RootIno)},
	}
}

// Server is a mounted Tree: the FUSE connection serving it, until
// Unmount.
type Server struct {
	dir  string
	tree *fs.Tree
	opts Options
	fuse *fuse.Server
	// nodes finds the kernel's nodes of an inode, for Invalidate.
	nodes registry
	// conn names the FUSE connection in the control filesystem, for
	// Detach; detached is set by Detach.
	conn     string
	detached atomic.Bool
}

// Mount mounts t on the directory dir and serves it until Unmount, or
// until someone else unmounts dir (see Wait). The calling process needs
// CAP_SYS_ADMIN: Mount calls mount(2) itself. The package doc's
// "Deadlocks" says what the serving process itself must not do in the
// mount.
func Mount(dir string, t *fs.Tree, o Options) (*Server, error) {
	o = o.withDefaults()
	s := &Server{dir: dir, tree: t, opts: o}
	root := &node{srv: s, ino: fs.RootIno}
	srv, err := gofs.Mount(dir, root, o.mountOptions())
	if err != nil {
		return nil, fmt.Errorf("mount: mount %s: %w", dir, err)
	}
	s.fuse = srv
	s.conn, _ = connectionOf(dir) // Detach says so if it is unknown
	return s, nil
}

// Dir returns the directory the tree is mounted on.
func (s *Server) Dir() string { return s.dir }

// Unmount unmounts the tree and returns once the kernel has sent its last
// request. It fails with EBUSY, and leaves the mount serving, while a
// process has a file or its working directory in it.
func (s *Server) Unmount() error {
	if s.detached.Load() {
		return nil
	}
	if err := s.fuse.Unmount(); err != nil {
		return fmt.Errorf("mount: unmount %s: %w", s.dir, err)
	}
	return nil
}

// Wait returns once the mount is gone, through Unmount or an unmount from
// outside (umount DIR).
func (s *Server) Wait() { s.fuse.Wait() }

// Invalidate tells the kernel that inode ino changed without it: its
// cached attributes and contents are dropped, and the next open does not
// keep the page cache. An inode the kernel does not know needs nothing.
// It must not be called from inside a filesystem operation.
func (s *Server) Invalidate(ino fs.Ino) error {
	for _, n := range s.nodes.lookup(ino) {
		n.forgetCache()
		if err := notifyErr(n.NotifyContent(0, 0)); err != nil {
			return fmt.Errorf("mount: invalidate %d: %w", ino, err)
		}
	}
	return nil
}

// InvalidateEntry tells the kernel that the entry name in directory parent
// changed without it: it appeared, went, or names another inode. The
// kernel forgets what it cached of the name, present or absent. It must
// not be called from inside a filesystem operation.
func (s *Server) InvalidateEntry(parent fs.Ino, name string) error {
	for _, n := range s.nodes.lookup(parent) {
		if err := notifyErr(n.NotifyEntry(name)); err != nil {
			return fmt.Errorf("mount: invalidate entry %d/%q: %w", parent, name, err)
		}
	}
	return nil
}

// notifyErr turns the answer to a notification into an error: ENOENT, the
// kernel holding nothing of that node or name, is success.
func notifyErr(errno syscall.Errno) error {
	if errno == 0 || errno == syscall.ENOENT {
		return nil
	}
	return errno
}

// errno translates an error of the model with fs.Errno. An error the
// kernel would only see as EIO is logged first, so it is not lost.
func (s *Server) errno(err error) syscall.Errno {
	e := fs.Errno(err)
	if e == syscall.EIO && s.opts.Logger != nil {
		s.opts.Logger.Error("mount: I/O error", "dir", s.dir, "err", err)
	}
	return e
}

// checkWritable returns fs.ErrReadOnly, wrapped with op, on a read-only
// mount. The kernel refuses changes to a read-only mount itself; this
// keeps the promise even for one that reaches the layer.
func (s *Server) checkWritable(op string) error {
	if s.opts.ReadOnly {
		return fmt.Errorf("mount: %s: %w", op, fs.ErrReadOnly)
	}
	return nil
}
