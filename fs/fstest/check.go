package fstest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

// compare checks that tr shows exactly the model's namespace, contents and
// link counts, that hard links are one inode, and that every open handle
// reads its file's contents.
func compare(t *testing.T, tr *fs.Tree, m *model, handles []handle, where string) {
	t.Helper()
	CheckInvariants(t, tr)
	seen := map[string]bool{}
	inoOf := map[*mfile]fs.Ino{}
	fileOf := map[fs.Ino]*mfile{}
	var walk func(dir fs.Ino, prefix string)
	walk = func(dir fs.Ino, prefix string) {
		ents, err := tr.ReadDir(dir)
		if err != nil {
			t.Fatalf("%s: ReadDir %q: %v", where, prefix, err)
		}
		for _, e := range ents {
			p := join(prefix, e.Name)
			seen[p] = true
			if e.Kind == fs.Directory {
				if !m.dirs[p] {
					t.Fatalf("%s: tree has directory %q, model does not", where, p)
				}
				walk(e.Ino, p)
				continue
			}
			f := m.files[p]
			if f == nil || f.symlink != (e.Kind == fs.Symlink) {
				t.Fatalf("%s: tree has %v %q, model has %v", where, e.Kind, p, f)
			}
			if i, ok := inoOf[f]; ok && i != e.Ino || fileOf[e.Ino] != nil && fileOf[e.Ino] != f {
				t.Fatalf("%s: %q is inode %d; hard links disagree with the model", where, p, e.Ino)
			}
			inoOf[f], fileOf[e.Ino] = e.Ino, f
			if f.symlink {
				if target, err := tr.Readlink(e.Ino); err != nil || target != f.target {
					t.Fatalf("%s: Readlink %q = %q, %v; want %q", where, p, target, err, f.target)
				}
			} else if got := read(t, tr, e.Ino); !bytes.Equal(got, f.data) {
				t.Fatalf("%s: %q holds %d bytes differing from the model's %d at %d", where, p, len(got), len(f.data), firstDiff(got, f.data))
			}
			if got, want := attr(t, tr, e.Ino).Nlink, m.names(f); got != want {
				t.Fatalf("%s: %q Nlink %d, want %d", where, p, got, want)
			}
		}
	}
	walk(fs.RootIno, "")
	for _, p := range slices.Concat(slices.Collect(maps.Keys(m.dirs)), slices.Collect(maps.Keys(m.files))) {
		if p != "" && !seen[p] {
			t.Fatalf("%s: model has %q, tree does not", where, p)
		}
	}
	for _, h := range handles {
		if got := read(t, tr, h.ino); !bytes.Equal(got, h.f.data) {
			t.Fatalf("%s: handle on %d reads %d bytes differing from the model's %d", where, h.ino, len(got), len(h.f.data))
		}
		if got, want := attr(t, tr, h.ino).Nlink, m.names(h.f); got != want {
			t.Fatalf("%s: handle on %d: Nlink %d, want %d", where, h.ino, got, want)
		}
	}
}

// CheckInvariants walks tr and checks that every inode's Nlink counts its
// names (a directory: 2 plus its subdirectories), that entries agree with
// the attributes they name, and that ReadDir is sorted.
func CheckInvariants(t testing.TB, tr *fs.Tree) {
	t.Helper()
	names := map[fs.Ino]uint32{}
	subdirs := map[fs.Ino]uint32{}
	kinds := map[fs.Ino]fs.Kind{}
	var walk func(dir fs.Ino)
	walk = func(dir fs.Ino) {
		ents, err := tr.ReadDir(dir)
		if err != nil {
			t.Fatalf("ReadDir %d: %v", dir, err)
		}
		if !slices.IsSortedFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name, b.Name) }) {
			t.Fatalf("ReadDir %d not sorted: %v", dir, ents)
		}
		for _, e := range ents {
			a, err := tr.Lookup(dir, e.Name)
			if err != nil || a.Ino != e.Ino || a.Kind != e.Kind {
				t.Fatalf("Lookup %d/%q = %+v, %v; ReadDir said %+v", dir, e.Name, a, err, e)
			}
			names[e.Ino]++
			kinds[e.Ino] = e.Kind
			if e.Kind == fs.Directory {
				if names[e.Ino] > 1 {
					t.Fatalf("directory %d has two names", e.Ino)
				}
				subdirs[dir]++
				walk(e.Ino)
			}
		}
	}
	walk(fs.RootIno)
	kinds[fs.RootIno] = fs.Directory
	for i, k := range kinds {
		want := names[i]
		if k == fs.Directory {
			want = 2 + subdirs[i]
		}
		if got := attr(t, tr, i).Nlink; got != want {
			t.Fatalf("inode %d (%v): Nlink %d, want %d", i, k, got, want)
		}
	}
}

func attr(t testing.TB, tr *fs.Tree, i fs.Ino) fs.Attr {
	t.Helper()
	a, err := tr.GetAttr(i)
	if err != nil {
		t.Fatalf("GetAttr %d: %v", i, err)
	}
	return a
}

// read returns the whole contents of regular file i.
func read(t testing.TB, tr *fs.Tree, i fs.Ino) []byte {
	t.Helper()
	b, err := readAll(tr, i)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(tr *fs.Tree, i fs.Ino) ([]byte, error) {
	a, err := tr.GetAttr(i)
	if err != nil {
		return nil, err
	}
	b := make([]byte, a.Size+10)
	n, err := tr.ReadAt(i, b, 0)
	if err != nil {
		return nil, fmt.Errorf("ReadAt %d: %w", i, err)
	}
	if uint64(n) != a.Size {
		return nil, fmt.Errorf("ReadAt %d read %d bytes of %d", i, n, a.Size)
	}
	return b[:n], nil
}

// ino resolves a slash-separated path from the root ("" is the root).
func ino(t testing.TB, tr *fs.Tree, p string) fs.Ino {
	t.Helper()
	i := fs.RootIno
	if p == "" {
		return i
	}
	for _, name := range strings.Split(p, "/") {
		a, err := tr.Lookup(i, name)
		if err != nil {
			t.Fatalf("resolve %q: %v", p, err)
		}
		i = a.Ino
	}
	return i
}
