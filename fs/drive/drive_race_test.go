package drive_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs/drive"

	"github.com/murmur-cloud/murmur/fs"
)

// a commit that loses the lease at publish has already adopted its
// uploads (contents clean); the state then "holds nothing uncommitted" by
// hasLocalChanges, and the next mount clears it: the changes are gone,
// though docs/drive.md says they stay in the state directory.
func TestDriveLeaseLostChangesKept(t *testing.T) {
	e := newDriveEnv(t)
	stateA := t.TempDir()
	a := e.open(stateA, false)
	ino := writeFile(t, a.Tree(), fs.RootIno, "f", []byte("v1"))
	mustCommit(t, a)
	e.clock.Add(2 * time.Minute)
	b := e.open(t.TempDir(), false)
	writeFile(t, b.Tree(), fs.RootIno, "g", []byte("from b"))
	mustCommit(t, b)
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Tree().WriteAt(ino, []byte("v2, A's, must be kept"), 0); err != nil {
		t.Fatal(err)
	}
	if err := a.Commit(context.Background()); !errors.Is(err, drive.ErrLeaseLost) {
		t.Fatalf("commit: %v", err)
	}
	a.Close(context.Background())
	a2 := e.open(stateA, false)
	defer a2.Close(context.Background())
	got := readFile(t, a2.Tree(), fs.RootIno, "f")
	if string(got) != "v2, A's, must be kept" {
		t.Errorf("A's change is gone after remount: f=%q status=%+v", got, a2.Status())
	}
}

// a commit between writeContent (gen bumped, cache file extended) and
// WriteAt's size update uploads the old size and adopts it as clean; the
// tail is never uploaded, and eviction then drops it locally too.
func TestDriveCommitRacesExtendingWrite(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	defer d.Close(context.Background())
	tr := d.Tree()
	a, err := tr.Create(fs.RootIno, "f", 0o644, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var want []byte
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			d.Commit(context.Background())
		}
	})
	for i := range 3000 {
		p := bytes.Repeat([]byte{byte(i)}, 100)
		if _, err := tr.WriteAt(a.Ino, p, int64(len(want))); err != nil {
			t.Fatal(err)
		}
		want = append(want, p...)
	}
	close(stop)
	wg.Wait()
	mustCommit(t, d)
	d.DropCache()
	got := readFile(t, tr, fs.RootIno, "f")
	if !bytes.Equal(got, want) {
		t.Errorf("after commits racing appends and DropCache: %d bytes, first differing at %d; pending=%+v", len(got), firstDiff(got, want), d.Status())
	}
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if got := readFile(t, r.Tree(), fs.RootIno, "f"); !bytes.Equal(got, want) {
		t.Errorf("cloud: %d bytes of %d, first differing at %d", len(got), len(want), firstDiff(got, want))
	}
}

// firstDiff returns the first index where a and b differ, -1 if equal.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) == len(b) {
		return -1
	}
	return min(len(a), len(b))
}

// DropCache marks inodes without Tree.mu (run with -race).
func TestDriveDropCacheRace(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	defer d.Close(context.Background())
	tr := d.Tree()
	ino := writeFile(t, tr, fs.RootIno, "f", []byte("x"))
	var wg sync.WaitGroup
	wg.Go(func() {
		for range 200 {
			d.DropCache()
		}
	})
	for i := range 200 {
		tr.WriteAt(ino, []byte("y"), int64(i))
		tr.Create(fs.RootIno, "n"+string(rune('a'+i%26))+string(rune('a'+i/26)), 0o644, 0, 0)
	}
	wg.Wait()
}

// Fsync uses the cache file without pinning it; a Release closing it
// meanwhile makes fsync fail.
func TestDriveFsyncRacesRelease(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	defer d.Close(context.Background())
	tr := d.Tree()
	ino := writeFile(t, tr, fs.RootIno, "f", []byte("x"))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			tr.Open(ino)
			tr.Release(ino)
		}
	})
	var fails int
	var last error
	for range 500 {
		if err := tr.Fsync(ino); err != nil {
			fails++
			last = err
		}
	}
	close(stop)
	wg.Wait()
	if fails > 0 {
		t.Errorf("%d fsyncs failed, e.g. %v", fails, last)
	}
}

// Follow replaces the content of an open file whose manifest changed;
// Release then unpins the new content, and the old one's fd stays open.
func TestDriveFollowOpenHandleLeaksFd(t *testing.T) {
	e := newDriveEnv(t)
	w := e.open(t.TempDir(), false)
	defer w.Close(context.Background())
	ino := writeFile(t, w.Tree(), fs.RootIno, "f", []byte("one"))
	mustCommit(t, w)
	rstate := t.TempDir()
	r := e.open(rstate, true)
	defer r.Close(context.Background())
	if err := r.Tree().Open(ino); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Tree().WriteAt(ino, []byte("two"), 0); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, w)
	if err := r.Follow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Tree().Release(ino); err != nil {
		t.Fatal(err)
	}
	if n := openUnder(t, rstate); n != 0 {
		t.Errorf("%d cache files still open after the last Release", n)
	}
}

func openUnder(t *testing.T, dir string) int {
	ents, _ := os.ReadDir("/proc/self/fd")
	n := 0
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(l, filepath.Join(dir, "data")) {
			n++
		}
	}
	return n
}
