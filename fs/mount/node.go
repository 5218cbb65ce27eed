package mount

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/murmur-cloud/murmur/fs"
)

// node is the kernel's view of one inode of the Tree. One type serves
// every kind: each method hands its inode number to the Tree, which knows
// the kind and answers ENOTDIR, EISDIR or EINVAL where Linux does.
type node struct {
	gofs.Inode
	srv *Server
	ino fs.Ino

	mu sync.Mutex
	// cached is the size and mtime the file had when the kernel last
	// opened it, and so filled its page cache; see keepCache.
	cached stamp
}

// stamp identifies a version of a file's contents for the page cache.
type stamp struct {
	size  uint64
	mtime int64
	valid bool
}

// tree returns the Tree served.
func (n *node) tree() *fs.Tree { return n.srv.tree }

// OnAdd records n in the registry Invalidate reads.
func (n *node) OnAdd(ctx context.Context) { n.srv.nodes.add(n) }

// OnForget drops n from the registry: the kernel holds it no more.
func (n *node) OnForget() { n.srv.nodes.remove(n) }

// newChild returns a node for the inode whose attributes are a, as a
// child of n, with out filled in for the kernel. go-fuse keeps the node
// it already has for that inode, if any.
func (n *node) newChild(ctx context.Context, a fs.Attr, out *fuse.EntryOut) *gofs.Inode {
	fillAttr(a, &out.Attr)
	child := &node{srv: n.srv, ino: a.Ino}
	return n.NewInode(ctx, child, gofs.StableAttr{Mode: typeBits(a.Kind), Ino: uint64(a.Ino)})
}

// caller returns the uid and gid of the process making the request, the
// owner the model gives what it creates.
func caller(ctx context.Context) (uid, gid uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	// go-fuse puts the caller in every request's context; a context
	// without one is a bug, and "nobody" owns what it makes.
	return 65534, 65534
}

// Lookup finds the entry name of directory n.
func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	a, err := n.tree().Lookup(n.ino, name)
	if err != nil {
		return nil, n.srv.errno(err)
	}
	return n.newChild(ctx, a, out), 0
}

// Getattr reports n's attributes. The kernel's file handle, if any, adds
// nothing: an open inode keeps its number even when unlinked.
func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a, err := n.tree().GetAttr(n.ino)
	if err != nil {
		return n.srv.errno(err)
	}
	fillAttr(a, &out.Attr)
	return 0
}

// Setattr changes n's attributes: truncate, chmod, chown and utimens,
// including UTIME_NOW.
func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if err := n.srv.checkWritable("setattr"); err != nil {
		return n.srv.errno(err)
	}
	a, err := n.tree().SetAttr(n.ino, setAttrIn(in))
	if err != nil {
		return n.srv.errno(err)
	}
	fillAttr(a, &out.Attr)
	return 0
}

// Create makes the regular file name in directory n, owned by the caller,
// with the mode the kernel passes (the umask already applied), and opens
// it.
func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	if err := n.srv.checkWritable("create"); err != nil {
		return nil, nil, 0, n.srv.errno(err)
	}
	uid, gid := caller(ctx)
	a, err := n.tree().Create(n.ino, name, mode, uid, gid)
	if err != nil {
		return nil, nil, 0, n.srv.errno(err)
	}
	child := n.newChild(ctx, a, out)
	fh, err := n.srv.open(a.Ino)
	if err != nil {
		return nil, nil, 0, n.srv.errno(err)
	}
	// A new file has nothing in the page cache to keep.
	child.Operations().(*node).keepCache(a)
	return child, fh, fuse.FOPEN_NOFLUSH, 0
}

// Mkdir makes the directory name in n, owned by the caller.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if err := n.srv.checkWritable("mkdir"); err != nil {
		return nil, n.srv.errno(err)
	}
	uid, gid := caller(ctx)
	a, err := n.tree().Mkdir(n.ino, name, mode, uid, gid)
	if err != nil {
		return nil, n.srv.errno(err)
	}
	return n.newChild(ctx, a, out), 0
}

// Mknod makes the inode name in n of the type mode's S_IFMT bits say, as
// mknod(2) does: a regular file, a fifo, a socket (bind of a unix socket
// comes here), or a character or block device numbered dev. The mount is
// nodev, so a device node made here is recorded, listed and kept, but the
// kernel refuses to open it, as on any nodev mount.
func (n *node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if err := n.srv.checkWritable("mknod"); err != nil {
		return nil, n.srv.errno(err)
	}
	k, ok := fs.KindOf(mode)
	if !ok || k == fs.Directory || k == fs.Symlink {
		err := fmt.Errorf("mount: mknod %d/%q of type %#o: %w", n.ino, name, mode&syscall.S_IFMT, fs.ErrInvalid)
		return nil, n.srv.errno(err)
	}
	uid, gid := caller(ctx)
	a, err := n.tree().Mknod(n.ino, name, k, mode, dev, uid, gid)
	if err != nil {
		return nil, n.srv.errno(err)
	}
	return n.newChild(ctx, a, out), 0
}

// Symlink makes the symlink name in n pointing at target, owned by the
// caller.
func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if err := n.srv.checkWritable("symlink"); err != nil {
		return nil, n.srv.errno(err)
	}
	uid, gid := caller(ctx)
	a, err := n.tree().Symlink(n.ino, name, target, uid, gid)
	if err != nil {
		return nil, n.srv.errno(err)
	}
	return n.newChild(ctx, a, out), 0
}

