package drive_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/state"
)

// disk models what a crash of the machine leaves of a state directory:
// each file as it was at its last sync (the page cache is lost), and a
// file never synced not at all. The state directory tells it of every
// sync (state.Options.Synced); an fsync is taken to make the file's name
// durable too, as on ext4. A crash may also have written back some files'
// later pages: crash keeps those named as they are now.
type disk struct {
	t   *testing.T
	dir string

	mu    sync.Mutex
	image map[string][]byte // path relative to dir → bytes at the last sync
}

func newDisk(t *testing.T, dir string) *disk {
	return &disk{t: t, dir: dir, image: map[string][]byte{}}
}

func (k *disk) synced(path string) {
	rel, err := filepath.Rel(k.dir, path)
	if err != nil {
		k.t.Errorf("synced %s, outside %s", path, k.dir)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		k.t.Errorf("synced %s: %v", path, err)
		return
	}
	k.mu.Lock()
	k.image[rel] = b
	k.mu.Unlock()
}

// moved returns the disk of dir, a copy of k's directory made by a crash
// of the mount process: the same machine, so what k held synced is what
// is synced of dir.
func (k *disk) moved(dir string) *disk {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := newDisk(k.t, dir)
	for rel, b := range k.image {
		n.image[rel] = b
	}
	return n
}

// crash returns a new state directory holding what a crash of the machine
// leaves now: the synced bytes, and of the files written back (relative
// paths) what they hold now.
func (k *disk) crash(writtenBack ...string) string {
	k.t.Helper()
	dst := filepath.Join(k.t.TempDir(), "after-machine-crash")
	k.mu.Lock()
	files := map[string][]byte{}
	for rel, b := range k.image {
		files[rel] = bytes.Clone(b)
	}
	k.mu.Unlock()
	for _, rel := range writtenBack {
		b, err := os.ReadFile(filepath.Join(k.dir, rel))
		if err != nil {
			k.t.Fatal(err)
		}
		files[rel] = b
	}
	if err := os.MkdirAll(filepath.Join(dst, "data"), 0o700); err != nil {
		k.t.Fatal(err)
	}
	for rel, b := range files {
		if err := os.WriteFile(filepath.Join(dst, rel), b, 0o600); err != nil {
			k.t.Fatal(err)
		}
	}
	return dst
}

