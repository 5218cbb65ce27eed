package backup_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
)

// renewals snapshots how often every held shard was renewed.
func renewals(c *counted) map[erasure.ShardID]int {
	m := c.Cloud.(*cloudtest.Mem)
	out := map[erasure.ShardID]int{}
	m.Shards().Walk(context.Background(), func(id erasure.ShardID, _ int) error {
		out[id] = m.Renewed(id)
		return nil
	})
	return out
}

// expire deletes every shard not renewed since before: what a lease term
// without a renewal does (each backup is the only renewer of a set).
func expire(t *testing.T, c *counted, before map[erasure.ShardID]int) int {
	m := c.Cloud.(*cloudtest.Mem)
	n := 0
	for id, k := range before {
		if m.Renewed(id) == k {
			m.Shards().Delete(context.Background(), id)
			n++
		}
	}
	t.Logf("expired %d shards that the last backup did not renew", n)
	return n
}

func quietRun(c backup.Cloud, keys *backup.Keys, cache string, progress func(backup.Progress), paths ...string) (*backup.Result, error) {
	return backup.Run(context.Background(), c, keys, backup.Options{
		Paths: paths, Host: "test", CacheDir: cache, Progress: progress,
	})
}

func tryRestore(c backup.Cloud, keys *backup.Keys, id backup.SnapshotID, target string) error {
	snaps, err := backup.Snapshots(context.Background(), c, keys)
	if err != nil {
		return err
	}
	l, err := backup.Find(snaps, fmt.Sprintf("%x", id[:]))
	if err != nil {
		return err
	}
	_, err = backup.Restore(context.Background(), c, keys, l.Snapshot, backup.RestoreOptions{Target: target})
	return err
}

// TestReviewIndexSegmentsRenewed: a set backed up regularly (each backup
// renews what the set needs) must survive a lease term. The index segment
// of an earlier snapshot is read by every later backup but in no index
// segment itself, so no later backup renews it.
func TestReviewIndexSegmentsRenewed(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "a"), randBytes(1, 2<<20))
	s1 := runBackup(t, c, keys, cache, src)
	before := renewals(c)
	writeFile(t, filepath.Join(src, "b"), randBytes(2, 1<<20))
	s2 := runBackup(t, c, keys, cache, src) // the week's backup
	expire(t, c, before)
	for _, id := range []backup.SnapshotID{s1.ID, s2.ID} {
		if err := tryRestore(c, keys, id, t.TempDir()); err != nil {
			t.Errorf("restore %s after a lease term: %v", id.Short(), err)
		}
	}
	if _, err := quietRun(c, keys, cache, nil, src); err != nil {
		t.Errorf("the next backup after a lease term: %v", err)
	}
}

// TestReviewPendingIndexExpired: a backup killed, and run again after a
// lease term: nothing renewed the stripes the killed run stored (they
// are in no index segment), yet the rerun trusts the local pending index
// and refers to them.
func TestReviewPendingIndexExpired(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	for i := range 8 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("big%02d", i)), randBytes(uint64(i)+500, 24<<20))
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := backup.Run(ctx, c, keys, backup.Options{Paths: []string{src}, Host: "test", CacheDir: cache,
		Progress: func(p backup.Progress) {
			if p.Read > 100<<20 {
				cancel()
			}
		}})
	if err == nil {
		t.Fatal("the cut-off backup finished")
	}
	// A week later: nobody renewed what the killed run stored.
	if expire(t, c, renewals(c)) == 0 {
		t.Fatal("nothing stored before the cut")
	}
	res, err := quietRun(c, keys, cache, nil, src)
	if err != nil {
		t.Fatalf("rerun: %v", err)
	}
	if err := tryRestore(c, keys, res.ID, t.TempDir()); err != nil {
		t.Errorf("the rerun's snapshot does not restore: %v", err)
	}
}

