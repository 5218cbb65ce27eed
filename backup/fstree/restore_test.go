package fstree_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/fs"
)

// TestRoundTripGoRoot restores the Go distribution and compares it with
// rsync.
func TestRoundTripGoRoot(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the Go distribution")
	}
	needRoot(t)
	goroot := runtime.GOROOT()
	dst := t.TempDir()
	start := time.Now()
	n := copyTree(t, goroot, dst)
	t.Logf("%d entries restored in %v", n, time.Since(start))
	rsyncSame(t, goroot, dst)
}

// TestRestoreOver restores a tree over a changed copy of itself: files
// turned into directories and back, symlinks where files were, changed
// contents, modes and attributes.
func TestRestoreOver(t *testing.T) {
	needRoot(t)
	src, dst, outside := t.TempDir(), t.TempDir(), t.TempDir()
	smallTree(t, src)
	must(t, unix.Lsetxattr(filepath.Join(src, "skip"), "user.kept", []byte("k"), 0))
	copyTree(t, src, dst)
	rsyncSame(t, src, dst)

	d := func(p string) string { return filepath.Join(dst, p) }
	must(t, os.RemoveAll(d("b")))
	must(t, os.WriteFile(d("b"), []byte("was a directory"), 0o644))
	must(t, os.Remove(d("z")))
	must(t, os.MkdirAll(d("z/sub"), 0o755))
	must(t, os.WriteFile(d("z/sub/f"), nil, 0o644))
	must(t, os.Remove(d("a/z3")))
	must(t, os.WriteFile(filepath.Join(outside, "victim"), []byte("untouched"), 0o644))
	must(t, os.Symlink(filepath.Join(outside, "victim"), d("a/z3")))
	must(t, os.WriteFile(d("b"), []byte("was a directory"), 0o644))
	must(t, os.WriteFile(d("a.tmp"), []byte("changed contents"), 0o600))
	must(t, os.Chmod(d("skip/s"), 0o4711))
	must(t, unix.Lsetxattr(d("skip"), "user.extra", []byte("x"), 0))
	must(t, os.RemoveAll(d("skip/deeper")))
	must(t, os.Symlink(outside, d("skip/deeper")))

	copyTree(t, src, dst)
	rsyncSame(t, src, dst)
	if b, err := os.ReadFile(filepath.Join(outside, "victim")); string(b) != "untouched" || err != nil {
		t.Errorf("outside file: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("outside holds %d entries", len(ents))
	}
}

// TestRestoreUnsafe: unsafe paths are refused, and neither a symlink
// restored from the backup nor one planted in the target leads outside.
func TestRestoreUnsafe(t *testing.T) {
	dst, outside := t.TempDir(), t.TempDir()
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	must(t, os.Symlink(outside, filepath.Join(dst, "planted")))
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dst, "planted-file")))
	r, err := fstree.NewRestorer(fstree.RestoreOptions{Target: dst, OnError: func(string, error) error { return nil }})
	must(t, err)
	r2, err := fstree.NewRestorer(fstree.RestoreOptions{Target: dst})
	must(t, err)

	file := func(p string) *fstree.Entry {
		return &fstree.Entry{Path: p, Attr: fs.Attr{Kind: fs.Regular, Mode: 0o644, Size: 5}}
	}
	for _, p := range []string{"../escape", "/abs", "a/../../etc", "a//b", "./x", "x/", "", "x/.", "a/..", "nul\x00"} {
		if err := r2.Restore(file(p), strings.NewReader("owned")); !errors.Is(err, fstree.ErrUnsafePath) {
			t.Errorf("Restore %q: %v", p, err)
		}
		if p == "" {
			continue // no Link: not a link
		}
		if err := r2.Restore(&fstree.Entry{Path: "l", Link: p, Attr: fs.Attr{Kind: fs.Regular, Nlink: 2}}, nil); !errors.Is(err, fstree.ErrUnsafePath) {
			t.Errorf("Restore link to %q: %v", p, err)
		}
	}
	// A symlink from the backup, then entries under it and a link through it.
	must(t, r2.Restore(&fstree.Entry{Path: "evil", Attr: fs.Attr{Kind: fs.Symlink, Mode: 0o777}, Target: outside}, nil))
	for _, e := range []*fstree.Entry{
		file("evil/pwned"),
		{Path: "evil/dir", Attr: fs.Attr{Kind: fs.Directory, Mode: 0o755}},
		{Path: "evil/fifo", Attr: fs.Attr{Kind: fs.Fifo, Mode: 0o644}},
		{Path: "evil/deeper/x", Attr: fs.Attr{Kind: fs.Symlink}, Target: "y"},
		{Path: "planted/pwned", Attr: fs.Attr{Kind: fs.Symlink}, Target: "y"},
		{Path: "hard", Link: "evil/secret", Attr: fs.Attr{Kind: fs.Regular, Nlink: 2}},
	} {
		var contents io.Reader
		if e.Attr.Kind == fs.Regular && e.Link == "" {
			contents = strings.NewReader("owned")
		}
		err := r2.Restore(e, contents)
		if !errors.Is(err, syscall.ENOTDIR) && !errors.Is(err, syscall.ELOOP) {
			t.Errorf("Restore %q: %v", e.Path, err)
		}
	}
	// Restoring over planted symlinks replaces them, not what they name.
	must(t, r.Restore(&fstree.Entry{Path: "planted", Attr: fs.Attr{Kind: fs.Directory, Mode: 0o755}}, nil))
	must(t, r.Restore(file("planted/inside"), strings.NewReader("fine!")))
	must(t, r.Restore(file("planted-file"), strings.NewReader("fine!")))
	must(t, r.Finish())
	if err := r2.Finish(); !errors.Is(err, fstree.ErrUnsafePath) {
		t.Errorf("Finish returned %v, want the first error", err)
	}

	ents, err := os.ReadDir(outside)
	must(t, err)
	if b, _ := os.ReadFile(filepath.Join(outside, "secret")); len(ents) != 1 || string(b) != "secret" {
		t.Errorf("outside changed: %d entries, secret %q", len(ents), b)
	}
	var names []string
	must(t, filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		rel, _ := filepath.Rel(dst, p)
		names = append(names, rel+":"+fi.Mode().Type().String())
		return err
	}))
	if want := []string{".:d---------", "evil:L---------", "planted:d---------", "planted/inside:----------", "planted-file:----------"}; !slices.Equal(names, want) {
		t.Errorf("target holds %q, want %q", names, want)
	}
}