// openSynced mounts the drive on dir with k told of every sync.
func (e *driveEnv) openSynced(dir string, k *disk) *drive.Drive {
	e.t.Helper()
	d, err := drive.OpenSynced(context.Background(), e.config(dir), k.synced)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// eachByteFrom reports the first offset where got holds a byte that is
// neither old's nor new's there (past either's end, zero counts as theirs
// only if the file was extended with zeros, which these tests never do).
func eachByteFrom(got, old, new []byte) int {
	for i := range got {
		if (i < len(old) && got[i] == old[i]) || (i < len(new) && got[i] == new[i]) {
			continue
		}
		return i
	}
	return -1
}

// TestDriveMachineCrashFetchedBlockOfDirtyFile: a committed file whose
// local copy was dropped is written in part (its first block fetched,
// then changed) and read further on (its third block fetched); then an
// fsync of another file syncs the journal, which now says both blocks
// are local. A crash of the machine loses the cache file's unsynced
// pages. The reopened file must not read zeros where the journal vouched
// for fetched bytes: every byte is the committed one or the written one.
func TestDriveMachineCrashFetchedBlockOfDirtyFile(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	k := newDisk(t, dir)
	d := e.openSynced(dir, k)
	tr := d.Tree()
	old := randBytes(30, 3*state.BlockSize)
	ino := writeFile(t, tr, fs.RootIno, "f", old)
	mustCommit(t, d)
	if d.DropCache() == 0 {
		t.Fatal("nothing dropped")
	}
	if err := d.FlushState(); err != nil {
		t.Fatal(err)
	}
	patch := []byte("written after the commit")
	if _, err := tr.WriteAt(ino, patch, 5); err != nil {
		t.Fatal(err)
	}
	newer := bytes.Clone(old)
	copy(newer[5:], patch)
	p := make([]byte, 100)
	if _, err := tr.ReadAt(ino, p, 2*state.BlockSize+10); err != nil {
		t.Fatal(err)
	}
	g := writeFile(t, tr, fs.RootIno, "g", []byte("another file"))
	if err := tr.Fsync(g); err != nil {
		t.Fatal(err)
	}
	crashed := k.crash()
	d.Abandon()

	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	got := readFile(t, d2.Tree(), fs.RootIno, "f")
	if len(got) != len(old) {
		t.Fatalf("f has %d bytes after the crash, want %d", len(got), len(old))
	}
	if i := eachByteFrom(got, old, newer); i >= 0 {
		t.Fatalf("after a crash of the machine f holds at %d (block %d) %x, a byte never written there (zeros: %v)",
			i, i/state.BlockSize, got[i:min(i+8, len(got))], bytes.Count(got, []byte{0}) > len(got)/4)
	}
	if got := readFile(t, d2.Tree(), fs.RootIno, "g"); string(got) != "another file" {
		t.Fatalf("the fsynced g reads %q", got)
	}
}

// TestDriveMachineCrashAfterCleanClose: Close returns success only once
// what it acknowledged is on disk. A clean Close records that the local
// blocks can be trusted; a crash of the machine after it must not leave
// cache files that lost them.
func TestDriveMachineCrashAfterCleanClose(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	k := newDisk(t, dir)
	d := e.openSynced(dir, k)
	data := randBytes(31, 2*state.BlockSize+777)
	writeFile(t, d.Tree(), fs.RootIno, "f", data)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	crashed := k.crash()
	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	if got := readFile(t, d2.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Fatalf("after a clean Close and a crash of the machine f differs at %d (zeros: %v)",
			firstDiff(got, data), bytes.Count(got, []byte{0}) > len(got)/4)
	}
}

// TestDriveMachineCrashInlineGrown: a small file is saved (the background
// flush), then fsynced: its bytes are in the journal, synced. It grows
// past InlineMax, so its bytes move to a cache file, and the next flush
// writes its record as no longer inline. A crash of the machine that
// wrote the journal's later pages back but not the cache file's must not
// lose the fsynced bytes: each is the fsynced one or a later write's.
// (Past them, a later write's bytes or zeros.)
func TestDriveMachineCrashInlineGrown(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	k := newDisk(t, dir)
	d := e.openSynced(dir, k)
	tr := d.Tree()
	small := bytes.Repeat([]byte("fsynced "), 128)
	ino := writeFile(t, tr, fs.RootIno, "f", small)
	if err := d.FlushState(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Fsync(ino); err != nil {
		t.Fatal(err)
	}
	grown := randBytes(32, 3*state.InlineMax)
	copy(grown, bytes.Repeat([]byte("G"), 4096)) // over the fsynced bytes too
	if _, err := tr.WriteAt(ino, grown[len(small):], int64(len(small))); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WriteAt(ino, grown[:len(small)], 0); err != nil {
		t.Fatal(err)
	}
	if err := d.FlushState(); err != nil {
		t.Fatal(err)
	}
	crashed := k.crash("journal")
	d.Abandon()

	d2 := e.open(crashed, false)
	defer d2.Close(context.Background())
	got := readFile(t, d2.Tree(), fs.RootIno, "f")
	if len(got) < len(small) {
		t.Fatalf("f has %d bytes after the crash, fewer than the %d fsynced", len(got), len(small))
	}
	if i := eachByteFrom(got[:len(small)], small, grown); i >= 0 {
		t.Fatalf("after a crash of the machine f holds at %d %x, where it was fsynced as %q",
			i, got[i:min(i+8, len(got))], small[i:min(i+8, len(small))])
	}
	// Past the fsynced bytes, the later writes reached the cache file or
	// not: each byte is a later write's, or a zero (docs/drive.md: the
	// journal's unsynced pages may reach the disk before a cache file's).
	for i := len(small); i < len(got); i++ {
		if got[i] != 0 && (i >= len(grown) || got[i] != grown[i]) {
			t.Fatalf("after a crash of the machine f holds at %d %x, a byte never written there", i, got[i:min(i+8, len(got))])
		}
	}
}

// TestDriveMachineCrashAfterProcessCrash: the mount process dies (its
// cache files' pages are still in the page cache, never synced), the
// drive is mounted again on the state it left — the open syncs the
// journal — and then the machine crashes. The journal the open synced
// must not vouch for cache file bytes that were never synced: a file
// written before the first crash and never fsynced may come back
// shorter, never with zeros where its bytes were.
func TestDriveMachineCrashAfterProcessCrash(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	k := newDisk(t, dir)
	d := e.openSynced(dir, k)
	data := randBytes(34, 2*state.BlockSize+99)
	writeFile(t, d.Tree(), fs.RootIno, "f", data)
	if err := d.FlushState(); err != nil {
		t.Fatal(err)
	}
	left := crashCopy(t, dir)
	k2 := k.moved(left)
	d.Abandon()

	d2 := e.openSynced(left, k2) // syncs the state at open
	crashed := k2.crash()
	d2.Abandon()

	d3 := e.open(crashed, false)
	defer d3.Close(context.Background())
	a, err := d3.Tree().Lookup(fs.RootIno, "f")
	if err != nil {
		return // the file never reached the disk: allowed
	}
	got := readFile(t, d3.Tree(), fs.RootIno, "f")
	if int(a.Size) > len(data) || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("after a crash of the process, a mount and a crash of the machine f has %d bytes differing at %d (zeros: %v)",
			len(got), firstDiff(got, data), bytes.Count(got, []byte{0}) > len(got)/4)
	}
}
