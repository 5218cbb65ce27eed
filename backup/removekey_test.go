package backup_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/treetest"
)

// TestRemoveAppender: a machine's append-only key taken out of the set no
// longer unlocks it, and what that machine (holding its keys still)
// backs up afterwards is not listed; the snapshots it made before stay
// listed and restorable, survive a forget and prune of others, and go
// with a forget of their own. Only the admin may remove a key, and only
// one the set has.
func TestRemoveAppender(t *testing.T) {
	ctx := context.Background()
	c := newCloud()
	admin := initSet(t, c)
	pass := []byte("laptop pass")
	raw, err := backup.AddAppender(ctx, c, admin, "laptop", pass, crypt.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	laptop, err := backup.Unlock(ctx, c, admin.Public, raw, pass)
	if err != nil {
		t.Fatal(err)
	}
	before := t.TempDir()
	makeTree(t, before, 11, 12)
	kept := runBackup(t, c, laptop, t.TempDir(), before)
	mine := t.TempDir()
	makeTree(t, mine, 12, 8)
	other := runBackup(t, c, admin, t.TempDir(), mine)

	if err := backup.RemoveAppender(ctx, c, laptop, "laptop"); !errors.Is(err, backup.ErrAppendOnly) {
		t.Fatalf("an append-only key removed a key: %v", err)
	}
	if err := backup.RemoveAppender(ctx, c, admin, "desktop"); err == nil {
		t.Fatal("removed a key the set does not have")
	}
	if err := backup.RemoveAppender(ctx, c, admin, "laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Unlock(ctx, c, admin.Public, raw, pass); err == nil {
		t.Fatal("a removed key still unlocks the set")
	}
	// The stolen machine, with the keys it had, backs up again: the set
	// does not take it.
	after := t.TempDir()
	makeTree(t, after, 13, 4)
	if _, err := backup.Run(ctx, c, laptop, backup.Options{Paths: []string{after}, CacheDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("the removed key's backup: %v", err)
	}
	// A removed machine that publishes a log anyway (with a snapshot of
	// the set in it) adds nothing.
	if err := backup.PublishLogAnyway(ctx, c, laptop, other.ID); err != nil {
		t.Fatal(err)
	}
	snaps, err := backup.Snapshots(ctx, c, admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(snaps) != 2 {
		t.Fatalf("%d snapshots listed, want the removed key's first and the admin's", len(snaps))
	}
	found := false
	for _, s := range snaps {
		if s.ID == kept.ID {
			found = s.Writer == "laptop (removed)"
		}
	}
	if !found {
		t.Fatalf("the removed key's snapshot is not listed as its: %+v", snaps)
	}
	target := t.TempDir()
	restore(t, c, admin, kept.ID, target)
	treetest.RequireSame(t, before, filepath.Join(target, before))

	ks, err := backup.KeyList(ctx, c, admin)
	if err != nil || len(ks) != 2 || ks[1].Kind != "removed" || ks[1].Name != "laptop" {
		t.Fatalf("keys %+v, %v", ks, err)
	}
	// Forget and prune the admin's snapshot: the removed key's stays whole.
	if err := backup.Forget(ctx, c, admin, []backup.SnapshotID{other.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Prune(ctx, c, admin, backup.PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	target = t.TempDir()
	restore(t, c, admin, kept.ID, target)
	treetest.RequireSame(t, before, filepath.Join(target, before))
	if err := backup.Forget(ctx, c, admin, []backup.SnapshotID{kept.ID}); err != nil {
		t.Fatal(err)
	}
	if snaps, err := backup.Snapshots(ctx, c, admin); err != nil || len(snaps) != 0 {
		t.Fatalf("after forgetting both: %d snapshots, %v", len(snaps), err)
	}
	// A key of the same name can be added again: a new machine.
	if _, err := backup.AddAppender(ctx, c, admin, "laptop", pass, crypt.TestKDF()); err != nil {
		t.Fatalf("adding a key of a removed one's name: %v", err)
	}
}