// TestRestoreContents: too few bytes fail and leave nothing behind;
// contents for a kind without any are refused.
func TestRestoreContents(t *testing.T) {
	dst := t.TempDir()
	var reported []string
	r, err := fstree.NewRestorer(fstree.RestoreOptions{Target: dst, OnError: func(p string, err error) error {
		reported = append(reported, p)
		if p == "stop" {
			return err
		}
		return nil
	}})
	must(t, err)
	e := &fstree.Entry{Path: "short", Attr: fs.Attr{Kind: fs.Regular, Mode: 0o644, Size: 10}}
	if err := r.Restore(e, strings.NewReader("12345")); err != nil {
		t.Errorf("Restore with OnError returning nil: %v", err)
	}
	e = &fstree.Entry{Path: "stop", Attr: fs.Attr{Kind: fs.Regular, Mode: 0o644, Size: 10}}
	if err := r.Restore(e, strings.NewReader("12345")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short contents: %v", err)
	}
	e = &fstree.Entry{Path: "d", Attr: fs.Attr{Kind: fs.Directory, Mode: 0o755}}
	if err := r.Restore(e, strings.NewReader("x")); err != nil {
		t.Errorf("contents for a directory: %v", err)
	}
	if err := r.Finish(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Finish: %v", err)
	}
	if !slices.Equal(reported, []string{"short", "stop", "d"}) {
		t.Errorf("reported %q", reported)
	}
	if ents, _ := os.ReadDir(dst); len(ents) != 0 {
		t.Errorf("target holds %v", ents)
	}
}

