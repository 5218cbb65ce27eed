package drive_test

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/drive"
)

// pictured is what a tree holds under one name: the inode's attributes
// (number, kind, mode, owner, link count, size, device number and the
// three times), its xattrs, and a symlink's target.
type pictured struct {
	Attr   fs.Attr
	Xattrs map[string]string
	Target string
}

// picture returns every name of tr, the root as ".", with what it holds.
func picture(t *testing.T, tr *fs.Tree) map[string]pictured {
	t.Helper()
	out := map[string]pictured{}
	var walk func(p string, a fs.Attr)
	walk = func(p string, a fs.Attr) {
		pc := pictured{Attr: a, Xattrs: map[string]string{}}
		names, err := tr.ListXattr(a.Ino)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			v, err := tr.GetXattr(a.Ino, name)
			if err != nil {
				t.Fatal(err)
			}
			pc.Xattrs[name] = string(v)
		}
		if a.Kind == fs.Symlink {
			if pc.Target, err = tr.Readlink(a.Ino); err != nil {
				t.Fatal(err)
			}
		}
		out[p] = pc
		if a.Kind != fs.Directory {
			return
		}
		ents, err := tr.ReadDir(a.Ino)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			walk(path.Join(p, e.Name), mustLookup(t, tr, a.Ino, e.Name))
		}
	}
	root, err := tr.GetAttr(fs.RootIno)
	if err != nil {
		t.Fatal(err)
	}
	walk(".", root)
	return out
}

// samePicture fails t unless got holds what want does, name by name.
func samePicture(t *testing.T, what string, want, got map[string]pictured) {
	t.Helper()
	for _, p := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[p]
		w := want[p]
		switch {
		case !ok:
			t.Errorf("%s: %s is missing", what, p)
		case g.Attr != w.Attr || g.Target != w.Target || !maps.Equal(g.Xattrs, w.Xattrs):
			t.Errorf("%s: %s is\n\t%+v\nwant\n\t%+v", what, p, g, w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: %s should not be there: %+v", what, p, got[p])
		}
	}
}

// devices are the device numbers the tests make, in the kernel's 32-bit
// encoding as st_rdev holds it: small, zero, the largest (major 4095,
// minor 2^20-1: every bit set) and one with minor bits above the first
// byte.
var (
	devNull  = uint32(unix.Mkdev(1, 3))
	devSda1  = uint32(unix.Mkdev(8, 1))
	devMax   = uint32(unix.Mkdev(4095, 1<<20-1))
	devNvme  = uint32(unix.Mkdev(259, 0x12345))
	devLoop7 = uint32(unix.Mkdev(7, 7))
)

// specialTreeOps changes trees of special files, each call later on the
// drive's fake clock than the last, so every ctime differs.
type specialTreeOps struct {
	t     *testing.T
	tr    *fs.Tree
	clock *fakeClock
}

func (o specialTreeOps) tick() { o.clock.Add(time.Second + 7*time.Millisecond) }

func (o specialTreeOps) ino(p string) fs.Ino {
	o.t.Helper()
	ino := fs.RootIno
	if p == "." {
		return ino
	}
	for _, name := range strings.Split(p, "/") {
		ino = mustLookup(o.t, o.tr, ino, name).Ino
	}
	return ino
}

func (o specialTreeOps) mknod(p string, k fs.Kind, mode, rdev, uid, gid uint32) fs.Ino {
	o.t.Helper()
	o.tick()
	dir, name := path.Split(p)
	a, err := o.tr.Mknod(o.ino(path.Clean(dir)), name, k, mode, rdev, uid, gid)
	if err != nil {
		o.t.Fatal(err)
	}
	return a.Ino
}

func (o specialTreeOps) mkdir(p string, mode uint32) {
	o.t.Helper()
	o.tick()
	dir, name := path.Split(p)
	if _, err := o.tr.Mkdir(o.ino(path.Clean(dir)), name, mode, 0, 0); err != nil {
		o.t.Fatal(err)
	}
}

func (o specialTreeOps) link(from, to string) {
	o.t.Helper()
	o.tick()
	dir, name := path.Split(to)
	if _, err := o.tr.Link(o.ino(from), o.ino(path.Clean(dir)), name); err != nil {
		o.t.Fatal(err)
	}
}

