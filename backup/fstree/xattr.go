package fstree

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// xattrReader reads extended attributes, keeping its buffers from one
// file to the next.
type xattrReader struct {
	names, value []byte
}

// read returns path's extended attributes without following a symlink,
// nil if it has none or its filesystem has no extended attributes. On an
// error it returns the attributes it could read with it; an attribute
// removed between the listing and its reading is left out silently.
func (x *xattrReader) read(path string) (map[string][]byte, error) {
	if x.names == nil {
		x.names = make([]byte, 1024)
		x.value = make([]byte, 1024)
	}
	var n int
	for {
		var err error
		n, err = unix.Llistxattr(path, x.names)
		if err == nil {
			break
		}
		if err == unix.ENOTSUP {
			return nil, nil
		}
		if err != unix.ERANGE {
			return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
		}
		// The list grew or did not fit: ask its size and retry.
		if n, err = unix.Llistxattr(path, nil); err != nil {
			return nil, &os.PathError{Op: "llistxattr", Path: path, Err: err}
		}
		x.names = make([]byte, max(n, 2*len(x.names)))
	}
	if n == 0 {
		return nil, nil
	}
	var m map[string][]byte
	var firstErr error
	for list := x.names[:n]; len(list) > 0; {
		i := bytes.IndexByte(list, 0)
		if i < 0 {
			i = len(list)
		}
		name := string(list[:i])
		list = list[min(i+1, len(list)):]
		if name == "" {
			continue
		}
		v, err := x.get(path, name)
		if err == unix.ENODATA {
			continue
		}
		if err != nil {
			if firstErr == nil {
				firstErr = &os.PathError{Op: "lgetxattr " + strconv.Quote(name), Path: path, Err: err}
			}
			continue
		}
		if m == nil {
			m = make(map[string][]byte)
		}
		m[name] = v
	}
	return m, firstErr
}

// get reads one attribute's value into a new slice.
func (x *xattrReader) get(path, name string) ([]byte, error) {
	for {
		n, err := unix.Lgetxattr(path, name, x.value)
		if err == nil {
			return bytes.Clone(x.value[:n:n]), nil
		}
		if err != unix.ERANGE {
			return nil, err
		}
		if n, err = unix.Lgetxattr(path, name, nil); err != nil {
			return nil, err
		}
		x.value = make([]byte, max(n, 2*len(x.value)))
	}
}

// readlink reads the target of the symlink name in directory dirfd,
// growing buf (which it returns for reuse) until the target fits. Its
// error is the bare errno.
func readlink(dirfd int, name string, buf []byte) (string, []byte, error) {
	if len(buf) == 0 {
		buf = make([]byte, 256)
	}
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", buf, err
		}
		if n < len(buf) {
			return string(buf[:n]), buf, nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Names of the POSIX ACL attributes.
const (
	aclAccess  = "system.posix_acl_access"
	aclDefault = "system.posix_acl_default"
)

// hasDefaultACL reports whether the directory open as fd has a default
// ACL.
func hasDefaultACL(fd int) bool {
	n, err := unix.Fgetxattr(fd, aclDefault, nil)
	return err == nil && n > 0
}

// setXattrs sets every attribute, in name order, with set, going on
// after a failure.
func setXattrs(m map[string][]byte, set func(name string, value []byte) error) error {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var errs []error
	for _, k := range names {
		if err := set(k, m[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

// removeExtraXattrs removes from the directory open as fd the attributes
// m does not have, but for security.selinux, which labels the object
// where it is rather than belonging to what it holds.
func removeExtraXattrs(fd int, m map[string][]byte) error {
	n, err := unix.Flistxattr(fd, nil)
	if err != nil || n == 0 {
		if err == unix.ENOTSUP {
			err = nil
		}
		return err
	}
	buf := make([]byte, n)
	if n, err = unix.Flistxattr(fd, buf); err != nil {
		return err
	}
	for _, k := range bytes.Split(buf[:n], []byte{0}) {
		name := string(k)
		if _, keep := m[name]; keep || name == "" || name == "security.selinux" {
			continue
		}
		if err := ignoreNoData(unix.Fremovexattr(fd, name)); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// ignoreNoData drops the error of removing an attribute that is not
// there.
func ignoreNoData(err error) error {
	if err == unix.ENODATA {
		return nil
	}
	return err
}
