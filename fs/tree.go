package fs

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Ino numbers an inode. Numbers are never reused within a Tree, so a FUSE
// layer may use them as node IDs with generation 0.
type Ino uint64

// RootIno is the inode number of the root directory.
const RootIno Ino = 1

// Kind is the type of an inode.
type Kind uint8

// The kinds of inode. The zero Kind is invalid. Their values are stored
// in records (docs/format.md): they never change.
const (
	Regular Kind = iota + 1
	Directory
	Symlink
	Fifo        // a named pipe (mkfifo)
	Socket      // a unix socket's name (bind)
	CharDevice  // a character device node; its number is Attr.Rdev
	BlockDevice // a block device node; its number is Attr.Rdev
)

// MaxKind is the highest Kind.
const MaxKind = BlockDevice

var kindNames = [...]string{Regular: "regular", Directory: "directory", Symlink: "symlink",
	Fifo: "fifo", Socket: "socket", CharDevice: "char device", BlockDevice: "block device"}

// String returns the kind's name: "regular", "directory", "symlink",
// "fifo", "socket", "char device" or "block device".
func (k Kind) String() string {
	if k >= Regular && k <= MaxKind {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Special reports whether k is a fifo, socket or device node: an inode
// with neither contents nor entries nor target, whose opens the kernel
// serves itself.
func (k Kind) Special() bool { return k >= Fifo && k <= BlockDevice }

// Permission bits as they appear in Attr.Mode: POSIX values, not
// os.FileMode's, so they pass to and from the kernel unchanged.
const (
	ModeSetuid uint32 = 0o4000
	ModeSetgid uint32 = 0o2000
	ModeSticky uint32 = 0o1000
	ModePerm   uint32 = 0o777
	// ModeMask is every bit Attr.Mode may hold. Modes given to Tree are
	// masked with it, so a caller may pass a full st_mode: the type bits
	// are ignored, the kind comes from the operation.
	ModeMask uint32 = 0o7777
)

// Limits, as Linux has them.
const (
	MaxNameLen    = 255  // bytes in one name
	MaxSymlinkLen = 4095 // bytes in a symlink target
)

// DefaultMaxFileSize is Config.MaxFileSize when it is zero. Contents are
// whole byte slices in memory for now, so the bound is modest.
const DefaultMaxFileSize = 1 << 30

// Attr is an inode's metadata, as GetAttr returns it.
type Attr struct {
	Ino  Ino
	Kind Kind
	// Mode holds the permission bits and setuid, setgid and sticky
	// (ModeMask), with POSIX values; StatMode adds the type bits.
	Mode     uint32
	Uid, Gid uint32
	// Nlink is the number of names a file has, or 2 plus the number of
	// subdirectories for a directory. It is 0 for an inode that has been
	// removed but is still open.
	Nlink uint32
	// Size is the length of a regular file's contents or of a symlink's
	// target; 0 for anything else.
	Size uint64
	// Rdev is a device node's device number, as stat's st_rdev holds it
	// (major and minor in Linux's encoding); 0 for other kinds.
	Rdev uint32
	// Times in nanoseconds since the Unix epoch, from Config.Clock.
	// Atime changes only through SetAttr: the model is noatime.
	Atime, Mtime, Ctime int64
}

// StatMode returns the st_mode a stat call reports: Mode with the type
// bits (S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR or S_IFBLK)
// of the kind.
func (a Attr) StatMode() uint32 { return TypeBits(a.Kind) | a.Mode }

// TypeBits returns the S_IF* bits of kind k.
func TypeBits(k Kind) uint32 {
	switch k {
	case Directory:
		return syscall.S_IFDIR
	case Symlink:
		return syscall.S_IFLNK
	case Fifo:
		return syscall.S_IFIFO
	case Socket:
		return syscall.S_IFSOCK
	case CharDevice:
		return syscall.S_IFCHR
	case BlockDevice:
		return syscall.S_IFBLK
	}
	return syscall.S_IFREG
}

// KindOf returns the kind whose S_IF* bits mode holds, and false if they
// are none of them.
func KindOf(mode uint32) (Kind, bool) {
	for k := Regular; k <= MaxKind; k++ {
		if mode&syscall.S_IFMT == TypeBits(k) {
			return k, true
		}
	}
	return 0, false
}

// DirEntry is one entry of a directory, as ReadDir returns it.
type DirEntry struct {
	Name string
	Ino  Ino
	Kind Kind
}

// Config configures a Tree.
type Config struct {
	// Clock gives the time for timestamps. Nil: time.Now.
	Clock func() time.Time
	// RootMode holds the root directory's permission bits (ModeMask).
	// Zero: 0755.
	RootMode         uint32
	RootUid, RootGid uint32
	// MaxFileSize bounds a regular file's size; writes and truncates past
	// it fail with ErrFileTooBig. Zero: DefaultMaxFileSize.
	MaxFileSize int64
	// Contents keeps regular files' bytes. Nil: MemContents, in memory.
	Contents Contents
	// Sync, if not nil, is called by Fsync after the file's contents are
	// synced: it makes every change of the tree so far survive a crash
	// of the machine (the drive's state directory).
	Sync func() error
	// Space, if not nil, gives StatFS its sizes; it may be slow, and is
	// called without the tree's lock.
	Space func() Space
	// Logger hears of what Load repairs. Nil: nothing is logged.
	Logger *slog.Logger
}

// Space is what StatFS reports of the room a tree has, in bytes.
type Space struct {
	Total uint64 // the capacity
	Used  uint64 // what is stored
	Avail uint64 // what can still be written
}

// withDefaults returns a copy of c with its zero fields filled in, or an
// error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.RootMode&^ModeMask != 0 {
		return c, fmt.Errorf("fs: Config.RootMode %#o has bits outside %#o", c.RootMode, ModeMask)
	}
	if c.RootMode == 0 {
		c.RootMode = 0o755
	}
	if c.MaxFileSize < 0 {
		return c, fmt.Errorf("fs: Config.MaxFileSize %d is negative", c.MaxFileSize)
	}
	if c.MaxFileSize == 0 {
		c.MaxFileSize = DefaultMaxFileSize
	}
	if c.Contents == nil {
		c.Contents = MemContents{}
	}
	return c, nil
}

