package fs_test

import (
	"bytes"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs"
)

func TestReadWrite(t *testing.T) {
	tr, c := newTree(t)
	inos := build(t, tr, "f", "d/", "l->f")
	f := inos["f"]
	if n, err := tr.WriteAt(f, []byte("hello"), 0); n != 5 || err != nil {
		t.Fatalf("WriteAt = %d, %v", n, err)
	}
	if a := attr(t, tr, f); a.Size != 5 || a.Mtime != c.Last() || a.Ctime != c.Last() {
		t.Errorf("after write: %+v", a)
	}
	// A write past the end leaves a hole of zeros.
	if _, err := tr.WriteAt(f, []byte("xy"), 8); err != nil {
		t.Fatal(err)
	}
	if got := read(t, tr, f); !bytes.Equal(got, []byte("hello\x00\x00\x00xy")) {
		t.Errorf("contents %q", got)
	}
	// Overwrite in the middle keeps the size.
	if _, err := tr.WriteAt(f, []byte("EL"), 1); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		off  int64
		size int
		want string
	}{
		{0, 3, "hEL"}, {3, 100, "lo\x00\x00\x00xy"}, {9, 5, "y"}, {10, 5, ""}, {1000, 5, ""}, {0, 0, ""},
	} {
		p := make([]byte, tc.size)
		n, err := tr.ReadAt(f, p, tc.off)
		if err != nil || string(p[:n]) != tc.want {
			t.Errorf("ReadAt(%d, %d) = %q, %v; want %q", tc.off, tc.size, p[:n], err, tc.want)
		}
	}
	before := attr(t, tr, f)
	if n, err := tr.WriteAt(f, nil, 100); n != 0 || err != nil {
		t.Errorf("empty WriteAt = %d, %v", n, err)
	}
	if a := attr(t, tr, f); a != before {
		t.Errorf("empty write changed %+v to %+v", before, a)
	}
	// The caller's buffer is copied, not kept.
	buf := []byte("zz")
	tr.WriteAt(f, buf, 0)
	buf[0] = '!'
	if got := read(t, tr, f); got[0] != 'z' {
		t.Errorf("tree kept the caller's slice: %q", got)
	}

	for _, tc := range []struct {
		name string
		ino  fs.Ino
		off  int64
		want syscall.Errno
	}{
		{"directory", inos["d"], 0, syscall.EISDIR},
		{"symlink", inos["l"], 0, syscall.EINVAL},
		{"missing", 999, 0, syscall.ENOENT},
		{"negative offset", f, -1, syscall.EINVAL},
	} {
		_, err := tr.ReadAt(tc.ino, make([]byte, 1), tc.off)
		wantErrno(t, err, tc.want)
		_, err = tr.WriteAt(tc.ino, []byte("x"), tc.off)
		wantErrno(t, err, tc.want)
	}
}

func TestMaxFileSize(t *testing.T) {
	tr, err := fs.New(fs.Config{MaxFileSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := tr.Create(fs.RootIno, "f", 0o644, 0, 0)
	_, err = tr.WriteAt(a.Ino, make([]byte, 10), 91)
	wantErrno(t, err, syscall.EFBIG)
	_, err = tr.WriteAt(a.Ino, []byte("x"), 1<<62)
	wantErrno(t, err, syscall.EFBIG)
	_, err = tr.WriteAt(a.Ino, make([]byte, 10), 90)
	wantErrno(t, err, 0)
	_, err = tr.SetAttr(a.Ino, fs.SetAttrIn{Valid: fs.SetSize, Size: 101})
	wantErrno(t, err, syscall.EFBIG)
	if got := attr(t, tr, a.Ino).Size; got != 100 {
		t.Errorf("size %d after failed truncate, want 100", got)
	}
}

func TestSetAttr(t *testing.T) {
	tr, c := newTree(t)
	inos := build(t, tr, "f", "d/", "l->f")
	f := inos["f"]
	tr.WriteAt(f, []byte("0123456789"), 0)

	a, err := tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetMode | fs.SetUid | fs.SetGid, Mode: syscall.S_IFREG | 0o4711, Uid: 5, Gid: 6})
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode != 0o4711 || a.Uid != 5 || a.Gid != 6 || a.Ctime != c.Last() || a.Mtime == c.Last() {
		t.Errorf("chmod/chown: %+v", a)
	}

	// Truncate down, then extend: the extension reads as zeros, not as the
	// old bytes.
	a, err = tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetSize, Size: 3})
	if err != nil || a.Size != 3 || a.Mtime != c.Last() || a.Ctime != c.Last() {
		t.Errorf("truncate: %+v, %v", a, err)
	}
	tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetSize, Size: 6})
	if got := read(t, tr, f); string(got) != "012\x00\x00\x00" {
		t.Errorf("after truncate and extend: %q", got)
	}
	// A big truncate then a small one gives memory back and keeps contents.
	tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetSize, Size: 1 << 20})
	tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetSize, Size: 2})
	if got := read(t, tr, f); string(got) != "01" {
		t.Errorf("after big truncate: %q", got)
	}

	// Explicit times, and "now".
	at, mt := time.Unix(10, 1).UnixNano(), time.Unix(20, 2).UnixNano()
	a, _ = tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetAtime | fs.SetMtime | fs.SetSize, Size: 1, Atime: at, Mtime: mt})
	if a.Atime != at || a.Mtime != mt || a.Ctime != c.Last() || a.Size != 1 {
		t.Errorf("utimes with truncate: %+v", a)
	}
	a, _ = tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetAtimeNow | fs.SetMtimeNow | fs.SetAtime, Atime: at})
	if a.Atime != c.Last() || a.Mtime != c.Last() || a.Ctime != c.Last() {
		t.Errorf("utimes now: %+v", a)
	}
	a, _ = tr.SetAttr(f, fs.SetAttrIn{Valid: fs.SetAtime, Atime: at})
	if a.Atime != at || a.Mtime == c.Last() || a.Ctime != c.Last() {
		t.Errorf("atime only: %+v", a)
	}

	// An empty change changes nothing, ctime included.
	before := attr(t, tr, f)
	if a, err := tr.SetAttr(f, fs.SetAttrIn{Mode: 0o777}); err != nil || a != before {
		t.Errorf("empty SetAttr = %+v, %v; want %+v", a, err, before)
	}
	// Directories and symlinks take mode and times but not a size.
	if a, err := tr.SetAttr(inos["d"], fs.SetAttrIn{Valid: fs.SetMode, Mode: 0o700}); err != nil || a.Mode != 0o700 {
		t.Errorf("chmod directory: %+v, %v", a, err)
	}
	for _, tc := range []struct {
		name string
		ino  fs.Ino
		in   fs.SetAttrIn
		want syscall.Errno
	}{
		{"size of directory", inos["d"], fs.SetAttrIn{Valid: fs.SetSize}, syscall.EISDIR},
		{"size of symlink", inos["l"], fs.SetAttrIn{Valid: fs.SetSize}, syscall.EINVAL},
		{"unknown bit", f, fs.SetAttrIn{Valid: 1 << 20}, syscall.EINVAL},
		{"missing", 999, fs.SetAttrIn{Valid: fs.SetMode}, syscall.ENOENT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := tr.GetAttr(tc.ino)
			_, err := tr.SetAttr(tc.ino, tc.in)
			wantErrno(t, err, tc.want)
			if after, _ := tr.GetAttr(tc.ino); after != before {
				t.Errorf("failed SetAttr changed %+v to %+v", before, after)
			}
		})
	}
}
