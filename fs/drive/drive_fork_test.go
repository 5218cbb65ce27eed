package drive_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/state"
)

// When a mount must not think the drive forked: its own commits whose
// answers it never heard, transient errors, stale roots (docs/drive.md,
// "One writer, several devices").

// faultyEnv is a driveEnv whose cloud fails the calls a test injects.
func faultyEnv(t *testing.T) (*driveEnv, *cloudtest.Faulty) {
	e := newDriveEnv(t)
	f := cloudtest.NewFaulty(e.cloud)
	e.cloud = f
	return e, f
}

// mustWritable fails unless d takes changes: it holds the lease and its
// tree is not read-only.
func mustWritable(t *testing.T, d *drive.Drive, when string) {
	t.Helper()
	if st := d.Status(); !st.Writer || d.Tree().ReadOnly() {
		t.Fatalf("%s: the mount is read-only: %s", when, st.ReadOnlyWhy)
	}
}

// wantFiles fails unless tr holds exactly the files named, with the
// bytes given, in its root.
func wantFiles(t *testing.T, tr *fs.Tree, want map[string]string, when string) {
	t.Helper()
	ents, err := tr.ReadDir(fs.RootIno)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range ents {
		if e.Name != "." && e.Name != ".." {
			got[e.Name] = string(readFile(t, tr, fs.RootIno, e.Name))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%s: files %v, want %v", when, keys(got), keys(want))
	}
	for n, v := range want {
		if got[n] != v {
			t.Fatalf("%s: %s holds %q, want %q", when, n, got[n], v)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// checkCloud commits d and reads the drive from another device: it must
// hold what d shows.
func checkCloud(t *testing.T, e *driveEnv, d *drive.Drive, want map[string]string) {
	t.Helper()
	mustCommit(t, d)
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	wantFiles(t, r.Tree(), want, "the cloud, from another device")
}

// TestDriveLostPublishThenFailedCommit: a commit's root goes out but its
// answer is lost; the next commit fails, at its publish or its upload;
// then the process dies, or is closed while the cloud is away. The next
// mount on the state must not take its own commit for another device's:
// it is writable, with every change, and commits them.
func TestDriveLostPublishThenFailedCommit(t *testing.T) {
	for _, second := range []cloudtest.Op{cloudtest.OpPublish, cloudtest.OpLookup, cloudtest.OpPut} {
		for _, end := range []string{"crash", "close"} {
			t.Run(second.String()+"/"+end, func(t *testing.T) {
				e, f := faultyEnv(t)
				dir := t.TempDir()
				d := e.open(dir, false)
				writeFile(t, d.Tree(), fs.RootIno, "a", []byte("1"))
				f.Inject(cloudtest.Fault{Op: cloudtest.OpPublish, Times: 1, Lost: true})
				if err := d.Commit(context.Background()); !errors.Is(err, cloudtest.ErrInjected) {
					t.Fatalf("the commit whose answer was lost: %v", err)
				}
				writeFile(t, d.Tree(), fs.RootIno, "b", []byte("2"))
				f.Inject(cloudtest.Fault{Op: second, Times: 1})
				if err := d.Commit(context.Background()); err == nil {
					t.Fatal("the second commit did not fail")
				}
				f.Clear()
				if err := d.FlushState(); err != nil { // b is saved, if no commit saved it
					t.Fatal(err)
				}
				if end == "crash" {
					dir = crashCopy(t, dir)
					d.Abandon()
				} else {
					f.Inject(cloudtest.Fault{Op: cloudtest.OpPut, Times: -1})
					if err := d.Close(context.Background()); err == nil {
						t.Fatal("Close committed with the cloud away")
					}
					f.Clear()
				}
				e.clock.Add(2 * time.Minute)
				d2 := e.open(dir, false)
				defer d2.Close(context.Background())
				mustWritable(t, d2, "the next mount")
				want := map[string]string{"a": "1", "b": "2"}
				wantFiles(t, d2.Tree(), want, "the next mount")
				checkCloud(t, e, d2, want)
			})
		}
	}
}

// TestDriveLostPublishAtClose: the last commit's root, at Close, goes
// out but its answer is lost. The next mount is writable.
func TestDriveLostPublishAtClose(t *testing.T) {
	e, f := faultyEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	writeFile(t, d.Tree(), fs.RootIno, "a", []byte("1"))
	f.Inject(cloudtest.Fault{Op: cloudtest.OpPublish, Times: 1, Lost: true})
	if err := d.Close(context.Background()); err == nil {
		t.Fatal("Close said all was committed")
	}
	d2 := e.open(dir, false)
	defer d2.Close(context.Background())
	mustWritable(t, d2, "the next mount")
	want := map[string]string{"a": "1"}
	wantFiles(t, d2.Tree(), want, "the next mount")
	checkCloud(t, e, d2, want)
}

// TestDriveTransientReadAtOpenKeepsIntent: a mount's commit went out
// (its answer lost) and the process died; another device loaded that
// commit and committed over it. The mount comes back while the cloud's
// reads fail for a moment: it cannot walk the chain to its intent. It may
// refuse to open, or open read-only, but it must not forget the intent:
// the next open, with the cloud back, finds it, takes the other device's
// tree (this mount has nothing uncommitted) and is writable.
func TestDriveTransientReadAtOpenKeepsIntent(t *testing.T) {
	e, f := faultyEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	writeFile(t, d.Tree(), fs.RootIno, "a", []byte("1"))
	f.Inject(cloudtest.Fault{Op: cloudtest.OpPublish, Times: 1, Lost: true})
	if err := d.Commit(context.Background()); err == nil {
		t.Fatal("the commit whose answer was lost said it was done")
	}
	crashed := crashCopy(t, dir)
	d.Abandon()

	e.clock.Add(2 * time.Minute) // the lease lapses
	b := e.open(t.TempDir(), false)
	writeFile(t, b.Tree(), fs.RootIno, "c", []byte("3"))
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "c": "3"}

	f.Inject(cloudtest.Fault{Op: cloudtest.OpGet, Times: 3})
	if d, err := drive.Open(context.Background(), e.config(crashed)); err == nil {
		st := d.Status()
		if st.Writer {
			wantFiles(t, d.Tree(), want, "the mount opened during the errors")
		} else if strings.Contains(st.ReadOnlyWhy, "another device") {
			t.Errorf("the mount opened during the errors says %q", st.ReadOnlyWhy)
		}
		d.Close(context.Background())
	}
	f.Clear()
	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	mustWritable(t, d2, "the open after the errors")
	wantFiles(t, d2.Tree(), want, "the open after the errors")
}

// TestDriveStaleForeignRoot: device B committed; then this device took
// the lease and committed over it. A lookup that finds B's older root (a
// stale answer) must not fail the open nor take the lease from this
// device: the roots say B's commit is an ancestor of this device's.
func TestDriveStaleForeignRoot(t *testing.T) {
	e := newDriveEnv(t)
	b := e.open(t.TempDir(), false)
	writeFile(t, b.Tree(), fs.RootIno, "b", []byte("B"))
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	seq, value, err := e.cloud.LookupRoot(context.Background(), e.keys.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := e.open(dir, false)
	writeFile(t, a.Tree(), fs.RootIno, "a", []byte("A"))
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(dir)
	cfg.Cloud = &staleCloud{Cloud: e.cloud, seq: seq, value: value}
	a2, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open with a stale root of another device's: %v", err)
	}
	defer a2.Close(context.Background())
	mustWritable(t, a2, "the open with a stale root")
	wantFiles(t, a2.Tree(), map[string]string{"a": "A", "b": "B"}, "the open with a stale root")
}

// TestDriveFrozenStateWithoutItsSuper: a state with changes it never
// committed, behind another device's commits, is kept read-only. If the
// super of the commit it is at can no longer be read (its shards gone),
// it must still open, read-only, showing its changes: the super is
// needed only to commit, which a frozen state never does.
func TestDriveFrozenStateWithoutItsSuper(t *testing.T) {
	ctx := context.Background()
	e := newDriveEnv(t)
	mem := e.cloud.(*cloudtest.Mem)
	dir := t.TempDir()
	a := e.open(dir, false)
	before := shardSet(t, mem)
	ino := writeFile(t, a.Tree(), fs.RootIno, "f", bytes.Repeat([]byte("x"), 2*state.BlockSize))
	mustCommit(t, a)
	if _, err := a.Tree().WriteAt(ino, []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Tree().Fsync(ino); err != nil {
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir)
	a.Abandon()

	e.clock.Add(2 * time.Minute)
	b := e.open(t.TempDir(), false)
	writeFile(t, b.Tree(), fs.RootIno, "g", []byte("B"))
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The shards of a's commit go (b's commit names other pages and a new
	// super; f's contents are in a's cache file).
	mem.Shards().Walk(ctx, func(id erasure.ShardID, _ int) error {
		if !before[id] {
			mem.Shards().Delete(ctx, id)
		}
		return nil
	})
	a2, err := drive.Open(ctx, e.config(crashed))
	if err != nil {
		t.Fatalf("the frozen state does not open: %v", err)
	}
	defer a2.Close(ctx)
	if st := a2.Status(); st.Writer {
		t.Fatal("a state behind another device's commits, with changes of its own, is writable")
	}
	if got := readFile(t, a2.Tree(), fs.RootIno, "f"); !bytes.HasPrefix(got, []byte("kept")) {
		t.Fatalf("the kept change reads %q", got[:8])
	}
}

// shardSet returns the IDs of every shard mem holds.
func shardSet(t *testing.T, mem *cloudtest.Mem) map[erasure.ShardID]bool {
	t.Helper()
	out := map[erasure.ShardID]bool{}
	if err := mem.Shards().Walk(context.Background(), func(id erasure.ShardID, _ int) error {
		out[id] = true
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDriveRestoreCrashAfterReplace: the background flush comes just as
// Restore has made the tree the snapshot's, and the process dies before
// the restore is committed. The next mount must show one tree wholly,
// the one before the restore or the restored one, and commit what it
// shows: never the restored tree taken for the committed one.
func TestDriveRestoreCrashAfterReplace(t *testing.T) {
	e, f := faultyEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	tr := d.Tree()
	ino := writeFile(t, tr, fs.RootIno, "f", []byte("v1"))
	mustCommit(t, d)
	gen := d.Status().Snapshot
	if _, err := tr.WriteAt(ino, []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	writeFile(t, tr, fs.RootIno, "g", []byte("later"))
	mustCommit(t, d)
	var crashed string
	d.OnRestored(func() {
		if err := d.FlushState(); err != nil {
			t.Error(err)
		}
		crashed = crashCopy(t, dir)
		f.Inject(cloudtest.Fault{Op: cloudtest.OpPut, Times: -1}) // the process is dead
		f.Inject(cloudtest.Fault{Op: cloudtest.OpPublish, Times: -1})
	})
	if err := d.Restore(context.Background(), gen); err == nil {
		t.Fatal("the restore was committed by a dead process")
	}
	d.Abandon()
	f.Clear()

	e.clock.Add(2 * time.Minute)
	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	mustWritable(t, d2, "after the crash")
	before := map[string]string{"f": "v2", "g": "later"}
	restored := map[string]string{"f": "v1"}
	got := map[string]string{}
	ents, _ := d2.Tree().ReadDir(fs.RootIno)
	for _, e := range ents {
		if e.Name != "." && e.Name != ".." {
			got[e.Name] = string(readFile(t, d2.Tree(), fs.RootIno, e.Name))
		}
	}
	want := before
	if _, ok := got["g"]; !ok {
		want = restored
	}
	wantFiles(t, d2.Tree(), want, "after the crash")
	checkCloud(t, e, d2, want)
}

// TestDriveReadOnlyStateWithoutItsSuper: a read-only mount of a state
// that is current needs its commit's super for nothing (it never
// commits): when that super cannot be read, the state's tree still shows.
func TestDriveReadOnlyStateWithoutItsSuper(t *testing.T) {
	ctx := context.Background()
	e := newDriveEnv(t)
	mem := e.cloud.(*cloudtest.Mem)
	dir := t.TempDir()
	a := e.open(dir, false)
	before := shardSet(t, mem)
	data := randBytes(33, state.BlockSize+5)
	writeFile(t, a.Tree(), fs.RootIno, "f", data)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	mem.Shards().Walk(ctx, func(id erasure.ShardID, _ int) error {
		if !before[id] {
			mem.Shards().Delete(ctx, id)
		}
		return nil
	})
	if w, err := drive.Open(ctx, e.config(dir)); err == nil {
		w.Close(ctx)
		t.Fatal("a writable mount opened on a commit whose super is gone")
	} else if !strings.Contains(err.Error(), "super") {
		t.Fatalf("the writable mount's error does not say why: %v", err)
	}
	cfg := e.config(dir)
	cfg.ReadOnly = true
	r, err := drive.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("a read-only mount of a current state without its super: %v", err)
	}
	defer r.Close(ctx)
	if got := readFile(t, r.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Fatal("f differs")
	}
}

// TestDriveStaleRootAncestorNeverRollsBack: a lookup answers with
// another device's older commit under a sequence number past the one the
// state saw (peers that lost the newest records and kept counting, or a
// state whose last seen sequence fell behind). The sequence numbers do
// not tell; the chain does: the root's commit is an ancestor of the
// state's. The mount keeps its newer tree, writable, instead of clearing
// it and loading the older one.
func TestDriveStaleRootAncestorNeverRollsBack(t *testing.T) {
	e := newDriveEnv(t)
	b := e.open(t.TempDir(), false)
	writeFile(t, b.Tree(), fs.RootIno, "b", []byte("B"))
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, value, err := e.cloud.LookupRoot(context.Background(), e.keys.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := e.open(dir, false)
	writeFile(t, a.Tree(), fs.RootIno, "a", []byte("A"))
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(dir)
	cfg.Cloud = &staleCloud{Cloud: e.cloud, seq: 1000, value: value}
	a2, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open with a stale root: %v", err)
	}
	defer a2.Close(context.Background())
	mustWritable(t, a2, "the open with a stale root")
	wantFiles(t, a2.Tree(), map[string]string{"a": "A", "b": "B"}, "the open with a stale root")
}
