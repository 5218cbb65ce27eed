package fs_test

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

var (
	long      = flag.Bool("long", false, "run the randomized model test for 20000 steps per seed (about two minutes each)")
	modelSeed = flag.Uint64("seed", 0, "run the randomized model test with this seed only")
)

// TestModel applies a seeded random sequence of operations to a Tree and to
// a reference model kept by path, and compares the whole visible namespace,
// contents, link counts and open handles after every step.
func TestModel(t *testing.T) {
	steps := 3000
	if *long {
		steps = 20_000
	}
	seeds := []uint64{1, 2, 3, 4}
	if *modelSeed != 0 {
		seeds = []uint64{*modelSeed}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			runModel(t, seed, steps)
		})
	}
}

// mfile is a non-directory in the model; hard links share one.
type mfile struct {
	data    []byte
	target  string // symlinks
	symlink bool
}

// model is the reference: paths ("" is the root) to directories and files.
type model struct {
	dirs  map[string]bool
	files map[string]*mfile
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// under reports whether p is dir or lies below it.
func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

func (m *model) exists(p string) bool { return m.dirs[p] || m.files[p] != nil }

func (m *model) empty(dir string) bool {
	for p := range m.dirs {
		if p != dir && under(p, dir) {
			return false
		}
	}
	for p := range m.files {
		if under(p, dir) {
			return false
		}
	}
	return true
}

// take removes the subtree at p and returns it keyed by path relative to p
// ("" for p itself).
func (m *model) take(p string) (dirs map[string]bool, files map[string]*mfile) {
	dirs, files = map[string]bool{}, map[string]*mfile{}
	for q := range m.dirs {
		if under(q, p) {
			dirs[strings.TrimPrefix(q, p)] = true
			delete(m.dirs, q)
		}
	}
	for q, f := range m.files {
		if under(q, p) {
			files[strings.TrimPrefix(q, p)] = f
			delete(m.files, q)
		}
	}
	return dirs, files
}

func (m *model) put(p string, dirs map[string]bool, files map[string]*mfile) {
	for q := range dirs {
		m.dirs[p+q] = true
	}
	for q, f := range files {
		m.files[p+q] = f
	}
}

// names counts the paths naming f.
func (m *model) names(f *mfile) uint32 {
	var n uint32
	for _, g := range m.files {
		if g == f {
			n++
		}
	}
	return n
}

// handle is an open regular file: its inode and its model.
type handle struct {
	ino fs.Ino
	f   *mfile
}

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, 0x6d75726d7572))
	tr, _ := newTree(t)
	m := &model{dirs: map[string]bool{"": true}, files: map[string]*mfile{}}
	var handles []handle
	pool := []string{"a", "b", "c", "d", "e"}

	pick := func(paths []string) string { return paths[rng.IntN(len(paths))] }
	dirs := func() []string { return slices.Sorted(maps.Keys(m.dirs)) }
	regulars := func() []string {
		var out []string
		for p, f := range m.files {
			if !f.symlink {
				out = append(out, p)
			}
		}
		slices.Sort(out)
		return out
	}
	entries := func() []string { // every path but the root
		out := slices.Sorted(maps.Keys(m.files))
		for p := range m.dirs {
			if p != "" {
				out = append(out, p)
			}
		}
		slices.Sort(out)
		return out
	}
	randPath := func() (dir, name string) { return pick(dirs()), pool[rng.IntN(len(pool))] }
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return b
	}

	for step := range steps {
		var (
			desc string
			got  error
			want syscall.Errno
		)
		switch op := rng.IntN(13); op {
		case 0, 1: // create
			dir, name := randPath()
			p := join(dir, name)
			desc = "create " + p
			_, got = tr.Create(ino(t, tr, dir), name, 0o644, 0, 0)
			if m.exists(p) {
				want = syscall.EEXIST
			} else {
				m.files[p] = &mfile{}
			}
		case 2: // mkdir
			dir, name := randPath()
			p := join(dir, name)
			desc = "mkdir " + p
			_, got = tr.Mkdir(ino(t, tr, dir), name, 0o755, 0, 0)
			if m.exists(p) {
				want = syscall.EEXIST
			} else {
				m.dirs[p] = true
			}
		case 3: // symlink
			dir, name := randPath()
			p := join(dir, name)
			target := fmt.Sprint("t", step)
			desc = "symlink " + p
			_, got = tr.Symlink(ino(t, tr, dir), name, target, 0, 0)
			if m.exists(p) {
				want = syscall.EEXIST
			} else {
				m.files[p] = &mfile{symlink: true, target: target}
			}
		case 4: // link
			all := entries()
			if len(all) == 0 {
				continue
			}
			src := pick(all)
			dir, name := randPath()
			p := join(dir, name)
			desc = "link " + src + " " + p
			_, got = tr.Link(ino(t, tr, src), ino(t, tr, dir), name)
			switch {
			case m.exists(p):
				want = syscall.EEXIST
			case m.dirs[src]:
				want = syscall.EPERM
			default:
				m.files[p] = m.files[src]
			}
		case 5: // unlink
			dir, name := randPath()
			p := join(dir, name)
			desc = "unlink " + p
			got = tr.Unlink(ino(t, tr, dir), name)
			switch {
			case !m.exists(p):
				want = syscall.ENOENT
			case m.dirs[p]:
				want = syscall.EISDIR
			default:
				delete(m.files, p)
			}
		case 6: // rmdir
			dir, name := randPath()
			p := join(dir, name)
			desc = "rmdir " + p
			got = tr.Rmdir(ino(t, tr, dir), name)
			switch {
			case !m.exists(p):
				want = syscall.ENOENT
			case !m.dirs[p]:
				want = syscall.ENOTDIR
			case !m.empty(p):
				want = syscall.ENOTEMPTY
			default:
				delete(m.dirs, p)
			}
		case 7, 8: // rename
			dir, name := randPath()
			ndir, nname := randPath()
			if rng.IntN(4) == 0 {
				ndir = dir // same directory is common in practice
			}
			flags := []fs.RenameFlags{0, 0, fs.RenameNoReplace, fs.RenameExchange}[rng.IntN(4)]
			src, dst := join(dir, name), join(ndir, nname)
			desc = fmt.Sprintf("rename %s %s flags %d", src, dst, flags)
			got = tr.Rename(ino(t, tr, dir), name, ino(t, tr, ndir), nname, flags)
			want = m.rename(src, dst, dir, ndir, flags)
		case 9, 10: // write, by path or through a handle
			i, f, d := pickData(t, tr, m, rng, handles, regulars)
			if f == nil && d == "" {
				continue
			}
			off, data := rng.IntN(40), randBytes(1+rng.IntN(20))
			desc = fmt.Sprintf("write %s/%d at %d", d, i, off)
			_, got = tr.WriteAt(i, data, int64(off))
			if f == nil {
				want = dataErrno(m, d)
				break
			}
			if end := off + len(data); end > len(f.data) {
				f.data = append(f.data, make([]byte, end-len(f.data))...)
			}
			copy(f.data[off:], data)
		case 11: // truncate
			i, f, d := pickData(t, tr, m, rng, handles, regulars)
			if f == nil && d == "" {
				continue
			}
			size := rng.IntN(60)
			desc = fmt.Sprintf("truncate %s/%d to %d", d, i, size)
			_, got = tr.SetAttr(i, fs.SetAttrIn{Valid: fs.SetSize, Size: uint64(size)})
			if f == nil {
				want = dataErrno(m, d)
				break
			}
			if size < len(f.data) {
				f.data = f.data[:size]
			} else {
				f.data = append(f.data, make([]byte, size-len(f.data))...)
			}
		case 12: // open or release
			regs := regulars()
			if len(handles) > 0 && (rng.IntN(2) == 0 || len(regs) == 0) {
				k := rng.IntN(len(handles))
				desc = fmt.Sprint("release ", handles[k].ino)
				got = tr.Release(handles[k].ino)
				handles = slices.Delete(handles, k, k+1)
				break
			}
			if len(regs) == 0 {
				continue
			}
			p := pick(regs)
			desc = "open " + p
			i := ino(t, tr, p)
			got = tr.Open(i)
			handles = append(handles, handle{i, m.files[p]})
		}
		if fs.Errno(got) != want {
			t.Fatalf("seed %d step %d: %s: got %v, want errno %v", seed, step, desc, got, want)
		}
		compare(t, tr, m, handles, fmt.Sprintf("seed %d step %d (%s)", seed, step, desc))
	}

	for _, h := range handles {
		wantErrno(t, tr.Release(h.ino), 0)
	}
	for _, h := range handles {
		_, err := tr.GetAttr(h.ino)
		if named := m.names(h.f) > 0; named != (err == nil) {
			t.Errorf("after the last release, inode %d with %d names: GetAttr %v", h.ino, m.names(h.f), err)
		}
	}
	compare(t, tr, m, nil, "end")
}