// Tree is the in-memory namespace of a drive: inodes by number, directories
// of named entries, symlinks' targets, device numbers and extended
// attributes, with POSIX semantics; regular files' bytes live in a
// Contents. Operations name an inode, or a parent directory and a name in
// it, as a FUSE layer calls them; resolving paths, "." and "..", and
// permission checks are left to the kernel.
//
// Every operation is atomic: it either fails and changes nothing, or
// succeeds whole. Errors wrap the sentinels in errors.go. A Tree is safe
// for concurrent use.
//
// A Tree records what changed, for the layers that keep it (changes.go):
// the inodes whose stored state must be saved again, and those changed
// since the last commit, each with the commit epoch of its change.
type Tree struct {
	clock    func() time.Time
	maxSize  int64
	contents Contents
	syncFn   func() error
	spaceFn  func() Space
	log      *slog.Logger

	mu    sync.Mutex
	nodes map[Ino]*inode // live inodes: named, or open, or the root
	next  Ino            // next inode number to hand out

	// Change tracking (changes.go).
	dirty      map[Ino]struct{} // stored state to save again
	changed    map[Ino]uint64   // changed since the last commit: the epoch of the change
	committing map[Ino]uint64   // taken by the commit under way
	epoch      uint64           // the epoch of a change made now
	// changedSince is when changed last went from empty to not (ns).
	changedSince int64

	readOnly atomic.Bool
	closed   atomic.Bool  // nothing may change any more
	active   atomic.Int64 // when the tree was last used (ns)
}

// Node is an inode as it is stored: everything but a regular file's
// bytes. A Node a Tree hands out (Collect, Inspect) is its own, valid
// only during the call; one given to Load or Replace becomes the tree's.
type Node struct {
	Attr Attr
	// Parent is a directory's parent; the root names itself. Zero for
	// other kinds (a file's names are its directories' entries).
	Parent  Ino
	Entries map[string]Ino // directories
	Target  string         // symlinks
	Xattrs  map[string][]byte
}

// inode is one live inode.
type inode struct {
	Node
	file  File // regular files
	opens int  // Open calls not yet Released
}

func (n *inode) isDir() bool { return n.Attr.Kind == Directory }

