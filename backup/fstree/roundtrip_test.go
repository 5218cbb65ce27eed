package fstree_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/fs"
)

// acl encodes a POSIX ACL as the system.posix_acl_* attributes hold it.
func acl(entries ...[3]uint32) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2) // version
	for _, e := range entries {
		b = binary.LittleEndian.AppendUint16(b, uint16(e[0]))
		b = binary.LittleEndian.AppendUint16(b, uint16(e[1]))
		b = binary.LittleEndian.AppendUint32(b, e[2])
	}
	return b
}

// ACL tags and the id of entries without one.
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclMask     = 0x10
	aclOther    = 0x20
	aclNoID     = 0xffffffff
)

// buildTree makes a tree of every kind of object with every kind of
// metadata under root.
func buildTree(t *testing.T, root string) {
	t.Helper()
	p := func(name string) string { return filepath.Join(root, name) }
	file := func(name string, data string, mode uint32) {
		must(t, os.WriteFile(p(name), []byte(data), 0o600))
		must(t, unix.Chmod(p(name), mode))
	}
	xattr := func(name, key, value string) {
		must(t, unix.Lsetxattr(p(name), key, []byte(value), 0))
	}
	owner := func(name string, uid, gid int) { must(t, unix.Lchown(p(name), uid, gid)) }
	mkdir := func(name string, mode uint32) {
		must(t, os.Mkdir(p(name), 0o700))
		must(t, unix.Chmod(p(name), mode))
	}
	mknod := func(name string, mode uint32, major, minor uint32) {
		must(t, unix.Mknod(p(name), mode, int(unix.Mkdev(major, minor))))
		must(t, unix.Chmod(p(name), mode&0o7777))
	}

	file("plain", "plain contents\n", 0o644)
	xattr("plain", "user.note", "a user attribute")
	xattr("plain", "user.empty", "")
	xattr("plain", "trusted.secret", "\x00binary\xff")
	file("setuid", "#!/bin/sh\n", 0o4755)
	owner("setuid", 1234, 5678)
	file("setgid", "#!/bin/sh\n", 0o2755)
	owner("setgid", 0, 5678)
	file("zero", "", 0o644)
	file("big-ids", "x", 0o640)
	owner("big-ids", 4000000000, 4000000001)
	// A capability (cap_net_bind_service=ep), which a chown clears.
	file("capable", "binary", 0o755)
	owner("capable", 1234, 5678)
	cap := binary.LittleEndian.AppendUint32(nil, 0x02000001)
	cap = binary.LittleEndian.AppendUint32(cap, 1<<10)
	cap = append(cap, make([]byte, 12)...)
	must(t, unix.Lsetxattr(p("capable"), "security.capability", cap, 0))
	file("acl", "with an access ACL", 0o640)
	must(t, unix.Lsetxattr(p("acl"), "system.posix_acl_access", acl(
		[3]uint32{aclUserObj, 6, aclNoID}, [3]uint32{aclUser, 4, 1234},
		[3]uint32{aclGroupObj, 4, aclNoID}, [3]uint32{aclMask, 4, aclNoID}, [3]uint32{aclOther, 0, aclNoID}), 0))

	mkdir("sticky", 0o1777)
	mkdir("private", 0o700)
	owner("private", 1234, 5678)
	file("private/secret", "secret", 0o600)
	owner("private/secret", 1234, 5678)
	mkdir("xdir", 0o755)
	xattr("xdir", "user.dir", "on a directory")
	xattr("xdir", "trusted.dir", "trusted on a directory")
	must(t, unix.Lsetxattr(p("xdir"), "system.posix_acl_default", acl(
		[3]uint32{aclUserObj, 7, aclNoID}, [3]uint32{aclUser, 5, 1234},
		[3]uint32{aclGroupObj, 5, aclNoID}, [3]uint32{aclMask, 5, aclNoID}, [3]uint32{aclOther, 5, aclNoID}), 0))
	mkdir("empty", 0o755)
	mkdir("deep", 0o755)
	mkdir("deep/er", 0o555)
	mkdir("deep/er/est", 0o750)

	must(t, os.Symlink("plain", p("link")))
	owner("link", 1234, 5678)
	xattr("link", "trusted.onlink", "trusted on a symlink")
	must(t, os.Symlink("/nonexistent/dangling target with space", p("dangling")))
	must(t, os.Symlink(strings.Repeat("long/", 200)+"end", p("longlink")))

	// Three names for one file, the first and last in other directories.
	mkdir("sub", 0o755)
	file("hard1", "linked thrice", 0o640)
	owner("hard1", 1234, 5678)
	xattr("hard1", "user.linked", "yes")
	must(t, os.Link(p("hard1"), p("sub/hard2")))
	must(t, os.Link(p("hard1"), p("hard3")))

	must(t, unix.Mkfifo(p("fifo"), 0o640))
	must(t, unix.Chmod(p("fifo"), 0o640))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(t, err)
	must(t, unix.Bind(sock, &unix.SockaddrUnix{Name: p("sock")}))
	unix.Close(sock)
	must(t, unix.Chmod(p("sock"), 0o755))
	mknod("null", unix.S_IFCHR|0o666, 1, 3)
	mknod("bigminor", unix.S_IFCHR|0o600, 259, 70000)
	mknod("maxdev", unix.S_IFCHR|0o600, 4095, 1<<20-1)
	mknod("loop", unix.S_IFBLK|0o660, 7, 0)
	owner("loop", 0, 6)

	// 64 MiB with three extents of data: at the start, in the middle,
	// and a partial block at the end.
	f, err := os.Create(p("sparse"))
	must(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("A", 4096)), 0)
	must(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("B", 8192)), 20<<20)
	must(t, err)
	_, err = f.WriteAt([]byte(strings.Repeat("C", 100)), 64<<20-100)
	must(t, err)
	must(t, f.Close())
	// Zeros written out: the restore makes it a hole.
	file("zeros", string(make([]byte, 1<<20)), 0o644)

	file("with space", "s", 0o644)
	file("new\nline", "n", 0o644)
	file("bad\xff\xfeutf8", "b", 0o644)
	file("tab\there", "t", 0o644)

	// Times last, deepest first, each with nanoseconds of its own.
	base := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC).UnixNano()
	var all []string
	must(t, filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		all = append(all, path)
		return err
	}))
	for i := len(all) - 1; i >= 0; i-- {
		at := base + int64(i)*1_000_000_007
		mt := base - int64(i)*3_000_000_011
		if filepath.Base(all[i]) == "zero" {
			mt = -1_234_567_891 // before 1970
		}
		ts := []unix.Timespec{unix.NsecToTimespec(at), unix.NsecToTimespec(mt)}
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, all[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

// TestRoundTrip restores a tree of every kind of object into an empty
// directory and compares the two with find, rsync and a scan of each.
func TestRoundTrip(t *testing.T) {
	needRoot(t)
	src := filepath.Join(t.TempDir(), "src")
	dst := filepath.Join(t.TempDir(), "dst")
	must(t, os.Mkdir(src, 0o700))
	must(t, os.Mkdir(dst, 0o700))
	roundTrip(t, src, dst)
}

// TestRoundTripTmpfs restores from this machine's disk to a tmpfs and
// back.
func TestRoundTripTmpfs(t *testing.T) {
	needRoot(t)
	mnt := t.TempDir()
	if err := unix.Mount("none", mnt, "tmpfs", 0, "size=256m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { must(t, unix.Unmount(mnt, 0)) })
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.Mkdir(src, 0o700))
	tmp := filepath.Join(mnt, "dst")
	must(t, os.Mkdir(tmp, 0o700))
	t.Run("to", func(t *testing.T) { roundTrip(t, src, tmp) })
	back := filepath.Join(t.TempDir(), "back")
	must(t, os.Mkdir(back, 0o700))
	t.Run("from", func(t *testing.T) { copyTree(t, tmp, back); rsyncSame(t, src, back) })
}

// roundTrip builds a tree in the empty directory src, restores it into
// the empty directory dst, and compares the two.
func roundTrip(t *testing.T, src, dst string) {
	t.Helper()
	buildTree(t, src)
	before := scanAll(t, src, fstree.ScanOptions{})
	for _, e := range before {
		// Stat agrees with Scan, but for Link.
		s, err := fstree.Stat(src, e.Path)
		must(t, err)
		s.Link = e.Link
		if e.Attr.Kind == fs.Symlink {
			s.Attr.Atime = e.Attr.Atime // its readlink may move it
		}
		if !reflect.DeepEqual(s, e) {
			t.Errorf("Stat %q: %+v\nScan gave %+v", e.Path, s, e)
		}
		// A device's number is st_rdev, in 32 bits.
		if e.Attr.Kind.Special() && e.Attr.Rdev != uint32(lstat(t, filepath.Join(src, e.Path)).Rdev) {
			t.Errorf("%q: Rdev %#x", e.Path, e.Attr.Rdev)
		}
	}

	copyTree(t, src, dst)
	// Neither that scan nor its reads moved an atime, but a symlink's:
	// Linux moves it on readlink, which has no O_NOATIME.
	for i, e := range scanAll(t, src, fstree.ScanOptions{}) {
		if e.Attr.Kind != fs.Symlink && e.Attr.Atime != before[i].Attr.Atime {
			t.Errorf("%q: atime moved from %d to %d", e.Path, before[i].Attr.Atime, e.Attr.Atime)
		}
	}
	// find before rsync, which reads files and so moves atimes.
	sameLists(t, findList(t, src), findList(t, dst))
	// And a scan of the restored tree finds what the scan of the source
	// did, but for what cannot be restored, and the atimes find moved
	// (having printed them first) by reading directories and symlinks.
	after := scanAll(t, dst, fstree.ScanOptions{})
	if len(after) != len(before) {
		t.Fatalf("%d entries restored as %d", len(before), len(after))
	}
	for i, a := range before {
		b := *after[i]
		b.Attr.Ino, b.Attr.Ctime, b.Dev, b.Blocks = a.Attr.Ino, a.Attr.Ctime, a.Dev, a.Blocks
		if a.Attr.Kind == fs.Symlink || a.Attr.Kind == fs.Directory {
			b.Attr.Atime = a.Attr.Atime
		}
		if !reflect.DeepEqual(a, &b) {
			t.Errorf("%q: %+v\nrestored as %+v", a.Path, a, &b)
		}
	}

	for _, name := range []string{"sparse", "zeros"} {
		st := lstat(t, filepath.Join(dst, name))
		if st.Blocks*512 >= st.Size/100 {
			t.Errorf("%s: %d blocks for %d bytes: not sparse", name, st.Blocks, st.Size)
		}
	}
	if st := lstat(t, filepath.Join(dst, "zeros")); st.Blocks != 0 {
		t.Errorf("zeros: %d blocks, want none", st.Blocks)
	}
	if st := lstat(t, filepath.Join(dst, "sparse")); st.Blocks < 3*8 {
		t.Errorf("sparse: %d blocks, too few for its data", st.Blocks)
	}
	if got, want := dataExtents(t, filepath.Join(dst, "sparse")), [][2]int64{{0, 4096}, {20 << 20, 20<<20 + 8192}, {64<<20 - 4096, 64 << 20}}; !reflect.DeepEqual(got, want) {
		t.Errorf("sparse: data at %v, want %v", got, want)
	}
	for name, dev := range map[string][2]uint32{"null": {1, 3}, "bigminor": {259, 70000}, "maxdev": {4095, 1<<20 - 1}, "loop": {7, 0}} {
		st := lstat(t, filepath.Join(dst, name))
		if got := [2]uint32{unix.Major(st.Rdev), unix.Minor(st.Rdev)}; got != dev {
			t.Errorf("%s: device %d:%d, want %d:%d", name, got[0], got[1], dev[0], dev[1])
		}
	}
	a, b := lstat(t, filepath.Join(dst, "hard1")), lstat(t, filepath.Join(dst, "sub/hard2"))
	if a.Ino != b.Ino || a.Nlink != 3 {
		t.Errorf("hard links: inodes %d and %d, %d links", a.Ino, b.Ino, a.Nlink)
	}
	rsyncSame(t, src, dst)
}

// dataExtents returns the ranges of a file that hold data, as
// SEEK_DATA and SEEK_HOLE find them.
func dataExtents(t *testing.T, path string) [][2]int64 {
	t.Helper()
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var ext [][2]int64
	for off := int64(0); ; {
		data, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
		if err == unix.ENXIO {
			return ext
		}
		must(t, err)
		hole, err := unix.Seek(int(f.Fd()), data, unix.SEEK_HOLE)
		must(t, err)
		ext = append(ext, [2]int64{data, hole})
		off = hole
	}
}

// TestDeepTree round-trips a tree whose paths are longer than PATH_MAX,
// which only fd-relative calls reach.
func TestDeepTree(t *testing.T) {
	needRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	name := strings.Repeat("d", 200)
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(t, err)
	for range 30 {
		must(t, unix.Mkdirat(fd, name, 0o755))
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(t, err)
		unix.Close(fd)
		fd = next
	}
	must(t, unix.Mknodat(fd, "fifo", unix.S_IFIFO|0o644, 0))
	f, err := unix.Openat(fd, "file", unix.O_WRONLY|unix.O_CREAT, 0o644)
	must(t, err)
	_, err = unix.Write(f, []byte("deep down"))
	must(t, err)
	unix.Close(f)
	must(t, unix.Lsetxattr(fmt.Sprintf("/proc/self/fd/%d/fifo", fd), "trusted.deep", []byte("yes"), 0))
	unix.Close(fd)

	copyTree(t, src, dst)
	a, b := scanAll(t, src, fstree.ScanOptions{}), scanAll(t, dst, fstree.ScanOptions{})
	if len(a) != 33 || len(b) != 33 {
		t.Fatalf("%d and %d entries", len(a), len(b))
	}
	for i := range a {
		x, y := a[i].Attr, b[i].Attr
		x.Ino, y.Ino, x.Ctime, y.Ctime = 0, 0, 0, 0
		if a[i].Path != b[i].Path || x != y || !reflect.DeepEqual(a[i].Xattrs, b[i].Xattrs) {
			t.Errorf("%d: %+v\nrestored as %+v", i, a[i], b[i])
		}
	}
	if v := b[31].Xattrs["trusted.deep"]; string(v) != "yes" || len(b[31].Path) < unix.PathMax {
		t.Errorf("%d-byte path %q: %q", len(b[31].Path), b[31].Path[len(b[31].Path)-10:], v)
	}
	// Stat and Open reach that deep too.
	e, err := fstree.Stat(dst, b[32].Path)
	must(t, err)
	if e.Attr.Size != 9 || e.Attr.Ino != b[32].Attr.Ino {
		t.Errorf("Stat: %+v", e)
	}
	r, err := fstree.Open(dst, b[32].Path)
	must(t, err)
	defer r.Close()
	if data, err := io.ReadAll(r); string(data) != "deep down" || err != nil {
		t.Errorf("Open: read %q, %v", data, err)
	}
}
