// Package fs is the filesystem model of a drive: the namespace and its
// POSIX semantics, testable without a mount.
//
// Its core is Tree, an in-memory namespace of inodes numbered from RootIno:
// regular files, directories and symlinks, each with an Attr (POSIX
// permission bits, owner, link count, size, nanosecond times) and extended
// attributes. Operations take an inode, or a parent directory and a name,
// as a FUSE layer calls them, and follow Linux: hard links and link counts
// (a directory's Nlink is 2 plus its subdirectories), renameat2 with
// RenameNoReplace and RenameExchange, open handles that keep an unlinked
// file alive until its last Release, the name and target limits, and
// parent directories' mtime and ctime moving with their entries. Errors are
// the sentinels in errors.go, wrapped with the operation; Errno is the one
// table that turns them into errnos. Permission checks, path resolution and
// "." and ".." are left to the kernel (the mount uses default_permissions).
//
// Later layers build on this model without changing its semantics: a local
// badger state holding the inode records and a journal of writes, so the
// mount survives a crash (docs/drive.md's durability contract); file
// contents as pipeline manifests instead of byte slices, behind a
// write-back cache; commits that write changed inode-table pages copy on
// write into the cloud and publish a new root, every root a snapshot; and
// fs/fuse, the go-fuse nodes that translate kernel calls to Tree's methods
// and its errors with Errno, holding no policy.
package fs
