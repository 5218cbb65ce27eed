package drive_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/fs/state"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/pipeline"
)

// driveEnv is one drive in one in-memory cloud, mounted as often as a test
// likes with its own state directories.
type driveEnv struct {
	t     *testing.T
	keys  *crypt.Keys
	cloud drive.Cloud
	clock *fakeClock
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newDriveEnv(t *testing.T) *driveEnv {
	t.Helper()
	e := &driveEnv{t: t, keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), cloud: cloudtest.NewMem(0), clock: &fakeClock{now: time.Unix(1_800_000_000, 0)}}
	if err := drive.Create(context.Background(), e.config("")); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *driveEnv) config(dir string) drive.Config {
	return drive.Config{
		Keys: e.keys, Cloud: e.cloud, StateDir: dir,
		Pipeline: pipeline.Config{K: 2, M: 1, Chunking: chunk.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}},
		// Long periods: the tests commit and follow by hand.
		CommitEvery: time.Hour, FlushEvery: time.Hour, FollowEvery: time.Hour, LeaseTerm: time.Minute,
		Clock: e.clock.Now,
	}
}

func (e *driveEnv) open(dir string, readOnly bool) *drive.Drive {
	e.t.Helper()
	cfg := e.config(dir)
	cfg.ReadOnly = readOnly
	d, err := drive.Open(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func mustCommit(t *testing.T, d *drive.Drive) {
	t.Helper()
	if err := d.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, tr *fs.Tree, parent fs.Ino, name string, data []byte) fs.Ino {
	t.Helper()
	a, err := tr.Create(parent, name, 0o644, 1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.WriteAt(a.Ino, data, 0); err != nil {
		t.Fatal(err)
	}
	return a.Ino
}

func readFile(t *testing.T, tr *fs.Tree, parent fs.Ino, name string) []byte {
	t.Helper()
	a, err := tr.Lookup(parent, name)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, a.Size)
	n, err := tr.ReadAt(a.Ino, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	return p[:n]
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestDriveRoundTrip: what one mount commits, a mount on another device
// (a fresh state directory) reads back from the cloud, names, modes,
// links, xattrs and bytes, including a file bigger than a block.
func TestDriveRoundTrip(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	tr := d.Tree()
	dir, err := tr.Mkdir(fs.RootIno, "docs", 0o750, 1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	big := randBytes(1, 3*state.BlockSize+12345)
	small := []byte("hello, drive")
	bigIno := writeFile(t, tr, dir.Ino, "big.bin", big)
	writeFile(t, tr, fs.RootIno, "small.txt", small)
	if _, err := tr.Symlink(fs.RootIno, "link", "docs/big.bin", 1000, 1000); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Link(bigIno, fs.RootIno, "hard"); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetXattr(bigIno, "user.color", []byte("blue"), 0); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d)
	if st := d.Status(); st.PendingFiles != 0 || st.Snapshot != 2 {
		t.Fatalf("after commit: %+v", st)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	rt := r.Tree()
	if got := readFile(t, rt, dir.Ino, "big.bin"); !bytes.Equal(got, big) {
		t.Fatalf("big.bin: %d bytes, differs", len(got))
	}
	if got := readFile(t, rt, fs.RootIno, "small.txt"); !bytes.Equal(got, small) {
		t.Fatalf("small.txt = %q", got)
	}
	if got, err := rt.Readlink(mustLookup(t, rt, fs.RootIno, "link").Ino); err != nil || got != "docs/big.bin" {
		t.Fatalf("readlink = %q, %v", got, err)
	}
	a := mustLookup(t, rt, fs.RootIno, "hard")
	if a.Ino != bigIno || a.Nlink != 2 || a.Mode != 0o644 || a.Uid != 1000 {
		t.Fatalf("hard link: %+v", a)
	}
	if v, err := rt.GetXattr(bigIno, "user.color"); err != nil || string(v) != "blue" {
		t.Fatalf("xattr = %q, %v", v, err)
	}
	if da := mustLookup(t, rt, fs.RootIno, "docs"); da.Mode != 0o750 {
		t.Fatalf("docs: %+v", da)
	}
	if _, err := rt.Create(fs.RootIno, "x", 0o644, 0, 0); !errors.Is(err, fs.ErrReadOnly) {
		t.Fatalf("create on a read-only mount: %v", err)
	}
}

func mustLookup(t *testing.T, tr *fs.Tree, parent fs.Ino, name string) fs.Attr {
	t.Helper()
	a, err := tr.Lookup(parent, name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDriveStateSurvivesRemount: a mount's state directory keeps what was
// written but not committed, and the next mount on it has it.
func TestDriveStateSurvivesRemount(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	data := randBytes(2, 2*state.BlockSize+7)
	ino := writeFile(t, d.Tree(), fs.RootIno, "f", data)
	if err := d.Tree().Fsync(ino); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d)
	// Overwrite the middle of the committed file, then remount.
	patch := randBytes(3, 1000)
	if _, err := d.Tree().WriteAt(ino, patch, state.BlockSize-500); err != nil {
		t.Fatal(err)
	}
	copy(data[state.BlockSize-500:], patch)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	d = e.open(dir, false)
	if got := readFile(t, d.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Fatal("contents differ after remount")
	}
	// Empty the cache: the bytes come back from the cloud.
	if freed := d.DropCache(); freed == 0 {
		t.Fatal("DropCache freed nothing")
	}
	if got := readFile(t, d.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Fatal("contents differ after the cache was dropped")
	}
	// A partial overwrite of a block that is not local fetches it first.
	d.DropCache()
	if _, err := d.Tree().WriteAt(ino, []byte("xyz"), 10); err != nil {
		t.Fatal(err)
	}
	copy(data[10:], "xyz")
	if _, err := d.Tree().SetAttr(ino, fs.SetAttrIn{Valid: fs.SetSize, Size: state.BlockSize + 3}); err != nil {
		t.Fatal(err)
	}
	data = data[:state.BlockSize+3]
	if got := readFile(t, d.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Fatal("contents differ after a partial write and a truncate of uncached blocks")
	}
	mustCommit(t, d)
	d.Close(context.Background())
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if got := readFile(t, r.Tree(), fs.RootIno, "f"); !bytes.Equal(got, data) {
		t.Fatal("another device reads different contents")
	}
}

// TestDriveLease: one writer at a time; a second mount is read-only and
// says why, follows the writer's commits, and takes over once the
// writer's lease lapses; the old writer's next commit is refused.
func TestDriveLease(t *testing.T) {
	e := newDriveEnv(t)
	w := e.open(t.TempDir(), false)
	second := e.open(t.TempDir(), false)
	st := second.Status()
	if st.Writer || st.ReadOnlyWhy == "" {
		t.Fatalf("second mount: %+v", st)
	}
	writeFile(t, w.Tree(), fs.RootIno, "a", []byte("one"))
	mustCommit(t, w)
	if err := second.Follow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, second.Tree(), fs.RootIno, "a"); string(got) != "one" {
		t.Fatalf("follower reads %q", got)
	}
	second.Close(context.Background())

	// The writer stops renewing; its lease lapses; a new mount takes it.
	e.clock.Add(2 * time.Minute)
	third := e.open(t.TempDir(), false)
	defer third.Close(context.Background())
	if !third.Status().Writer {
		t.Fatalf("third mount did not take the lapsed lease: %+v", third.Status())
	}
	writeFile(t, w.Tree(), fs.RootIno, "b", []byte("lost"))
	if err := w.Commit(context.Background()); !errors.Is(err, drive.ErrLeaseLost) {
		t.Fatalf("old writer's commit: %v", err)
	}
	if _, err := w.Tree().Create(fs.RootIno, "c", 0o644, 0, 0); !errors.Is(err, fs.ErrReadOnly) {
		t.Fatalf("old writer still writes: %v", err)
	}
	if got := readFile(t, third.Tree(), fs.RootIno, "a"); string(got) != "one" {
		t.Fatalf("new writer reads %q", got)
	}
	if _, err := third.Tree().Lookup(fs.RootIno, "b"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the lost write reached the drive: %v", err)
	}
	w.Close(context.Background())
}

// TestDriveSnapshots: every commit is a snapshot that mounts read-only.
func TestDriveSnapshots(t *testing.T) {
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	ino := writeFile(t, d.Tree(), fs.RootIno, "f", []byte("version one"))
	mustCommit(t, d)
	gen := d.Status().Snapshot
	if _, err := d.Tree().WriteAt(ino, []byte("VERSION TWO"), 0); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d)
	snaps, err := d.Snapshots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 3 || snaps[0].Gen != gen+1 {
		t.Fatalf("snapshots: %+v", snaps)
	}
	cfg := e.config("")
	cfg.Snapshot = gen
	s, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	if got := readFile(t, s.Tree(), fs.RootIno, "f"); string(got) != "version one" {
		t.Fatalf("snapshot %d reads %q", gen, got)
	}

	// Restore it: the drive shows version one again, on this mount and on
	// a new device, and the restore is a commit of its own.
	if err := d.Restore(context.Background(), gen); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, d.Tree(), fs.RootIno, "f"); string(got) != "version one" {
		t.Fatalf("after restore the mount reads %q", got)
	}
	writeFile(t, d.Tree(), fs.RootIno, "after", []byte("x"))
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if got := readFile(t, r.Tree(), fs.RootIno, "f"); string(got) != "version one" {
		t.Fatalf("after restore another device reads %q", got)
	}
	if got := readFile(t, r.Tree(), fs.RootIno, "after"); string(got) != "x" {
		t.Fatalf("a file made after the restore reads %q", got)
	}
	if snaps, err := r.Snapshots(context.Background()); err != nil || len(snaps) != 5 {
		t.Fatalf("snapshots after restore: %+v, %v", snaps, err)
	}
}

// TestDriveInlineFiles: a small file lives in the state, without a cache
// file, until it grows past InlineMax or its local copy is dropped; its
// bytes are right in every mode, across commits and remounts.
func TestDriveInlineFiles(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	tr := d.Tree()
	small := randBytes(7, 10<<10)
	ino := writeFile(t, tr, fs.RootIno, "small", small)
	if err := tr.Fsync(ino); err != nil {
		t.Fatal(err)
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "data")); len(files) != 0 {
		t.Fatalf("a 10 KiB file made %d cache files", len(files))
	}
	// Grow it past InlineMax with a gap: the gap reads as zeros.
	tail := randBytes(8, 1000)
	if _, err := tr.WriteAt(ino, tail, state.InlineMax+5000); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(small), make([]byte, state.InlineMax+5000-len(small))...)
	want = append(want, tail...)
	if got := readFile(t, tr, fs.RootIno, "small"); !bytes.Equal(got, want) {
		t.Fatal("after growing past InlineMax the file differs")
	}
	// A second small file, committed, dropped from the cache, read back
	// from the cloud, then written again.
	other := randBytes(9, 3000)
	ino2 := writeFile(t, tr, fs.RootIno, "other", other)
	mustCommit(t, d)
	if d.DropCache() == 0 {
		t.Fatal("DropCache freed nothing")
	}
	if got := readFile(t, tr, fs.RootIno, "other"); !bytes.Equal(got, other) {
		t.Fatal("a dropped inline file reads differently from the cloud")
	}
	if _, err := tr.WriteAt(ino2, []byte("HEAD"), 0); err != nil {
		t.Fatal(err)
	}
	copy(other, "HEAD")
	if _, err := tr.SetAttr(ino2, fs.SetAttrIn{Valid: fs.SetSize, Size: 2000}); err != nil {
		t.Fatal(err)
	}
	other = other[:2000]
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	d = e.open(dir, false)
	defer d.Close(context.Background())
	if got := readFile(t, d.Tree(), fs.RootIno, "small"); !bytes.Equal(got, want) {
		t.Fatal("the grown file differs after a remount")
	}
	if got := readFile(t, d.Tree(), fs.RootIno, "other"); !bytes.Equal(got, other) {
		t.Fatal("the rewritten file differs after a remount")
	}
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if got := readFile(t, r.Tree(), fs.RootIno, "other"); !bytes.Equal(got, other) {
		t.Fatal("another device reads the rewritten file differently")
	}
}

// staleCloud answers root lookups with an old record, as peers that
// withhold the newest would.
type staleCloud struct {
	drive.Cloud
	seq   uint64
	value []byte
}

func (c *staleCloud) LookupRoot(ctx context.Context, drive ed25519.PublicKey) (uint64, []byte, error) {
	return c.seq, c.value, nil
}

// TestDriveNeverRollsBack: a mount whose state has seen a newer root than
// the cloud now shows keeps its newer tree instead of loading the older.
func TestDriveNeverRollsBack(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	writeFile(t, d.Tree(), fs.RootIno, "old", []byte("1"))
	mustCommit(t, d)
	seq, value, err := e.cloud.LookupRoot(context.Background(), e.keys.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, d.Tree(), fs.RootIno, "new", []byte("2"))
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(dir)
	cfg.Cloud = &staleCloud{Cloud: e.cloud, seq: seq, value: value}
	d, err = drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	if got := readFile(t, d.Tree(), fs.RootIno, "new"); string(got) != "2" {
		t.Fatalf("the mount rolled back to the older root: new reads %q", got)
	}
}

// TestDriveCacheBound: eviction keeps the local copies of uploaded
// contents within CacheBytes, least recently used first, and never drops
// contents not yet uploaded.
func TestDriveCacheBound(t *testing.T) {
	e := newDriveEnv(t)
	cfg := e.config(t.TempDir())
	cfg.CacheBytes = 2 * state.BlockSize
	d, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	tr := d.Tree()
	var files [][]byte
	for i := range 4 {
		files = append(files, randBytes(uint64(40+i), state.BlockSize))
		writeFile(t, tr, fs.RootIno, fmt.Sprint("f", i), files[i])
	}
	mustCommit(t, d)
	pending := randBytes(50, 3*state.BlockSize)
	writeFile(t, tr, fs.RootIno, "pending", pending)
	d.Evict()
	st := d.Status()
	if st.CachedBytes > cfg.CacheBytes {
		t.Fatalf("after eviction %d bytes cached, bound %d", st.CachedBytes, cfg.CacheBytes)
	}
	if st.PendingBytes != int64(len(pending)) {
		t.Fatalf("eviction touched the pending file: %+v", st)
	}
	for i, want := range files {
		if got := readFile(t, tr, fs.RootIno, fmt.Sprint("f", i)); !bytes.Equal(got, want) {
			t.Fatalf("f%d differs after eviction", i)
		}
	}
	if got := readFile(t, tr, fs.RootIno, "pending"); !bytes.Equal(got, pending) {
		t.Fatal("the pending file differs after eviction")
	}
}

// TestDriveStateInUse: a second mount on a state directory in use is
// refused with ErrBusy and a message that says what to do.
func TestDriveStateInUse(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	defer d.Close(context.Background())
	_, err := drive.Open(context.Background(), e.config(dir))
	if !errors.Is(err, fs.ErrBusy) || !strings.Contains(err.Error(), "own state directory") {
		t.Fatalf("a second mount on the same state: %v", err)
	}
}

// TestDriveRemountCommitKeepsOtherPages: a mount restarted on its state
// commits a change to one page; another device still sees every inode of
// the pages that commit did not rewrite.
func TestDriveRemountCommitKeepsOtherPages(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	const n = 3 * format.PageInodes
	for i := range n {
		writeFile(t, d.Tree(), fs.RootIno, fmt.Sprint("f", i), []byte(fmt.Sprint(i)))
	}
	mustCommit(t, d)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	d = e.open(dir, false)
	if _, err := d.Tree().WriteAt(mustLookup(t, d.Tree(), fs.RootIno, "f7").Ino, []byte("seven"), 0); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, d)
	defer d.Close(context.Background())
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	ents, err := r.Tree().ReadDir(fs.RootIno)
	if err != nil || len(ents) != n {
		t.Fatalf("another device sees %d entries (%v), want %d", len(ents), err, n)
	}
	if got := readFile(t, r.Tree(), fs.RootIno, "f7"); string(got) != "seven" {
		t.Fatalf("f7 = %q", got)
	}
}