// TestReviewConcurrentWritersRenewed: two machines back up the same small
// files at the same time (neither sees the other's index yet); the
// second's stripes of the shared chunks are shadowed in everyone's index
// by the first's, so no backup ever renews them again.
func TestReviewConcurrentWritersRenewed(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	admin := initSet(t, c)
	raw, err := backup.AddAppender(ctx, c, admin, "laptop", []byte("lp"), crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	laptop, err := backup.Unlock(ctx, c, admin.Public, raw, []byte("lp"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := t.TempDir(), t.TempDir()
	// b has one more small file first, so its packing differs from a's.
	writeFile(t, filepath.Join(b, "0first"), randBytes(7777, 100<<10))
	for i := range 200 {
		data := randBytes(uint64(i)+9000, 100<<10)
		writeFile(t, filepath.Join(a, fmt.Sprintf("f%03d", i)), data)
		writeFile(t, filepath.Join(b, fmt.Sprintf("f%03d", i)), data)
	}
	var started sync.WaitGroup
	started.Add(2)
	barrier := func() func(backup.Progress) {
		var once sync.Once
		return func(backup.Progress) { once.Do(func() { started.Done(); started.Wait() }) }
	}
	var wg sync.WaitGroup
	var ra, rb *backup.Result
	var ea, eb error
	cacheA, cacheB := t.TempDir(), t.TempDir()
	wg.Go(func() { ra, ea = quietRun(c, admin, cacheA, barrier(), a) })
	wg.Go(func() { rb, eb = quietRun(c, laptop, cacheB, barrier(), b) })
	wg.Wait()
	if ea != nil || eb != nil {
		t.Fatal(ea, eb)
	}
	_ = ra
	// A week of backups by both machines, nothing changed.
	before := renewals(c)
	if _, err := quietRun(c, admin, cacheA, nil, a); err != nil {
		t.Fatal(err)
	}
	if _, err := quietRun(c, laptop, cacheB, nil, b); err != nil {
		t.Fatal(err)
	}
	expire(t, c, before)
	target := t.TempDir()
	if err := tryRestore(c, admin, rb.ID, target); err != nil {
		t.Errorf("the laptop's snapshot after a lease term of daily backups: %v", err)
	}
	os.RemoveAll(target)
}

// TestReviewNoCacheDir: Options.CacheDir "" is documented as "none".
func TestReviewNoCacheDir(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), []byte("hello"))
	res, err := quietRun(c, keys, "", nil, src)
	if err != nil {
		t.Fatal(err)
	}
	restore(t, c, keys, res.ID, t.TempDir())
}

// TestReviewLongTagBreaksSet: Run publishes a snapshot whose tag its own
// parser refuses (tags of at most 255 bytes, at most 64 of them); from then
// on no snapshot of the set can be listed, restored, forgotten or pruned.
func TestReviewLongTagBreaksSet(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "a"), []byte("hello"))
	good := runBackup(t, c, keys, t.TempDir(), src)
	_, err := backup.Run(ctx, c, keys, backup.Options{Paths: []string{src}, Host: "test", CacheDir: t.TempDir(),
		Tags: []string{string(make([]byte, 300))}})
	if err != nil {
		t.Logf("Run refused the tag: %v", err)
		return
	}
	if _, err := backup.Snapshots(ctx, c, keys); err != nil {
		t.Errorf("after a backup with a 300-byte tag, the set lists nothing: %v", err)
	}
	if _, err := backup.Prune(ctx, c, keys, backup.PruneOptions{DryRun: true}); err != nil {
		t.Errorf("prune: %v", err)
	}
	_ = good
}

