package fstree_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/internal/treetest"
)

// scanAll scans root and returns its entries.
func scanAll(t *testing.T, root string, opt fstree.ScanOptions) []*fstree.Entry {
	t.Helper()
	var es []*fstree.Entry
	if err := fstree.Scan(context.Background(), root, opt, func(e *fstree.Entry) error {
		es = append(es, e)
		return nil
	}); err != nil {
		t.Fatalf("Scan %s: %v", root, err)
	}
	return es
}

// paths returns the entries' paths.
func paths(es []*fstree.Entry) []string {
	var ps []string
	for _, e := range es {
		ps = append(ps, e.Path)
	}
	return ps
}

// copyTree scans src and restores it into dst, reading each regular
// file's contents with Open and checking with Stat that it did not change.
func copyTree(t *testing.T, src, dst string) int {
	t.Helper()
	r, err := fstree.NewRestorer(fstree.RestoreOptions{Target: dst})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = fstree.Scan(context.Background(), src, fstree.ScanOptions{}, func(e *fstree.Entry) error {
		n++
		if e.Attr.Kind != fs.Regular || e.Link != "" {
			return r.Restore(e, nil)
		}
		f, err := fstree.Open(src, e.Path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := r.Restore(e, f); err != nil {
			return err
		}
		after, err := fstree.Stat(src, e.Path)
		if err != nil {
			return err
		}
		if fstree.Changed(e, after) {
			t.Errorf("%q changed while read", e.Path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
	if err := r.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return n
}

// rsyncSame checks with rsync that dst holds what src does (contents,
// every kind of metadata, nothing more): treetest.RequireSame.
func rsyncSame(t *testing.T, src, dst string) {
	t.Helper()
	treetest.RequireSame(t, src, dst)
}

// findList lists a tree with find: each object's path, type, mode,
// owners, link count, size (but a directory's), mtime, atime and symlink
// target. Run it before anything reads the files: a read may move atimes.
func findList(t *testing.T, root string) []string {
	t.Helper()
	out, err := exec.Command("find", root, "-printf", `%P\0%y %m %U %G %n %s %T@ %A@\0%l\0`).Output()
	if err != nil {
		t.Fatalf("find: %v", err)
	}
	f := strings.Split(string(out), "\x00")
	var lines []string
	for i := 0; i+2 < len(f); i += 3 {
		attrs := strings.Fields(f[i+1])
		if attrs[0] == "d" {
			attrs[5] = "-"
		}
		lines = append(lines, strings.Join([]string{f[i], strings.Join(attrs, " "), f[i+2]}, " | "))
	}
	slices.Sort(lines)
	return lines
}

// sameLists reports the lines two listings do not share.
func sameLists(t *testing.T, a, b []string) {
	t.Helper()
	if slices.Equal(a, b) {
		return
	}
	var diff bytes.Buffer
	for _, l := range a {
		if !slices.Contains(b, l) {
			diff.WriteString("- " + l + "\n")
		}
	}
	for _, l := range b {
		if !slices.Contains(a, l) {
			diff.WriteString("+ " + l + "\n")
		}
	}
	t.Errorf("find listings differ:\n%s", diff.String())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func lstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	return st
}