// pickData chooses a target for a write or truncate: an open handle, or a
// path of any kind (returned as d, with f nil unless it is a regular file).
func pickData(t *testing.T, tr *fs.Tree, m *model, rng *rand.Rand, handles []handle, regulars func() []string) (fs.Ino, *mfile, string) {
	t.Helper()
	if len(handles) > 0 && rng.IntN(3) == 0 {
		h := handles[rng.IntN(len(handles))]
		return h.ino, h.f, "handle"
	}
	var paths []string
	if rng.IntN(5) == 0 { // sometimes a directory or symlink, for the errors
		paths = slices.Sorted(maps.Keys(m.dirs))
		for p, f := range m.files {
			if f.symlink {
				paths = append(paths, p)
			}
		}
		slices.Sort(paths)
	} else {
		paths = regulars()
	}
	if len(paths) == 0 {
		return 0, nil, ""
	}
	p := paths[rng.IntN(len(paths))]
	f := m.files[p]
	if f != nil && f.symlink {
		f = nil
	}
	return ino(t, tr, p), f, "/" + p
}

// dataErrno is the errno for writing or truncating path d ("/p"), which is
// not a regular file.
func dataErrno(m *model, d string) syscall.Errno {
	if m.dirs[strings.TrimPrefix(d, "/")] {
		return syscall.EISDIR
	}
	return syscall.EINVAL
}

