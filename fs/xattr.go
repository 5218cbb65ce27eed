package fs

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Limits on extended attributes, as Linux has them.
const (
	MaxXattrNameLen  = 255      // bytes in a name
	MaxXattrValueLen = 64 << 10 // bytes in a value
)

// XattrFlags modify SetXattr, with the values of setxattr(2)'s flags.
type XattrFlags uint32

const (
	// XattrCreate fails with ErrExist if the attribute exists.
	XattrCreate XattrFlags = 1
	// XattrReplace fails with ErrNoData if the attribute does not exist.
	XattrReplace XattrFlags = 2
)

// xattrErr wraps err, if any, with an operation on an extended attribute.
func xattrErr(op string, ino Ino, name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("fs: %s %d %q: %w", op, ino, name, err)
}

// CheckXattrName reports whether name may name an extended attribute: 1
// to MaxXattrNameLen bytes without NUL. Namespaces ("user.", "trusted.")
// are not interpreted here.
func CheckXattrName(name string) error {
	switch {
	case name == "" || len(name) > MaxXattrNameLen:
		return ErrRange
	case strings.IndexByte(name, 0) >= 0:
		return ErrInvalid
	}
	return nil
}

// SetXattr sets the extended attribute name of inode ino to a copy of
// value (at most MaxXattrValueLen bytes, else ErrTooBig), and sets ctime.
// A bad name is ErrRange or ErrInvalid; flags are as documented on
// XattrFlags, both together or unknown ones ErrInvalid.
func (t *Tree) SetXattr(ino Ino, name string, value []byte, flags XattrFlags) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return xattrErr("setxattr", ino, name, t.setXattr(ino, name, value, flags))
}

func (t *Tree) setXattr(ino Ino, name string, value []byte, flags XattrFlags) error {
	n, err := t.get(ino)
	if err != nil {
		return err
	}
	if err := t.writable(); err != nil {
		return err
	}
	if flags&^(XattrCreate|XattrReplace) != 0 || flags == XattrCreate|XattrReplace {
		return ErrInvalid
	}
	if err := CheckXattrName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, "system.posix_acl_") {
		// An ACL stored as opaque bytes would be shown (ls's '+') but not
		// enforced, and cp -a would take it for applied and skip its
		// chmod: refusing it is what a filesystem without ACLs does.
		return ErrNotSupported
	}
	if len(value) > MaxXattrValueLen {
		return ErrTooBig
	}
	_, exists := n.Xattrs[name]
	switch {
	case exists && flags&XattrCreate != 0:
		return ErrExist
	case !exists && flags&XattrReplace != 0:
		return ErrNoData
	}
	if n.Xattrs == nil {
		n.Xattrs = make(map[string][]byte)
	}
	n.Xattrs[name] = append([]byte{}, value...)
	n.Attr.Ctime = t.now()
	t.mark(ino)
	return nil
}

// GetXattr returns a copy of the value of extended attribute name of inode
// ino, or ErrNoData if it has none.
func (t *Tree) GetXattr(ino Ino, name string) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.get(ino)
	if err == nil {
		err = CheckXattrName(name)
	}
	if err != nil {
		return nil, xattrErr("getxattr", ino, name, err)
	}
	v, ok := n.Xattrs[name]
	if !ok {
		return nil, xattrErr("getxattr", ino, name, ErrNoData)
	}
	return append([]byte{}, v...), nil
}

// ListXattr returns the names of inode ino's extended attributes, sorted;
// the slice belongs to the caller.
func (t *Tree) ListXattr(ino Ino) ([]string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.get(ino)
	if err != nil {
		return nil, inoErr("listxattr", ino, err)
	}
	return slices.Sorted(maps.Keys(n.Xattrs)), nil
}

// RemoveXattr removes extended attribute name of inode ino, or returns
// ErrNoData if it has none, and sets ctime.
func (t *Tree) RemoveXattr(ino Ino, name string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	n, err := t.get(ino)
	if err == nil {
		err = CheckXattrName(name)
	}
	if err == nil {
		err = t.writable()
	}
	if err == nil {
		if _, ok := n.Xattrs[name]; !ok {
			err = ErrNoData
		}
	}
	if err != nil {
		return xattrErr("removexattr", ino, name, err)
	}
	delete(n.Xattrs, name)
	n.Attr.Ctime = t.now()
	t.mark(ino)
	return nil
}
