package fs

import (
	"errors"
	"syscall"
)

// Errors returned by Tree, always wrapped with the operation and its
// arguments; match them with errors.Is, and turn them into an errno with
// Errno, the one table a FUSE layer needs.
var (
	// ErrNotExist reports a missing inode, entry or parent directory,
	// including a directory that was removed while still open.
	ErrNotExist = errors.New("fs: no such file or directory")
	// ErrExist reports a name that is already taken, or an extended
	// attribute that exists when XattrCreate was asked for.
	ErrExist = errors.New("fs: file exists")
	// ErrNotDir reports a directory operation on something that is not a
	// directory, or a rename of a directory over a non-directory.
	ErrNotDir = errors.New("fs: not a directory")
	// ErrIsDir reports a file operation on a directory, or a rename of a
	// non-directory over a directory.
	ErrIsDir = errors.New("fs: is a directory")
	// ErrNotEmpty reports removing, or renaming over, a directory that
	// still has entries.
	ErrNotEmpty = errors.New("fs: directory not empty")
	// ErrNameTooLong reports a name longer than MaxNameLen bytes or a
	// symlink target longer than MaxSymlinkLen bytes.
	ErrNameTooLong = errors.New("fs: name too long")
	// ErrInvalid reports an invalid argument: a name that is ".", "..", or
	// contains '/' or NUL; unknown or conflicting flags; a negative offset;
	// a rename of a directory into its own subtree; Readlink of something
	// that is not a symlink.
	ErrInvalid = errors.New("fs: invalid argument")
	// ErrPerm reports an operation the model never allows, such as a hard
	// link to a directory.
	ErrPerm = errors.New("fs: operation not permitted")
	// ErrNoData reports an extended attribute that does not exist.
	ErrNoData = errors.New("fs: no such attribute")
	// ErrRange reports an extended attribute name that is empty or longer
	// than MaxXattrNameLen bytes.
	ErrRange = errors.New("fs: attribute name out of range")
	// ErrTooBig reports an extended attribute value longer than
	// MaxXattrValueLen bytes.
	ErrTooBig = errors.New("fs: attribute value too large")
	// ErrFileTooBig reports a write or truncate past Config.MaxFileSize.
	ErrFileTooBig = errors.New("fs: file too large")
	// ErrReadOnly reports a change to a drive mounted read-only: a
	// snapshot, or a mount that does not hold the drive's writer lease.
	ErrReadOnly = errors.New("fs: read-only drive")
	// ErrNotSupported reports what the model does not do: POSIX ACLs
	// (system.posix_acl_* attributes), which tools then do without.
	ErrNotSupported = errors.New("fs: operation not supported")
	// ErrBusy reports a state directory another mount is using.
	ErrBusy = errors.New("fs: in use")
	// ErrDamaged reports a stored record, page, root or state that does
	// not parse, or a set of inodes that is not a tree.
	ErrDamaged = errors.New("fs: damaged record")
)

// errnos is the table Errno reads: each sentinel and its errno.
var errnos = []struct {
	err   error
	errno syscall.Errno
}{
	{ErrNotExist, syscall.ENOENT},
	{ErrExist, syscall.EEXIST},
	{ErrNotDir, syscall.ENOTDIR},
	{ErrIsDir, syscall.EISDIR},
	{ErrNotEmpty, syscall.ENOTEMPTY},
	{ErrNameTooLong, syscall.ENAMETOOLONG},
	{ErrInvalid, syscall.EINVAL},
	{ErrPerm, syscall.EPERM},
	{ErrNoData, syscall.ENODATA},
	{ErrRange, syscall.ERANGE},
	{ErrTooBig, syscall.E2BIG},
	{ErrFileTooBig, syscall.EFBIG},
	{ErrReadOnly, syscall.EROFS},
	{ErrNotSupported, syscall.EOPNOTSUPP},
	{ErrBusy, syscall.EBUSY},
}

// Errno translates an error from this package into the errno a kernel
// expects: 0 for nil, the table's errno for an error matching one of the
// sentinels above, the errno itself for an error wrapping a
// syscall.Errno, and EIO for anything else.
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	for _, e := range errnos {
		if errors.Is(err, e.err) {
			return e.errno
		}
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return syscall.EIO
}