// New returns a Tree holding only an empty root directory, RootIno.
func New(c Config) (*Tree, error) {
	c, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	t := &Tree{
		clock: c.Clock, maxSize: c.MaxFileSize, contents: c.Contents, syncFn: c.Sync, spaceFn: c.Space, log: c.Logger,
		nodes: make(map[Ino]*inode), next: RootIno + 1,
		dirty: map[Ino]struct{}{}, changed: map[Ino]uint64{}, epoch: 1,
	}
	now := t.now()
	t.nodes[RootIno] = &inode{Node: Node{
		Attr: Attr{
			Ino: RootIno, Kind: Directory, Mode: c.RootMode, Uid: c.RootUid, Gid: c.RootGid,
			Nlink: 2, Atime: now, Mtime: now, Ctime: now,
		},
		Parent:  RootIno,
		Entries: make(map[string]Ino),
	}}
	t.mark(RootIno)
	return t, nil
}

// now reads the clock, and records the reading as the tree's last use.
func (t *Tree) now() int64 {
	v := t.clock().UnixNano()
	t.active.Store(v)
	return v
}

// inoErr wraps err, if any, with an operation on one inode.
func inoErr(op string, ino Ino, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("fs: %s %d: %w", op, ino, err)
}

// entryErr wraps err, if any, with an operation on an entry.
func entryErr(op string, parent Ino, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("fs: %s %d/%q: %w", op, parent, name, err)
}

// CheckName reports whether name may name an entry: 1 to MaxNameLen bytes,
// without '/' or NUL, and neither "." nor "..".
func CheckName(name string) error {
	switch {
	case len(name) > MaxNameLen:
		return ErrNameTooLong
	case name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00"):
		return ErrInvalid
	}
	return nil
}

// get returns the live inode ino.
func (t *Tree) get(ino Ino) (*inode, error) {
	n, ok := t.nodes[ino]
	if !ok {
		return nil, ErrNotExist
	}
	return n, nil
}

// dir returns the directory ino, which may have been removed.
func (t *Tree) dir(ino Ino) (*inode, error) {
	n, err := t.get(ino)
	if err != nil {
		return nil, err
	}
	if !n.isDir() {
		return nil, ErrNotDir
	}
	return n, nil
}

// liveDir returns the directory ino, which may gain entries: it has not
// been removed.
func (t *Tree) liveDir(ino Ino) (*inode, error) {
	d, err := t.dir(ino)
	if err != nil {
		return nil, err
	}
	if d.Attr.Nlink == 0 {
		return nil, ErrNotExist
	}
	return d, nil
}

// touch sets a directory's mtime and ctime after its entries changed.
func touch(d *inode, now int64) { d.Attr.Mtime, d.Attr.Ctime = now, now }

// dropName records that n lost a name at time now, and frees it if it has
// neither names nor opens left. A directory loses its only name and its
// parent loses the link from its "..".
func (t *Tree) dropName(n *inode, from *inode, now int64) {
	if n.isDir() {
		n.Attr.Nlink = 0
		from.Attr.Nlink--
	} else {
		n.Attr.Nlink--
	}
	n.Attr.Ctime = now
	t.maybeFree(n)
}

// maybeFree forgets n once nothing refers to it.
func (t *Tree) maybeFree(n *inode) {
	if n.Attr.Nlink == 0 && n.opens == 0 {
		delete(t.nodes, n.Attr.Ino)
		t.mark(n.Attr.Ino)
		if n.file != nil {
			t.contents.Free(n.Attr.Ino, n.file)
		}
	}
}

// within reports whether directory ino is dir or lies below it.
func (t *Tree) within(ino, dir Ino) bool {
	for {
		if ino == dir {
			return true
		}
		if ino == RootIno {
			return false
		}
		ino = t.nodes[ino].Parent
	}
}

// Lookup returns the attributes of the entry name in directory parent.
func (t *Tree) Lookup(parent Ino, name string) (Attr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, err := t.lookup(parent, name)
	return a, entryErr("lookup", parent, name, err)
}

func (t *Tree) lookup(parent Ino, name string) (Attr, error) {
	d, err := t.dir(parent)
	if err != nil {
		return Attr{}, err
	}
	if err := CheckName(name); err != nil {
		return Attr{}, err
	}
	ino, ok := d.Entries[name]
	if !ok {
		return Attr{}, ErrNotExist
	}
	return t.nodes[ino].Attr, nil
}

// GetAttr returns the attributes of inode ino, which may have been removed
// but still be open.
func (t *Tree) GetAttr(ino Ino) (Attr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.get(ino)
	if err != nil {
		return Attr{}, inoErr("getattr", ino, err)
	}
	return n.Attr, nil
}

