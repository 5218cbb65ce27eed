package fstree_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/fs"
)

// smallTree makes a few files, directories and hard links under root.
func smallTree(t *testing.T, root string) {
	t.Helper()
	for _, d := range []string{"b", "b/c", "a", "B", "skip", "skip/deeper"} {
		must(t, os.Mkdir(filepath.Join(root, d), 0o755))
	}
	for _, f := range []string{"z", "b/x", "b/c/y", "a.tmp", "skip/s", "skip/deeper/t", "\xff"} {
		must(t, os.WriteFile(filepath.Join(root, f), []byte(f), 0o644))
	}
	must(t, os.Link(filepath.Join(root, "z"), filepath.Join(root, "b/c/z2")))
	must(t, os.Link(filepath.Join(root, "z"), filepath.Join(root, "a/z3")))
}

// TestScanOrder: the root, then names bytewise, depth first; the later
// names of a file have Link set to its first.
func TestScanOrder(t *testing.T) {
	root := t.TempDir()
	smallTree(t, root)
	es := scanAll(t, root, fstree.ScanOptions{})
	want := []string{".", "B", "a", "a/z3", "a.tmp", "b", "b/c", "b/c/y", "b/c/z2", "b/x",
		"skip", "skip/deeper", "skip/deeper/t", "skip/s", "z", "\xff"}
	if got := paths(es); !slices.Equal(got, want) {
		t.Fatalf("order:\n got %q\nwant %q", got, want)
	}
	if again := paths(scanAll(t, root+"/", fstree.ScanOptions{})); !slices.Equal(again, want) {
		t.Errorf("second scan, of %q: %q", root+"/", again)
	}
	links := map[string]string{}
	for _, e := range es {
		if e.Link != "" {
			links[e.Path] = e.Link
		}
		if e.Path == "a/z3" && (e.Attr.Nlink != 3 || e.Attr.Kind != fs.Regular) {
			t.Errorf("a/z3: %+v", e.Attr)
		}
	}
	// a/z3 comes first in the scan, so it is the one linked to.
	if want := map[string]string{"b/c/z2": "a/z3", "z": "a/z3"}; !maps(links, want) {
		t.Errorf("links %q, want %q", links, want)
	}
	st := lstat(t, filepath.Join(root, "z"))
	if e := es[len(es)-2]; uint64(e.Attr.Ino) != st.Ino || e.Dev != st.Dev || e.Attr.Size != 1 || e.Blocks != st.Blocks {
		t.Errorf("z: %+v, stat %+v", e, st)
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestExclude: an excluded file is not reported, an excluded directory
// is not descended into, and the root is never asked about.
func TestExclude(t *testing.T) {
	root := t.TempDir()
	smallTree(t, root)
	var asked []string
	es := scanAll(t, root, fstree.ScanOptions{Exclude: func(p string, isDir bool) bool {
		asked = append(asked, p)
		return p == "skip" && isDir || strings.HasSuffix(p, ".tmp") && !isDir
	}})
	for _, p := range paths(es) {
		if strings.HasPrefix(p, "skip") || p == "a.tmp" {
			t.Errorf("%q not excluded", p)
		}
	}
	if len(es) != 11 {
		t.Errorf("%d entries: %q", len(es), paths(es))
	}
	for _, p := range asked {
		if p == "." || strings.HasPrefix(p, "skip/") {
			t.Errorf("Exclude asked about %q", p)
		}
	}
}

// TestOneFileSystem mounts a tmpfs in the tree: with OneFileSystem the
// mount point is reported and not descended into; without, it is.
func TestOneFileSystem(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	mnt := filepath.Join(root, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	if err := unix.Mount("none", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { must(t, unix.Unmount(mnt, 0)) })
	must(t, os.WriteFile(filepath.Join(mnt, "inside"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "outside"), nil, 0o644))

	one := paths(scanAll(t, root, fstree.ScanOptions{OneFileSystem: true}))
	if want := []string{".", "mnt", "outside"}; !slices.Equal(one, want) {
		t.Errorf("OneFileSystem: %q, want %q", one, want)
	}
	es := scanAll(t, root, fstree.ScanOptions{})
	if want := []string{".", "mnt", "mnt/inside", "outside"}; !slices.Equal(paths(es), want) {
		t.Errorf("without: %q, want %q", paths(es), want)
	}
	if es[1].Dev == es[0].Dev || es[2].Dev != es[1].Dev {
		t.Errorf("devices: root %d, mnt %d, inside %d", es[0].Dev, es[1].Dev, es[2].Dev)
	}
}

// TestChanged: an append and a new mtime are changes; a second stat of
// an untouched file is not.
func TestChanged(t *testing.T) {
	root := t.TempDir()
	p := filepath.Join(root, "f")
	must(t, os.WriteFile(p, []byte("one"), 0o644))
	stat := func() *fstree.Entry {
		e, err := fstree.Stat(root, "f")
		must(t, err)
		return e
	}
	a, b := stat(), stat()
	if fstree.Changed(a, b) {
		t.Errorf("untouched file changed: %+v, %+v", a, b)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString("two")
	must(t, err)
	must(t, f.Close())
	c := stat()
	if !fstree.Changed(b, c) || c.Attr.Size != 6 {
		t.Errorf("append not seen: %+v, %+v", b.Attr, c.Attr)
	}
	must(t, os.Chtimes(p, time.Time{}, time.Unix(0, c.Attr.Mtime+1)))
	d := stat()
	if !fstree.Changed(c, d) || d.Attr.Mtime != c.Attr.Mtime+1 {
		t.Errorf("mtime change not seen: %+v, %+v", c.Attr, d.Attr)
	}
	// Only Size, Mtime, Ctime, Ino, Dev and Kind count.
	e := *d
	e.Attr.Atime++
	e.Xattrs = map[string][]byte{"user.x": nil}
	if fstree.Changed(d, &e) {
		t.Error("an atime or xattr difference counted as a change")
	}
	e.Attr.Ino++
	if !fstree.Changed(d, &e) {
		t.Error("a new inode not seen")
	}
}

// TestScanErrors makes real failures: a file removed between the reading
// of its directory and its lstat, a directory removed before it is
// opened, and a directory swapped for a symlink.
func TestScanErrors(t *testing.T) {
	outside := t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), nil, 0o644))
	setup := func() string {
		root := t.TempDir()
		for _, d := range []string{"d1", "d2", "d3"} {
			must(t, os.Mkdir(filepath.Join(root, d), 0o755))
			must(t, os.WriteFile(filepath.Join(root, d, "f"), nil, 0o644))
		}
		must(t, os.WriteFile(filepath.Join(root, "a"), nil, 0o644))
		must(t, os.WriteFile(filepath.Join(root, "b"), nil, 0o644))
		return root
	}
	// fn works on the tree as the scan reaches: when it is given "a",
	// the root's names have been read and "b" is not yet stat'd.
	sabotage := func(root string) func(*fstree.Entry) error {
		return func(e *fstree.Entry) error {
			switch e.Path {
			case "a":
				return os.Remove(filepath.Join(root, "b"))
			case "d1":
				return os.RemoveAll(filepath.Join(root, "d1"))
			case "d2":
				must(t, os.Rename(filepath.Join(root, "d2"), filepath.Join(root, "moved")))
				return os.Symlink(outside, filepath.Join(root, "d2"))
			}
			return nil
		}
	}

	root := setup()
	var got []string
	errs := map[string]error{}
	err := fstree.Scan(context.Background(), root, fstree.ScanOptions{OnError: func(p string, err error) error {
		errs[p] = err
		return nil
	}}, func(e *fstree.Entry) error {
		got = append(got, e.Path)
		return sabotage(root)(e)
	})
	if err != nil {
		t.Fatalf("Scan: %v", err)
	}
	// Nothing of what d2's symlink points to is scanned.
	if want := []string{".", "a", "d1", "d2", "d3", "d3/f"}; !slices.Equal(got, want) {
		t.Errorf("scanned %q, want %q", got, want)
	}
	if !errors.Is(errs["b"], os.ErrNotExist) || !errors.Is(errs["d1"], os.ErrNotExist) ||
		!(errors.Is(errs["d2"], syscall.ENOTDIR) || errors.Is(errs["d2"], syscall.ELOOP)) || len(errs) != 3 {
		t.Errorf("errors: %v", errs)
	}

	// Without OnError the first error ends the scan.
	root = setup()
	err = fstree.Scan(context.Background(), root, fstree.ScanOptions{}, sabotage(root))
	var pe *os.PathError
	if !errors.As(err, &pe) || !errors.Is(err, os.ErrNotExist) || pe.Path != filepath.Join(root, "b") {
		t.Errorf("Scan without OnError: %v", err)
	}
	// OnError's error ends it too, as does fn's.
	stop := errors.New("stop")
	root = setup()
	if err := fstree.Scan(context.Background(), root, fstree.ScanOptions{OnError: func(string, error) error { return stop }},
		sabotage(root)); err != stop {
		t.Errorf("OnError's error: Scan returned %v", err)
	}
	n := 0
	if err := fstree.Scan(context.Background(), root, fstree.ScanOptions{}, func(*fstree.Entry) error {
		n++
		return stop
	}); err != stop || n != 1 {
		t.Errorf("fn's error: Scan returned %v after %d entries", err, n)
	}
}

// TestScanCancel: the end of the context ends the scan.
func TestScanCancel(t *testing.T) {
	root := t.TempDir()
	smallTree(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := fstree.Scan(ctx, root, fstree.ScanOptions{}, func(*fstree.Entry) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if err != context.Canceled || n != 3 {
		t.Errorf("Scan returned %v after %d entries", err, n)
	}
}

// TestOpen: Open refuses a symlink and a fifo swapped in for a file, and
// unsafe paths.
func TestOpen(t *testing.T) {
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "f"), []byte("data"), 0o644))
	must(t, os.Symlink("f", filepath.Join(root, "link")))
	must(t, unix.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	f, err := fstree.Open(root, "f")
	must(t, err)
	b := make([]byte, 10)
	if n, _ := f.Read(b); string(b[:n]) != "data" {
		t.Errorf("read %q", b[:n])
	}
	f.Close()
	if _, err := fstree.Open(root, "link"); !errors.Is(err, syscall.ELOOP) {
		t.Errorf("Open symlink: %v", err)
	}
	if _, err := fstree.Open(root, "fifo"); !errors.Is(err, fstree.ErrNotRegular) {
		t.Errorf("Open fifo: %v", err)
	}
	for _, p := range []string{"../f", "/f", "", "a//f", "./f"} {
		if _, err := fstree.Open(root, p); !errors.Is(err, fstree.ErrUnsafePath) {
			t.Errorf("Open %q: %v", p, err)
		}
		if _, err := fstree.Stat(root, p); !errors.Is(err, fstree.ErrUnsafePath) {
			t.Errorf("Stat %q: %v", p, err)
		}
	}
}

// TestScanGoRoot scans the Go distribution. Its speed is measured by
// BenchmarkScanGoRoot, not asserted here (the machines are shared).
func TestScanGoRoot(t *testing.T) {
	goroot := runtime.GOROOT()
	start := time.Now()
	es := scanAll(t, goroot, fstree.ScanOptions{})
	t.Logf("%d entries of %s in %v", len(es), goroot, time.Since(start))
	if len(es) < 1000 {
		t.Errorf("only %d entries", len(es))
	}
}

// BenchmarkScanGoRoot scans the Go distribution: one fstatat and one
// llistxattr per entry.
func BenchmarkScanGoRoot(b *testing.B) {
	goroot := runtime.GOROOT()
	n := 0
	for b.Loop() {
		n = 0
		if err := fstree.Scan(context.Background(), goroot, fstree.ScanOptions{}, func(*fstree.Entry) error {
			n++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
}