// TestRestoreMetadataErrors: an attribute the kernel refuses is reported,
// and the object is restored with the rest of its metadata.
func TestRestoreMetadataErrors(t *testing.T) {
	needRoot(t)
	dst := t.TempDir()
	errs := map[string]error{}
	r, err := fstree.NewRestorer(fstree.RestoreOptions{Target: dst, Owners: fstree.OwnersSkip,
		OnError: func(p string, err error) error {
			errs[p] = err
			return nil
		}})
	must(t, err)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()
	attr := fs.Attr{Kind: fs.Regular, Mode: 0o4750, Uid: 1234, Gid: 5678, Size: 4, Atime: mtime, Mtime: mtime}
	// No namespace: EOPNOTSUPP.
	must(t, r.Restore(&fstree.Entry{Path: "f", Attr: attr, Xattrs: map[string][]byte{"nonamespace": nil, "user.ok": []byte("1")}},
		strings.NewReader("data")))
	// Linux allows no user.* attribute on a symlink: EPERM.
	attr = fs.Attr{Kind: fs.Symlink, Size: 1, Atime: mtime, Mtime: mtime}
	must(t, r.Restore(&fstree.Entry{Path: "l", Attr: attr, Target: "f", Xattrs: map[string][]byte{"user.no": nil}}, nil))
	must(t, r.Finish())
	if !errors.Is(errs["f"], syscall.EOPNOTSUPP) || !errors.Is(errs["l"], syscall.EPERM) || len(errs) != 2 {
		t.Errorf("errors: %v", errs)
	}
	st := lstat(t, filepath.Join(dst, "f"))
	if st.Mode != unix.S_IFREG|0o4750 || st.Uid != 0 || st.Mtim.Nano() != mtime || st.Size != 4 {
		t.Errorf("f: %+v", st)
	}
	v := make([]byte, 8)
	n, err := unix.Lgetxattr(filepath.Join(dst, "f"), "user.ok", v)
	if err != nil || string(v[:max(n, 0)]) != "1" {
		t.Errorf("user.ok: %q, %v", v[:max(n, 0)], err)
	}
	if st := lstat(t, filepath.Join(dst, "l")); st.Mtim.Nano() != mtime {
		t.Errorf("l: %+v", st)
	}
}

// TestRestoreUnderDefaultACL restores into a target with a default ACL:
// nothing keeps the ACLs it would give what is made in it.
func TestRestoreUnderDefaultACL(t *testing.T) {
	needRoot(t)
	src, dst := t.TempDir(), t.TempDir()
	smallTree(t, src)
	must(t, unix.Mkfifo(filepath.Join(src, "fifo"), 0o600))
	must(t, os.Symlink("z", filepath.Join(src, "link")))
	// One file keeps an ACL of its own.
	own := acl([3]uint32{aclUserObj, 6, aclNoID}, [3]uint32{aclUser, 4, 99},
		[3]uint32{aclGroupObj, 4, aclNoID}, [3]uint32{aclMask, 4, aclNoID}, [3]uint32{aclOther, 0, aclNoID})
	must(t, unix.Lsetxattr(filepath.Join(src, "b/x"), "system.posix_acl_access", own, 0))
	def := acl([3]uint32{aclUserObj, 7, aclNoID}, [3]uint32{aclUser, 7, 1234},
		[3]uint32{aclGroupObj, 7, aclNoID}, [3]uint32{aclMask, 7, aclNoID}, [3]uint32{aclOther, 7, aclNoID})
	must(t, unix.Lsetxattr(dst, "system.posix_acl_default", def, 0))

	copyTree(t, src, dst)
	rsyncSame(t, src, dst)
	for _, e := range scanAll(t, dst, fstree.ScanOptions{}) {
		_, access := e.Xattrs["system.posix_acl_access"]
		_, deflt := e.Xattrs["system.posix_acl_default"]
		if deflt || access != (e.Path == "b/x") {
			t.Errorf("%q has attributes %q", e.Path, slices.Sorted(mapsKeys(e.Xattrs)))
		}
	}
}

func mapsKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
