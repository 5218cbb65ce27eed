package fs_test

import (
	"path"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/fstest"
)

// clock is a fake clock that moves one second forward on every reading,
// so each operation's timestamp differs from the last one's.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

// Last returns the last reading in ns.
func (c *clock) Last() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t.UnixNano()
}

// newTree returns an empty Tree on a fake clock.
func newTree(t testing.TB) (*fs.Tree, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	tr, err := fs.New(fs.Config{Clock: c.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tr, c
}

// wantErrno fails t unless err translates to want (0: no error).
func wantErrno(t testing.TB, err error, want syscall.Errno) {
	t.Helper()
	if got := fs.Errno(err); got != want {
		t.Fatalf("got errno %d (%v) from %v, want %d (%v)", got, got, err, want, want)
	}
}

// build makes the entries given as paths, parents first: "d/" is a
// directory, "l->target" a symlink, "h=f" a hard link to f, anything else
// an empty regular file. It returns the inode of each path.
func build(t testing.TB, tr *fs.Tree, specs ...string) map[string]fs.Ino {
	t.Helper()
	inos := map[string]fs.Ino{"": fs.RootIno}
	for _, s := range specs {
		var (
			a   fs.Attr
			err error
			p   string
		)
		switch {
		case strings.HasSuffix(s, "/"):
			p = strings.TrimSuffix(s, "/")
			a, err = tr.Mkdir(parentOf(t, tr, p), path.Base(p), 0o755, 1, 1)
		case strings.Contains(s, "->"):
			p0, target, _ := strings.Cut(s, "->")
			p = p0
			a, err = tr.Symlink(parentOf(t, tr, p), path.Base(p), target, 1, 1)
		case strings.Contains(s, "="):
			p0, old, _ := strings.Cut(s, "=")
			p = p0
			a, err = tr.Link(ino(t, tr, old), parentOf(t, tr, p), path.Base(p))
		default:
			p = s
			a, err = tr.Create(parentOf(t, tr, p), path.Base(p), 0o644, 1, 1)
		}
		if err != nil {
			t.Fatalf("build %q: %v", s, err)
		}
		inos[p] = a.Ino
	}
	return inos
}

// ino resolves a slash-separated path from the root ("" is the root).
func ino(t testing.TB, tr *fs.Tree, p string) fs.Ino {
	t.Helper()
	i, err := resolve(tr, p)
	if err != nil {
		t.Fatalf("resolve %q: %v", p, err)
	}
	return i
}

func resolve(tr *fs.Tree, p string) (fs.Ino, error) {
	i := fs.RootIno
	if p == "" {
		return i, nil
	}
	for _, name := range strings.Split(p, "/") {
		a, err := tr.Lookup(i, name)
		if err != nil {
			return 0, err
		}
		i = a.Ino
	}
	return i, nil
}

func parentOf(t testing.TB, tr *fs.Tree, p string) fs.Ino {
	t.Helper()
	d := path.Dir(p)
	if d == "." {
		d = ""
	}
	return ino(t, tr, d)
}

func attr(t testing.TB, tr *fs.Tree, i fs.Ino) fs.Attr {
	t.Helper()
	a, err := tr.GetAttr(i)
	if err != nil {
		t.Fatalf("GetAttr %d: %v", i, err)
	}
	return a
}

// listing returns every path in tr, sorted, directories with a trailing
// "/", symlinks as "p->target".
func listing(t testing.TB, tr *fs.Tree) []string {
	t.Helper()
	var out []string
	var walk func(dir fs.Ino, prefix string)
	walk = func(dir fs.Ino, prefix string) {
		ents, err := tr.ReadDir(dir)
		if err != nil {
			t.Fatalf("ReadDir %q: %v", prefix, err)
		}
		for _, e := range ents {
			p := prefix + e.Name
			switch e.Kind {
			case fs.Directory:
				out = append(out, p+"/")
				walk(e.Ino, p+"/")
			case fs.Symlink:
				target, err := tr.Readlink(e.Ino)
				if err != nil {
					t.Fatalf("Readlink %q: %v", p, err)
				}
				out = append(out, p+"->"+target)
			default:
				out = append(out, p)
			}
		}
	}
	walk(fs.RootIno, "")
	slices.Sort(out)
	return out
}

// checkInvariants checks tr's link counts and entries (fstest).
func checkInvariants(t testing.TB, tr *fs.Tree) { fstest.CheckInvariants(t, tr) }

// read returns the whole contents of regular file i.
func read(t testing.TB, tr *fs.Tree, i fs.Ino) []byte {
	t.Helper()
	a := attr(t, tr, i)
	b := make([]byte, a.Size+10)
	n, err := tr.ReadAt(i, b, 0)
	if err != nil {
		t.Fatalf("ReadAt %d: %v", i, err)
	}
	if uint64(n) != a.Size {
		t.Fatalf("ReadAt %d read %d bytes of %d", i, n, a.Size)
	}
	return b[:n]
}
