package fs_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

// TestMknodKinds: Mknod makes each kind with the mode, owner and device
// number asked (the number kept for devices only); directories, symlinks
// and unknown kinds are EINVAL; a name taken is EEXIST.
func TestMknodKinds(t *testing.T) {
	tr, c := newTree(t)
	for _, tc := range []struct {
		name       string
		kind       fs.Kind
		mode, rdev uint32
		wantRdev   uint32
		wantType   uint32
	}{
		{"fifo", fs.Fifo, syscall.S_IFIFO | 0o7755, 0x0801, 0, syscall.S_IFIFO},
		{"sock", fs.Socket, 0o1777, 7, 0, syscall.S_IFSOCK},
		{"chr", fs.CharDevice, 0o4600, 0x0103, 0x0103, syscall.S_IFCHR},
		{"chr.max", fs.CharDevice, 0o600, 0xffffffff, 0xffffffff, syscall.S_IFCHR},
		{"blk", fs.BlockDevice, 0o2660, 0x0801, 0x0801, syscall.S_IFBLK},
		{"reg", fs.Regular, 0o644, 5, 0, syscall.S_IFREG},
	} {
		a, err := tr.Mknod(fs.RootIno, tc.name, tc.kind, tc.mode, tc.rdev, 1000, 100)
		if err != nil {
			t.Fatalf("mknod %s: %v", tc.name, err)
		}
		want := fs.Attr{Ino: a.Ino, Kind: tc.kind, Mode: tc.mode & fs.ModeMask, Uid: 1000, Gid: 100, Nlink: 1,
			Rdev: tc.wantRdev, Atime: c.Last(), Mtime: c.Last(), Ctime: c.Last()}
		if a != want || attr(t, tr, a.Ino) != want {
			t.Errorf("mknod %s: %+v, want %+v", tc.name, a, want)
		}
		if got := a.StatMode(); got != tc.wantType|tc.mode&fs.ModeMask {
			t.Errorf("%s: st_mode %#o", tc.name, got)
		}
		if k, ok := fs.KindOf(a.StatMode()); !ok || k != tc.kind {
			t.Errorf("%s: KindOf(%#o) = %v, %v", tc.name, a.StatMode(), k, ok)
		}
	}
	for _, k := range []fs.Kind{fs.Directory, fs.Symlink, 0, fs.MaxKind + 1} {
		_, err := tr.Mknod(fs.RootIno, "x", k, 0o644, 0, 0, 0)
		wantErrno(t, err, syscall.EINVAL)
	}
	_, err := tr.Mknod(fs.RootIno, "chr", fs.Fifo, 0o644, 0, 0, 0)
	wantErrno(t, err, syscall.EEXIST)
	if _, ok := fs.KindOf(0o030000); ok {
		t.Errorf("KindOf an unknown type reports a kind")
	}
	checkInvariants(t, tr)
}

