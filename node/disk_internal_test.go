package node

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// TestDiskRoom: what the nodes of one disk offer together.
func TestDiskRoom(t *testing.T) {
	const size, free = 1000, 400
	for _, c := range []struct {
		name          string
		size, free    int64
		members       []diskEntry
		capacity, avl int64
	}{
		{"one without a quota", size, free, []diskEntry{{0, 100}}, size, free},
		{"six without a quota", size, free, []diskEntry{{0, 10}, {0, 20}, {0, 0}, {0, 5}, {0, 1}, {0, 0}}, size, free},
		{"a quota beside none: the disk", size, free, []diskEntry{{200, 50}, {0, 10}}, size, free},
		{"quotas the disk can hold", size, free, []diskEntry{{200, 50}, {100, 100}}, 300, 150},
		{"quotas beyond what is free", size, free, []diskEntry{{500, 100}, {500, 0}}, 100 + free, free},
		{"an overfull quota", size, free, []diskEntry{{100, 150}, {100, 0}}, 200, 100},
		{"unmeasured disk, quotas", 0, 0, []diskEntry{{200, 50}}, 200, 150},
		{"unmeasured disk, no quota", 0, 0, []diskEntry{{0, 50}}, 0, 0},
	} {
		capacity, avl := diskRoom(c.size, c.free, c.members)
		if capacity != c.capacity || avl != c.avl {
			t.Errorf("%s: diskRoom = %d, %d; want %d, %d", c.name, capacity, avl, c.capacity, c.avl)
		}
	}
}

// TestDiskEntryHostile: an entry survives its encoding; any flipped byte
// or other length is refused.
func TestDiskEntryHostile(t *testing.T) {
	e := diskEntry{Quota: 1 << 30, Used: 12345}
	b := e.marshal()
	if got, err := parseDiskEntry(b); err != nil || got != e {
		t.Fatalf("parse = %+v, %v", got, err)
	}
	for i := range b {
		bad := slices.Clone(b)
		bad[i] ^= 0x40
		if _, err := parseDiskEntry(bad); err == nil {
			t.Fatalf("byte %d flipped: accepted", i)
		}
	}
	for n := range len(b) {
		if _, err := parseDiskEntry(b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: accepted", n)
		}
	}
	if _, err := parseDiskEntry(append(b, 0)); err == nil {
		t.Fatal("a longer entry accepted")
	}
}

// TestDiskOf: two folders of one filesystem are one disk; a tmpfs is
// another.
func TestDiskOf(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ida, err := diskOf(a)
	if err != nil {
		t.Fatal(err)
	}
	if idb, err := diskOf(b); err != nil || idb != ida {
		t.Fatalf("two folders of one filesystem: %v and %v (%v)", ida, idb, err)
	}
	tmp := MountTmpfs(t, 64<<20)
	if idt, err := diskOf(tmp); err != nil || idt == ida {
		t.Fatalf("a tmpfs is disk %v, the temporary folders' %v (%v)", idt, ida, err)
	}
}

// TestDiskRegistry: the nodes of a disk see each other's entries and
// what they update; a node that closes, or whose entry nobody holds,
// is gone; a node whose entry was removed makes it again.
func TestDiskRegistry(t *testing.T) {
	root := filepath.Join(t.TempDir(), "disks")
	disk := DiskID{1, 2, 3}
	open := func(name string, e diskEntry) *diskRegistry {
		t.Helper()
		r, err := openDiskRegistry(root, "cloud1", disk, name, e)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := open("A", diskEntry{Quota: 100, Used: 1})
	b := open("B", diskEntry{Used: 2})
	other, err := openDiskRegistry(root, "cloud2", disk, "C", diskEntry{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.close()
	if got := a.members(); !slices.Equal(got, []diskEntry{{Used: 2}}) {
		t.Fatalf("A sees %+v; want B alone (not cloud2's C)", got)
	}
	if err := b.update(diskEntry{Used: 7}); err != nil {
		t.Fatal(err)
	}
	if got := a.members(); !slices.Equal(got, []diskEntry{{Used: 7}}) {
		t.Fatalf("A sees %+v after B's update", got)
	}
	if got := b.members(); !slices.Equal(got, []diskEntry{{Quota: 100, Used: 1}}) {
		t.Fatalf("B sees %+v", got)
	}
	for _, mode := range []os.FileMode{0o777 | os.ModeSticky} {
		if fi, err := os.Stat(root); err != nil || fi.Mode()&(os.ModePerm|os.ModeSticky) != mode {
			t.Fatalf("registry mode %v (%v), want %v", fi.Mode(), err, mode)
		}
	}

	// An entry nobody holds locked is a dead node's: ignored and removed.
	dead := filepath.Join(a.dir, "D")
	if err := os.WriteFile(dead, diskEntry{Used: 99}.marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := a.members(); len(got) != 1 {
		t.Fatalf("A sees %+v with a dead node's entry", got)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Fatalf("the dead node's entry stays: %v", err)
	}
	// Hidden names (entries being made) are skipped.
	hidden := filepath.Join(a.dir, ".E.123")
	if err := os.WriteFile(hidden, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := a.members(); len(got) != 1 {
		t.Fatalf("A sees %+v with a hidden file", got)
	}
	os.Remove(hidden)

	// B's entry removed behind its back: its next update makes it again.
	if err := os.Remove(b.path); err != nil {
		t.Fatal(err)
	}
	if got := a.members(); len(got) != 0 {
		t.Fatalf("A sees %+v with B's entry gone", got)
	}
	if err := b.update(diskEntry{Used: 7}); err != nil {
		t.Fatal(err)
	}
	if got := a.members(); !slices.Equal(got, []diskEntry{{Used: 7}}) {
		t.Fatalf("A sees %+v after B made its entry again", got)
	}

	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	if got := a.members(); len(got) != 0 {
		t.Fatalf("A sees %+v after B closed", got)
	}
	if err := a.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cloud1")); !os.IsNotExist(err) {
		t.Fatalf("the last node of cloud1 left its folder: %v", err)
	}
}

// TestDiskRegistryHelper is the other process of
// TestDiskRegistryAcrossProcesses: it registers and waits to be killed.
func TestDiskRegistryHelper(t *testing.T) {
	root := os.Getenv("MURMUR_DISK_HELPER_ROOT")
	if root == "" {
		t.Skip("only run by TestDiskRegistryAcrossProcesses")
	}
	if _, err := openDiskRegistry(root, "cloud", DiskID{9}, "child", diskEntry{Quota: 5, Used: 3}); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("registered")
	select {}
}

// TestDiskRegistryAcrossProcesses: a node in another process is seen
// while it runs, and gone as soon as it is killed with SIGKILL.
func TestDiskRegistryAcrossProcesses(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskRegistryHelper$")
	cmd.Env = append(os.Environ(), "MURMUR_DISK_HELPER_ROOT="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "registered" {
		t.Fatalf("the child said %q", sc.Text())
	}
	r, err := openDiskRegistry(root, "cloud", DiskID{9}, "parent", diskEntry{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	if got := r.members(); !slices.Equal(got, []diskEntry{{Quota: 5, Used: 3}}) {
		t.Fatalf("the parent sees %+v while the child runs", got)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait() // the kernel has dropped the child's lock once it is reaped
	if got := r.members(); len(got) != 0 {
		t.Fatalf("the parent sees %+v after the child was killed", got)
	}
}
