package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/crypt"
)

// hooked runs hook (once) just before the next PublishRoot goes through.
type hooked struct {
	*counted
	hook atomic.Pointer[func()]
}

func (h *hooked) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	if f := h.hook.Swap(nil); f != nil {
		(*f)()
	}
	return h.counted.PublishRoot(ctx, keys, seq, value)
}

// TestReview2RestoredCondemnedReleased: a prune condemns the stripes of a
// forgotten file. A backup that begins after that (so well inside the
// grace's reasoning) meets the same file again: the index offers nothing
// (condemned), so it stores it again, and deterministic sealing makes the
// very same stripes (same shard IDs). The next prune, past the grace,
// runs while that backup is publishing: the logs list the stripe only
// before the cutoff, it is released, and the shards the running backup
// has just stored are deleted. The backup's snapshot is broken at once.
func TestReview2RestoredCondemnedReleased(t *testing.T) {
	ctx := context.Background()
	c := &hooked{counted: newCloud()}
	keys := initSet(t, c)
	src, cache := t.TempDir(), t.TempDir()
	big := randBytes(4242, 16<<20)
	writeFile(t, filepath.Join(src, "iso"), big)
	writeFile(t, filepath.Join(src, "keep"), []byte("kept"))
	s1 := runBackup(t, c, keys, cache, src)
	os.Remove(filepath.Join(src, "iso"))
	runBackup(t, c, keys, cache, src)
	if err := backup.Forget(ctx, c, keys, []backup.SnapshotID{s1.ID}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	st, err := backup.Prune(ctx, c, keys, backup.PruneOptions{Grace: time.Hour, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first prune condemned %d stripes", st.Condemned)
	// The file is back; a backup starts after the condemnation.
	writeFile(t, filepath.Join(src, "iso"), big)
	f := func() {
		st, err := backup.Prune(ctx, c, keys, backup.PruneOptions{Grace: time.Hour, Now: func() time.Time { return t0.Add(2 * time.Hour) }})
		if err != nil {
			t.Error(err)
			return
		}
		t.Logf("prune during the backup's publish released %d stripes", st.Released)
	}
	c.hook.Store(&f)
	s3, err := quietRun(c, keys, cache, nil, src)
	if err != nil {
		t.Fatal(err)
	}
	if s3.Snapshot.Stats.NewBytes == 0 {
		t.Fatal("the backup stored nothing again: the scenario did not arise")
	}
	if err := tryRestore(c, keys, s3.ID, t.TempDir()); err != nil {
		t.Errorf("the snapshot of a backup begun after the condemnation, a grace after it: %v", err)
	}
	// What check says without reading data: the stripe is listed again
	// (after the cutoff), so it counts as kept.
	cst, err := backup.Check(ctx, c, keys, backup.CheckOptions{})
	t.Logf("check without reading data: missing %d of %d, err %v", cst.Missing, cst.Stripes, err)
	pst, err := backup.Prune(ctx, c, keys, backup.PruneOptions{Grace: time.Hour, Now: func() time.Time { return t0.Add(3 * time.Hour) }})
	t.Logf("the next prune: %+v, %v", pst, err)
}

// TestReview2RolledBackLogShiftsCutoff: the prune list's cutoff counts a
// writer's own log entries, but logs() puts the entries a writer dropped
// (kept by the admin's archive) first, and the writer's next Run publishes
// them in that order. An append-only key that rolls its log back (here:
// republishes an older root of its own) before a prune, then backs up as
// usual, moves a forgotten entry past the cutoff: the stripes the prune
// released are "stored again" for loadView, back in every writer's index,
// and the admin's next backup deduplicates against shards that are gone.
func TestReview2RolledBackLogShiftsCutoff(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	admin := initSet(t, c)
	raw, err := backup.AddAppender(ctx, c, admin, "laptop", []byte("lp"), crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	laptop, _ := backup.Unlock(ctx, c, admin.Public, raw, []byte("lp"))
	lsrc, lcache := t.TempDir(), t.TempDir()
	big := randBytes(5151, 8<<20)
	writeFile(t, filepath.Join(lsrc, "iso"), big)
	writeFile(t, filepath.Join(lsrc, "x"), []byte("x"))
	l0 := runBackup(t, c, laptop, lcache, lsrc)
	_, v0, err := c.LookupRoot(ctx, laptop.Writer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(lsrc, "iso"))
	runBackup(t, c, laptop, lcache, lsrc)
	runBackup(t, c, laptop, lcache, lsrc)
	if err := backup.Forget(ctx, c, admin, []backup.SnapshotID{l0.ID}); err != nil {
		t.Fatal(err)
	}
	// The laptop rolls its log back to [l0].
	seq, _, _ := c.LookupRoot(ctx, laptop.Writer.PublicKey())
	if err := c.PublishRoot(ctx, laptop.Writer, seq+1, v0); err != nil {
		t.Fatal(err)
	}
	st, err := backup.Prune(ctx, c, admin, backup.PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("prune: released %d, dropped %d", st.Released, st.Dropped)
	runBackup(t, c, laptop, lcache, lsrc) // publishes [l1 l2 l0 l3]
	// The admin's machine has the same file.
	asrc := t.TempDir()
	writeFile(t, filepath.Join(asrc, "iso"), big)
	res, err := quietRun(c, admin, t.TempDir(), nil, asrc)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the admin's backup stored %d new bytes of %d", res.Snapshot.Stats.NewBytes, len(big))
	if err := tryRestore(c, admin, res.ID, t.TempDir()); err != nil {
		t.Errorf("the admin's new snapshot: %v", err)
	}
}