// rename applies renameat2 to the model, and returns the errno Linux gives.
func (m *model) rename(src, dst, srcDir, dstDir string, flags fs.RenameFlags) syscall.Errno {
	exchange := flags == fs.RenameExchange
	switch {
	case !m.exists(src):
		return syscall.ENOENT
	case flags == fs.RenameNoReplace && m.exists(dst):
		return syscall.EEXIST
	case exchange && !m.exists(dst):
		return syscall.ENOENT
	case m.dirs[src] && under(dstDir, src):
		return syscall.EINVAL
	case m.dirs[dst] && under(srcDir, dst):
		if exchange {
			return syscall.EINVAL
		}
		return syscall.ENOTEMPTY
	case src == dst || m.files[src] != nil && m.files[src] == m.files[dst]:
		return 0
	case exchange:
		sd, sf := m.take(src)
		dd, df := m.take(dst)
		m.put(dst, sd, sf)
		m.put(src, dd, df)
		return 0
	case !m.exists(dst):
	case m.dirs[src] && !m.dirs[dst]:
		return syscall.ENOTDIR
	case !m.dirs[src] && m.dirs[dst]:
		return syscall.EISDIR
	case m.dirs[dst] && !m.empty(dst):
		return syscall.ENOTEMPTY
	}
	m.take(dst)
	d, f := m.take(src)
	m.put(dst, d, f)
	return 0
}

// compare checks that tr shows exactly the model's namespace, contents and
// link counts, that hard links are one inode, and that every open handle
// reads its file's contents.
func compare(t *testing.T, tr *fs.Tree, m *model, handles []handle, where string) {
	t.Helper()
	checkInvariants(t, tr)
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
				t.Fatalf("%s: tree has %v %q, model has %+v", where, e.Kind, p, f)
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
				t.Fatalf("%s: %q holds %q, want %q", where, p, got, f.data)
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
			t.Fatalf("%s: handle on %d reads %q, want %q", where, h.ino, got, h.f.data)
		}
		if got, want := attr(t, tr, h.ino).Nlink, m.names(h.f); got != want {
			t.Fatalf("%s: handle on %d: Nlink %d, want %d", where, h.ino, got, want)
		}
	}
}