// TestSpecialOperations: special files have no contents (reads, writes
// and truncates are EINVAL), open and release like any inode, stay alive
// while open after their last name goes, and take links, renames,
// xattrs and attribute changes as regular files do.
func TestSpecialOperations(t *testing.T) {
	tr, c := newTree(t)
	d, err := tr.Mkdir(fs.RootIno, "d", 0o755, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := tr.Mknod(fs.RootIno, "blk", fs.BlockDevice, 0o660, 0x0801, 0, 6)
	if err != nil {
		t.Fatal(err)
	}
	fifo, err := tr.Mknod(d.Ino, "fifo", fs.Fifo, 0o644, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ino := range []fs.Ino{blk.Ino, fifo.Ino} {
		_, err := tr.ReadAt(ino, make([]byte, 1), 0)
		wantErrno(t, err, syscall.EINVAL)
		_, err = tr.WriteAt(ino, []byte("x"), 0)
		wantErrno(t, err, syscall.EINVAL)
		_, err = tr.SetAttr(ino, fs.SetAttrIn{Valid: fs.SetSize})
		wantErrno(t, err, syscall.EINVAL)
		_, err = tr.ReadAtContext(context.Background(), ino, nil, 0)
		wantErrno(t, err, syscall.EINVAL)
	}

	// Links across directories, and renames over and between them.
	if a, err := tr.Link(blk.Ino, d.Ino, "blk.link"); err != nil || a.Nlink != 2 || a.Ctime != c.Last() || a.Rdev != 0x0801 {
		t.Fatalf("link: %+v, %v", a, err)
	}
	if err := tr.Rename(d.Ino, "blk.link", d.Ino, "fifo", 0); err != nil {
		t.Fatal(err)
	}
	if a := attr(t, tr, blk.Ino); a.Nlink != 2 {
		t.Errorf("after rename over the fifo: %+v", a)
	}
	if _, err := tr.GetAttr(fifo.Ino); fs.Errno(err) != syscall.ENOENT {
		t.Errorf("the fifo renamed over is still there: %v", err)
	}
	sock, err := tr.Mknod(fs.RootIno, "sock", fs.Socket, 0o755, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Rename(fs.RootIno, "sock", d.Ino, "fifo", fs.RenameExchange); err != nil {
		t.Fatal(err)
	}
	if a, err := tr.Lookup(fs.RootIno, "sock"); err != nil || a.Ino != blk.Ino {
		t.Errorf("after exchange, sock is %+v, %v", a, err)
	}
	wantErrno(t, tr.Rename(fs.RootIno, "sock", d.Ino, "fifo", fs.RenameNoReplace), syscall.EEXIST)

	// A special file open when its last name goes stays until released.
	if err := tr.Open(sock.Ino); err != nil {
		t.Fatal(err)
	}
	if err := tr.Unlink(d.Ino, "fifo"); err != nil {
		t.Fatal(err)
	}
	if a := attr(t, tr, sock.Ino); a.Nlink != 0 || a.Kind != fs.Socket {
		t.Errorf("open unlinked socket: %+v", a)
	}
	_, err = tr.Link(sock.Ino, fs.RootIno, "back")
	wantErrno(t, err, syscall.ENOENT)
	if err := tr.Release(sock.Ino); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.GetAttr(sock.Ino); fs.Errno(err) != syscall.ENOENT {
		t.Errorf("released unlinked socket: %v", err)
	}

	// Attributes and xattrs; SetCtime alone moves only ctime.
	before := attr(t, tr, blk.Ino)
	a, err := tr.SetAttr(blk.Ino, fs.SetAttrIn{Valid: fs.SetCtime})
	if err != nil || a.Ctime != c.Last() || a.Ctime == before.Ctime {
		t.Errorf("SetCtime: %+v, %v", a, err)
	}
	before.Ctime = a.Ctime
	if a != before {
		t.Errorf("SetCtime changed more than ctime: %+v, was %+v", a, before)
	}
	if err := tr.SetXattr(blk.Ino, "trusted.x", []byte("v"), fs.XattrCreate); err != nil {
		t.Fatal(err)
	}
	if v, err := tr.GetXattr(blk.Ino, "trusted.x"); err != nil || string(v) != "v" {
		t.Errorf("getxattr: %q, %v", v, err)
	}
	a, err = tr.SetAttr(blk.Ino, fs.SetAttrIn{Valid: fs.SetMode | fs.SetUid | fs.SetAtime | fs.SetMtime, Mode: syscall.S_IFBLK | 0o7000, Uid: 9, Atime: -5, Mtime: 5})
	if err != nil || a.Mode != 0o7000 || a.Uid != 9 || a.Atime != -5 || a.Mtime != 5 || a.Rdev != 0x0801 || a.Kind != fs.BlockDevice {
		t.Errorf("setattr of a device: %+v, %v", a, err)
	}
	checkInvariants(t, tr)
}