// Create makes an empty regular file name in directory parent with
// permission bits mode (masked with ModeMask), and returns its attributes.
// In a setgid directory the file takes the directory's group.
func (t *Tree) Create(parent Ino, name string, mode, uid, gid uint32) (Attr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.newEntry(parent, name, Regular, mode, uid, gid)
	if err != nil {
		return Attr{}, entryErr("create", parent, name, err)
	}
	return n.Attr, nil
}

// Mkdir makes an empty directory name in directory parent, and returns its
// attributes. In a setgid directory the new one takes the directory's group
// and is setgid too.
func (t *Tree) Mkdir(parent Ino, name string, mode, uid, gid uint32) (Attr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.newEntry(parent, name, Directory, mode, uid, gid)
	if err != nil {
		return Attr{}, entryErr("mkdir", parent, name, err)
	}
	return n.Attr, nil
}

// Symlink makes a symbolic link name in directory parent pointing at
// target, which must be 1 to MaxSymlinkLen bytes without NUL, and returns
// its attributes. Its mode is 0777.
func (t *Tree) Symlink(parent Ino, name, target string, uid, gid uint32) (Attr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var err error
	switch {
	case target == "":
		err = ErrNotExist // as symlink(2) says of an empty target
	case len(target) > MaxSymlinkLen:
		err = ErrNameTooLong
	case strings.IndexByte(target, 0) >= 0:
		err = ErrInvalid
	}
	if err != nil {
		return Attr{}, entryErr("symlink", parent, name, err)
	}
	n, err := t.newEntry(parent, name, Symlink, 0o777, uid, gid)
	if err != nil {
		return Attr{}, entryErr("symlink", parent, name, err)
	}
	n.Target = target
	n.Attr.Size = uint64(len(target))
	return n.Attr, nil
}

// Mknod makes an inode of kind k named name in directory parent, as
// mknod(2) does: a regular file, a fifo, a socket, or a character or block
// device whose number is rdev (kept for devices only), with permission
// bits mode, and returns its attributes. Directories and symlinks are made
// with Mkdir and Symlink (ErrInvalid here). The model only records a
// device: whether it may be opened is the mount's business (nodev).
func (t *Tree) Mknod(parent Ino, name string, k Kind, mode, rdev, uid, gid uint32) (Attr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k != Regular && !k.Special() {
		return Attr{}, entryErr("mknod", parent, name, ErrInvalid)
	}
	n, err := t.newEntry(parent, name, k, mode, uid, gid)
	if err != nil {
		return Attr{}, entryErr("mknod", parent, name, err)
	}
	if k == CharDevice || k == BlockDevice {
		n.Attr.Rdev = rdev
	}
	return n.Attr, nil
}

// newEntry makes an inode of kind named name in directory parent.
func (t *Tree) newEntry(parent Ino, name string, kind Kind, mode, uid, gid uint32) (*inode, error) {
	d, err := t.liveDir(parent)
	if err != nil {
		return nil, err
	}
	if err := t.writable(); err != nil {
		return nil, err
	}
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, ok := d.Entries[name]; ok {
		return nil, ErrExist
	}
	mode &= ModeMask
	if d.Attr.Mode&ModeSetgid != 0 {
		gid = d.Attr.Gid
		if kind == Directory {
			mode |= ModeSetgid
		}
	}
	now := t.now()
	n := &inode{Node: Node{Attr: Attr{
		Ino: t.next, Kind: kind, Mode: mode, Uid: uid, Gid: gid,
		Nlink: 1, Atime: now, Mtime: now, Ctime: now,
	}}}
	t.next++
	if kind == Directory {
		n.Attr.Nlink = 2
		n.Parent = parent
		n.Entries = make(map[string]Ino)
		d.Attr.Nlink++
	}
	if kind == Regular {
		n.file = t.contents.New(n.Attr.Ino)
	}
	t.nodes[n.Attr.Ino] = n
	d.Entries[name] = n.Attr.Ino
	touch(d, now)
	t.mark(parent, n.Attr.Ino)
	return n, nil
}

// Readlink returns the target of symlink ino, or ErrInvalid if ino is not
// a symlink.
func (t *Tree) Readlink(ino Ino) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.get(ino)
	if err == nil && n.Attr.Kind != Symlink {
		err = ErrInvalid
	}
	if err != nil {
		return "", inoErr("readlink", ino, err)
	}
	return n.Target, nil
}

