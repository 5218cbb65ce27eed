package fs_test

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs"
)

func TestNewConfig(t *testing.T) {
	tr, err := fs.New(fs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	a := attr(t, tr, fs.RootIno)
	if a.Kind != fs.Directory || a.Mode != 0o755 || a.Nlink != 2 || a.Ino != fs.RootIno {
		t.Errorf("default root = %+v", a)
	}
	if d := time.Since(time.Unix(0, a.Mtime)); d < 0 || d > time.Minute {
		t.Errorf("default clock: root mtime %v ago", d)
	}

	tr, err = fs.New(fs.Config{RootMode: 0o1777, RootUid: 7, RootGid: 8})
	if err != nil {
		t.Fatal(err)
	}
	if a := attr(t, tr, fs.RootIno); a.Mode != 0o1777 || a.Uid != 7 || a.Gid != 8 {
		t.Errorf("root = %+v", a)
	}

	for _, c := range []fs.Config{{RootMode: syscall.S_IFDIR | 0o755}, {MaxFileSize: -1}} {
		if _, err := fs.New(c); err == nil {
			t.Errorf("New(%+v) succeeded", c)
		}
	}
}

func TestErrno(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want syscall.Errno
	}{
		{nil, 0},
		{fs.ErrNotExist, syscall.ENOENT},
		{fs.ErrExist, syscall.EEXIST},
		{fs.ErrNotDir, syscall.ENOTDIR},
		{fs.ErrIsDir, syscall.EISDIR},
		{fs.ErrNotEmpty, syscall.ENOTEMPTY},
		{fs.ErrNameTooLong, syscall.ENAMETOOLONG},
		{fs.ErrInvalid, syscall.EINVAL},
		{fs.ErrPerm, syscall.EPERM},
		{fs.ErrNoData, syscall.ENODATA},
		{fs.ErrRange, syscall.ERANGE},
		{fs.ErrTooBig, syscall.E2BIG},
		{fs.ErrFileTooBig, syscall.EFBIG},
		{fmt.Errorf("fs: lookup 1/%q: %w", "x", fs.ErrNotExist), syscall.ENOENT},
		{fmt.Errorf("wrapped: %w", syscall.EROFS), syscall.EROFS},
		{io.ErrUnexpectedEOF, syscall.EIO},
	} {
		if got := fs.Errno(tc.err); got != tc.want {
			t.Errorf("Errno(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestKindAndStatMode(t *testing.T) {
	for _, tc := range []struct {
		kind fs.Kind
		name string
		mode uint32
	}{
		{fs.Regular, "regular", syscall.S_IFREG | 0o4755},
		{fs.Directory, "directory", syscall.S_IFDIR | 0o4755},
		{fs.Symlink, "symlink", syscall.S_IFLNK | 0o4755},
		{fs.Kind(9), "Kind(9)", syscall.S_IFREG | 0o4755},
	} {
		if got := tc.kind.String(); got != tc.name {
			t.Errorf("String() = %q, want %q", got, tc.name)
		}
		if got := (fs.Attr{Kind: tc.kind, Mode: 0o4755}).StatMode(); got != tc.mode {
			t.Errorf("%v StatMode() = %#o, want %#o", tc.kind, got, tc.mode)
		}
	}
}

func TestCreateKinds(t *testing.T) {
	tr, c := newTree(t)
	f, err := tr.Create(fs.RootIno, "f", syscall.S_IFREG|0o640, 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	now := c.Last()
	want := fs.Attr{Ino: f.Ino, Kind: fs.Regular, Mode: 0o640, Uid: 10, Gid: 20, Nlink: 1, Atime: now, Mtime: now, Ctime: now}
	if f != want {
		t.Errorf("Create = %+v, want %+v", f, want)
	}
	d, err := tr.Mkdir(fs.RootIno, "d", 0o1777, 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	if d.Kind != fs.Directory || d.Mode != 0o1777 || d.Nlink != 2 || d.Size != 0 {
		t.Errorf("Mkdir = %+v", d)
	}
	l, err := tr.Symlink(d.Ino, "l", "../f", 10, 20)
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != fs.Symlink || l.Mode != 0o777 || l.Size != 4 || l.Nlink != 1 {
		t.Errorf("Symlink = %+v", l)
	}
	if got, err := tr.Readlink(l.Ino); err != nil || got != "../f" {
		t.Errorf("Readlink = %q, %v", got, err)
	}
	for _, i := range []fs.Ino{fs.RootIno, f.Ino, d.Ino} {
		_, err := tr.Readlink(i)
		wantErrno(t, err, syscall.EINVAL)
	}
	_, err = tr.Readlink(999)
	wantErrno(t, err, syscall.ENOENT)

	if got := listing(t, tr); !slices.Equal(got, []string{"d/", "d/l->../f", "f"}) {
		t.Errorf("listing = %q", got)
	}
	if a := attr(t, tr, fs.RootIno); a.Nlink != 3 {
		t.Errorf("root Nlink = %d, want 3", a.Nlink)
	}
	if got, err := tr.Lookup(fs.RootIno, "f"); err != nil || got != f {
		t.Errorf("Lookup f = %+v, %v", got, err)
	}
	checkInvariants(t, tr)
}

func TestCreateErrors(t *testing.T) {
	tr, _ := newTree(t)
	inos := build(t, tr, "d/", "f")
	ops := map[string]func(parent fs.Ino, name string) error{
		"create": func(p fs.Ino, n string) error { _, err := tr.Create(p, n, 0o644, 0, 0); return err },
		"mkdir":  func(p fs.Ino, n string) error { _, err := tr.Mkdir(p, n, 0o755, 0, 0); return err },
		"symlink": func(p fs.Ino, n string) error {
			_, err := tr.Symlink(p, n, "t", 0, 0)
			return err
		},
		"link": func(p fs.Ino, n string) error { _, err := tr.Link(inos["f"], p, n); return err },
	}
	for _, tc := range []struct {
		name   string
		parent fs.Ino
		entry  string
		want   syscall.Errno
	}{
		{"exists file", fs.RootIno, "f", syscall.EEXIST},
		{"exists dir", fs.RootIno, "d", syscall.EEXIST},
		{"parent missing", 999, "x", syscall.ENOENT},
		{"parent not dir", inos["f"], "x", syscall.ENOTDIR},
		{"empty name", fs.RootIno, "", syscall.EINVAL},
		{"dot", fs.RootIno, ".", syscall.EINVAL},
		{"dotdot", fs.RootIno, "..", syscall.EINVAL},
		{"slash", fs.RootIno, "a/b", syscall.EINVAL},
		{"nul", fs.RootIno, "a\x00b", syscall.EINVAL},
		{"too long", fs.RootIno, strings.Repeat("n", 256), syscall.ENAMETOOLONG},
		{"longest", inos["d"], strings.Repeat("n", 255), 0},
	} {
		for op, f := range ops {
			t.Run(tc.name+"/"+op, func(t *testing.T) {
				before := listing(t, tr)
				err := f(tc.parent, tc.entry)
				wantErrno(t, err, tc.want)
				if err != nil {
					if !slices.Equal(listing(t, tr), before) {
						t.Error("failed operation changed the tree")
					}
					return
				}
				if err := tr.Rmdir(tc.parent, tc.entry); err != nil {
					wantErrno(t, tr.Unlink(tc.parent, tc.entry), 0)
				}
			})
		}
	}
	checkInvariants(t, tr)
}

func TestSymlinkTargets(t *testing.T) {
	tr, _ := newTree(t)
	for _, tc := range []struct {
		target string
		want   syscall.Errno
	}{
		{"", syscall.ENOENT},
		{"a\x00b", syscall.EINVAL},
		{strings.Repeat("t", fs.MaxSymlinkLen+1), syscall.ENAMETOOLONG},
		{strings.Repeat("t", fs.MaxSymlinkLen), 0},
		{"/abs/path", 0},
	} {
		name := fmt.Sprintf("l%d", len(tc.target))
		a, err := tr.Symlink(fs.RootIno, name, tc.target, 0, 0)
		wantErrno(t, err, tc.want)
		if err == nil {
			if got, _ := tr.Readlink(a.Ino); got != tc.target || a.Size != uint64(len(tc.target)) {
				t.Errorf("target of %d bytes read back as %d bytes, size %d", len(tc.target), len(got), a.Size)
			}
		}
	}
}

func TestLookupGetAttrErrors(t *testing.T) {
	tr, _ := newTree(t)
	inos := build(t, tr, "f")
	_, err := tr.Lookup(fs.RootIno, "missing")
	wantErrno(t, err, syscall.ENOENT)
	_, err = tr.Lookup(inos["f"], "x")
	wantErrno(t, err, syscall.ENOTDIR)
	_, err = tr.Lookup(999, "x")
	wantErrno(t, err, syscall.ENOENT)
	_, err = tr.Lookup(fs.RootIno, strings.Repeat("x", 256))
	wantErrno(t, err, syscall.ENAMETOOLONG)
	_, err = tr.GetAttr(999)
	wantErrno(t, err, syscall.ENOENT)
	_, err = tr.ReadDir(inos["f"])
	wantErrno(t, err, syscall.ENOTDIR)
	_, err = tr.ReadDir(999)
	wantErrno(t, err, syscall.ENOENT)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "readdir 999") {
		t.Errorf("error %q does not name the operation or wrap ErrNotExist", err)
	}
}

func TestReadDirSorted(t *testing.T) {
	tr, _ := newTree(t)
	inos := build(t, tr, "zeta", "alpha/", "Mid", "beta->x", "alpha/inner")
	ents, err := tr.ReadDir(fs.RootIno)
	if err != nil {
		t.Fatal(err)
	}
	want := []fs.DirEntry{
		{"Mid", inos["Mid"], fs.Regular},
		{"alpha", inos["alpha"], fs.Directory},
		{"beta", inos["beta"], fs.Symlink},
		{"zeta", inos["zeta"], fs.Regular},
	}
	if !slices.Equal(ents, want) {
		t.Errorf("ReadDir = %+v, want %+v", ents, want)
	}
	ents[0].Name = "changed" // the slice is the caller's
	if again, _ := tr.ReadDir(fs.RootIno); again[0].Name != "Mid" {
		t.Error("ReadDir returned shared state")
	}
}

func TestHardLinks(t *testing.T) {
	tr, c := newTree(t)
	inos := build(t, tr, "a/", "b/", "a/f")
	f := inos["a/f"]
	if _, err := tr.WriteAt(f, []byte("shared"), 0); err != nil {
		t.Fatal(err)
	}
	l, err := tr.Link(f, inos["b"], "g")
	if err != nil {
		t.Fatal(err)
	}
	if l.Ino != f || l.Nlink != 2 || l.Ctime != c.Last() {
		t.Errorf("Link = %+v", l)
	}
	if b := attr(t, tr, inos["b"]); b.Mtime != c.Last() || b.Ctime != c.Last() || b.Nlink != 2 {
		t.Errorf("new parent after Link = %+v", b)
	}
	build(t, tr, "h=a/f")
	if a := attr(t, tr, f); a.Nlink != 3 {
		t.Errorf("Nlink = %d, want 3", a.Nlink)
	}
	if got := read(t, tr, ino(t, tr, "b/g")); string(got) != "shared" {
		t.Errorf("b/g = %q", got)
	}
	checkInvariants(t, tr)

	_, err = tr.Link(inos["a"], fs.RootIno, "dirlink")
	wantErrno(t, err, syscall.EPERM)
	_, err = tr.Link(inos["a"], fs.RootIno, "b") // the name is checked first, as in Linux
	wantErrno(t, err, syscall.EEXIST)
	_, err = tr.Link(999, fs.RootIno, "x")
	wantErrno(t, err, syscall.ENOENT)

	for i, p := range []string{"a/f", "h", "b/g"} {
		wantErrno(t, tr.Unlink(parentOf(t, tr, p), p[strings.LastIndex(p, "/")+1:]), 0)
		want := uint32(2 - i)
		a, err := tr.GetAttr(f)
		if want == 0 {
			wantErrno(t, err, syscall.ENOENT) // freed with its last name
			continue
		}
		if err != nil || a.Nlink != want || a.Ctime != c.Last() {
			t.Errorf("after unlinking %s: %+v, %v; want Nlink %d", p, a, err, want)
		}
	}
	checkInvariants(t, tr)
}

func TestUnlinkRmdir(t *testing.T) {
	tr, c := newTree(t)
	inos := build(t, tr, "d/", "d/f", "e/", "e/sub/", "l->d")
	wantErrno(t, tr.Unlink(fs.RootIno, "d"), syscall.EISDIR)
	wantErrno(t, tr.Unlink(fs.RootIno, "missing"), syscall.ENOENT)
	wantErrno(t, tr.Unlink(inos["d/f"], "x"), syscall.ENOTDIR)
	wantErrno(t, tr.Unlink(fs.RootIno, ".."), syscall.EINVAL)
	wantErrno(t, tr.Rmdir(inos["d"], "f"), syscall.ENOTDIR)
	wantErrno(t, tr.Rmdir(fs.RootIno, "l"), syscall.ENOTDIR)
	wantErrno(t, tr.Rmdir(fs.RootIno, "d"), syscall.ENOTEMPTY)
	wantErrno(t, tr.Rmdir(fs.RootIno, "e"), syscall.ENOTEMPTY)
	wantErrno(t, tr.Rmdir(fs.RootIno, "missing"), syscall.ENOENT)
	wantErrno(t, tr.Rmdir(fs.RootIno, "."), syscall.EINVAL)
	wantErrno(t, tr.Rmdir(999, "x"), syscall.ENOENT)

	wantErrno(t, tr.Unlink(fs.RootIno, "l"), 0)
	wantErrno(t, tr.Unlink(inos["d"], "f"), 0)
	if a := attr(t, tr, inos["d"]); a.Mtime != c.Last() || a.Ctime != c.Last() {
		t.Errorf("parent times not updated by Unlink: %+v", a)
	}
	wantErrno(t, tr.Rmdir(inos["e"], "sub"), 0)
	if a := attr(t, tr, inos["e"]); a.Nlink != 2 || a.Mtime != c.Last() {
		t.Errorf("e after rmdir of its subdirectory: %+v", a)
	}
	wantErrno(t, tr.Rmdir(fs.RootIno, "d"), 0)
	for _, p := range []string{"d", "d/f", "e/sub", "l"} {
		_, err := tr.GetAttr(inos[p])
		wantErrno(t, err, syscall.ENOENT)
	}
	if got := listing(t, tr); !slices.Equal(got, []string{"e/"}) {
		t.Errorf("listing = %q", got)
	}
	if a := attr(t, tr, fs.RootIno); a.Nlink != 3 {
		t.Errorf("root Nlink = %d, want 3", a.Nlink)
	}
	checkInvariants(t, tr)
}

// TestUnlinkedOpen is what go-fuse's posixtest FstatDeleted and NlinkZero
// check through a mount: an open file outlives its last name.
func TestUnlinkedOpen(t *testing.T) {
	tr, _ := newTree(t)
	f := build(t, tr, "f")["f"]
	wantErrno(t, tr.Open(f), 0)
	wantErrno(t, tr.Open(f), 0) // two handles
	if _, err := tr.WriteAt(f, []byte("hello"), 0); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, tr.Unlink(fs.RootIno, "f"), 0)

	a := attr(t, tr, f)
	if a.Nlink != 0 || a.Size != 5 {
		t.Errorf("unlinked open file: %+v", a)
	}
	if _, err := tr.WriteAt(f, []byte(" world"), 5); err != nil {
		t.Fatal(err)
	}
	if got := read(t, tr, f); string(got) != "hello world" {
		t.Errorf("read %q", got)
	}
	_, err := tr.Link(f, fs.RootIno, "again")
	wantErrno(t, err, syscall.ENOENT)
	wantErrno(t, tr.SetXattr(f, "user.k", []byte("v"), 0), 0)
	if _, err := tr.Lookup(fs.RootIno, "f"); fs.Errno(err) != syscall.ENOENT {
		t.Errorf("Lookup of unlinked name: %v", err)
	}
	if _, err := tr.Create(fs.RootIno, "f", 0o644, 0, 0); err != nil {
		t.Errorf("name not free after unlink: %v", err)
	}

	wantErrno(t, tr.Release(f), 0)
	if _, err := tr.GetAttr(f); err != nil {
		t.Errorf("freed with a handle still open: %v", err)
	}
	wantErrno(t, tr.Release(f), 0)
	_, err = tr.GetAttr(f)
	wantErrno(t, err, syscall.ENOENT)
	_, err = tr.ReadAt(f, make([]byte, 1), 0)
	wantErrno(t, err, syscall.ENOENT)
	wantErrno(t, tr.Release(f), syscall.ENOENT)
	wantErrno(t, tr.Open(f), syscall.ENOENT)
}

func TestOpenRelease(t *testing.T) {
	tr, _ := newTree(t)
	f := build(t, tr, "f")["f"]
	wantErrno(t, tr.Release(f), syscall.EINVAL) // not open
	wantErrno(t, tr.Open(f), 0)
	wantErrno(t, tr.Release(f), 0)
	if a := attr(t, tr, f); a.Nlink != 1 {
		t.Errorf("Release of a named file changed it: %+v", a)
	}
	wantErrno(t, tr.Open(fs.RootIno), 0) // an opendir
	wantErrno(t, tr.Release(fs.RootIno), 0)
	if _, err := tr.GetAttr(fs.RootIno); err != nil {
		t.Errorf("root freed: %v", err)
	}
}

// An open directory that is removed stays readable and empty, and no
// entries can be made in it.
func TestRemovedOpenDir(t *testing.T) {
	tr, _ := newTree(t)
	inos := build(t, tr, "d/", "f")
	d := inos["d"]
	wantErrno(t, tr.Open(d), 0)
	wantErrno(t, tr.Rmdir(fs.RootIno, "d"), 0)
	if a := attr(t, tr, d); a.Nlink != 0 {
		t.Errorf("removed open directory: %+v", a)
	}
	if ents, err := tr.ReadDir(d); err != nil || len(ents) != 0 {
		t.Errorf("ReadDir of removed directory = %v, %v", ents, err)
	}
	_, err := tr.Create(d, "x", 0o644, 0, 0)
	wantErrno(t, err, syscall.ENOENT)
	_, err = tr.Mkdir(d, "x", 0o755, 0, 0)
	wantErrno(t, err, syscall.ENOENT)
	_, err = tr.Link(inos["f"], d, "x")
	wantErrno(t, err, syscall.ENOENT)
	wantErrno(t, tr.Rename(fs.RootIno, "f", d, "x", 0), syscall.ENOENT)
	_, err = tr.Lookup(d, "x")
	wantErrno(t, err, syscall.ENOENT)
	wantErrno(t, tr.Release(d), 0)
	_, err = tr.GetAttr(d)
	wantErrno(t, err, syscall.ENOENT)
	checkInvariants(t, tr)
}

func TestSetgidDirectory(t *testing.T) {
	tr, _ := newTree(t)
	d, err := tr.Mkdir(fs.RootIno, "shared", 0o2775, 1, 50)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := tr.Create(d.Ino, "f", 0o644, 2, 2)
	sub, _ := tr.Mkdir(d.Ino, "sub", 0o755, 2, 2)
	if f.Gid != 50 || f.Mode != 0o644 {
		t.Errorf("file in setgid directory: %+v", f)
	}
	if sub.Gid != 50 || sub.Mode != 0o2755 {
		t.Errorf("directory in setgid directory: %+v", sub)
	}
	plain, _ := tr.Create(fs.RootIno, "plain", 0o644, 2, 2)
	if plain.Gid != 2 {
		t.Errorf("file in plain directory: %+v", plain)
	}
}

// Making and removing entries moves the parent's mtime and ctime only.
func TestParentTimes(t *testing.T) {
	tr, c := newTree(t)
	inos := build(t, tr, "d/", "d/f", "e/")
	steps := []struct {
		name    string
		op      func() error
		touched []string // directories whose times must move
	}{
		{"create", func() error { _, err := tr.Create(inos["d"], "g", 0o644, 0, 0); return err }, []string{"d"}},
		{"mkdir", func() error { _, err := tr.Mkdir(inos["e"], "s", 0o755, 0, 0); return err }, []string{"e"}},
		{"symlink", func() error { _, err := tr.Symlink(inos["d"], "l", "x", 0, 0); return err }, []string{"d"}},
		{"link", func() error { _, err := tr.Link(inos["d/f"], inos["e"], "h"); return err }, []string{"e"}},
		{"unlink", func() error { return tr.Unlink(inos["e"], "h") }, []string{"e"}},
		{"rmdir", func() error { return tr.Rmdir(inos["e"], "s") }, []string{"e"}},
		{"rename within", func() error { return tr.Rename(inos["d"], "g", inos["d"], "g2", 0) }, []string{"d"}},
		{"rename across", func() error { return tr.Rename(inos["d"], "g2", inos["e"], "g", 0) }, []string{"d", "e"}},
		{"failed create", func() error {
			if _, err := tr.Create(inos["d"], "f", 0o644, 0, 0); fs.Errno(err) != syscall.EEXIST {
				return fmt.Errorf("want EEXIST, got %v", err)
			}
			return nil
		}, nil},
		{"lookup", func() error { _, err := tr.Lookup(inos["d"], "f"); return err }, nil},
	}
	for _, s := range steps {
		before := map[string]fs.Attr{"d": attr(t, tr, inos["d"]), "e": attr(t, tr, inos["e"])}
		if err := s.op(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		for name, b := range before {
			a := attr(t, tr, inos[name])
			moved := a.Mtime != b.Mtime
			if want := slices.Contains(s.touched, name); moved != want || (want && (a.Mtime != c.Last() || a.Ctime != c.Last())) {
				t.Errorf("%s: %s times %d/%d -> %d/%d, want touched=%v", s.name, name, b.Mtime, b.Ctime, a.Mtime, a.Ctime, want)
			}
			if a.Atime != b.Atime {
				t.Errorf("%s: %s atime moved", s.name, name)
			}
		}
	}
}
