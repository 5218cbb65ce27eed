package drive_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/store"
)

// hookCloud calls hook before every shard put.
type hookCloud struct {
	*cloudtest.Mem
	mu   sync.Mutex
	hook func()
}

func (h *hookCloud) run() {
	h.mu.Lock()
	f := h.hook
	h.hook = nil
	h.mu.Unlock()
	if f != nil {
		f()
	}
}

func (h *hookCloud) Put(ctx context.Context, id erasure.ShardID, b []byte) error {
	h.run()
	return h.Mem.Put(ctx, id, b)
}

func (h *hookCloud) PutStripe(ctx context.Context, d *erasure.Descriptor, s [][]byte) ([]store.Holder, error) {
	h.run()
	return h.Mem.PutStripe(ctx, d, s)
}

// an unlink while a commit uploads the file: the file's page (touched)
// drops it, its directory's page (not in the commit's snapshot of changes)
// still names it. The commit's tree has a dangling entry; a follower's
// ReadDir dereferences a nil inode.
func TestDriveUnlinkDuringCommitUpload(t *testing.T) {
	e := newDriveEnv(t)
	hc := &hookCloud{Mem: e.cloud.(*cloudtest.Mem)}
	e.cloud = hc
	d := e.open(t.TempDir(), false)
	defer d.Close(context.Background())
	tr := d.Tree()
	var x fs.Ino
	for i := 0; x < format.PageInodes; i++ {
		a, err := tr.Create(fs.RootIno, fmt.Sprint("f", i), 0o644, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		x = a.Ino
	}
	name := fmt.Sprint("f", x-2) // the root is 1, the first file 2
	if mustLookup(t, tr, fs.RootIno, name).Ino != x {
		t.Fatal("naming")
	}
	mustCommit(t, d)
	follower := e.open(t.TempDir(), true)
	defer follower.Close(context.Background())

	if _, err := tr.WriteAt(x, []byte("contents"), 0); err != nil {
		t.Fatal(err)
	}
	hc.hook = func() { // during the content upload
		if err := tr.Unlink(fs.RootIno, name); err != nil {
			t.Error(err)
		}
	}
	mustCommit(t, d)

	if err := follower.Follow(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("follower's ReadDir panicked: %v", r)
		}
	}()
	ents, err := follower.Tree().ReadDir(fs.RootIno)
	t.Logf("%d entries, %v", len(ents), err)
}

// a read-only mount with a state directory follows a commit; Close
// writes the followed root into the state's meta, but Follow never marked
// the changed inodes, so the records on disk are the old tree. The next
// mount on that state takes it as current and shows (and would commit) the
// stale tree.
func TestDriveFollowThenRemountStale(t *testing.T) {
	e := newDriveEnv(t)
	w := e.open(t.TempDir(), false)
	writeFile(t, w.Tree(), fs.RootIno, "a", []byte("1"))
	mustCommit(t, w)
	rstate := t.TempDir()
	r := e.open(rstate, true)
	writeFile(t, w.Tree(), fs.RootIno, "b", []byte("2"))
	mustCommit(t, w)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Follow(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustLookup(t, r.Tree(), fs.RootIno, "b")
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2 := e.open(rstate, false)
	defer r2.Close(context.Background())
	if _, err := r2.Tree().Lookup(fs.RootIno, "b"); err != nil {
		t.Errorf("remount on the follower's state: %v (status %+v)", err, r2.Status())
	}
	writeFile(t, r2.Tree(), fs.RootIno, "c", []byte("3"))
	mustCommit(t, r2)
	fresh := e.open(t.TempDir(), true)
	defer fresh.Close(context.Background())
	if _, err := fresh.Tree().Lookup(fs.RootIno, "b"); err != nil {
		t.Errorf("the cloud lost b: %v", err)
	}
}

// Commit (all=true) and Close skip a file that is open and was just
// written: commitLocked never reads all.
func TestDriveCommitSkipsOpenFile(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	ino := writeFile(t, d.Tree(), fs.RootIno, "f", []byte("x"))
	if err := d.Tree().Open(ino); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Tree().WriteAt(ino, []byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d)
	st := d.Status()
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if got := readFile(t, r.Tree(), fs.RootIno, "f"); string(got) != "data" {
		t.Errorf("after Commit and a clean Close the cloud has f=%q (pending after commit: %d files)", got, st.PendingFiles)
	}
}

// after a crash the cache file can be longer than the file's size;
// extending the file then shows the stale bytes instead of zeros.
func TestDriveExtendAfterCrashShowsStaleBytes(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	tr := d.Tree()
	ino := writeFile(t, tr, fs.RootIno, "f", randBytes(40, 1000))
	if err := tr.Fsync(ino); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WriteAt(ino, randBytes(41, 1000), 1000); err != nil { // not fsynced
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir)
	e.clock.Add(2 * time.Minute)
	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	if a := mustLookup(t, d2.Tree(), fs.RootIno, "f"); a.Size != 1000 {
		t.Fatalf("size %d", a.Size)
	}
	if _, err := d2.Tree().SetAttr(ino, fs.SetAttrIn{Valid: fs.SetSize, Size: 2000}); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, d2.Tree(), fs.RootIno, "f")
	if !bytes.Equal(got[1000:], make([]byte, 1000)) {
		t.Errorf("the extension reads stale bytes, not zeros")
	}
}
