package drive_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs/state"

	"github.com/murmur-cloud/murmur/fs"
)

// crashCopy copies a live mount's state directory: what a crash of the
// mount process (kill -9) leaves on disk, since badger's log and the cache
// files are in the page cache either way.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "crashed")
	if out, err := exec.Command("cp", "-a", dir, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

// a mount kept read-only because its state has uncommitted changes
// (docs/drive.md: "the changes stay") follows the writer; Follow frees the
// dirty contents' cache files and Close records the followed root as the
// state's, so the next mount takes the stale local records as current,
// reads zeros in the dirty file and is writable.
func TestDriveFollowDestroysKeptChanges(t *testing.T) {
	e := newDriveEnv(t)
	stateA := t.TempDir()
	a := e.open(stateA, false)
	v1 := randBytes(10, 3*state.BlockSize)
	ino := writeFile(t, a.Tree(), fs.RootIno, "f", v1)
	mustCommit(t, a)
	v2 := bytes.Clone(v1)
	copy(v2[10:], "local change, never committed")
	if _, err := a.Tree().WriteAt(ino, []byte("local change, never committed"), 10); err != nil {
		t.Fatal(err)
	}
	if err := a.Tree().Fsync(ino); err != nil {
		t.Fatal(err)
	}
	crashed := crashCopy(t, stateA) // A's process dies here

	// A's lease lapses; device B writes f.
	e.clock.Add(2 * time.Minute)
	b := e.open(t.TempDir(), false)
	v3 := randBytes(11, state.BlockSize)
	if _, err := b.Tree().SetAttr(ino, fs.SetAttrIn{Valid: fs.SetSize, Size: 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Tree().WriteAt(ino, v3, 0); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A remounts: read-only, its change kept.
	a2 := e.open(crashed, false)
	if a2.Status().Writer {
		t.Fatal("A should be read-only")
	}
	if got := readFile(t, a2.Tree(), fs.RootIno, "f"); !bytes.Equal(got, v2) {
		t.Fatal("kept change not visible")
	}
	// The background loop follows the writer (FollowEvery).
	if err := a2.Follow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	a3 := e.open(crashed, false)
	defer a3.Close(context.Background())
	st := a3.Status()
	got := readFile(t, a3.Tree(), fs.RootIno, "f")
	t.Logf("third mount: writer=%v why=%q pending=%d; f: %d bytes, equal v2=%v v3=%v, first bytes %x",
		st.Writer, st.ReadOnlyWhy, st.PendingFiles, len(got), bytes.Equal(got, v2), bytes.Equal(got, v3), got[:16])
	if !bytes.Equal(got, v2) && !bytes.Equal(got, v3) {
		t.Errorf("f is neither the kept change nor the cloud's version")
	}
	if st.Writer {
		// It commits its stale tree over B's.
		mustCommit(t, a3)
		r := e.open(t.TempDir(), true)
		defer r.Close(context.Background())
		got := readFile(t, r.Tree(), fs.RootIno, "f")
		t.Logf("cloud now: f %d bytes, equal v3=%v, first bytes %x", len(got), bytes.Equal(got, v3), got[:16])
		if !bytes.Equal(got, v3) && !bytes.Equal(got, v2) {
			t.Errorf("the cloud's f is corrupt")
		}
	}
}

// eviction/DropCache truncates the cache file before the content
// state saying the blocks are local is rewritten; a crash in between
// (up to FlushEvery) leaves a committed file reading zeros.
func TestDriveDropCacheCrash(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	data := randBytes(20, 2*state.BlockSize+100)
	writeFile(t, d.Tree(), fs.RootIno, "f", data)
	mustCommit(t, d) // flushes the content state: all blocks local
	if d.DropCache() == 0 {
		t.Fatal("nothing dropped")
	}
	crashed := crashCopy(t, dir) // crash before the next flush
	e.clock.Add(2 * time.Minute)
	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	if got := readFile(t, d2.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Errorf("committed file differs after a crash following DropCache (zeros: %v)", bytes.Count(got, []byte{0}) > len(got)/2)
	}
}

// namespace changes flushed to the state but not committed are lost
// to the cloud after a crash: t.changed is not persisted, so the next
// mount never commits them (and Pending says nothing is pending).
func TestDriveUncommittedNamespaceAfterCrash(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	f := writeFile(t, d.Tree(), fs.RootIno, "a", []byte("x"))
	mustCommit(t, d)
	if err := d.Tree().Rename(fs.RootIno, "a", fs.RootIno, "b", 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Tree().Fsync(f); err != nil { // the rename is durable
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir)
	e.clock.Add(2 * time.Minute)
	d2 := e.open(crashed, false)
	mustLookup(t, d2.Tree(), fs.RootIno, "b")
	pending := d2.Pending()
	mustCommit(t, d2)
	if err := d2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if _, err := r.Tree().Lookup(fs.RootIno, "b"); err != nil {
		t.Errorf("the rename never reached the cloud (Pending after remount = %v): %v", pending, err)
	}
}
