package fs_test

import (
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

// renameLayout is the tree every rename case starts from.
var renameLayout = []string{
	"a/", "a/f", "a/g=a/f", "a/l->f",
	"b/", "b/sub/", "b/sub/x", "b/sub/deep/",
	"empty/", "empty2/",
	"file", "file2",
}

func TestRename(t *testing.T) {
	const (
		noRepl = fs.RenameNoReplace
		xchg   = fs.RenameExchange
	)
	for _, tc := range []struct {
		name     string
		from, to string
		flags    fs.RenameFlags
		want     syscall.Errno
		// added and removed are the listing's changes against renameLayout.
		added, removed []string
		// freed names a path whose inode must be gone afterwards.
		freed string
	}{
		{name: "file new name", from: "file", to: "new", added: []string{"new"}, removed: []string{"file"}},
		{name: "file to other dir", from: "file", to: "b/sub/file", added: []string{"b/sub/file"}, removed: []string{"file"}},
		{name: "file over file", from: "file", to: "file2", removed: []string{"file"}, freed: "file2"},
		{name: "hard link over other file", from: "a/g", to: "file", removed: []string{"a/g"}, freed: "file"},
		{name: "symlink over file", from: "a/l", to: "file", added: []string{"file->f"}, removed: []string{"a/l->f", "file"}, freed: "file"},
		{name: "dir new name", from: "b", to: "c",
			added:   []string{"c/", "c/sub/", "c/sub/x", "c/sub/deep/"},
			removed: []string{"b/", "b/sub/", "b/sub/x", "b/sub/deep/"}},
		{name: "dir to other dir", from: "b/sub", to: "empty/sub",
			added:   []string{"empty/sub/", "empty/sub/x", "empty/sub/deep/"},
			removed: []string{"b/sub/", "b/sub/x", "b/sub/deep/"}},
		{name: "dir over empty dir", from: "b/sub", to: "empty",
			added:   []string{"empty/x", "empty/deep/"},
			removed: []string{"b/sub/", "b/sub/x", "b/sub/deep/"}, freed: "empty"},
		{name: "same entry", from: "file", to: "file"},
		{name: "same entry dir", from: "b", to: "b"},
		{name: "hard links of one inode", from: "a/f", to: "a/g"},
		{name: "noreplace free", from: "file", to: "new", flags: noRepl, added: []string{"new"}, removed: []string{"file"}},
		{name: "exchange files", from: "file", to: "a/l", flags: xchg, added: []string{"file->f", "a/l"}, removed: []string{"file", "a/l->f"}},
		{name: "exchange file and dir", from: "file", to: "b/sub", flags: xchg,
			added:   []string{"file/", "file/x", "file/deep/", "b/sub"},
			removed: []string{"file", "b/sub/", "b/sub/x", "b/sub/deep/"}},
		{name: "exchange dirs", from: "empty", to: "b/sub", flags: xchg,
			added:   []string{"empty/x", "empty/deep/"},
			removed: []string{"b/sub/x", "b/sub/deep/"}},
		{name: "exchange hard links", from: "a/f", to: "a/g", flags: xchg},

		{name: "missing source", from: "nope", to: "new", want: syscall.ENOENT},
		{name: "missing source dir", from: "nope/x", to: "new", want: syscall.ENOENT},
		{name: "source parent not dir", from: "file/x", to: "new", want: syscall.ENOTDIR},
		{name: "target parent not dir", from: "file2", to: "file/x", want: syscall.ENOTDIR},
		{name: "dir over file", from: "empty", to: "file", want: syscall.ENOTDIR},
		{name: "file over dir", from: "file", to: "empty", want: syscall.EISDIR},
		{name: "dir over non-empty dir", from: "empty", to: "b", want: syscall.ENOTEMPTY},
		{name: "dir into itself", from: "b", to: "b/c", want: syscall.EINVAL},
		{name: "dir into its subtree", from: "b", to: "b/sub/deep/c", want: syscall.EINVAL},
		{name: "dir over its child", from: "b", to: "b/sub", want: syscall.EINVAL},
		{name: "dir over its ancestor", from: "b/sub/deep", to: "b", want: syscall.ENOTEMPTY},
		{name: "file over its ancestor", from: "b/sub/x", to: "b", want: syscall.ENOTEMPTY},
		{name: "noreplace taken", from: "file", to: "file2", flags: noRepl, want: syscall.EEXIST},
		{name: "noreplace same inode", from: "a/f", to: "a/g", flags: noRepl, want: syscall.EEXIST},
		{name: "noreplace same entry", from: "file", to: "file", flags: noRepl, want: syscall.EEXIST},
		{name: "exchange missing target", from: "file", to: "new", flags: xchg, want: syscall.ENOENT},
		{name: "exchange with own ancestor", from: "b/sub/deep", to: "b", flags: xchg, want: syscall.EINVAL},
		{name: "exchange into own subtree", from: "b", to: "b/sub/x", flags: xchg, want: syscall.EINVAL},
		{name: "both flags", from: "file", to: "new", flags: noRepl | xchg, want: syscall.EINVAL},
		{name: "unknown flag", from: "file", to: "new", flags: 4, want: syscall.EINVAL},
		{name: "dot source", from: ".", to: "new", want: syscall.EINVAL},
		{name: "dotdot target", from: "file", to: "..", want: syscall.EINVAL},
		{name: "long target", from: "file", to: strings.Repeat("n", 256), want: syscall.ENAMETOOLONG},
		{name: "longest target", from: "file", to: strings.Repeat("n", 255),
			added: []string{strings.Repeat("n", 255)}, removed: []string{"file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, c := newTree(t)
			inos := build(t, tr, renameLayout...)
			before := listing(t, tr)
			attrs := map[string]fs.Attr{}
			for p, i := range inos {
				attrs[p] = attr(t, tr, i)
			}
			fromDir, fromName := split(tc.from)
			toDir, toName := split(tc.to)
			// A parent that is not a directory (or is missing) is passed
			// as whatever it resolves to, as a FUSE layer would.
			fromParent, _ := resolve(tr, fromDir)
			toParent, _ := resolve(tr, toDir)
			err := tr.Rename(fromParent, fromName, toParent, toName, tc.flags)
			wantErrno(t, err, tc.want)

			got := listing(t, tr)
			want := slices.DeleteFunc(slices.Clone(before), func(s string) bool { return slices.Contains(tc.removed, s) })
			want = append(want, tc.added...)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("listing\n got %q\nwant %q", got, want)
			}
			checkInvariants(t, tr)
			if tc.freed != "" {
				if _, err := tr.GetAttr(inos[tc.freed]); fs.Errno(err) != syscall.ENOENT {
					t.Errorf("replaced %s not freed: %v", tc.freed, err)
				}
			}
			changed := len(tc.added)+len(tc.removed) > 0
			if tc.flags == xchg && tc.want == 0 && tc.from != "a/f" {
				changed = true
			}
			// A rename that changes nothing leaves every time alone; one that
			// moves something sets both parents' mtime and ctime and the
			// moved inode's ctime.
			for p, b := range attrs {
				a, err := tr.GetAttr(inos[p])
				if err != nil {
					continue // freed
				}
				isParent := p == fromDir || p == toDir
				isMoved := inos[p] == inos[tc.from] || (tc.flags == xchg && inos[p] == inos[tc.to])
				switch {
				case changed && isParent:
					if a.Mtime != c.Last() || a.Ctime != c.Last() {
						t.Errorf("parent %q times not updated: %+v", p, a)
					}
				case changed && isMoved:
					if a.Ctime != c.Last() || a.Mtime != b.Mtime {
						t.Errorf("moved %q: ctime %d mtime %d, want ctime %d mtime %d", p, a.Ctime, a.Mtime, c.Last(), b.Mtime)
					}
				case p == tc.to && tc.freed == "":
					// A replaced hard link keeps living under another name.
				default:
					if a.Mtime != b.Mtime || a.Ctime != b.Ctime {
						t.Errorf("%q times changed: %+v, was %+v", p, a, b)
					}
				}
			}
		})
	}
}

