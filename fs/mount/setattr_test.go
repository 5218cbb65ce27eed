package mount_test

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// stat returns the stat of path, not following a symlink.
func stat(t testing.TB, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestSetattr: truncate, chmod, chown and utimens, with UTIME_NOW and
// UTIME_OMIT, nanoseconds and times before 1970.
func TestSetattr(t *testing.T) {
	m := mountDefault(t)
	p := filepath.Join(m.Dir, "f")
	writeFile(t, p, []byte("0123456789"), 0o644)

	if err := os.Truncate(p, 4); err != nil {
		t.Fatal(err)
	}
	wantFile(t, p, "0123")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(8); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if got, _ := os.ReadFile(p); !bytes.Equal(got, []byte("0123\x00\x00\x00\x00")) {
		t.Errorf("extended by ftruncate: %q", got)
	}

	ctime := stat(t, p).Ctim
	time.Sleep(10 * time.Millisecond)
	if err := syscall.Chmod(p, 0o4750); err != nil {
		t.Fatal(err)
	}
	st := stat(t, p)
	if st.Mode != syscall.S_IFREG|0o4750 {
		t.Errorf("mode after chmod 4750: %#o", st.Mode)
	}
	if st.Ctim == ctime {
		t.Errorf("chmod did not move ctime")
	}
	if err := os.Lchown(p, 1234, 5678); err != nil {
		t.Fatal(err)
	}
	if st := stat(t, p); st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("owner after chown: %d:%d", st.Uid, st.Gid)
	}

	at := unix.Timespec{Sec: 1_234_567_890, Nsec: 123_456_789}
	mt := unix.Timespec{Sec: -1_000_000, Nsec: 999_999_999} // 1969
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{at, mt}, 0); err != nil {
		t.Fatal(err)
	}
	if st := stat(t, p); st.Atim != at || st.Mtim != mt {
		t.Errorf("times: atime %v mtime %v, want %v and %v", st.Atim, st.Mtim, at, mt)
	}
	before := time.Now()
	now := unix.Timespec{Nsec: unix.UTIME_NOW}
	omit := unix.Timespec{Nsec: unix.UTIME_OMIT}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{now, omit}, 0); err != nil {
		t.Fatal(err)
	}
	st = stat(t, p)
	if a := time.Unix(st.Atim.Unix()); a.Before(before.Add(-time.Second)) || a.After(time.Now().Add(time.Second)) {
		t.Errorf("atime after UTIME_NOW: %v, want about %v", a, before)
	}
	if st.Mtim != mt {
		t.Errorf("mtime after UTIME_OMIT: %v, want %v unchanged", st.Mtim, mt)
	}
	// A symlink's own times.
	l := filepath.Join(m.Dir, "l")
	if err := os.Symlink("f", l); err != nil {
		t.Fatal(err)
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, l, []unix.Timespec{at, at}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
	if st := stat(t, l); st.Mtim != at {
		t.Errorf("symlink mtime: %v, want %v", st.Mtim, at)
	}
	if st := stat(t, p); st.Mtim != mt {
		t.Errorf("setting the symlink's times moved its target's: %v", st.Mtim)
	}
	if err := os.Truncate(m.Dir, 0); err == nil {
		t.Errorf("truncate of a directory succeeded")
	}
}

// TestDirectoryCounts: a directory's link count is 2 plus its
// subdirectories, and its mtime moves with its entries.
func TestDirectoryCounts(t *testing.T) {
	m := mountDefault(t)
	d := filepath.Join(m.Dir, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(d, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(d, "file"), nil, 0o644)
	if st := stat(t, d); st.Nlink != 4 {
		t.Errorf("nlink of a directory with two subdirectories: %d, want 4", st.Nlink)
	}
	mtime := stat(t, d).Mtim
	time.Sleep(10 * time.Millisecond)
	if err := os.Remove(filepath.Join(d, "a")); err != nil {
		t.Fatal(err)
	}
	st := stat(t, d)
	if st.Nlink != 3 || st.Mtim == mtime {
		t.Errorf("after rmdir: nlink %d, mtime %v (was %v); want 3 and a newer mtime", st.Nlink, st.Mtim, mtime)
	}
}

// TestFileTooBig: a write past the model's MaxFileSize is EFBIG, and the
// file keeps what fit.
func TestFileTooBig(t *testing.T) {
	m := newMount(t, fs.Config{MaxFileSize: 1 << 20}, mount.Options{})
	p := filepath.Join(m.Dir, "f")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_, err = f.Write([]byte("x"))
	wantErr(t, "write past MaxFileSize", err, syscall.EFBIG)
	wantErr(t, "truncate past MaxFileSize", os.Truncate(p, 1<<20+1), syscall.EFBIG)
	if fi, err := os.Stat(p); err != nil || fi.Size() != 1<<20 {
		t.Errorf("size: %v, %v; want 1 MiB", fi, err)
	}
}
