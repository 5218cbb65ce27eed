package drive_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/murmur-cloud/murmur/fs/state"

	"github.com/murmur-cloud/murmur/fs"
)

// a file that left inline mode (grew past InlineMax) shortly before a
// crash of the mount process comes back inline (the state was last
// flushed then), but its cache file, written by toFile, stays behind.
// trim (the size at load) guards only bytes past the size at load: after
// the file shrinks, is committed and its local copy dropped, extending it
// shows the lost write's bytes where zeros belong.
func TestDriveInlineCrashLeavesNoStaleBytes(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	tr := d.Tree()
	a := bytes.Repeat([]byte("A"), 10<<10)
	ino := writeFile(t, tr, fs.RootIno, "f", a)
	mustCommit(t, d) // state flushed: f inline, 10 KiB of A
	if _, err := tr.WriteAt(ino, bytes.Repeat([]byte("B"), 100<<10), 0); err != nil {
		t.Fatal(err) // toFile: data/INO holds 100 KiB of B; state not flushed
	}
	crashed := crashCopy(t, dir) // the mount process dies (d is abandoned)

	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	tr2 := d2.Tree()
	if got := readFile(t, tr2, fs.RootIno, "f"); !bytes.Equal(got, a) {
		t.Fatalf("after the crash f is not the last flushed version")
	}
	if _, err := tr2.SetAttr(ino, fs.SetAttrIn{Valid: fs.SetSize, Size: 1000}); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d2)
	d2.DropCache()
	if _, err := tr2.SetAttr(ino, fs.SetAttrIn{Valid: fs.SetSize, Size: 50 << 10}); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Repeat([]byte("A"), 1000), make([]byte, 50<<10-1000)...)
	got := readFile(t, tr2, fs.RootIno, "f")
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("extended file differs at %d: %q, want zeros (bytes of a write the crash lost)", i, got[i:min(i+8, len(got))])
	}
}

// Drive.Restore keeps each surviving inode's cache file as it is, with
// the newer version's bytes past the restored size; extending the file
// afterwards shows them where zeros belong.
func TestDriveRestoreLeavesNoStaleBytes(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	defer d.Close(context.Background())
	tr := d.Tree()
	ino := writeFile(t, tr, fs.RootIno, "f", []byte("small"))
	mustCommit(t, d)
	gen := d.Status().Snapshot
	if _, err := tr.WriteAt(ino, bytes.Repeat([]byte("B"), 2*state.BlockSize), 0); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d)
	if err := d.Restore(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, tr, fs.RootIno, "f"); string(got) != "small" {
		t.Fatalf("restored f reads %q", got)
	}
	if _, err := tr.SetAttr(ino, fs.SetAttrIn{Valid: fs.SetSize, Size: state.BlockSize}); err != nil {
		t.Fatal(err)
	}
	want := append([]byte("small"), make([]byte, state.BlockSize-5)...)
	got := readFile(t, tr, fs.RootIno, "f")
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("extended restored file differs at %d: %q, want zeros", i, got[i:min(i+8, len(got))])
	}
}

// A write reaches the state directory within FlushEvery; from then on a
// crash of the mount process keeps it, for a small (inline) file and for
// an in-place overwrite of a committed big one. Before then, the crash
// shows the old bytes or the new, never others.
func TestDriveWriteSurvivesProcessCrashOnceFlushed(t *testing.T) {
	for _, size := range []int{100, 2 * state.BlockSize} {
		for _, flushed := range []bool{true, false} {
			e := newDriveEnv(t)
			dir := t.TempDir()
			d := e.open(dir, false)
			tr := d.Tree()
			ino := writeFile(t, tr, fs.RootIno, "f", bytes.Repeat([]byte("a"), size))
			mustCommit(t, d)
			if _, err := tr.WriteAt(ino, []byte("WRITTEN"), 0); err != nil {
				t.Fatal(err)
			}
			if flushed {
				if err := d.FlushState(); err != nil {
					t.Fatal(err)
				}
			}
			crashed := crashCopy(t, dir)
			d2 := e.open(crashed, false)
			got := readFile(t, d2.Tree(), fs.RootIno, "f")
			d2.Close(context.Background())
			switch {
			case len(got) != size:
				t.Errorf("size %d, flushed %v: %d bytes after the crash", size, flushed, len(got))
			case flushed && !bytes.HasPrefix(got, []byte("WRITTEN")):
				t.Errorf("size %d: a flushed write was lost by a crash of the mount process: f starts %q", size, got[:7])
			case !bytes.HasPrefix(got, []byte("WRITTEN")) && !bytes.HasPrefix(got, []byte("aaaaaaa")):
				t.Errorf("size %d: after the crash f starts %q, neither the old bytes nor the new", size, got[:7])
			}
		}
	}
}

// cmd/murmur's serveDrive closes the Drive after unmountRetrying
// gives up (a program kept the mount busy for a minute), while the kernel
// still sends that program's requests. What the Tree does with them then:
func TestDriveTreeRefusesAfterClose(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	tr := d.Tree()
	ino := writeFile(t, tr, fs.RootIno, "f", bytes.Repeat([]byte("x"), 2*state.BlockSize))
	if err := tr.Open(ino); err != nil { // the busy program's handle
		t.Fatal(err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("a request after Close panics (the FUSE server dies, the mount is left 'Transport endpoint is not connected'): %v", r)
		}
	}()
	if _, err := tr.WriteAt(ino, []byte("late"), 0); err == nil {
		t.Errorf("a write after Close succeeded: it is in no state directory and will never be committed")
	}
	if err := tr.Fsync(ino); err == nil {
		t.Errorf("fsync after Close succeeded")
	}
}

// TestDriveUnlinkThenCrashKeepsBytes: a file flushed to the state, then
// unlinked, then the process dies before the next flush: the state brings
// the file back, and its bytes with it (its cache file goes only once the
// deletion is saved).
func TestDriveUnlinkThenCrashKeepsBytes(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	data := randBytes(40, 3*state.InlineMax)
	writeFile(t, d.Tree(), fs.RootIno, "f", data)
	if err := d.FlushState(); err != nil {
		t.Fatal(err)
	}
	if err := d.Tree().Unlink(fs.RootIno, "f"); err != nil {
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir)
	d.Abandon()
	r := e.open(crashed, false)
	defer r.Close(context.Background())
	if got := readFile(t, r.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Fatalf("after the crash the file holds %d bytes differing at %d", len(got), firstDiff(got, data))
	}
	// Once the deletion is saved, the cache file goes.
	if err := r.Tree().Unlink(fs.RootIno, "f"); err != nil {
		t.Fatal(err)
	}
	if err := r.FlushState(); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(filepath.Join(crashed, "data")); len(files) != 0 {
		t.Fatalf("%d cache files left after the deletion was saved", len(files))
	}
}
