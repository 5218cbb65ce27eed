package backup_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	mfs "github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/treetest"
	"github.com/murmur-cloud/murmur/store"
)

// counted counts the shard bytes stored through it.
type counted struct {
	drive.Cloud
	stored atomic.Int64
}

func (c *counted) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	for _, s := range shards {
		c.stored.Add(int64(len(s)))
	}
	return c.Cloud.PutStripe(ctx, d, shards)
}

func newCloud() *counted { return &counted{Cloud: cloudtest.NewMem(0)} }

// Release passes through to the Mem, so prunes release at once.
func (c *counted) Release(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	return c.Cloud.(*cloudtest.Mem).Release(ctx, ids, hints)
}

// held is the bytes of shards the cloud holds.
func (c *counted) held() int64 { return c.Cloud.(*cloudtest.Mem).Shards().Used() }

var pass = []byte("correct horse")

func initSet(t *testing.T, c backup.Cloud) *backup.Keys {
	t.Helper()
	keys, err := backup.Init(context.Background(), c, pass, crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)}).Read(b)
	return b
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// makeTree fills dir with files of many sizes, text and random, folders,
// a symlink, a hard link, a fifo and extended attributes.
func makeTree(t *testing.T, dir string, seed uint64, files int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	for i := range files {
		var b []byte
		switch i % 4 {
		case 0:
			b = randBytes(seed*1000+uint64(i), rng.IntN(64<<10))
		case 1:
			b = []byte(strings.Repeat(fmt.Sprintf("line %d of file %d\n", i, seed), 1+rng.IntN(3000)))
		case 2:
			b = randBytes(seed*1000+uint64(i), 1<<20+rng.IntN(2<<20))
		default:
			b = nil
		}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("d%d/sub%d/f%03d", i%5, i%3, i)), b)
	}
	os.MkdirAll(filepath.Join(dir, "empty"), 0o700)
	os.Symlink("d0/sub0", filepath.Join(dir, "link"))
	os.Link(filepath.Join(dir, "d0/sub0/f000"), filepath.Join(dir, "hard"))
	unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640)
	unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o620, int(unix.Mkdev(1, 3)))
	// A sparse file: 64 MiB with three small data extents.
	if f, err := os.Create(filepath.Join(dir, "sparse")); err == nil {
		for _, off := range []int64{0, 20 << 20, 64<<20 - 4096} {
			f.WriteAt(randBytes(uint64(off), 4096), off)
		}
		f.Close()
	}
	unix.Setxattr(filepath.Join(dir, "d1"), "user.note", []byte("kept"), 0)
	os.Chmod(filepath.Join(dir, "d2"), 0o2750)
}

