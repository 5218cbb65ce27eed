// Package fs is the filesystem model of a drive: the namespace and its
// POSIX semantics, testable without a mount, a disk or a cloud.
//
// Its core is Tree, an in-memory namespace of inodes numbered from
// RootIno: regular files, directories, symlinks, fifos, sockets and
// device nodes, each with an Attr (POSIX permission bits, owner, link
// count, size, device number, nanosecond times) and extended attributes.
// Operations take an inode, or a parent directory and a name, as a FUSE
// layer calls them, and follow Linux: hard links and link counts (a
// directory's Nlink is 2 plus its subdirectories), renameat2 with
// RenameNoReplace and RenameExchange, open handles that keep an unlinked
// file alive until its last Release, the name and target limits, and
// parent directories' mtime and ctime moving with their entries. Errors
// are the sentinels in errors.go, wrapped with the operation; Errno is
// the one table that turns them into errnos. Permission checks, path
// resolution and "." and ".." are left to the kernel (the mount uses
// default_permissions).
//
// Regular files' bytes live in a Contents (contents.go): MemContents in
// memory, or a drive's state directory. The Tree records what changed
// (changes.go) for the layers that keep it, and knows nothing of where:
//
//	fs/format   the stored formats: inode records, pages, supers, roots
//	fs/state    the state directory: the journal of records, cache files
//	fs/drive    the drive's life: open, commit, lease, follow, snapshots
//	fs/mount    the go-fuse nodes: translation only
//
// Lower layers never import higher ones: fs imports nothing of Murmur's.
package fs
