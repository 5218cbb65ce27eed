package fstest

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"

	"github.com/murmur-cloud/murmur/fs"
)

// What a crash may leave (docs/drive.md, "The durability contract"), for
// a crash of the mount process, which is what Durable.Crash makes:
//
//   - the namespace (names, kinds, targets, links, sizes) is exactly as
//     at the last durable point: a flush, an fsync or a commit;
//   - a file not written since that point holds exactly its bytes then;
//   - a file written since holds, at each offset, its byte then, or a
//     byte it holds now (its cache file runs ahead of its record), or a
//     zero (a cut that ran ahead): never a byte that was never there;
//   - the tree takes changes: no false "another device wrote".

// maxBursts bounds the bursts of one run: each is a big tree to compare.
const maxBursts = 2

// durableStep makes one of the steps only a Durable env has.
func (r *run) durableStep(step, op int) (desc string, got error, want syscall.Errno, ok bool) {
	d := r.durable
	switch op {
	case 0: // the background flush
		desc, got = "flush", d.Flush()
		if got == nil {
			r.saved = r.m.snapshot()
		}
	case 1: // fsync, which saves every change
		regs := r.regulars()
		if len(regs) == 0 {
			return "", nil, 0, false
		}
		p := r.pick(regs)
		desc, got = "fsync "+p, r.tr.Fsync(r.ino(p))
		if got == nil {
			r.saved, r.synced = r.m.snapshot(), r.m.snapshot()
		}
	case 2:
		desc, got = "commit", d.Commit()
		if got == nil {
			r.saved, r.committed, r.synced = r.m.snapshot(), r.m.snapshot(), r.m.snapshot()
		}
	case 3:
		desc = "crash"
		if _, err := d.Crash(false, 0, false); err != nil {
			r.t.Fatalf("seed %d step %d: crash and reopen: %v", r.opts.Seed, step, err)
		}
		r.afterCrash(step, desc, r.saved)
		r.crashes++
	case 4:
		call, after := 1+r.rng.IntN(8), r.rng.IntN(2) == 0
		desc = fmt.Sprintf("crash in a commit at its cloud call %d (after: %v)", call, after)
		before, now := r.saved, r.m.snapshot()
		crashed, err := d.Crash(true, call, after)
		if err != nil {
			r.t.Fatalf("seed %d step %d: %s: %v", r.opts.Seed, step, desc, err)
		}
		if !crashed {
			r.saved, r.committed, r.synced = now, r.m.snapshot(), r.m.snapshot() // the commit finished
			return desc, nil, 0, true
		}
		r.committed = nil // published or not, depending on where it died
		// Before its intent the commit saved nothing; from it, all.
		r.afterCrash(step, desc, before, now)
		r.crashes++
	case 7:
		if _, ok := d.(Faulty); !ok {
			desc, ok = r.machineStep(step)
			return desc, nil, 0, ok
		}
		desc, got, ok = r.faultStep(step)
		return desc, got, 0, ok
	case 8:
		desc, ok = r.machineStep(step)
		return desc, nil, 0, ok
	case 6: // what the cloud holds, read by another device
		if r.committed == nil {
			return "", nil, 0, false
		}
		desc = "read the last commit from another device"
		other, unmount, err := d.Another()
		if err != nil {
			r.t.Fatalf("seed %d step %d: %s: %v", r.opts.Seed, step, desc, err)
		}
		compare(r.t, other, r.committed.m, nil, fmt.Sprintf("seed %d step %d (%s)", r.opts.Seed, step, desc))
		unmount()
	case 5:
		if r.burstDir != "" {
			// A burst lives a few steps, through a save or a crash or
			// not: comparing a tree that big after every step is slow.
			desc, got = "remove "+r.burstDir, r.unburst()
			break
		}
		if r.opts.Burst == 0 || r.bursts >= maxBursts {
			return "", nil, 0, false
		}
		r.bursts++
		r.burstDir = fmt.Sprint("burst", step)
		desc = fmt.Sprintf("burst of %d files of %d bytes", r.opts.Burst, r.opts.BurstSize)
		got = r.burst(r.burstDir)
	}
	return desc, got, 0, true
}

// unburst removes the burst's directory and what is in it, from the tree
// and the model.
func (r *run) unburst() error {
	dir := r.burstDir
	r.burstDir = ""
	if !r.m.dirs[dir] {
		return nil // renamed away, or gone with a crash
	}
	d := r.ino(dir)
	ents, err := r.tr.ReadDir(d)
	if err != nil {
		return err
	}
	for _, e := range ents {
		var err error
		if e.Kind == fs.Directory {
			err = r.removeAll(d, e.Name, join(dir, e.Name))
		} else {
			err = r.tr.Unlink(d, e.Name)
			delete(r.m.files, join(dir, e.Name))
		}
		if err != nil {
			return err
		}
	}
	delete(r.m.dirs, dir)
	return r.tr.Rmdir(fs.RootIno, dir)
}

// removeAll removes directory name of parent (path p) and all below it.
func (r *run) removeAll(parent fs.Ino, name, p string) error {
	d := r.ino(p)
	ents, err := r.tr.ReadDir(d)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Kind == fs.Directory {
			err = r.removeAll(d, e.Name, join(p, e.Name))
		} else {
			err = r.tr.Unlink(d, e.Name)
			delete(r.m.files, join(p, e.Name))
		}
		if err != nil {
			return err
		}
	}
	delete(r.m.dirs, p)
	return r.tr.Rmdir(parent, name)
}