// TestReviewSealedAheadStoredTwice: small files sealed ahead of a batch's
// Finish look the index up before the batch's chunks are in it, so a copy
// of a file of the previous batch is stored again, in stripes that no
// index segment lists (OnStored skips chunks already fresh): nothing
// renews them, and the snapshot's copies are lost after a lease term.
func TestReviewSealedAheadStoredTwice(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	const n, size = 270, 500 << 10
	for i := range n {
		b := randBytes(uint64(i)+20000, size)
		writeFile(t, filepath.Join(src, fmt.Sprintf("u%03d", i)), b)
		if i < 256 {
			writeFile(t, filepath.Join(src, fmt.Sprintf("v%03d", i)), b)
		}
	}
	s1 := runBackup(t, c, keys, cache, src)
	t.Logf("stored %d MiB of shards for %d MiB of distinct plaintext (1.5x expected with k=4,m=2)", c.stored.Load()>>20, n*size>>20)
	if got, want := c.stored.Load(), int64(n*size)*17/10; got > want {
		t.Errorf("stored %d bytes, more than %d: copies stored again", got, want)
	}
	before := renewals(c)
	runBackup(t, c, keys, cache, src) // the next day's backup, nothing changed
	expire(t, c, before)
	if err := tryRestore(c, keys, s1.ID, t.TempDir()); err != nil {
		t.Errorf("restore after a lease term of backups: %v", err)
	}
}

// TestReviewIdleWriterLogExpires: a machine that stops backing up (a
// laptop retired) leaves its log, which every backup of every other
// machine reads but none renews.
func TestReviewIdleWriterLogExpires(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	admin := initSet(t, c)
	raw, _ := backup.AddAppender(ctx, c, admin, "laptop", []byte("lp"), crypt.TestKDF())
	laptop, _ := backup.Unlock(ctx, c, admin.Public, raw, []byte("lp"))
	a, b := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(a, "x"), randBytes(1, 1<<20))
	writeFile(t, filepath.Join(b, "y"), []byte("laptop"))
	runBackup(t, c, laptop, t.TempDir(), b)
	// Only the admin's machine backs up from now on: list the laptop's
	// index segment stripes aside (the other finding) by having the
	// admin take two backups and expiring what the second did not renew.
	cache := t.TempDir()
	runBackup(t, c, admin, cache, a)
	before := renewals(c)
	runBackup(t, c, admin, cache, a)
	expire(t, c, before)
	if _, err := quietRun(c, admin, cache, nil, a); err != nil {
		t.Errorf("the admin's backup a lease term after the laptop's last: %v", err)
	}
}