func runBackup(t *testing.T, c backup.Cloud, keys *backup.Keys, cache string, paths ...string) *backup.Result {
	t.Helper()
	res, err := backup.Run(context.Background(), c, keys, backup.Options{
		Paths: paths, Host: "test", CacheDir: cache,
		Warn: func(p string, err error) { t.Errorf("warning: %s: %v", p, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func restore(t *testing.T, c backup.Cloud, keys *backup.Keys, id backup.SnapshotID, target string) {
	t.Helper()
	snaps, err := backup.Snapshots(context.Background(), c, keys)
	if err != nil {
		t.Fatal(err)
	}
	s, err := backup.Find(snaps, id.String()[:10])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(context.Background(), c, keys, s.Snapshot, backup.RestoreOptions{Target: target}); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTrip: a tree backed up and restored is the same to rsync.
func TestRoundTrip(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src := t.TempDir()
	makeTree(t, src, 1, 60)
	res := runBackup(t, c, keys, t.TempDir(), src)
	if res.Snapshot.Stats.Files == 0 || res.Snapshot.Stats.NewChunks == 0 {
		t.Fatalf("stats %+v", res.Snapshot.Stats)
	}
	target := t.TempDir()
	restore(t, c, keys, res.ID, target)
	treetest.RequireSame(t, src, filepath.Join(target, src))
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(target, src, "sparse"), &st); err != nil || st.Blocks*512 > 1<<20 {
		t.Fatalf("the restored sparse file takes %d bytes of disk: %v", st.Blocks*512, err)
	}
}

// TestChangedWhileRead: a file that changes between the scan and its
// read is reported as changed while read; the snapshot is kept, and says
// so. The change is made when the scan passes the next file (its Exclude
// is asked), while the backup is held at the file before. (A large file:
// the run reads it in scan order. A small one is read ahead as soon as it
// is scanned, so no test can place a change between; the same check
// follows its read.)
func TestChangedWhileRead(t *testing.T) {
	for _, size := range []int{2 << 20} {
		c := newCloud()
		keys := initSet(t, c)
		src := t.TempDir()
		writeFile(t, filepath.Join(src, "a"), []byte("before\n"))
		writeFile(t, filepath.Join(src, "b"), randBytes(9, size))
		writeFile(t, filepath.Join(src, "c"), []byte("after\n"))
		changed := make(chan struct{})
		var warned []string
		res, err := backup.Run(context.Background(), c, keys, backup.Options{Paths: []string{src}, Host: "test",
			Exclude: func(p string, _ bool) bool {
				if p == filepath.Join(src, "c") {
					f, _ := os.OpenFile(filepath.Join(src, "b"), os.O_APPEND|os.O_WRONLY, 0)
					f.WriteString("appended\n")
					f.Close()
					close(changed)
				}
				return false
			},
			Progress: func(p backup.Progress) {
				if p.Path == filepath.Join(src, "a") {
					<-changed
				}
			},
			Warn: func(p string, err error) {
				if errors.Is(err, backup.ErrChanged) {
					warned = append(warned, p)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if len(warned) != 1 || warned[0] != filepath.Join(src, "b") || res.Warnings != 1 || res.Snapshot.Stats.Errors != 1 {
			t.Fatalf("%d bytes: warnings %q, %d; stats %+v", size, warned, res.Warnings, res.Snapshot.Stats)
		}
	}
}

// TestIncremental: a second backup of an unchanged tree reads no file and
// stores almost nothing; after appending to one file, it reads that file
// only.
func TestIncremental(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	makeTree(t, src, 2, 80)
	first := runBackup(t, c, keys, cache, src)
	stored := c.stored.Load()
	second := runBackup(t, c, keys, cache, src)
	if second.Snapshot.Stats.Read != 0 {
		t.Fatalf("the unchanged tree: %d bytes read again", second.Snapshot.Stats.Read)
	}
	if n := c.stored.Load() - stored; n > stored/20 {
		t.Fatalf("the unchanged tree: %d bytes stored again (first: %d)", n, stored)
	}
	if second.Snapshot.Parent != first.ID {
		t.Fatal("the second snapshot's parent is not the first")
	}
	f, _ := os.OpenFile(filepath.Join(src, "d2/sub2/f002"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("one more line\n")
	f.Close()
	third := runBackup(t, c, keys, cache, src)
	st, _ := os.Stat(filepath.Join(src, "d2/sub2/f002"))
	if third.Snapshot.Stats.Read != uint64(st.Size()) {
		t.Fatalf("after one append: read %d bytes, the file has %d", third.Snapshot.Stats.Read, st.Size())
	}
	target := t.TempDir()
	restore(t, c, keys, third.ID, target)
	treetest.RequireSame(t, src, filepath.Join(target, src))
}

// TestTwoMachinesDedup: an append-only machine backing up a tree that
// overlaps the admin's stores only what is new, and cannot read snapshots.
func TestTwoMachinesDedup(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	admin := initSet(t, c)
	a, b := t.TempDir(), t.TempDir()
	makeTree(t, a, 3, 40)
	if err := exec.Command("cp", "-a", a+"/.", b).Run(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(b, "only-b"), randBytes(99, 3<<20))
	runBackup(t, c, admin, t.TempDir(), a)
	once := c.stored.Load()

	raw, err := backup.AddAppender(ctx, c, admin, "laptop", []byte("laptop pass"), crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	laptop, err := backup.Unlock(ctx, c, admin.Public, raw, []byte("laptop pass"))
	if err != nil || !laptop.AppendOnly() {
		t.Fatalf("unlock the appender: %v", err)
	}
	res := runBackup(t, c, laptop, t.TempDir(), b)
	if n := c.stored.Load() - once; n > 2*(3<<20) {
		t.Fatalf("the overlapping tree stored %d bytes, about 3 MiB of it new (first tree: %d)", n, once)
	}
	t.Logf("first machine stored %d bytes, the second %d more (3 MiB new)", once, c.stored.Load()-once)
	if _, err := backup.Snapshots(ctx, c, laptop); !errors.Is(err, backup.ErrAppendOnly) {
		t.Fatalf("an append-only key listed snapshots: %v", err)
	}
	if _, err := backup.Restore(ctx, c, laptop, res.Snapshot, backup.RestoreOptions{Target: t.TempDir()}); !errors.Is(err, backup.ErrAppendOnly) {
		t.Fatalf("an append-only key restored: %v", err)
	}
	if _, err := backup.AddAppender(ctx, c, laptop, "x", pass, crypt.TestKDF()); !errors.Is(err, backup.ErrAppendOnly) {
		t.Fatalf("an append-only key added a key: %v", err)
	}
	// The admin sees and restores both machines' snapshots.
	snaps, err := backup.Snapshots(ctx, c, admin)
	if err != nil || len(snaps) != 2 || snaps[1].Writer != "laptop" {
		t.Fatalf("%d snapshots: %v", len(snaps), err)
	}
	target := t.TempDir()
	restore(t, c, admin, res.ID, target)
	treetest.RequireSame(t, b, filepath.Join(target, b))
}

// TestInterruptedStoresOnce: a backup cut off in the middle and run again
// stores little of what the first run stored.
func TestInterruptedStoresOnce(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	size := 24 << 20
	if testing.Short() {
		size = 6 << 20 // the race detector's run
	}
	for i := range 12 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("big%02d", i)), randBytes(uint64(i)+500, size))
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := backup.Run(ctx, c, keys, backup.Options{Paths: []string{src}, Host: "test", CacheDir: cache,
		Progress: func(p backup.Progress) {
			if p.Read > uint64(size)*8 {
				cancel()
			}
		}})
	if err == nil {
		t.Fatal("the cut-off backup finished")
	}
	cut := c.stored.Load()
	if cut < int64(size)*4 {
		t.Fatalf("only %d bytes stored before the cut", cut)
	}
	runBackup(t, c, keys, cache, src)
	total := int64(12 * size)
	again := c.stored.Load() - cut
	t.Logf("cut after %d bytes stored; the second run stored %d more (all: %d plaintext)", cut, again, total)
	// Stored once, with k=4 m=2's parity: 1.5 times the plaintext, and
	// the stripes in flight at the cut (up to eight of 4 MiB); stored
	// twice, 2.5 times.
	if cut+again > total*185/100 {
		t.Fatalf("%d + %d bytes stored for %d of plaintext: the first run's chunks were stored again", cut, again, total)
	}
}

// TestPageStoredBetweenFiles: a tree page that completes while a file's
// bytes are already in the batch (the scan leaving a folder with the next
// file) is stored after that file; each still gets its own manifest.
func TestPageStoredBetweenFiles(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src := t.TempDir()
	// pad fills page 0; q (inode 303, page 1) holds empty files into
	// page 2, so page 1 completes when the scan leaves q for r, which is
	// read before it is added to the tree.
	for i := range 300 {
		writeFile(t, filepath.Join(src, "pad", fmt.Sprintf("e%03d", i)), nil)
	}
	for i := range 400 {
		writeFile(t, filepath.Join(src, "q", fmt.Sprintf("e%03d", i)), nil)
	}
	writeFile(t, filepath.Join(src, "r"), []byte("the file read while page 1 completed\n"))
	res := runBackup(t, c, keys, t.TempDir(), src)
	target := t.TempDir()
	restore(t, c, keys, res.ID, target)
	treetest.RequireSame(t, src, filepath.Join(target, src))
}

// TestForgetPrune: forgetting a snapshot and pruning gives back the space
// of the stripes only it used; the snapshot kept still restores. With a
// grace, a first prune only condemns, and a backup meanwhile stores anew
// what it needs of the condemned; a prune past the grace releases them.
// (A stripe shared with chunks still used is kept whole: files backed up
// together share stripes, and there is no repacking yet.)
func TestForgetPrune(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "dropped"), randBytes(2, 6<<20))
	old := runBackup(t, c, keys, cache, src)
	os.Remove(filepath.Join(src, "dropped"))
	writeFile(t, filepath.Join(src, "kept"), randBytes(1, 3<<20))
	kept := runBackup(t, c, keys, cache, src)
	before := c.held()
	if err := backup.Forget(ctx, c, keys, []backup.SnapshotID{old.ID}); err != nil {
		t.Fatal(err)
	}
	snaps, err := backup.Snapshots(ctx, c, keys)
	if err != nil || len(snaps) != 1 || snaps[0].ID != kept.ID {
		t.Fatalf("after forget: %d snapshots, %v", len(snaps), err)
	}
	st, err := backup.Prune(ctx, c, keys, backup.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after := c.held()
	t.Logf("prune: %+v; held %d -> %d bytes", *st, before, after)
	if st.Released == 0 || before-after < 6<<20 {
		t.Fatalf("prune released %d stripes, %d bytes held less; the forgotten file was 6 MiB", st.Released, before-after)
	}
	target := t.TempDir()
	restore(t, c, keys, kept.ID, target)
	treetest.RequireSame(t, src, filepath.Join(target, src))
	// Pruning again finds nothing more.
	if st, err := backup.Prune(ctx, c, keys, backup.PruneOptions{}); err != nil || st.Released != 0 || st.Condemned != 0 {
		t.Fatalf("a second prune: %+v, %v", st, err)
	}

	// With a grace: condemned first, released later.
	writeFile(t, filepath.Join(src, "dropped"), randBytes(3, 6<<20))
	again := runBackup(t, c, keys, cache, src)
	os.Remove(filepath.Join(src, "dropped"))
	runBackup(t, c, keys, cache, src)
	if err := backup.Forget(ctx, c, keys, []backup.SnapshotID{again.ID}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st, err = backup.Prune(ctx, c, keys, backup.PruneOptions{Grace: time.Hour, Now: func() time.Time { return now }})
	if err != nil || st.Condemned == 0 || st.Released != 0 {
		t.Fatalf("the first prune with a grace: %+v, %v", st, err)
	}
	// A backup now does not use what was condemned: the file comes back
	// and is stored anew.
	writeFile(t, filepath.Join(src, "dropped"), randBytes(3, 6<<20))
	res := runBackup(t, c, keys, cache, src)
	if res.Snapshot.Stats.NewBytes < 6<<20 {
		t.Fatalf("a backup after the condemnation stored %d new bytes: it used condemned stripes", res.Snapshot.Stats.NewBytes)
	}
	// The file stored anew is stripes of its own (every data shard is
	// salted): past the grace, the condemned ones go, the new ones stay.
	at := func(d time.Duration) backup.PruneOptions {
		return backup.PruneOptions{Grace: time.Hour, Now: func() time.Time { return now.Add(d) }}
	}
	held := c.held()
	if st, err = backup.Prune(ctx, c, keys, at(2*time.Hour)); err != nil || st.Released == 0 || st.Spared != 0 {
		t.Fatalf("the prune past the grace: %+v, %v", st, err)
	}
	if held-c.held() < 6<<20 {
		t.Fatalf("the prune past the grace freed %d bytes", held-c.held())
	}
	target = t.TempDir()
	restore(t, c, keys, res.ID, target)
	treetest.RequireSame(t, src, filepath.Join(target, src))

	// Forgotten again, they are condemned anew, and released once the
	// grace has passed since.
	os.Remove(filepath.Join(src, "dropped"))
	plain := runBackup(t, c, keys, cache, src)
	if err := backup.Forget(ctx, c, keys, []backup.SnapshotID{res.ID}); err != nil {
		t.Fatal(err)
	}
	if st, err = backup.Prune(ctx, c, keys, at(3*time.Hour)); err != nil || st.Condemned == 0 || st.Released != 0 {
		t.Fatalf("condemned again: %+v, %v", st, err)
	}
	held = c.held()
	if st, err = backup.Prune(ctx, c, keys, at(5*time.Hour)); err != nil || st.Released == 0 || st.Waiting != 0 {
		t.Fatalf("the grace passed: %+v, %v", st, err)
	}
	if held-c.held() < 6<<20 {
		t.Fatalf("the prune past the grace freed %d bytes", held-c.held())
	}
	target = t.TempDir()
	restore(t, c, keys, plain.ID, target)
	treetest.RequireSame(t, src, filepath.Join(target, src))

	// An append-only key may not prune.
	raw, err := backup.AddAppender(ctx, c, keys, "laptop", pass, crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	laptop, _ := backup.Unlock(ctx, c, keys.Public, raw, pass)
	if _, err := backup.Prune(ctx, c, laptop, backup.PruneOptions{}); !errors.Is(err, backup.ErrAppendOnly) {
		t.Fatalf("an append-only key pruned: %v", err)
	}
	if err := backup.Forget(ctx, c, laptop, []backup.SnapshotID{res.ID}); !errors.Is(err, backup.ErrAppendOnly) {
		t.Fatalf("an append-only key forgot: %v", err)
	}
}

// TestCheck: check reads every kept snapshot's tree and, asked to read
// all data, names a corrupted shard (which a restore would mend from the
// rest of its stripe).
func TestCheck(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src := t.TempDir()
	makeTree(t, src, 4, 30)
	res := runBackup(t, c, keys, t.TempDir(), src)
	st, err := backup.Check(ctx, c, keys, backup.CheckOptions{ReadData: 1})
	if err != nil || st.Snapshots != 1 || st.Read != st.Stripes || len(st.Bad) != 0 {
		t.Fatalf("check of a whole set: %+v, %v", st, err)
	}
	// A shard of a big file's stripe rots on its holder.
	shards := c.Cloud.(*cloudtest.Mem).Shards()
	var bad erasure.ShardID
	shards.Walk(ctx, func(id erasure.ShardID, n int) error {
		if n > 1<<20 && bad == (erasure.ShardID{}) {
			bad = id
		}
		return nil
	})
	if !shards.Corrupt(bad) {
		t.Fatal("no big shard to corrupt")
	}
	l := c
	st, err = backup.Check(ctx, l, keys, backup.CheckOptions{ReadData: 1})
	if !errors.Is(err, backup.ErrCheck) || len(st.Bad) != 1 || st.Bad[0].ID != bad || !errors.Is(st.Bad[0].Err, erasure.ErrCorrupt) {
		t.Fatalf("check with a corrupt shard: %+v, %v", st, err)
	}
	// Without reading data it sees the trees only; half the data reads
	// about half the stripes.
	if st, err := backup.Check(ctx, l, keys, backup.CheckOptions{}); err != nil || st.Read != 0 {
		t.Fatalf("check without data: %+v, %v", st, err)
	}
	st, _ = backup.Check(ctx, l, keys, backup.CheckOptions{ReadData: 0.5, Seed: 7})
	if want := (st.Stripes + 1) / 2; st.Read != want {
		t.Fatalf("a check of half the data read %d of %d stripes, want %d", st.Read, st.Stripes, want)
	}
	if st, _ := backup.Check(ctx, l, keys, backup.CheckOptions{ReadData: 0.01, Seed: 7}); st.Read != 1 {
		t.Fatalf("a check of 1%% of the data read %d of %d stripes, want 1", st.Read, st.Stripes)
	}
	target := t.TempDir()
	restore(t, c, keys, res.ID, target)
}

// TestSnapshotDrive: a snapshot opens as a read-only drive whose tree is
// the backed-up one: every file's bytes and attributes.
func TestSnapshotDrive(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src := t.TempDir()
	makeTree(t, src, 5, 20)
	res := runBackup(t, c, keys, t.TempDir(), src)
	cloud, dk, err := backup.SnapshotDrive(c, keys, res.Snapshot)
	if err != nil {
		t.Fatal(err)
	}
	d, err := drive.Open(ctx, drive.Config{Keys: dk, Cloud: cloud, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(ctx)
	tree := d.Tree()
	// Walk down to src and compare a few files.
	ino := mfs.RootIno
	for _, name := range strings.Split(strings.Trim(src, "/"), "/") {
		a, err := tree.Lookup(ino, name)
		if err != nil {
			t.Fatalf("lookup %q: %v", name, err)
		}
		ino = a.Ino
	}
	for _, p := range []string{"d1/sub1/f001", "d2/sub2/f002", "d0/sub0/f000"} {
		want, err := os.ReadFile(filepath.Join(src, p))
		if err != nil {
			t.Fatal(err)
		}
		fi := ino
		for _, name := range strings.Split(p, "/") {
			a, err := tree.Lookup(fi, name)
			if err != nil {
				t.Fatalf("lookup %s: %v", p, err)
			}
			fi = a.Ino
		}
		got := make([]byte, len(want)+1)
		n, err := tree.ReadAt(fi, got, 0)
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("%s: %v", p, err)
		}
		if !bytes.Equal(got[:n], want) {
			t.Fatalf("%s: %d bytes read, %d backed up", p, n, len(want))
		}
	}
	if err := cloud.PublishRoot(ctx, dk, 2, nil); !errors.Is(err, backup.ErrReadOnly) {
		t.Fatalf("publish to a snapshot: %v", err)
	}
}

// TestDiff: the changes between two snapshots, by path and kind.
func TestDiff(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "same"), []byte("unchanged\n"))
	writeFile(t, filepath.Join(src, "edit"), []byte("before\n"))
	writeFile(t, filepath.Join(src, "gone/a"), []byte("a\n"))
	writeFile(t, filepath.Join(src, "gone/b"), []byte("b\n"))
	writeFile(t, filepath.Join(src, "chmod"), []byte("mode\n"))
	writeFile(t, filepath.Join(src, "retype"), []byte("a file, then a folder\n"))
	a := runBackup(t, c, keys, cache, src)
	writeFile(t, filepath.Join(src, "edit"), []byte("after!\n"))
	os.RemoveAll(filepath.Join(src, "gone"))
	writeFile(t, filepath.Join(src, "new/x"), []byte("x\n"))
	os.Chmod(filepath.Join(src, "chmod"), 0o600)
	os.Remove(filepath.Join(src, "retype"))
	writeFile(t, filepath.Join(src, "retype/inside"), []byte("i\n"))
	b := runBackup(t, c, keys, cache, src)
	var got []string
	st, err := backup.Diff(ctx, c, keys, a.Snapshot, b.Snapshot, func(ch backup.Change) error {
		// (src itself changed: its mtime moved with its entries.)
		if strings.HasPrefix(ch.Path, src) && ch.Path != src {
			got = append(got, string(ch.Kind)+" "+strings.TrimPrefix(ch.Path, src+"/"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"U chmod", "M edit", "- gone", "- gone/a", "- gone/b", "+ new", "+ new/x", "T retype", "+ retype/inside"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("diff:\n got %q\nwant %q", got, want)
	}
	if st.Modified != 2 || st.Added < 3 || st.Removed != 3 {
		t.Fatalf("stats %+v", st)
	}
}

// TestDroppedFromLog: an append-only key gone bad publishes its log
// without its snapshots; what the admin had seen (at a prune or forget)
// stays listed, in use and restorable, and the prune says what happened.
func TestDroppedFromLog(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	admin := initSet(t, c)
	raw, err := backup.AddAppender(ctx, c, admin, "laptop", pass, crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	laptop, _ := backup.Unlock(ctx, c, admin.Public, raw, pass)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "work"), randBytes(11, 5<<20))
	res := runBackup(t, c, laptop, t.TempDir(), src)
	if _, err := backup.Prune(ctx, c, admin, backup.PruneOptions{Grace: 0}); err != nil {
		t.Fatal(err)
	}
	// The laptop rewrites its log: empty.
	_, value, err := c.LookupRoot(ctx, laptop.Writer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	wr, err := backup.ParseWriterRoot(value)
	if err != nil {
		t.Fatal(err)
	}
	wr.Log = nil
	seq, _, _ := c.LookupRoot(ctx, laptop.Writer.PublicKey())
	if err := c.PublishRoot(ctx, laptop.Writer, seq+1, wr.Marshal()); err != nil {
		t.Fatal(err)
	}
	snaps, err := backup.Snapshots(ctx, c, admin)
	if err != nil || len(snaps) != 1 || snaps[0].ID != res.ID {
		t.Fatalf("after the log was emptied: %d snapshots, %v", len(snaps), err)
	}
	held := c.held()
	st, err := backup.Prune(ctx, c, admin, backup.PruneOptions{Grace: 0})
	if err != nil || st.Dropped != 1 || st.Released != 0 || c.held() < held {
		t.Fatalf("prune after the log was emptied: %+v, %v", st, err)
	}
	target := t.TempDir()
	restore(t, c, admin, res.ID, target)
	treetest.RequireSame(t, src, filepath.Join(target, src))
}
