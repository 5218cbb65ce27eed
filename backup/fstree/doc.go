// Package fstree reads a directory tree from the operating system with
// every kind of metadata a backup must keep, and writes it back exactly.
// It is the operating-system layer of murmur backup; storage,
// deduplication and snapshots are built above it. It is Linux-only.
//
// # Reading
//
// Scan walks a tree depth first in a fixed order (the root, then each
// directory's names sorted bytewise, a directory before its contents)
// and gives an Entry per object: its kind (regular file, directory,
// symlink, fifo, socket, character or block device, as fs.Kind names
// them), its permission bits with setuid, setgid and sticky, owner and
// group, link count, size, device number, atime, mtime and ctime in
// nanoseconds, source inode and device, a symlink's target, and every
// extended attribute the kernel lists and lets the caller read: user.*,
// security.*, trusted.* (which only root sees) and POSIX ACLs as their
// system.posix_acl_access and system.posix_acl_default attributes.
// A file with several names is reported under each; every name after the
// first has Link set to the first, so it is stored once. Directories are
// opened relative to their parent without following symlinks and are
// checked to be the directory stat'd, so a directory swapped for a
// symlink during the scan is reported as an error, not followed. Reads
// use O_NOATIME where allowed, so a backup does not move the source's
// atimes; readlink has no such flag, and Linux moves a symlink's atime
// when it is read (under relatime, at least once). Open and Stat serve
// the reading of a file's contents and the check afterwards (Changed)
// that it did not change meanwhile.
//
// # Writing
//
// A Restorer writes entries, in Scan order, under a target directory.
// A regular file whose name is free is made at its name; where a name is
// taken, the file is written to a temporary name in its directory and
// renamed over it, so a file that was there (and any other names of its
// inode) is replaced, never written into. Other kinds are made in
// place of what has their name; a directory in the way of a
// non-directory is removed with its contents, while a directory entry
// keeps an existing directory and what is in it (the restore does not
// delete names the backup lacks). Owners are set with lchown (symlinks
// included), then extended attributes (after the owner, whose change
// clears security.capability), then the mode (after the owner, whose
// change clears setuid and setgid), then atime and mtime with nanosecond
// precision (symlinks included). Hard links are made with linkat to the
// already restored first name. A directory's owner, attributes, mode and
// times are set once the restore has left it (its default ACL would
// otherwise be inherited by what is restored into it, and any entry
// written into it moves its mtime), deepest first; Finish sets those of
// the directories still open, the target's own last. An ACL that a
// default ACL already in the target makes new objects inherit is removed
// from those the backup has none for. The temporary names start with
// ".murmur-restore-"; a restore that is killed may leave one, or a file
// cut short at its own name. An owner,
// attribute, mode or time the kernel refuses is reported (see
// RestoreOptions.OnError) without losing the object or the rest of its
// metadata.
//
// The target is walked only through directory fds opened with
// O_NOFOLLOW, and every entry is created with an *at call relative to
// its parent's fd, without following a symlink in the final name; paths
// that are absolute or have empty, "." or ".." components are refused
// with ErrUnsafePath. So a hostile backup (a symlink to /etc, then a file
// under it) or a symlink planted in the target cannot make the restore
// write outside the target.
//
// # Sparse files
//
// Contents are written sparsely, as rsync -S and restic restore --sparse
// do: a 4 KiB block of zeros aligned to its offset in the file is not
// written, and the file is truncated to its size at the end, so the
// source's holes come back as holes (and a file of zeros with no holes
// in the source becomes one). The contents are the same; only st_blocks
// may differ from the source's.
//
// # Limits
//
// What cannot be restored: ctime (the kernel sets it to the time of the
// restore), inode and device numbers (Attr.Ino and Dev describe the
// source) and birth time. A device number is kept in fs.Attr.Rdev as Linux's
// new_encode_dev packs it into 32 bits: 12 bits of major and 20 of
// minor, which is all the kernel's own dev_t holds, so nothing is lost;
// a larger number reported by stat would fail with ErrDevNumber.
// Extended attributes the kernel does not allow are reported as errors
// and not restored: trusted.* and security.* without root, user.* on
// symlinks and device nodes. Without root, owners are restored where the
// kernel lets a user (its own uid, its groups) and other ownership
// errors are ignored (OwnersAuto). A path longer than PATH_MAX is walked through
// fds, and its extended attributes read through /proc/self/fd.
package fstree