// TestReviewForgetPruneListsExpire: the forgotten list and the prune list
// are stored by Forget and Prune and named by the set's root; no backup
// renews them.
func TestReviewForgetPruneListsExpire(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "x"), randBytes(1, 1<<20))
	old := runBackup(t, c, keys, cache, src)
	runBackup(t, c, keys, cache, src)
	if err := backup.Forget(ctx, c, keys, []backup.SnapshotID{old.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Prune(ctx, c, keys, backup.PruneOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	before := renewals(c)
	runBackup(t, c, keys, cache, src)
	m := c.Cloud.(*cloudtest.Mem)
	n := 0
	for id, k := range before {
		if m.Renewed(id) == k {
			n++
		}
	}
	t.Logf("%d shards not renewed by the backup after forget and prune", n)
	expire(t, c, before)
	if _, err := backup.Snapshots(ctx, c, keys); err != nil {
		t.Errorf("snapshots a lease term later: %v", err)
	}
}

// TestReviewReleasedKeyReused: a stripe's prune-list key is its
// descriptor's hash, and sealing is deterministic: the same file stored
// again the same way (here: alone in its batch, as an incremental backup
// stores it) makes the same descriptor, which the prune list still says
// is released. Backups then neither deduplicate against it nor renew it.
func TestReviewReleasedKeyReused(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	big := randBytes(4242, 40<<20)
	writeFile(t, filepath.Join(src, "iso"), big)
	s1 := runBackup(t, c, keys, cache, src)
	os.Remove(filepath.Join(src, "iso"))
	runBackup(t, c, keys, cache, src)
	if err := backup.Forget(ctx, c, keys, []backup.SnapshotID{s1.ID}); err != nil {
		t.Fatal(err)
	}
	st, err := backup.Prune(ctx, c, keys, backup.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prune released %d stripes", st.Released)
	writeFile(t, filepath.Join(src, "iso"), big) // downloaded again
	s3 := runBackup(t, c, keys, cache, src)
	var read uint64
	before := renewals(c)
	_, err = quietRun(c, keys, cache, func(p backup.Progress) { read = p.Read }, src)
	if err != nil {
		t.Fatal(err)
	}
	if read > 0 {
		t.Errorf("the next backup, nothing changed, read %d bytes again (the cache entry's chunks are not in the index)", read)
	}
	m := c.Cloud.(*cloudtest.Mem)
	n := 0
	for id, k := range before {
		if m.Renewed(id) == k {
			n++
		}
	}
	t.Logf("%d shards not renewed by the backup", n)
	// The file is deleted again; backups go on; s3 is kept.
	os.Remove(filepath.Join(src, "iso"))
	runBackup(t, c, keys, cache, src)
	before = renewals(c)
	runBackup(t, c, keys, cache, src)
	expire(t, c, before)
	if _, err := backup.Restore(ctx, c, keys, s3.Snapshot, backup.RestoreOptions{Target: t.TempDir()}); err != nil {
		t.Errorf("restore of the kept snapshot with the file again: %v", err)
	}
}

// TestReviewPathUnderSymlink: a path given through a symlinked folder
// (/home -> /data/home).
func TestReviewPathUnderSymlink(t *testing.T) {
	c := newCloud()
	keys := initSet(t, c)
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "real", "user", "f"), []byte("data"))
	os.Symlink("real", filepath.Join(base, "home"))
	var warns []string
	res, err := backup.Run(context.Background(), c, keys, backup.Options{
		Paths: []string{filepath.Join(base, "home", "user")}, Host: "test", CacheDir: t.TempDir(),
		Warn: func(p string, err error) { warns = append(warns, p+": "+err.Error()) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("files %d, warnings %v", res.Snapshot.Stats.Files, warns)
	if res.Snapshot.Stats.Files != 1 || len(warns) > 0 {
		t.Errorf("a path under a symlinked folder: %d files, warnings %q", res.Snapshot.Stats.Files, warns)
	}
}

// TestReviewSparedNotRenewed: a backup that began before a prune condemned
// a stripe comes to use it (here: its parent's cache, forgotten meanwhile).
// The next prune would spare it; until then no backup renews it, so with
// prunes less often than the lease term the kept snapshot loses it.
func TestReviewSparedNotRenewed(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "f"), randBytes(77, 8<<20))
	x := runBackup(t, c, keys, cache, src)
	var once sync.Once
	b, err := quietRun(c, keys, cache, func(backup.Progress) {
		once.Do(func() {
			if err := backup.Forget(ctx, c, keys, []backup.SnapshotID{x.ID}); err != nil {
				t.Error(err)
			}
			st, err := backup.Prune(ctx, c, keys, backup.PruneOptions{Grace: backup.DefaultPruneGrace})
			if err != nil {
				t.Error(err)
			}
			t.Logf("prune during the backup condemned %d stripes", st.Condemned)
		})
	}, src)
	if err != nil {
		t.Fatal(err)
	}
	if b.Snapshot.Stats.Read != 0 {
		t.Fatal("the backup read the file again: no stripe reused, the scenario did not arise")
	}
	os.Remove(filepath.Join(src, "f"))
	runBackup(t, c, keys, cache, src)
	before := renewals(c)
	runBackup(t, c, keys, cache, src) // daily backups, no prune yet
	expire(t, c, before)
	if _, err := backup.Restore(ctx, c, keys, b.Snapshot, backup.RestoreOptions{Target: t.TempDir()}); err != nil {
		t.Errorf("restore of the kept snapshot: %v", err)
	}
}
