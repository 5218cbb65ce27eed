package mount_test

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPosixACLXattr shows a bug in package fs, reported, not worked
// around here: Tree.SetXattr stores "system.posix_acl_access" as opaque
// bytes. Without FUSE_POSIX_ACL the kernel passes POSIX ACLs through as
// such xattrs and leaves their meaning to the filesystem. Linux
// filesystems either support ACLs (setting one sets the permission bits
// it names, and it is enforced) or refuse it with EOPNOTSUPP, and tools
// rely on one or the other: cp -a creates a file 0600, sets the source's
// ACL, and chmods only if that fails, so every file cp -a copies into the
// drive ends up 0600 (TestCp), and ls shows a '+' on it.
func TestPosixACLXattr(t *testing.T) {
	m := mountDefault(t)
	p := filepath.Join(m.Dir, "f")
	writeFile(t, p, nil, 0o600)
	err := unix.Setxattr(p, "system.posix_acl_access", aclForMode(0o644), 0)
	if err != nil {
		if !errors.Is(err, syscall.EOPNOTSUPP) {
			t.Errorf("setting an ACL: %v, want success or EOPNOTSUPP", err)
		}
		return
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("an ACL for mode 0644 was accepted but the file's mode is %#o: "+
			"fs.Tree.SetXattr must either interpret system.posix_acl_* or refuse them (EOPNOTSUPP)", fi.Mode().Perm())
	}
}

// TestStatfsInodes shows a bug in package fs, reported, not worked around
// here: Tree.StatFS reports Files as the number of inodes in use, but
// statfs(2)'s f_files is the total number of inodes, used and free, so
// with Ffree at 2^32 every tool computes a negative count in use: df -i
// shows IUsed -4294967295 on an empty drive.
func TestStatfsInodes(t *testing.T) {
	m := mountDefault(t)
	writeFile(t, filepath.Join(m.Dir, "f"), nil, 0o644)
	var st unix.Statfs_t
	if err := unix.Statfs(m.Dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Ffree > st.Files {
		t.Fatalf("statfs: %d inodes free of %d in all: fs.Tree.StatFS's Files must count free inodes too", st.Ffree, st.Files)
	}
	if used := st.Files - st.Ffree; used != 2 {
		t.Errorf("statfs: %d inodes in use, want 2 (the root and f)", used)
	}
}

// aclForMode encodes the minimal POSIX ACL equal to the permission bits
// of mode, in the xattr format (linux/posix_acl_xattr.h).
func aclForMode(mode uint32) []byte {
	const (
		version  = 2
		userObj  = 0x01
		groupObj = 0x04
		other    = 0x20
		noID     = 0xffffffff
	)
	b := binary.LittleEndian.AppendUint32(nil, version)
	for _, e := range []struct {
		tag  uint16
		perm uint32
	}{{userObj, mode >> 6 & 7}, {groupObj, mode >> 3 & 7}, {other, mode & 7}} {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, uint16(e.perm))
		b = binary.LittleEndian.AppendUint32(b, noID)
	}
	return b
}
