package fstest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

// Env is what the model runs over. A tree in memory needs only Tree; a
// drive also saves, commits and crashes.
type Env interface {
	// Tree returns the tree under test.
	Tree() *fs.Tree
}

// Durable is an Env whose tree is kept somewhere a crash of its process
// leaves: a drive over its state directory.
type Durable interface {
	Env
	// Flush saves every change so far (the background flush).
	Flush() error
	// Commit commits every change so far to the cloud.
	Commit() error
	// Crash abandons the tree as a crash of its process would, and
	// reopens it on what was left; Tree returns the new one. With
	// inCommit, the crash comes during a commit instead, at its call to
	// the cloud number call (from 1; after the call if after), and
	// Crash reports false if the commit made fewer calls (no crash).
	Crash(inCommit bool, call int, after bool) (crashed bool, err error)
	// Writable reports whether the reopened tree takes changes.
	Writable() bool
	// Another mounts the drive on another device, read-only with a state
	// of its own, and returns its tree and how to unmount it.
	Another() (*fs.Tree, func(), error)
}

// Options shape a run.
type Options struct {
	Seed  uint64
	Steps int
	// Big writes up to this many bytes past a file's start at times, not
	// only a few dozen: contents that leave a state's inline records.
	Big int
	// Burst, if not zero, makes a few steps create this many files of
	// BurstSize bytes each at once, as a copy of a tree does.
	Burst, BurstSize int
}

// handle is an open regular file: its inode and its model.
type handle struct {
	ino fs.Ino
	f   *mfile
}

// run is one run's state.
type run struct {
	t       *testing.T
	opts    Options
	env     Env
	durable Durable // nil: a tree in memory
	tr      *fs.Tree
	rng     *rand.Rand
	m       *model
	saved   *snapshot // the model at the last durable point
	// committed is the model at the last commit, nil if a crash made it
	// unknown whether a commit went out.
	committed *snapshot
	// synced is the model at the last point the state was synced (what a
	// crash of the machine keeps), nil while a failed commit made it
	// unknown.
	synced  *snapshot
	handles []handle
	bursts  int
	// burstDir is the directory of the burst not yet removed, if any.
	burstDir string
	crashes  int
}

// Run applies opts.Steps seeded random operations to env's tree and to the
// model, comparing them after every step; if env is Durable, saves,
// fsyncs, commits and crashes are among the steps, and after a crash the
// reopened tree must hold exactly what the last durable point held (see
// checkCrash) and take changes.
func Run(t *testing.T, env Env, opts Options) {
	r := &run{t: t, opts: opts, env: env, tr: env.Tree(), rng: rand.New(rand.NewPCG(opts.Seed, 0x6d75726d7572)), m: newModel()}
	r.durable, _ = env.(Durable)
	r.saved = r.m.snapshot()
	r.synced = r.saved
	for step := range opts.Steps {
		desc, got, want, ok := r.step(step)
		if !ok {
			continue
		}
		if trace {
			t.Logf("step %d: %s: %v", step, desc, got)
		}
		if fs.Errno(got) != want {
			t.Fatalf("seed %d step %d: %s: got %v, want errno %v", opts.Seed, step, desc, got, want)
		}
		compare(t, r.tr, r.m, r.handles, fmt.Sprintf("seed %d step %d (%s)", opts.Seed, step, desc))
	}
	for _, h := range r.handles {
		if err := r.tr.Release(h.ino); err != nil {
			t.Fatalf("release %d: %v", h.ino, err)
		}
	}
	for _, h := range r.handles {
		_, err := r.tr.GetAttr(h.ino)
		if named := r.m.names(h.f) > 0; named != (err == nil) {
			t.Errorf("after the last release, inode %d with %d names: GetAttr %v", h.ino, r.m.names(h.f), err)
		}
	}
	compare(t, r.tr, r.m, nil, "end")
	if r.durable != nil {
		t.Logf("seed %d: %d steps, %d crashes, %d bursts", opts.Seed, opts.Steps, r.crashes, r.bursts)
	}
}

func (r *run) pick(paths []string) string { return paths[r.rng.IntN(len(paths))] }
func (r *run) dirs() []string             { return slices.Sorted(maps.Keys(r.m.dirs)) }