func (o specialTreeOps) rename(from, to string, flags fs.RenameFlags) {
	o.t.Helper()
	o.tick()
	fdir, fname := path.Split(from)
	tdir, tname := path.Split(to)
	if err := o.tr.Rename(o.ino(path.Clean(fdir)), fname, o.ino(path.Clean(tdir)), tname, flags); err != nil {
		o.t.Fatal(err)
	}
}

func (o specialTreeOps) unlink(p string) {
	o.t.Helper()
	o.tick()
	dir, name := path.Split(p)
	if err := o.tr.Unlink(o.ino(path.Clean(dir)), name); err != nil {
		o.t.Fatal(err)
	}
}

func (o specialTreeOps) setattr(p string, in fs.SetAttrIn) {
	o.t.Helper()
	o.tick()
	if _, err := o.tr.SetAttr(o.ino(p), in); err != nil {
		o.t.Fatal(err)
	}
}

func (o specialTreeOps) setxattr(p, name, value string) {
	o.t.Helper()
	o.tick()
	if err := o.tr.SetXattr(o.ino(p), name, []byte(value), 0); err != nil {
		o.t.Fatal(err)
	}
}

func (o specialTreeOps) removexattr(p, name string) {
	o.t.Helper()
	o.tick()
	if err := o.tr.RemoveXattr(o.ino(p), name); err != nil {
		o.t.Fatal(err)
	}
}

// makeSpecialTree makes a tree with every kind of inode: fifos, sockets,
// character and block devices with their numbers, with setuid, setgid
// and sticky bits, owners other than root, xattrs, explicit times before
// 1970 and with nanoseconds, and hard links between special files across
// directories; a regular file and a symlink beside them.
func makeSpecialTree(o specialTreeOps) {
	o.t.Helper()
	o.mkdir("dev", 0o755)
	o.mkdir("run", 0o1777)
	o.mknod("dev/null", fs.CharDevice, 0o666, devNull, 0, 0)
	o.mknod("dev/max", fs.CharDevice, 0o4600, devMax, 0, 6)
	o.mknod("dev/zero-dev", fs.CharDevice, 0o600, 0, 0, 0)
	o.mknod("dev/sda1", fs.BlockDevice, 0o2660, devSda1, 0, 6)
	o.mknod("dev/nvme", fs.BlockDevice, 0o640, devNvme, 0, 6)
	o.mknod("run/fifo", fs.Fifo, 0o7755, 0, 1000, 100)
	o.mknod("run/sock", fs.Socket, 0o1777, 0, 65534, 65534)
	o.mknod("run/plain", fs.Regular, 0o644, 0, 1000, 1000)
	if _, err := o.tr.Symlink(o.ino("run"), "lnk", "fifo", 1000, 1000); err != nil {
		o.t.Fatal(err)
	}
	o.link("run/fifo", "fifo.link")
	o.link("dev/sda1", "run/sda1.link")
	o.link("run/sock", "dev/sock.link")
	o.link("dev/null", "null.link")
	o.setxattr("run/fifo", "trusted.kind", "fifo")
	o.setxattr("dev/sda1", "trusted.kind", "block")
	o.setxattr("dev/sda1", "security.label", "disk")
	o.setxattr("run/sock", "trusted.empty", "")
	o.setattr("run/fifo", fs.SetAttrIn{Valid: fs.SetAtime | fs.SetMtime, Atime: -1_000_000_000_123, Mtime: 1_234_567_890_123_456_789})
	o.setattr("dev/nvme", fs.SetAttrIn{Valid: fs.SetMtime, Mtime: 2_000_000_000_500_000_000})
	o.setattr("run/sock", fs.SetAttrIn{Valid: fs.SetAtimeNow})
	o.setattr("dev/zero-dev", fs.SetAttrIn{Valid: fs.SetCtime})
}

// changeSpecialTree changes the tree makeSpecialTree made: modes,
// owners, times and xattrs, renames over and between special files,
// unlinks of one of two names, and new nodes.
func changeSpecialTree(o specialTreeOps) {
	o.t.Helper()
	o.setattr("run/fifo", fs.SetAttrIn{Valid: fs.SetMode | fs.SetUid | fs.SetGid, Mode: 0o2640, Uid: 0, Gid: 65534})
	o.setattr("dev/max", fs.SetAttrIn{Valid: fs.SetMode, Mode: 0o1000})
	o.rename("run/sda1.link", "run/plain", 0)
	o.rename("run/fifo", "dev/nvme", fs.RenameExchange)
	o.rename("run", "dev/sock.link", fs.RenameExchange)
	o.unlink("null.link")
	o.mknod("dev/loop7", fs.BlockDevice, 0o660, devLoop7, 0, 6)
	o.mknod("fifo2", fs.Fifo, 0o600, 0, 0, 0)
	o.setxattr("dev/max", "trusted.kind", "char")
	o.removexattr("dev/sda1", "security.label")
	o.setattr("dev/loop7", fs.SetAttrIn{Valid: fs.SetAtime | fs.SetMtime, Atime: 1, Mtime: -1})
}

