package fs_test

import (
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

// TestConcurrent runs goroutines that each work in their own subdirectory,
// with reads of the shared root and renames into it, under -race.
func TestConcurrent(t *testing.T) {
	const workers, rounds = 8, 200
	tr, _ := newTree(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			errs <- worker(tr, w, rounds)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for w := range workers {
		want = append(want, fmt.Sprintf("w%d/", w), fmt.Sprintf("w%d/keep", w), fmt.Sprintf("w%d/sub/", w), fmt.Sprintf("top%d", w))
	}
	slices.Sort(want)
	if got := listing(t, tr); !slices.Equal(got, want) {
		t.Errorf("listing\n got %q\nwant %q", got, want)
	}
	if a := attr(t, tr, fs.RootIno); a.Nlink != 2+workers {
		t.Errorf("root Nlink = %d", a.Nlink)
	}
	checkInvariants(t, tr)
}

func worker(tr *fs.Tree, w, rounds int) error {
	d, err := tr.Mkdir(fs.RootIno, fmt.Sprint("w", w), 0o755, 0, 0)
	if err != nil {
		return err
	}
	sub, err := tr.Mkdir(d.Ino, "sub", 0o755, 0, 0)
	if err != nil {
		return err
	}
	for r := range rounds {
		f, err := tr.Create(d.Ino, "f", 0o644, 0, 0)
		if err != nil {
			return fmt.Errorf("worker %d round %d: %w", w, r, err)
		}
		data := fmt.Appendf(nil, "worker %d round %d", w, r)
		steps := []func() error{
			func() error { _, err := tr.WriteAt(f.Ino, data, 0); return err },
			func() error { return tr.Open(f.Ino) },
			func() error { _, err := tr.Link(f.Ino, sub.Ino, "h"); return err },
			func() error { return tr.SetXattr(f.Ino, "user.r", data, 0) },
			func() error { return tr.Rename(d.Ino, "f", sub.Ino, "g", fs.RenameNoReplace) },
			func() error { _, err := tr.ReadDir(fs.RootIno); return err },
			func() error { return tr.Unlink(sub.Ino, "g") },
			func() error { return tr.Unlink(sub.Ino, "h") },
			func() error {
				b := make([]byte, 64)
				n, err := tr.ReadAt(f.Ino, b, 0)
				if err == nil && string(b[:n]) != string(data) {
					err = fmt.Errorf("read %q through a handle, want %q", b[:n], data)
				}
				return err
			},
			func() error { return tr.Release(f.Ino) },
			func() error {
				if _, err := tr.GetAttr(f.Ino); fs.Errno(err) != syscall.ENOENT {
					return fmt.Errorf("inode not freed: %v", err)
				}
				return nil
			},
		}
		for i, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("worker %d round %d step %d: %w", w, r, i, err)
			}
		}
	}
	if _, err := tr.Create(d.Ino, "keep", 0o644, 0, 0); err != nil {
		return err
	}
	if _, err := tr.Create(d.Ino, "top", 0o644, 0, 0); err != nil {
		return err
	}
	return tr.Rename(d.Ino, "top", fs.RootIno, fmt.Sprint("top", w), fs.RenameNoReplace)
}
