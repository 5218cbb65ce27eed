// Package mount serves an fs.Tree to the kernel through FUSE, as a thin
// translation layer: every request becomes one call of the Tree's
// methods, with the calling process's uid and gid where something is
// created, and the Tree's errors become errnos through fs.Errno. The
// layer decides nothing a filesystem decides; the model does. It is built
// on go-fuse v2's fs package: one node type for every kind of inode (the
// Tree, not the layer, knows an inode's kind and answers ENOTDIR, EISDIR
// or EINVAL), a handle per open file and per open directory, and the
// model's inode numbers as st_ino with generation 0, since the Tree never
// reuses them. interfaces.go lists the operations served.
//
// # Mounting
//
// Mount calls mount(2) itself (go-fuse's DirectMount, with no fallback to
// a fusermount helper), so the process needs CAP_SYS_ADMIN. The mount has
// default_permissions: the kernel checks permissions against the mode,
// owner and group the Tree reports, and sends no ACCESS requests.
// allow_other (Options.AllowOther) lets other local users in; without it
// the kernel refuses everyone but the user who mounted. It is nosuid,
// nodev and noatime (the model changes atime only when a program sets
// it), "murmur" of type "fuse.murmur" in /proc/mounts, with 1 MiB reads
// and writes (the kernel's ceiling) and 128 KiB of readahead (what Linux
// offers a FUSE mount). A read-only mount (Options.ReadOnly) is mounted
// ro, and the layer answers any change that reaches it with
// fs.ErrReadOnly, EROFS, even after a remount read-write.
//
// PrepareMountpoint readies a directory before Mount: a dead FUSE mount
// left there by a serving process that died (SIGKILL, a crash) answers
// every call with ENOTCONN, and is detached; a live mount there, or a
// directory with files in it, is refused unless asked.
//
// Unmount fails with EBUSY while a program has a file open, mapped or
// running from the mount, or its working directory in it; Holders names
// those programs from /proc. Detach ends the mount without waiting for
// them: it detaches it from its directory and aborts the FUSE connection
// (the control filesystem's abort file), so Wait returns at once and the
// programs' further requests fail with ENOTCONN.
//
// Every open and create calls Tree.Open and every release Tree.Release,
// exactly once per handle, so an unlinked file stays readable through its
// descriptors and leaves the model with its last one; an open directory is
// held the same way. close(2) calls Tree.Flush and fsync(2) Tree.Fsync,
// and their errors reach the caller. Writes are not cached by the kernel
// (no writeback cache): a write returns once the Tree holds it.
//
// # Kernel caching
//
// The kernel caches a name's inode, an inode's attributes and a name's
// absence for one second by default (Options.EntryTimeout, AttrTimeout,
// NegativeTimeout). On a mount that holds the drive's writer lease every
// change to the Tree comes through this kernel, which updates or drops
// what it cached as it makes the change (a create replaces a cached
// absence, a write or setattr drops the attributes, a rename moves the
// entry), so the timeouts only bound how long a change from elsewhere
// goes unseen, and there is none. Negative entries are cached too,
// because compilers, git and shells probe many missing names. A
// read-only follower whose Tree moves to a new root must tell the kernel
// what changed: Server.Invalidate for an inode whose attributes or
// contents changed, Server.InvalidateEntry for every name that appeared,
// went, or now names another inode.
//
// An open keeps the file's pages in the page cache (FOPEN_KEEP_CACHE)
// unless Invalidate was called for it since the kernel's previous open:
// the pages hold its current contents, since every write went through
// the page cache, and a change from elsewhere comes with Invalidate,
// which empties the cache. So rereading a file, even one just written, is
// served from memory.
//
// # Locks
//
// POSIX, open file description and flock(2) locks are left to the kernel,
// as a local filesystem has them: they work between processes on this
// machine (sqlite's locking is tested), not between machines.
//
// # Limits
//
// The Tree holds every file type: mknod(2) and mkfifo(3) make fifos,
// sockets (bind(2) of a unix socket comes as a mknod) and character and
// block devices with their numbers, kept like any inode. The kernel
// serves their opens itself and never asks the layer: a fifo's bytes
// pass between its readers and writers in the kernel, and so do not move
// its mtime and ctime as they do on a local filesystem (a FUSE inode's
// times are the filesystem's to set, and it never hears of them); a
// connect(2) finds the socket bound to the inode; and the mount is
// nodev, so opening a device is EACCES. fallocate(2) extends a file
// (mode 0) or does nothing (FALLOC_FL_KEEP_SIZE; the model has no blocks
// to reserve); punching holes and zeroing ranges are EOPNOTSUPP. POSIX
// ACLs are not supported by the kernel side of the mount; their xattrs
// reach the Tree as plain attributes. Times the model cannot hold (before
// 1678 or after 2262) are clamped to the nearest it can. The ".." entry
// of a listing carries the parent the kernel reached the directory
// through; Linux takes ".." from its own dentries.
//
// # Deadlocks
//
// The process serving a mount must not itself fork and exec a program
// stored in the mount, give a child a working directory in it, or touch
// memory mapped from a file in it: each of these can block a thread
// inside the kernel while the Go runtime stops the world, which then
// waits for that thread while the requests that would free it go
// unserved (go-fuse's package doc, "Deadlocks"). Other processes may do
// all of these; the tests run such programs through a shell that does the
// chdir and exec itself.
package mount
