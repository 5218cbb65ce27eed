package mount_test

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
	"golang.org/x/sys/unix"
)

// TestPosix runs go-fuse's POSIX conformance suite, each case on its own
// fresh mount.
//
// One case is replaced, not run: FcntlFlockLocksFile takes a classic
// POSIX lock (F_SETLK) through one descriptor and expects a second
// descriptor of the same process to be refused. Linux never does that:
// POSIX locks belong to the process, so the case fails the same way on
// ext4 and tmpfs. It passes only on filesystems that implement locks
// themselves with other semantics. This layer leaves locks to the kernel,
// as a local filesystem has them; ofdLocksConflict checks the conflict
// between descriptors that the case means to check, with the open file
// description locks that have it, and TestLocks and TestSqlite check
// locks between processes.
func TestPosix(t *testing.T) {
	replaced := map[string]func(*testing.T, string){
		"FcntlFlockLocksFile": ofdLocksConflict,
	}
	for _, name := range slices.Sorted(maps.Keys(posixtest.All)) {
		t.Run(name, func(t *testing.T) {
			m := mountDefault(t)
			if f, ok := replaced[name]; ok {
				f(t, m.Dir)
				return
			}
			posixtest.All[name](t, m.Dir)
		})
	}
}

// ofdLocksConflict is posixtest's FcntlFlockLocksFile with open file
// description locks: a write lock through one descriptor makes a read
// lock through another, of the same process, EAGAIN.
func ofdLocksConflict(t *testing.T, mnt string) {
	p := filepath.Join(mnt, "test")
	f1, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f1.Close()
	wlk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f1.Fd(), unix.F_OFD_SETLK, &wlk); err != nil {
		t.Fatalf("F_OFD_SETLK write lock: %v", err)
	}
	f2, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	rlk := unix.Flock_t{Type: unix.F_RDLCK}
	wantErr(t, "F_OFD_SETLK read lock through a second descriptor", unix.FcntlFlock(f2.Fd(), unix.F_OFD_SETLK, &rlk), syscall.EAGAIN)
}

// TestLocks: a flock(2) lock taken here keeps another process out, as on
// a local filesystem. TestSqlite does the same with POSIX locks.
func TestLocks(t *testing.T) {
	flock := needProgram(t, "flock", "util-linux")
	m := mountDefault(t)
	p := filepath.Join(m.Dir, "lockfile")
	writeFile(t, p, nil, 0o644)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := env(t)

	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if out, err := command(t, e, m.Dir, flock, "-n", "lockfile", "true").CombinedOutput(); err == nil {
		t.Errorf("flock -n while this process holds LOCK_EX succeeded: %s", out)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	run(t, e, m.Dir, flock, "-n", "lockfile", "true")

}