// Link gives target another name, name in n.
func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if err := n.srv.checkWritable("link"); err != nil {
		return nil, n.srv.errno(err)
	}
	t, ok := target.(*node)
	if !ok {
		return nil, syscall.EXDEV
	}
	a, err := n.tree().Link(t.ino, n.ino, name)
	if err != nil {
		return nil, n.srv.errno(err)
	}
	return n.newChild(ctx, a, out), 0
}

// Readlink returns the target of symlink n.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	target, err := n.tree().Readlink(n.ino)
	if err != nil {
		return nil, n.srv.errno(err)
	}
	return []byte(target), 0
}

// Unlink removes the entry name, not a directory, from n.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	if err := n.srv.checkWritable("unlink"); err != nil {
		return n.srv.errno(err)
	}
	return n.srv.errno(n.tree().Unlink(n.ino, name))
}

// Rmdir removes the empty directory name from n.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	if err := n.srv.checkWritable("rmdir"); err != nil {
		return n.srv.errno(err)
	}
	return n.srv.errno(n.tree().Rmdir(n.ino, name))
}

// Rename moves the entry name of n to newName in newParent, as
// renameat2(2) with flags, whose RENAME_NOREPLACE and RENAME_EXCHANGE
// have fs.RenameFlags' values; the model refuses any other flag.
func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if err := n.srv.checkWritable("rename"); err != nil {
		return n.srv.errno(err)
	}
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	return n.srv.errno(n.tree().Rename(n.ino, name, np.ino, newName, fs.RenameFlags(flags)))
}

// Open opens file n. The handle holds the inode open in the model until
// the kernel releases it. The kernel may keep the pages it cached if the
// file is as it was when it last opened it (see keepCache).
func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC) != 0 {
		if err := n.srv.checkWritable("open for writing"); err != nil {
			return nil, 0, n.srv.errno(err)
		}
	}
	a, err := n.tree().GetAttr(n.ino)
	if err != nil {
		return nil, 0, n.srv.errno(err)
	}
	fh, err := n.srv.open(n.ino)
	if err != nil {
		return nil, 0, n.srv.errno(err)
	}
	// Closing makes nothing more durable here (fs.Tree.Flush checks
	// only that the inode exists), so the kernel need not ask.
	fuseFlags := uint32(fuse.FOPEN_NOFLUSH)
	if n.keepCache(a) {
		fuseFlags |= fuse.FOPEN_KEEP_CACHE
	}
	return fh, fuseFlags, 0
}

// keepCache reports whether the kernel may keep its page cache of n on an
// open: whether nothing invalidated n since the kernel last opened it.
// The kernel's cache holds the current contents then, since every change
// to a file comes through the kernel, which updates its cache as it
// writes; a change from elsewhere (a follower's new root) comes with
// Invalidate, which empties the cache and resets n. It records a as the
// version the kernel caches from now on.
func (n *node) keepCache(a fs.Attr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	keep := n.cached.valid
	n.cached = stamp{size: a.Size, mtime: a.Mtime, valid: true}
	return keep
}

// forgetCache makes the next open of n drop the kernel's page cache.
func (n *node) forgetCache() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cached = stamp{}
}

// OpendirHandle opens directory n for reading. Like a file's handle, it
// holds the inode open in the model, so a directory removed while open
// still reads (as empty) and stats.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if err := n.tree().Open(n.ino); err != nil {
		return nil, 0, n.srv.errno(err)
	}
	return &dirHandle{node: n}, 0, 0
}

// Statfs reports the drive's capacity from the model.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	fillStatfs(n.tree().StatFS(), out)
	return 0
}

// Getxattr copies the value of attribute attr into dest. An empty dest
// asks for the value's length; a dest too short for it is ERANGE.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.tree().GetXattr(n.ino, attr)
	if err != nil {
		return 0, n.srv.errno(err)
	}
	return fitInto(dest, v)
}

// Listxattr copies the names of n's attributes, each ending in NUL, into
// dest, with Getxattr's protocol for the length. The trusted.* ones are
// listed to root only: the kernel refuses anyone else their values and
// leaves hiding their names to the filesystem, as ext4 and tmpfs hide
// them from callers without CAP_SYS_ADMIN; FUSE tells the caller's uid,
// not its capabilities, and uid 0 stands for them.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.tree().ListXattr(n.ino)
	if err != nil {
		return 0, n.srv.errno(err)
	}
	uid, _ := caller(ctx)
	var b strings.Builder
	for _, name := range names {
		if uid != 0 && strings.HasPrefix(name, "trusted.") {
			continue
		}
		b.WriteString(name)
		b.WriteByte(0)
	}
	return fitInto(dest, []byte(b.String()))
}

// fitInto copies v into dest for getxattr(2) and listxattr(2): with an
// empty dest it only reports len(v); with one too short, len(v) and
// ERANGE.
func fitInto(dest, v []byte) (uint32, syscall.Errno) {
	switch {
	case len(dest) == 0:
		return uint32(len(v)), 0
	case len(dest) < len(v):
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Setxattr sets attribute attr of n to data; flags are setxattr(2)'s
// XATTR_CREATE and XATTR_REPLACE, with fs.XattrFlags' values.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if err := n.srv.checkWritable("setxattr"); err != nil {
		return n.srv.errno(err)
	}
	return n.srv.errno(n.tree().SetXattr(n.ino, attr, data, fs.XattrFlags(flags)))
}

// Removexattr removes attribute attr of n.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if err := n.srv.checkWritable("removexattr"); err != nil {
		return n.srv.errno(err)
	}
	return n.srv.errno(n.tree().RemoveXattr(n.ino, attr))
}