// split cuts a path into its directory ("" for the root) and last name.
func split(p string) (string, string) {
	i := strings.LastIndex(p, "/")
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func TestRenameNlink(t *testing.T) {
	tr, _ := newTree(t)
	inos := build(t, tr, "a/", "a/d/", "b/", "b/e/", "f")
	wantNlink := func(want map[string]uint32) {
		t.Helper()
		for p, n := range want {
			if got := attr(t, tr, inos[p]).Nlink; got != n {
				t.Errorf("%q Nlink = %d, want %d", p, got, n)
			}
		}
		checkInvariants(t, tr)
	}
	wantNlink(map[string]uint32{"": 4, "a": 3, "b": 3})
	wantErrno(t, tr.Rename(inos["a"], "d", inos["b"], "d", 0), 0)
	wantNlink(map[string]uint32{"": 4, "a": 2, "b": 4})
	wantErrno(t, tr.Rename(inos["b"], "d", inos["b"], "e", 0), 0) // empty dir over empty dir
	wantNlink(map[string]uint32{"": 4, "a": 2, "b": 3})
	// Exchange the file f in the root with the directory b/e (once a/d).
	wantErrno(t, tr.Rename(fs.RootIno, "f", inos["b"], "e", fs.RenameExchange), 0)
	wantNlink(map[string]uint32{"": 5, "a": 2, "b": 2})
	if got := ino(t, tr, "f"); got != inos["a/d"] {
		t.Errorf("f is inode %d, want %d", got, inos["a/d"])
	}
	// The moved directory's parent is updated: moving it into its old
	// parent's subtree is fine, into its own is not.
	wantErrno(t, tr.Rename(fs.RootIno, "f", inos["a"], "d", 0), 0)
	wantNlink(map[string]uint32{"": 4, "a": 3, "b": 2})
	wantErrno(t, tr.Rename(fs.RootIno, "a", inos["a/d"], "a", 0), syscall.EINVAL)
	wantErrno(t, tr.Rename(fs.RootIno, "b", inos["a/d"], "b", 0), 0)
	wantNlink(map[string]uint32{"": 3, "a": 3, "a/d": 3, "b": 2})
}

// Replacing the last name of an open file keeps it readable until Release.
func TestRenameOverOpenFile(t *testing.T) {
	tr, _ := newTree(t)
	inos := build(t, tr, "new", "old")
	if _, err := tr.WriteAt(inos["old"], []byte("old contents"), 0); err != nil {
		t.Fatal(err)
	}
	wantErrno(t, tr.Open(inos["old"]), 0)
	wantErrno(t, tr.Rename(fs.RootIno, "new", fs.RootIno, "old", 0), 0)
	if a := attr(t, tr, inos["old"]); a.Nlink != 0 {
		t.Errorf("replaced open file: %+v", a)
	}
	if got := read(t, tr, inos["old"]); string(got) != "old contents" {
		t.Errorf("read %q", got)
	}
	if got := ino(t, tr, "old"); got != inos["new"] {
		t.Errorf("old names %d, want %d", got, inos["new"])
	}
	wantErrno(t, tr.Release(inos["old"]), 0)
	_, err := tr.GetAttr(inos["old"])
	wantErrno(t, err, syscall.ENOENT)
}
