package fstest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"

	"github.com/murmur-cloud/murmur/fs"
)

// The reference model: paths ("" is the root) to directories and files.

// mfile is a non-directory in the model; hard links share one.
type mfile struct {
	data    []byte
	target  string // symlinks
	symlink bool
	ver     int // bumps on every change of data
}

type model struct {
	dirs  map[string]bool
	files map[string]*mfile
}

func newModel() *model {
	return &model{dirs: map[string]bool{"": true}, files: map[string]*mfile{}}
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

// snapshot is the model as it was at a durable point: a deep copy, each
// file with the one it was copied from and that one's version then.
type snapshot struct {
	m      *model
	origin map[*mfile]*mfile
	ver    map[*mfile]int
}

func (m *model) snapshot() *snapshot {
	s := &snapshot{m: &model{dirs: maps.Clone(m.dirs), files: map[string]*mfile{}}, origin: map[*mfile]*mfile{}, ver: map[*mfile]int{}}
	copies := map[*mfile]*mfile{}
	for p, f := range m.files {
		c := copies[f]
		if c == nil {
			c = &mfile{data: slices.Clone(f.data), target: f.target, symlink: f.symlink}
			copies[f] = c
			s.origin[c], s.ver[c] = f, f.ver
		}
		s.m.files[p] = c
	}
	return s
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

func (f *mfile) String() string {
	if f == nil {
		return "nothing"
	}
	if f.symlink {
		return "symlink to " + f.target
	}
	return fmt.Sprintf("file of %d bytes", len(f.data))
}
