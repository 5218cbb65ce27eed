package drive_test

import (
	"context"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs"
)

// a mount restarted on its state after a clean Close starts its tree's
// change epochs at 1 again (fs.Tree.Load raises the epoch only past the
// changed inodes it is given, and loadState gives none when all was
// committed), while the state's meta says the last commit covered a
// later epoch. The changes made then are saved with epochs the state
// takes for committed: after a crash the next mount neither commits them
// nor says they are pending, and another device never sees them.
func TestDriveRemountedStateCrashKeepsChanges(t *testing.T) {
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	writeFile(t, d.Tree(), fs.RootIno, "a", []byte("x"))
	mustCommit(t, d)
	writeFile(t, d.Tree(), fs.RootIno, "b", []byte("y"))
	mustCommit(t, d)
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	d = e.open(dir, false)
	if _, err := d.Tree().Mknod(fs.RootIno, "fifo", fs.Fifo, 0o644, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Tree().Fsync(fs.RootIno); err != nil { // the mknod is durable
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir) // the mount process dies here
	e.clock.Add(2 * time.Minute)
	d2 := e.open(crashed, false)
	mustLookup(t, d2.Tree(), fs.RootIno, "fifo")
	pending := d2.Pending()
	mustCommit(t, d2)
	if err := d2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.open(t.TempDir(), true)
	defer r.Close(context.Background())
	if _, err := r.Tree().Lookup(fs.RootIno, "fifo"); err != nil {
		t.Errorf("a change made after a remount and fsynced before a crash never reached the cloud (Pending after the crash = %v): %v", pending, err)
	}
}