// Link gives inode ino another name, newName in directory newParent, and
// returns its attributes. Directories cannot be linked (ErrPerm), nor can
// an inode that has been removed but is still open (ErrNotExist).
func (t *Tree) Link(ino, newParent Ino, newName string) (Attr, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, err := t.link(ino, newParent, newName)
	if err != nil {
		return Attr{}, fmt.Errorf("fs: link %d to %d/%q: %w", ino, newParent, newName, err)
	}
	return a, nil
}

func (t *Tree) link(ino, newParent Ino, newName string) (Attr, error) {
	n, err := t.get(ino)
	if err != nil {
		return Attr{}, err
	}
	d, err := t.liveDir(newParent)
	if err != nil {
		return Attr{}, err
	}
	if err := CheckName(newName); err != nil {
		return Attr{}, err
	}
	if err := t.writable(); err != nil {
		return Attr{}, err
	}
	if _, ok := d.Entries[newName]; ok {
		return Attr{}, ErrExist
	}
	if n.isDir() {
		return Attr{}, ErrPerm
	}
	if n.Attr.Nlink == 0 {
		return Attr{}, ErrNotExist
	}
	now := t.now()
	d.Entries[newName] = ino
	n.Attr.Nlink++
	n.Attr.Ctime = now
	touch(d, now)
	t.mark(ino, newParent)
	return n.Attr, nil
}

// Unlink removes the entry name, which is not a directory (ErrIsDir), from
// directory parent. The inode goes when its last name goes and it is not
// open; while open it stays readable and writable with Nlink 0.
func (t *Tree) Unlink(parent Ino, name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return entryErr("unlink", parent, name, t.remove(parent, name, false))
}

// Rmdir removes the empty directory name (ErrNotEmpty otherwise; ErrNotDir
// if it is not a directory) from directory parent.
func (t *Tree) Rmdir(parent Ino, name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return entryErr("rmdir", parent, name, t.remove(parent, name, true))
}

func (t *Tree) remove(parent Ino, name string, dir bool) error {
	d, err := t.dir(parent)
	if err != nil {
		return err
	}
	if err := CheckName(name); err != nil {
		return err
	}
	ino, ok := d.Entries[name]
	if !ok {
		return ErrNotExist
	}
	if err := t.writable(); err != nil {
		return err
	}
	n := t.nodes[ino]
	switch {
	case dir && !n.isDir():
		return ErrNotDir
	case !dir && n.isDir():
		return ErrIsDir
	case dir && len(n.Entries) > 0:
		return ErrNotEmpty
	}
	now := t.now()
	delete(d.Entries, name)
	touch(d, now)
	t.mark(parent, ino)
	t.dropName(n, d, now)
	return nil
}

// RenameFlags modify Rename, with the values of Linux's renameat2 flags.
type RenameFlags uint32

const (
	// RenameNoReplace fails with ErrExist if the new name is taken.
	RenameNoReplace RenameFlags = 1
	// RenameExchange swaps the two entries, which must both exist; they
	// may be of different kinds.
	RenameExchange RenameFlags = 2
)

// Rename moves the entry name in directory parent to newName in directory
// newParent, as renameat2 does, atomically:
//   - an existing newName is replaced: a non-directory by a non-directory,
//     an empty directory by a directory; a directory over a non-directory
//     is ErrNotDir, a non-directory over a directory ErrIsDir, and over a
//     non-empty directory ErrNotEmpty;
//   - moving a directory into itself or below is ErrInvalid; over one of
//     its own ancestors, ErrNotEmpty;
//   - if both names are the same inode (one entry, or two hard links), it
//     succeeds and changes nothing;
//   - RenameNoReplace and RenameExchange behave as documented on them;
//     both together, or unknown flags, are ErrInvalid.
func (t *Tree) Rename(parent Ino, name string, newParent Ino, newName string, flags RenameFlags) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.rename(parent, name, newParent, newName, flags); err != nil {
		return fmt.Errorf("fs: rename %d/%q to %d/%q: %w", parent, name, newParent, newName, err)
	}
	return nil
}