// crashSpecialTree changes the tree again, as a mount does between two
// commits.
func crashSpecialTree(o specialTreeOps) {
	o.t.Helper()
	o.mknod("dev/fifo3", fs.Fifo, 0o644, 0, 1000, 1000)
	o.link("dev/fifo3", "fifo3.link")
	o.link("dev/loop7", "loop7.link")
	o.unlink("fifo.link")
	o.setattr("dev/zero-dev", fs.SetAttrIn{Valid: fs.SetMode, Mode: 0o7000})
	o.removexattr("dev/nvme", "trusted.kind")
	o.setxattr("fifo2", "trusted.new", "x")
}

// TestDriveSpecialFiles: fifos, sockets and devices, with their device
// numbers, modes, owners, times, xattrs and hard links, are kept whole
// by a commit read on another device, by a follower, by a snapshot
// mounted after later changes, by a remount on the state after Close and
// after a crash, and by a restore.
func TestDriveSpecialFiles(t *testing.T) {
	ctx := context.Background()
	e := newDriveEnv(t)
	dir := t.TempDir()
	d := e.open(dir, false)
	o := specialTreeOps{t: t, tr: d.Tree(), clock: e.clock}
	makeSpecialTree(o)
	first := picture(t, d.Tree())
	for p, rdev := range map[string]uint32{"dev/null": devNull, "dev/max": 0xffffffff, "dev/zero-dev": 0, "dev/sda1": devSda1, "run/sda1.link": devSda1, "dev/nvme": devNvme} {
		if got := first[p].Attr.Rdev; got != rdev {
			t.Fatalf("%s: rdev %#x, want %#x", p, got, rdev)
		}
	}
	if a := first["fifo.link"].Attr; a.Kind != fs.Fifo || a.Nlink != 2 || a.Mode != 0o7755 || a.Ino != first["run/fifo"].Attr.Ino {
		t.Fatalf("fifo.link: %+v", a)
	}
	mustCommit(t, d)
	gen := d.Status().Snapshot

	readOnly := func(what string, want map[string]pictured) {
		t.Helper()
		r := e.open(t.TempDir(), true)
		defer r.Close(ctx)
		samePicture(t, what, want, picture(t, r.Tree()))
	}
	readOnly("another device", first)

	follower := e.open(t.TempDir(), true)
	defer follower.Close(ctx)
	changeSpecialTree(o)
	second := picture(t, d.Tree())
	mustCommit(t, d)
	if err := follower.Follow(ctx); err != nil {
		t.Fatal(err)
	}
	samePicture(t, "a follower", second, picture(t, follower.Tree()))
	readOnly("another device after the changes", second)

	cfg := e.config("")
	cfg.Snapshot = gen
	snap, err := drive.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	samePicture(t, fmt.Sprintf("snapshot %d", gen), first, picture(t, snap.Tree()))
	snap.Close(ctx)

	crashSpecialTree(o)
	third := picture(t, d.Tree())
	if err := d.Tree().Fsync(fs.RootIno); err != nil {
		t.Fatal(err)
	}
	crashed := crashCopy(t, dir) // the mount process dies here: d is abandoned
	e.clock.Add(2 * time.Minute)
	d2 := e.open(crashed, false)
	samePicture(t, "the state remounted after a crash", third, picture(t, d2.Tree()))
	mustCommit(t, d2)
	readOnly("another device after the crashed state's commit", third)

	if err := d2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	d2 = e.open(crashed, false)
	defer d2.Close(ctx)
	samePicture(t, "the state remounted after Close", third, picture(t, d2.Tree()))

	if err := d2.Restore(ctx, gen); err != nil {
		t.Fatal(err)
	}
	samePicture(t, fmt.Sprintf("the mount restored to %d", gen), first, picture(t, d2.Tree()))
	readOnly(fmt.Sprintf("another device after the restore to %d", gen), first)
}