// burst makes dir holding opts.Burst files of opts.BurstSize bytes, in the
// tree and in the model.
func (r *run) burst(dir string) error {
	a, err := r.tr.Mkdir(fs.RootIno, dir, 0o755, 0, 0)
	if err != nil {
		return err
	}
	r.m.dirs[dir] = true
	for i := range r.opts.Burst {
		name := fmt.Sprint("f", i)
		f, err := r.tr.Create(a.Ino, name, 0o644, 0, 0)
		if err != nil {
			return err
		}
		data := r.randBytes(r.opts.BurstSize)
		if _, err := r.tr.WriteAt(f.Ino, data, 0); err != nil {
			return err
		}
		r.m.files[join(dir, name)] = &mfile{data: data}
	}
	return nil
}

// afterCrash checks the reopened tree against what the crash may leave,
// taking the first of the durable points given that its namespace
// matches, and makes the model that tree: every handle died with the
// process.
func (r *run) afterCrash(step int, desc string, points ...*snapshot) {
	where := fmt.Sprintf("seed %d step %d (%s)", r.opts.Seed, step, desc)
	r.tr = r.env.Tree()
	if !r.durable.Writable() {
		r.t.Fatalf("%s: the reopened tree is read-only", where)
	}
	var failures []string
	for _, s := range points {
		if why := checkCrash(r.tr, s); why != "" {
			failures = append(failures, why)
			continue
		}
		// The reopen synced the state: what it loaded is the synced point.
		r.m, r.saved, r.synced, r.handles = s.m, s.m.snapshot(), s.m.snapshot(), nil
		// A burst removed since the durable point is back.
		r.burstDir = ""
		for p := range r.m.dirs {
			if strings.HasPrefix(p, "burst") && !strings.Contains(p, "/") {
				r.burstDir = p
			}
		}
		compare(r.t, r.tr, r.m, nil, where)
		return
	}
	r.t.Fatalf("%s: the reopened tree is no durable point's: %v", where, failures)
}

// checkCrash compares tr with the durable point s as a crash may leave it,
// and, if it matches, sets each of s's files to the bytes tr holds. It
// returns why it does not match, or "".
func checkCrash(tr *fs.Tree, s *snapshot) string {
	seen := map[string]bool{}
	inoOf := map[*mfile]fs.Ino{}
	got := map[*mfile][]byte{}
	var why string
	var walk func(dir fs.Ino, prefix string) bool
	walk = func(dir fs.Ino, prefix string) bool {
		ents, err := tr.ReadDir(dir)
		if err != nil {
			why = fmt.Sprintf("ReadDir %q: %v", prefix, err)
			return false
		}
		for _, e := range ents {
			p := join(prefix, e.Name)
			seen[p] = true
			if e.Kind == fs.Directory {
				if !s.m.dirs[p] {
					why = fmt.Sprintf("directory %q was not there", p)
					return false
				}
				if !walk(e.Ino, p) {
					return false
				}
				continue
			}
			f := s.m.files[p]
			if f == nil || f.symlink != (e.Kind == fs.Symlink) {
				why = fmt.Sprintf("%v %q, where there was %v", e.Kind, p, f)
				return false
			}
			if i, ok := inoOf[f]; ok && i != e.Ino {
				why = fmt.Sprintf("%q is not the inode of its other names", p)
				return false
			}
			inoOf[f] = e.Ino
			if f.symlink {
				if target, err := tr.Readlink(e.Ino); err != nil || target != f.target {
					why = fmt.Sprintf("symlink %q to %q (%v), want %q", p, target, err, f.target)
					return false
				}
				continue
			}
			b, err := readAll(tr, e.Ino)
			if err != nil {
				why = fmt.Sprintf("read %q: %v", p, err)
				return false
			}
			if w := badBytes(b, f, s); w != "" {
				why = fmt.Sprintf("%q: %s", p, w)
				return false
			}
			got[f] = b
		}
		return true
	}
	if !walk(fs.RootIno, "") {
		return why
	}
	for p := range s.m.dirs {
		if p != "" && !seen[p] {
			return fmt.Sprintf("directory %q is gone", p)
		}
	}
	for p := range s.m.files {
		if !seen[p] {
			return fmt.Sprintf("%q is gone", p)
		}
	}
	for f, b := range got {
		f.data = b
	}
	return ""
}

// badBytes says what is wrong with b as the contents after a crash of the
// file f was at durable point s, or "".
func badBytes(b []byte, f *mfile, s *snapshot) string {
	if len(b) != len(f.data) {
		return fmt.Sprintf("%d bytes, want %d", len(b), len(f.data))
	}
	orig := s.origin[f]
	if orig.ver == s.ver[f] {
		if !bytes.Equal(b, f.data) {
			return fmt.Sprintf("not written since, yet holds other bytes (first at %d)", firstDiff(b, f.data))
		}
		return ""
	}
	for i, c := range b {
		if c == f.data[i] || c == 0 || i < len(orig.data) && c == orig.data[i] {
			continue
		}
		return fmt.Sprintf("byte %d is %#x, which was never there", i, c)
	}
	return ""
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