func (r *run) regulars() []string {
	var out []string
	for p, f := range r.m.files {
		if !f.symlink {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// entries returns every path but the root.
func (r *run) entries() []string {
	out := slices.Sorted(maps.Keys(r.m.files))
	for p := range r.m.dirs {
		if p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

var pool = []string{"a", "b", "c", "d", "e"}

// trace logs every step (MURMUR_MODEL_TRACE=1), to read a failure's story.
var trace = os.Getenv("MURMUR_MODEL_TRACE") != ""

func (r *run) randPath() (dir, name string) { return r.pick(r.dirs()), pool[r.rng.IntN(len(pool))] }

func (r *run) randBytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + r.rng.IntN(26))
	}
	return b
}

func (r *run) ino(p string) fs.Ino { return ino(r.t, r.tr, p) }

// step makes one random operation and returns what it was, what it
// returned and the errno the model expects; ok is false if it chose
// nothing to do.
func (r *run) step(step int) (desc string, got error, want syscall.Errno, ok bool) {
	ops := 13
	if r.durable != nil {
		ops = 20
	}
	if _, ok := r.durable.(Faulty); ok {
		ops = 21
	}
	if _, ok := r.durable.(MachineCrasher); ok {
		ops = 22
	}
	tr, m := r.tr, r.m
	switch op := r.rng.IntN(ops); op {
	case 0, 1: // create
		dir, name := r.randPath()
		p := join(dir, name)
		desc = "create " + p
		_, got = tr.Create(r.ino(dir), name, 0o644, 0, 0)
		if m.exists(p) {
			want = syscall.EEXIST
		} else {
			m.files[p] = &mfile{}
		}
	case 2: // mkdir
		dir, name := r.randPath()
		p := join(dir, name)
		desc = "mkdir " + p
		_, got = tr.Mkdir(r.ino(dir), name, 0o755, 0, 0)
		if m.exists(p) {
			want = syscall.EEXIST
		} else {
			m.dirs[p] = true
		}
	case 3: // symlink
		dir, name := r.randPath()
		p := join(dir, name)
		target := fmt.Sprint("t", step)
		desc = "symlink " + p
		_, got = tr.Symlink(r.ino(dir), name, target, 0, 0)
		if m.exists(p) {
			want = syscall.EEXIST
		} else {
			m.files[p] = &mfile{symlink: true, target: target}
		}
	case 4: // link
		all := r.entries()
		if len(all) == 0 {
			return "", nil, 0, false
		}
		src := r.pick(all)
		dir, name := r.randPath()
		p := join(dir, name)
		desc = "link " + src + " " + p
		_, got = tr.Link(r.ino(src), r.ino(dir), name)
		switch {
		case m.exists(p):
			want = syscall.EEXIST
		case m.dirs[src]:
			want = syscall.EPERM
		default:
			m.files[p] = m.files[src]
		}
	case 5: // unlink
		dir, name := r.randPath()
		p := join(dir, name)
		desc = "unlink " + p
		got = tr.Unlink(r.ino(dir), name)
		switch {
		case !m.exists(p):
			want = syscall.ENOENT
		case m.dirs[p]:
			want = syscall.EISDIR
		default:
			delete(m.files, p)
		}
	case 6: // rmdir
		dir, name := r.randPath()
		p := join(dir, name)
		desc = "rmdir " + p
		got = tr.Rmdir(r.ino(dir), name)
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
		dir, name := r.randPath()
		ndir, nname := r.randPath()
		if r.rng.IntN(4) == 0 {
			ndir = dir // same directory is common in practice
		}
		flags := []fs.RenameFlags{0, 0, fs.RenameNoReplace, fs.RenameExchange}[r.rng.IntN(4)]
		src, dst := join(dir, name), join(ndir, nname)
		desc = fmt.Sprintf("rename %s %s flags %d", src, dst, flags)
		got = tr.Rename(r.ino(dir), name, r.ino(ndir), nname, flags)
		want = m.rename(src, dst, dir, ndir, flags)
	case 9, 10: // write, by path or through a handle
		i, f, d := r.pickData()
		if f == nil && d == "" {
			return "", nil, 0, false
		}
		off, data := r.rng.IntN(40), r.randBytes(1+r.rng.IntN(20))
		if r.opts.Big > 0 && r.rng.IntN(8) == 0 {
			off = r.rng.IntN(r.opts.Big)
			data = r.randBytes(1 + r.rng.IntN(r.opts.Big/4+1))
		}
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
		f.ver++
	case 11: // truncate
		i, f, d := r.pickData()
		if f == nil && d == "" {
			return "", nil, 0, false
		}
		size := r.rng.IntN(60)
		if r.opts.Big > 0 && r.rng.IntN(8) == 0 {
			size = r.rng.IntN(r.opts.Big)
		}
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
		f.ver++
	case 12: // open or release
		regs := r.regulars()
		if len(r.handles) > 0 && (r.rng.IntN(2) == 0 || len(regs) == 0) {
			k := r.rng.IntN(len(r.handles))
			desc = fmt.Sprint("release ", r.handles[k].ino)
			got = tr.Release(r.handles[k].ino)
			r.handles = slices.Delete(r.handles, k, k+1)
			break
		}
		if len(regs) == 0 {
			return "", nil, 0, false
		}
		p := r.pick(regs)
		desc = "open " + p
		i := r.ino(p)
		got = tr.Open(i)
		r.handles = append(r.handles, handle{i, m.files[p]})
	default:
		return r.durableStep(step, op-13)
	}
	return desc, got, want, true
}

// pickData chooses a target for a write or truncate: an open handle, or a
// path of any kind (returned as d, with f nil unless it is a regular file).
func (r *run) pickData() (fs.Ino, *mfile, string) {
	if len(r.handles) > 0 && r.rng.IntN(3) == 0 {
		h := r.handles[r.rng.IntN(len(r.handles))]
		return h.ino, h.f, "handle"
	}
	var paths []string
	if r.rng.IntN(5) == 0 { // sometimes a directory or symlink, for the errors
		paths = r.dirs()
		for p, f := range r.m.files {
			if f.symlink {
				paths = append(paths, p)
			}
		}
		slices.Sort(paths)
	} else {
		paths = r.regulars()
	}
	if len(paths) == 0 {
		return 0, nil, ""
	}
	p := r.pick(paths)
	f := r.m.files[p]
	if f != nil && f.symlink {
		f = nil
	}
	return r.ino(p), f, "/" + p
}

// dataErrno is the errno for writing or truncating path d ("/p"), which is
// not a regular file.
func dataErrno(m *model, d string) syscall.Errno {
	if m.dirs[strings.TrimPrefix(d, "/")] {
		return syscall.EISDIR
	}
	return syscall.EINVAL
}
