package mount_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// TestNameLimits: a 255-byte name works and a 256-byte one is
// ENAMETOOLONG; a symlink may point at a 4095-byte target.
func TestNameLimits(t *testing.T) {
	m := mountDefault(t)
	long := filepath.Join(m.Dir, strings.Repeat("n", 255))
	writeFile(t, long, []byte("long name"), 0o644)
	wantFile(t, long, "long name")
	names, err := os.ReadDir(m.Dir)
	if err != nil || len(names) != 1 || len(names[0].Name()) != 255 {
		t.Errorf("ReadDir: %v, %v", names, err)
	}
	tooLong := filepath.Join(m.Dir, strings.Repeat("n", 256))
	_, err = os.Create(tooLong)
	wantErr(t, "create 256-byte name", err, syscall.ENAMETOOLONG)
	wantErr(t, "mkdir 256-byte name", os.Mkdir(tooLong, 0o755), syscall.ENAMETOOLONG)
	_, err = os.Lstat(tooLong)
	wantErr(t, "lstat 256-byte name", err, syscall.ENAMETOOLONG)

	target := strings.Repeat("t/", 2047) + "x" // 4095 bytes
	link := filepath.Join(m.Dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatalf("symlink to 4095 bytes: %v", err)
	}
	if got, err := os.Readlink(link); err != nil || got != target {
		t.Errorf("readlink: %d bytes, %v; want the 4095-byte target", len(got), err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Size() != 4095 {
		t.Errorf("lstat link: %v, %v; want size 4095", fi, err)
	}
}

// TestStatfs: statfs reports the model's numbers, and df shows the mount
// as murmur, of type fuse.murmur.
func TestStatfs(t *testing.T) {
	m := mountDefault(t)
	var before unix.Statfs_t
	if err := unix.Statfs(m.Dir, &before); err != nil {
		t.Fatal(err)
	}
	want := m.Tree.StatFS()
	if before.Type != unix.FUSE_SUPER_MAGIC || before.Bsize != int64(want.Bsize) || before.Blocks != want.Blocks ||
		before.Bfree != want.Bfree || before.Bavail != want.Bavail || before.Namelen != 255 || before.Frsize != 4096 {
		t.Errorf("statfs: %+v; model says %+v", before, want)
	}
	writeFile(t, filepath.Join(m.Dir, "f"), make([]byte, 1<<20), 0o644)
	var after unix.Statfs_t
	if err := unix.Statfs(m.Dir, &after); err != nil {
		t.Fatal(err)
	}
	if got := before.Bfree - after.Bfree; got != 256 {
		t.Errorf("writing 1 MiB took %d blocks of 4 KiB, want 256", got)
	}
	if after.Files != m.Tree.StatFS().Files || after.Ffree != m.Tree.StatFS().Ffree {
		t.Errorf("statfs inodes: %d total, %d free; model says %+v", after.Files, after.Ffree, m.Tree.StatFS())
	}
	mi := mountInfo(t, m.Dir)
	if mi.source != "murmur" || mi.fstype != "fuse.murmur" {
		t.Errorf("/proc/mounts: %+v, want murmur of type fuse.murmur", mi)
	}
	for _, o := range []string{"rw", "nosuid", "nodev", "noatime", "default_permissions"} {
		if !mi.has(o) {
			t.Errorf("mount options %q lack %s", mi.opts, o)
		}
	}
	if mi.has("allow_other") {
		t.Errorf("mount options %q have allow_other; not asked for", mi.opts)
	}
}

// TestXattr sets, gets, lists and removes extended attributes, with the
// size probe and ERANGE protocol and setxattr's flags.
func TestXattr(t *testing.T) {
	m := mountDefault(t)
	f := filepath.Join(m.Dir, "f")
	writeFile(t, f, nil, 0o644)
	if err := unix.Setxattr(f, "user.one", []byte("first value"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(f, "user.two", nil, unix.XATTR_CREATE); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(f, "trusted.root", []byte("r"), 0); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "XATTR_CREATE of an existing name", unix.Setxattr(f, "user.one", []byte("x"), unix.XATTR_CREATE), syscall.EEXIST)
	wantErr(t, "XATTR_REPLACE of a missing name", unix.Setxattr(f, "user.none", []byte("x"), unix.XATTR_REPLACE), syscall.ENODATA)

	n, err := unix.Getxattr(f, "user.one", nil)
	if err != nil || n != len("first value") {
		t.Errorf("size probe: %d, %v; want %d", n, err, len("first value"))
	}
	_, err = unix.Getxattr(f, "user.one", make([]byte, 3))
	wantErr(t, "getxattr into a short buffer", err, syscall.ERANGE)
	buf := make([]byte, 64)
	n, err = unix.Getxattr(f, "user.one", buf)
	if err != nil || string(buf[:n]) != "first value" {
		t.Errorf("getxattr: %q, %v", buf[:n], err)
	}
	n, err = unix.Getxattr(f, "user.two", buf)
	if err != nil || n != 0 {
		t.Errorf("empty value: %d bytes, %v", n, err)
	}
	_, err = unix.Getxattr(f, "user.none", buf)
	wantErr(t, "getxattr of a missing name", err, syscall.ENODATA)

	want := "trusted.root\x00user.one\x00user.two\x00"
	n, err = unix.Listxattr(f, nil)
	if err != nil || n != len(want) {
		t.Errorf("list size probe: %d, %v; want %d", n, err, len(want))
	}
	_, err = unix.Listxattr(f, make([]byte, 5))
	wantErr(t, "listxattr into a short buffer", err, syscall.ERANGE)
	n, err = unix.Listxattr(f, buf)
	if err != nil || string(buf[:n]) != want {
		t.Errorf("listxattr: %q, %v; want %q", buf[:n], err, want)
	}

	if err := unix.Removexattr(f, "user.one"); err != nil {
		t.Fatal(err)
	}
	_, err = unix.Getxattr(f, "user.one", buf)
	wantErr(t, "getxattr after remove", err, syscall.ENODATA)
	wantErr(t, "remove a missing name", unix.Removexattr(f, "user.one"), syscall.ENODATA)

	// Directories carry them too, and the value may be binary.
	d := filepath.Join(m.Dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := []byte{0, 1, 2, 0, 255}
	if err := unix.Setxattr(d, "user.bin", bin, 0); err != nil {
		t.Fatal(err)
	}
	n, err = unix.Getxattr(d, "user.bin", buf)
	if err != nil || !bytes.Equal(buf[:n], bin) {
		t.Errorf("binary value on a directory: %v, %v", buf[:n], err)
	}
}

// TestRenameat2 exchanges a file and a directory across directories, and
// refuses RENAME_NOREPLACE over an existing name.
func TestRenameat2(t *testing.T) {
	m := mountDefault(t)
	for _, d := range []string{"a", "b/dir"} {
		if err := os.MkdirAll(filepath.Join(m.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file, dir := filepath.Join(m.Dir, "a/file"), filepath.Join(m.Dir, "b/dir")
	writeFile(t, file, []byte("the file"), 0o644)
	writeFile(t, filepath.Join(dir, "inside"), []byte("in the dir"), 0o644)
	fileIno, dirIno := inoOf(t, file), inoOf(t, dir)

	if err := unix.Renameat2(unix.AT_FDCWD, file, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
		t.Fatalf("RENAME_EXCHANGE: %v", err)
	}
	if inoOf(t, file) != dirIno || inoOf(t, dir) != fileIno {
		t.Errorf("exchange did not swap the inodes")
	}
	wantFile(t, dir, "the file")
	wantFile(t, filepath.Join(file, "inside"), "in the dir")

	other := filepath.Join(m.Dir, "b/other")
	writeFile(t, other, []byte("other"), 0o644)
	err := unix.Renameat2(unix.AT_FDCWD, other, unix.AT_FDCWD, dir, unix.RENAME_NOREPLACE)
	wantErr(t, "RENAME_NOREPLACE over a file", err, syscall.EEXIST)
	wantFile(t, dir, "the file")
	fresh := filepath.Join(m.Dir, "a/fresh")
	if err := unix.Renameat2(unix.AT_FDCWD, other, unix.AT_FDCWD, fresh, unix.RENAME_NOREPLACE); err != nil {
		t.Fatalf("RENAME_NOREPLACE to a free name: %v", err)
	}
	wantFile(t, fresh, "other")
	err = unix.Renameat2(unix.AT_FDCWD, fresh, unix.AT_FDCWD, filepath.Join(m.Dir, "a/none"), unix.RENAME_EXCHANGE)
	wantErr(t, "RENAME_EXCHANGE with a missing name", err, syscall.ENOENT)

	// Plain rename over an existing file replaces it.
	if err := os.Rename(fresh, dir); err != nil {
		t.Fatal(err)
	}
	wantFile(t, dir, "other")
}

// TestUnlinkedOpen: a file unlinked while open stays readable and
// writable through its descriptor, and goes from the model at the last
// close, which shows each handle released once.
func TestUnlinkedOpen(t *testing.T) {
	m := mountDefault(t)
	p := filepath.Join(m.Dir, "f")
	writeFile(t, p, []byte("still here"), 0o644)
	f1, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	ino := fs.Ino(inoOf(t, p))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("lstat after unlink: %v", err)
	}
	got, err := io.ReadAll(f2)
	if err != nil || string(got) != "still here" {
		t.Errorf("read after unlink: %q, %v", got, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f2.Fd()), &st); err != nil || st.Nlink != 0 || st.Size != 10 {
		t.Errorf("fstat after unlink: %+v, %v; want nlink 0, size 10", st, err)
	}
	f1.Close()
	// f2 still holds the inode; f1's release must not have dropped it.
	if _, err := f2.WriteAt([]byte("STILL"), 0); err == nil {
		t.Errorf("write through a read-only descriptor succeeded")
	}
	if _, err := m.Tree.GetAttr(ino); err != nil {
		t.Fatalf("model lost the inode while f2 is open: %v", err)
	}
	buf := make([]byte, 10)
	if _, err := f2.ReadAt(buf, 0); err != nil || string(buf) != "still here" {
		t.Errorf("read after the other close: %q, %v", buf, err)
	}
	f2.Close()
	// Release follows close asynchronously.
	waitFor(t, "the model to free the unlinked inode", func() bool {
		_, err := m.Tree.GetAttr(ino)
		return errors.Is(err, fs.ErrNotExist)
	})
}

// TestConcurrentWriters writes eight 8 MiB files of seeded random bytes
// at once, in pieces of odd sizes, and checks every byte, through the
// mount and in the model.
func TestConcurrentWriters(t *testing.T) {
	m := mountDefault(t)
	const size = 8 << 20
	want := func(i int) []byte {
		b := make([]byte, size)
		r := rand.NewChaCha8([32]byte{byte(i), 'm', 'u', 'r'})
		r.Read(b)
		return b
	}
	if err := os.Mkdir(filepath.Join(m.Dir, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			f, err := os.Create(filepath.Join(m.Dir, "w", string(rune('a'+i))))
			if err != nil {
				errs <- err
				return
			}
			data := want(i)
			for off := 0; off < len(data); {
				n := min(len(data)-off, 100_000+i*4099)
				if _, err := f.Write(data[off : off+n]); err != nil {
					errs <- err
					return
				}
				off += n
			}
			errs <- f.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 8 {
		p := filepath.Join(m.Dir, "w", string(rune('a'+i)))
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want(i)) {
			t.Errorf("%s: contents differ from what was written", p)
		}
		inModel := make([]byte, size+1)
		n, err := m.Tree.ReadAt(modelIno(t, m.Tree, "w", string(rune('a'+i))), inModel, 0)
		if err != nil || !bytes.Equal(inModel[:n], want(i)) {
			t.Errorf("%s in the model: %d bytes, %v; differ from what was written", p, n, err)
		}
	}
}

// TestReadOnly: a read-only mount reads, and every change is EROFS: from
// the kernel while the mount is read-only, and from the layer itself when
// the kernel lets one through after a remount read-write.
func TestReadOnly(t *testing.T) {
	tree, err := fs.New(fs.Config{RootMode: 0o777})
	if err != nil {
		t.Fatal(err)
	}
	a, err := tree.Create(fs.RootIno, "f", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteAt(a.Ino, []byte("read me"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := tree.Mkdir(fs.RootIno, "d", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	m := mountTree(t, tree, mount.Options{ReadOnly: true})
	if !mountInfo(t, m.Dir).has("ro") {
		t.Errorf("read-only mount lacks ro: %q", mountInfo(t, m.Dir).opts)
	}
	checkReadOnly(t, m.Dir)

	// Remounted read-write, the kernel passes changes on; the layer
	// still refuses them.
	if err := unix.Mount(m.Dir, m.Dir, "fuse.murmur", unix.MS_REMOUNT|unix.MS_NOSUID|unix.MS_NODEV, ""); err != nil {
		t.Fatalf("remount read-write: %v", err)
	}
	if mountInfo(t, m.Dir).has("ro") {
		t.Fatalf("remount left the mount read-only: %q", mountInfo(t, m.Dir).opts)
	}
	checkReadOnly(t, m.Dir)
	wantFile(t, filepath.Join(m.Dir, "f"), "read me")
}

// checkReadOnly fails t unless the mount on dir, holding the file f and
// the directory d, reads f and refuses every change with EROFS.
func checkReadOnly(t *testing.T, dir string) {
	t.Helper()
	f, d := filepath.Join(dir, "f"), filepath.Join(dir, "d")
	wantFile(t, f, "read me")
	if _, err := os.ReadDir(d); err != nil {
		t.Errorf("readdir: %v", err)
	}
	for _, c := range []struct {
		what string
		do   func() error
	}{
		{"open for writing", func() error { _, err := os.OpenFile(f, os.O_WRONLY, 0); return err }},
		{"create", func() error { _, err := os.Create(filepath.Join(dir, "new")); return err }},
		{"mkdir", func() error { return os.Mkdir(filepath.Join(dir, "nd"), 0o755) }},
		{"mknod", func() error { return syscall.Mknod(filepath.Join(dir, "nn"), syscall.S_IFREG|0o644, 0) }},
		{"symlink", func() error { return os.Symlink("f", filepath.Join(dir, "l")) }},
		{"link", func() error { return os.Link(f, filepath.Join(dir, "h")) }},
		{"unlink", func() error { return os.Remove(f) }},
		{"rmdir", func() error { return os.Remove(d) }},
		{"rename", func() error { return os.Rename(f, filepath.Join(dir, "g")) }},
		{"truncate", func() error { return os.Truncate(f, 0) }},
		{"chmod", func() error { return os.Chmod(f, 0o600) }},
		{"chown", func() error { return os.Chown(f, 1, 1) }},
		{"utimens", func() error { return os.Chtimes(f, time.Now(), time.Now()) }},
		{"setxattr", func() error { return unix.Setxattr(f, "user.x", []byte("x"), 0) }},
		{"removexattr", func() error { return unix.Removexattr(f, "user.x") }},
	} {
		wantErr(t, c.what, c.do(), syscall.EROFS)
	}
}

// TestInvalidate: with long timeouts the kernel keeps answering from its
// caches when the Tree changes behind it, until Invalidate and
// InvalidateEntry tell it, as a read-only follower will.
func TestInvalidate(t *testing.T) {
	hour := time.Hour
	m := newMount(t, fs.Config{}, mount.Options{EntryTimeout: hour, AttrTimeout: hour, NegativeTimeout: hour})
	p := filepath.Join(m.Dir, "f")
	writeFile(t, p, []byte("one"), 0o644)
	ino := modelIno(t, m.Tree, "f")
	// size asks for the size alone: a read marks the cached atime stale,
	// and a stat asking for it would fetch all attributes afresh.
	size := func() int64 {
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, p, 0, unix.STATX_SIZE, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Size)
	}
	if size() != 3 {
		t.Fatal("size of f is not 3")
	}

	// Attributes and contents.
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readAt0 := func() string {
		buf := make([]byte, 16)
		n, err := f.ReadAt(buf, 0)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if got := readAt0(); got != "one" {
		t.Fatalf("read: %q", got)
	}
	if _, err := m.Tree.WriteAt(ino, []byte("two"), 0); err != nil {
		t.Fatal(err)
	}
	if got := readAt0(); got != "one" {
		t.Errorf("read from the page cache: %q, want the cached %q", got, "one")
	}
	if _, err := m.Tree.WriteAt(ino, []byte("three"), 0); err != nil {
		t.Fatal(err)
	}
	if size() != 3 {
		t.Errorf("size changed before Invalidate: the attribute cache is not in use")
	}
	if err := m.Srv.Invalidate(ino); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != 5 {
		t.Errorf("size after Invalidate: %d, want 5", got)
	}
	if got := readAt0(); got != "three" {
		t.Errorf("read after Invalidate: %q, want %q", got, "three")
	}

	// Entries, present and absent.
	q := filepath.Join(m.Dir, "new")
	if _, err := os.Lstat(q); !os.IsNotExist(err) {
		t.Fatalf("lstat new: %v", err)
	}
	if _, err := m.Tree.Create(fs.RootIno, "new", 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(q); !os.IsNotExist(err) {
		t.Errorf("new appeared before InvalidateEntry (%v): negative entries are not cached", err)
	}
	if err := m.Srv.InvalidateEntry(fs.RootIno, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(q); err != nil {
		t.Errorf("lstat new after InvalidateEntry: %v", err)
	}
	if err := m.Tree.Unlink(fs.RootIno, "new"); err != nil {
		t.Fatal(err)
	}
	if err := m.Srv.InvalidateEntry(fs.RootIno, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(q); !os.IsNotExist(err) {
		t.Errorf("lstat new after unlink and InvalidateEntry: %v", err)
	}
	// Names and inodes the kernel never saw need nothing.
	if err := m.Srv.InvalidateEntry(fs.RootIno, "never"); err != nil {
		t.Errorf("InvalidateEntry of an unknown name: %v", err)
	}
	if err := m.Srv.Invalidate(12345); err != nil {
		t.Errorf("Invalidate of an unknown inode: %v", err)
	}
}

// TestKeepCache: an open keeps the page cache, which a write through the
// mount updates; after a change announced by Invalidate, the cache is
// dropped.
func TestKeepCache(t *testing.T) {
	m := mountDefault(t)
	p := filepath.Join(m.Dir, "f")
	const size = 64 << 10
	writeFile(t, p, pattern(1, size), 0o644)
	ino := modelIno(t, m.Tree, "f")
	readAll := func() {
		t.Helper()
		if got, err := os.ReadFile(p); err != nil || len(got) != size {
			t.Fatalf("read: %d bytes, %v", len(got), err)
		}
	}
	// residentAfterOpen opens f and counts the pages in the page cache
	// before reading anything.
	residentAfterOpen := func() int {
		t.Helper()
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return resident(t, f, size)
	}
	readAll() // the first open after the writes: the cache is dropped, then filled
	if got := residentAfterOpen(); got != size/4096 {
		t.Errorf("unchanged file: %d pages cached after open, want all %d", got, size/4096)
	}

	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("changed"), 100); err != nil {
		t.Fatal(err)
	}
	f.Close()
	// The write went through the page cache, which holds the new bytes:
	// it is kept, and reads show the change.
	if got := residentAfterOpen(); got != size/4096 {
		t.Errorf("file changed through the mount: %d pages cached after open, want all %d", got, size/4096)
	}
	if got, err := os.ReadFile(p); err != nil || string(got[100:107]) != "changed" {
		t.Fatalf("after a write through the mount the file reads %q, %v", got[100:107], err)
	}
	if got := residentAfterOpen(); got != size/4096 {
		t.Errorf("unchanged again: %d pages cached after open, want %d", got, size/4096)
	}

	if _, err := m.Tree.WriteAt(ino, []byte("behind"), 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Srv.Invalidate(ino); err != nil {
		t.Fatal(err)
	}
	if got := residentAfterOpen(); got != 0 {
		t.Errorf("file changed behind the kernel and invalidated: %d pages cached after open, want 0", got)
	}
	if got, err := os.ReadFile(p); err != nil || string(got[:6]) != "behind" {
		t.Errorf("read after Invalidate: %q, %v", got[:6], err)
	}
}

// resident returns how many of the first size bytes' pages of f are in
// the page cache, without reading them.
func resident(t testing.TB, f *os.File, size int) int {
	t.Helper()
	mem, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	vec := make([]byte, (size+4095)/4096)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

// TestHandlesReleased opens files and directories every way a program
// does, then removes them: the model frees every inode, so each open was
// matched by exactly one release, and none came early.
func TestHandlesReleased(t *testing.T) {
	m := mountDefault(t)
	names := []string{"ro", "trunc", "append", "dup", "mmap", "dir"}
	inos := map[string]fs.Ino{}
	for _, n := range names[:5] {
		writeFile(t, filepath.Join(m.Dir, n), []byte("contents"), 0o644)
		inos[n] = modelIno(t, m.Tree, n)
	}
	if err := os.Mkdir(filepath.Join(m.Dir, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	inos["dir"] = modelIno(t, m.Tree, "dir")
	path := func(n string) string { return filepath.Join(m.Dir, n) }

	for _, c := range []struct {
		name  string
		flags int
	}{{"ro", os.O_RDONLY}, {"trunc", os.O_WRONLY | os.O_TRUNC}, {"append", os.O_RDWR | os.O_APPEND}} {
		f, err := os.OpenFile(path(c.name), c.flags, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte("more"))
		f.Close()
	}
	// dup: two descriptors, two flushes, one handle.
	fd, err := syscall.Open(path("dup"), syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fd2, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	// mmap: the mapping holds the handle after close. The test never
	// touches the mapped memory: a page fault in the process serving the
	// mount can stall the Go runtime's stop-the-world (see mount.Mount).
	f, err := os.Open(path("mmap"))
	if err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, 8, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	dir, err := os.Open(path("dir"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dir.Readdirnames(-1); err != nil {
		t.Fatal(err)
	}

	for _, n := range names {
		if err := os.Remove(path(n)); err != nil {
			t.Fatal(err)
		}
	}
	// Still open: dup's second descriptor, the mapping, the directory.
	for _, n := range []string{"dup", "mmap", "dir"} {
		if _, err := m.Tree.GetAttr(inos[n]); err != nil {
			t.Errorf("%s freed while still open: %v", n, err)
		}
	}
	// Linux refuses to list a removed directory (ENOENT, as on ext4),
	// but it still stats.
	if names, err := dir.Readdirnames(-1); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("reading a removed open directory: %q, %v; want ENOENT", names, err)
	}
	if fi, err := dir.Stat(); err != nil || !fi.IsDir() {
		t.Errorf("fstat of a removed open directory: %v, %v", fi, err)
	}
	syscall.Close(fd2)
	unix.Munmap(mem)
	dir.Close()
	for _, n := range names {
		waitFor(t, "the model to free "+n, func() bool {
			_, err := m.Tree.GetAttr(inos[n])
			return errors.Is(err, fs.ErrNotExist)
		})
	}
}
