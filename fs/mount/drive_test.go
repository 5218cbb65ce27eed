package mount_test

import (
	"context"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/pipeline"
)

// driveBacked makes newMount mount a drive (a state directory over an
// in-memory cloud, committing every 100 ms) instead of an in-memory Tree.
var driveBacked bool

// newDriveTree returns the tree of a new drive configured like c, closed
// (its last commit checked) when the test ends.
func newDriveTree(t testing.TB, c fs.Config) *fs.Tree {
	t.Helper()
	cfg := drive.Config{
		Keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), Cloud: cloudtest.NewMem(0),
		Pipeline: pipeline.Config{K: 2, M: 1, Chunking: chunk.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}},
		Uid:      c.RootUid, Gid: c.RootGid, RootMode: c.RootMode, Clock: c.Clock,
		CommitEvery: 100 * time.Millisecond, FlushEvery: 50 * time.Millisecond,
	}
	if err := drive.Create(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	d, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the mount's cleanup, so it runs after the unmount.
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Errorf("close the drive: %v", err)
		}
	})
	return d.Tree()
}

// TestOnDrive runs the POSIX suite, the real programs and the syscall
// tests again on a drive: the same layer over a tree whose contents live
// in cache files and commit to a cloud in the background while the
// programs run.
func TestOnDrive(t *testing.T) {
	driveBacked = true
	defer func() { driveBacked = false }()
	for _, c := range []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Posix", TestPosix}, {"Git", TestGit}, {"Tar", TestTar}, {"Cp", TestCp},
		{"Rsync", TestRsync}, {"Mv", TestMv}, {"Sqlite", TestSqlite}, {"GoBuild", TestGoBuild},
		{"ConcurrentWriters", TestConcurrentWriters}, {"UnlinkedOpen", TestUnlinkedOpen},
		{"Xattr", TestXattr}, {"Renameat2", TestRenameat2}, {"Ownership", TestOwnership},
		{"Setattr", TestSetattr}, {"KeepCache", TestKeepCache}, {"Locks", TestLocks},
		{"HandlesReleased", TestHandlesReleased}, {"SpecialPosix", TestSpecialPosix},
		{"SpecialPrograms", TestSpecialPrograms},
	} {
		t.Run(c.name, c.fn)
	}
}
