package mount_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// TestWriterCaches: on a writer mount (cmd/murmur's one-minute
// entry, attribute and negative timeouts, KEEP_CACHE, explicit data cache
// control), what stat and read show agrees with the model after changes
// made through the kernel in ways other than write(2).
func TestWriterCaches(t *testing.T) {
	driveBacked = true
	defer func() { driveBacked = false }()
	m := newMount(t, fs.Config{RootMode: 0o777}, mount.Options{EntryTimeout: time.Minute, AttrTimeout: time.Minute, NegativeTimeout: time.Minute})
	p := filepath.Join(m.Dir, "f")
	writeFile(t, p, pattern(1, 200<<10), 0o644)
	os.ReadFile(p) // fill the page cache

	check := func(what, path string, want []byte) {
		t.Helper()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes, differ from want (%d bytes)", what, len(got), len(want))
		}
		var st syscall.Stat_t
		if err := syscall.Stat(path, &st); err != nil {
			t.Fatal(err)
		}
		a, err := m.Tree.GetAttr(modelIno(t, m.Tree, filepath.Base(path)))
		if err != nil {
			t.Fatal(err)
		}
		if uint64(st.Size) != a.Size || st.Mtim.Nano() != a.Mtime || st.Ctim.Nano() != a.Ctime || uint32(st.Nlink) != a.Nlink {
			t.Errorf("%s: stat size %d mtime %d ctime %d nlink %d; model %d %d %d %d", what, st.Size, st.Mtim.Nano(), st.Ctim.Nano(), st.Nlink, a.Size, a.Mtime, a.Ctime, a.Nlink)
		}
	}
	want := pattern(1, 200<<10)

	// mmap write, msync.
	time.Sleep(10 * time.Millisecond)
	mmapWrite(t, m.Dir, "f", 5000, "MMAPWRITE", true)
	copy(want[5000:], "MMAPWRITE")
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	check("after mmap write", p, want)

	// truncate through another fd, then extend: zeros.
	g, _ := os.OpenFile(p, os.O_RDWR, 0)
	g.Truncate(1000)
	g.Truncate(100 << 10)
	g.Close()
	want = append(want[:1000:1000], make([]byte, 99<<10+24)...)
	check("after truncate and extend via another fd", p, want)

	// fallocate.
	if err := unix.Fallocate(int(f.Fd()), 0, 0, 300<<10); err != nil {
		t.Fatal(err)
	}
	want = append(want, make([]byte, 200<<10)...)
	check("after fallocate", p, want)
	f.Close()

	// O_TRUNC.
	writeFile(t, p, []byte("new"), 0o644)
	check("after O_TRUNC rewrite", p, []byte("new"))

	// hard link: write through one name, stat the other.
	q := filepath.Join(m.Dir, "g")
	if err := os.Link(p, q); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	h, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	h.Write([]byte("+more"))
	h.Close()
	check("other name of a hard link", q, []byte("new+more"))

	// rename over a file that has a cached page and attributes.
	r := filepath.Join(m.Dir, "r")
	writeFile(t, r, []byte("replacement"), 0o644)
	os.ReadFile(q)
	if err := os.Rename(r, q); err != nil {
		t.Fatal(err)
	}
	check("renamed over", q, []byte("replacement"))
	check("the other link of the replaced file", p, []byte("new+more"))
}

// mmapWrite writes s at off of dir/name through a shared mapping, in
// another process (this one serves the mount; see doc.go "Deadlocks").
func mmapWrite(t *testing.T, dir, name string, off int, s string, msync bool) {
	t.Helper()
	sync := ""
	if msync {
		sync = "m.flush();"
	}
	script := fmt.Sprintf("import mmap,os\nfd=os.open(%q,os.O_RDWR)\nm=mmap.mmap(fd,0)\nm[%d:%d]=%q.encode()\n%s\nm.close()\nos.close(fd)\n", name, off, off+len(s), s, sync)
	run(t, env(t), dir, "/root/.pyenv/versions/3.11.7/bin/python3", "-c", script)
}

// TestMmapWithoutMsync: dirty pages of a shared mapping reach the model
// by munmap and close, without msync (FOPEN_NOFLUSH skips fuse_flush's
// write_inode_now; fuse_vma_close must do it).
func TestMmapWithoutMsync(t *testing.T) {
	driveBacked = true
	defer func() { driveBacked = false }()
	m := newMount(t, fs.Config{RootMode: 0o777}, mount.Options{EntryTimeout: time.Minute, AttrTimeout: time.Minute, NegativeTimeout: time.Minute})
	p := filepath.Join(m.Dir, "f")
	writeFile(t, p, pattern(1, 8192), 0o644)
	mmapWrite(t, m.Dir, "f", 100, "NOMSYNC", false)
	buf := make([]byte, 8192)
	n, err := m.Tree.ReadAt(modelIno(t, m.Tree, "f"), buf, 0)
	if err != nil || string(buf[100:107]) != "NOMSYNC" {
		t.Errorf("model after munmap+close: %q (%d, %v)", buf[100:107], n, err)
	}
}