func (t *Tree) rename(parent Ino, name string, newParent Ino, newName string, flags RenameFlags) error {
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return ErrInvalid
	}
	exchange := flags&RenameExchange != 0
	d, err := t.dir(parent)
	if err != nil {
		return err
	}
	nd, err := t.liveDir(newParent)
	if err != nil {
		return err
	}
	if err := CheckName(name); err != nil {
		return err
	}
	if err := CheckName(newName); err != nil {
		return err
	}
	srcIno, ok := d.Entries[name]
	if !ok {
		return ErrNotExist
	}
	if err := t.writable(); err != nil {
		return err
	}
	src := t.nodes[srcIno]
	dstIno, exists := nd.Entries[newName]
	if exists && flags&RenameNoReplace != 0 {
		return ErrExist
	}
	if !exists && exchange {
		return ErrNotExist
	}
	// The checks below follow Linux's order, so a caller sees the errno a
	// local filesystem would give.
	if src.isDir() && t.within(newParent, srcIno) {
		return ErrInvalid
	}
	var dst *inode
	if exists {
		dst = t.nodes[dstIno]
		if dst.isDir() && t.within(parent, dstIno) {
			if exchange {
				return ErrInvalid
			}
			return ErrNotEmpty
		}
		if srcIno == dstIno {
			return nil
		}
		if !exchange {
			switch {
			case src.isDir() && !dst.isDir():
				return ErrNotDir
			case !src.isDir() && dst.isDir():
				return ErrIsDir
			case dst.isDir() && len(dst.Entries) > 0:
				return ErrNotEmpty
			}
		}
	}

	now := t.now()
	t.mark(parent, newParent, srcIno)
	if exists {
		t.mark(dstIno)
	}
	move := func(n *inode, from, to *inode) {
		if n.isDir() && from != to {
			from.Attr.Nlink--
			to.Attr.Nlink++
			n.Parent = to.Attr.Ino
		}
		n.Attr.Ctime = now
	}
	if exchange {
		d.Entries[name], nd.Entries[newName] = dstIno, srcIno
		move(src, d, nd)
		move(dst, nd, d)
	} else {
		if exists {
			t.dropName(dst, nd, now)
		}
		delete(d.Entries, name)
		nd.Entries[newName] = srcIno
		move(src, d, nd)
	}
	touch(d, now)
	touch(nd, now)
	return nil
}

// ReadDir returns the entries of directory ino sorted by name, without "."
// and "..". A removed directory that is still open has none. The slice
// belongs to the caller.
func (t *Tree) ReadDir(ino Ino) ([]DirEntry, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d, err := t.dir(ino)
	if err != nil {
		return nil, inoErr("readdir", ino, err)
	}
	out := make([]DirEntry, 0, len(d.Entries))
	for name, child := range d.Entries {
		out = append(out, DirEntry{Name: name, Ino: child, Kind: t.nodes[child].Attr.Kind})
	}
	slices.SortFunc(out, func(a, b DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Open records an open handle on inode ino, of any kind: it stays, readable
// and writable, until the matching Release even if its last name is
// removed.
func (t *Tree) Open(ino Ino) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.get(ino)
	if err != nil {
		return inoErr("open", ino, err)
	}
	if n.file != nil {
		if err := n.file.Open(); err != nil {
			return inoErr("open", ino, err)
		}
	}
	n.opens++
	return nil
}

// Release drops a handle recorded by Open, and frees the inode if that was
// its last handle and it has no names left. Releasing an inode that is not
// open is ErrInvalid.
func (t *Tree) Release(ino Ino) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.get(ino)
	if err == nil && n.opens == 0 {
		err = ErrInvalid
	}
	if err != nil {
		return inoErr("release", ino, err)
	}
	n.opens--
	if n.file != nil {
		n.file.Release()
	}
	t.maybeFree(n)
	return nil
}

// writable reports ErrReadOnly if the tree may not change.
func (t *Tree) writable() error {
	if t.closed.Load() {
		return errClosed
	}
	if t.readOnly.Load() {
		return ErrReadOnly
	}
	return nil
}

// mark records that inode ino changed (or went), for the state and the
// next commit. The caller holds t.mu.
func (t *Tree) mark(inos ...Ino) {
	if len(t.changed) == 0 {
		// The operation read the clock already: no second reading.
		t.changedSince = t.active.Load()
	}
	for _, ino := range inos {
		t.dirty[ino] = struct{}{}
		t.changed[ino] = t.epoch
	}
}
