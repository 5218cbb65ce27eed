package drive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/pipeline"
)

// TestFiles: a drive lists the regular files at paths as their last
// commit stored them: a folder's at any depth in path order, a hard link
// once, nothing for symlinks, special files or empty folders; each
// manifest reads back the file's bytes; a file changed since the commit,
// or a name not there, is an error.
func TestFiles(t *testing.T) {
	ctx := context.Background()
	e := newDriveEnv(t)
	d := e.open(t.TempDir(), false)
	tr := d.Tree()
	docs, _ := tr.Mkdir(fs.RootIno, "docs", 0o755, 0, 0)
	sub, _ := tr.Mkdir(docs.Ino, "sub", 0o755, 0, 0)
	tr.Mkdir(docs.Ino, "empty", 0o755, 0, 0)
	want := map[string][]byte{
		"docs/b":     randBytes(1, 300<<10),
		"docs/a":     []byte("one line\n"),
		"docs/sub/c": randBytes(2, 40<<10),
		"docs/zero":  nil,
		"top":        randBytes(3, 1000),
	}
	writeFile(t, tr, docs.Ino, "b", want["docs/b"])
	a := writeFile(t, tr, docs.Ino, "a", want["docs/a"])
	writeFile(t, tr, sub.Ino, "c", want["docs/sub/c"])
	writeFile(t, tr, docs.Ino, "zero", nil)
	writeFile(t, tr, fs.RootIno, "top", want["top"])
	tr.Link(a, sub.Ino, "a-again")
	tr.Symlink(docs.Ino, "link", "sub", 0, 0)
	tr.Mknod(docs.Ino, "fifo", fs.Fifo, 0o644, 0, 0, 0)
	mustCommit(t, d)

	files, err := d.Files([]string{"docs", "/top"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
		w := want[f.Path]
		if f.Size != int64(len(w)) || (f.Manifest == nil) != (len(w) == 0) {
			t.Fatalf("%s: size %d, manifest %v; want %d bytes", f.Path, f.Size, f.Manifest != nil, len(w))
		}
		if f.Manifest != nil {
			r, err := pipeline.NewReader(ctx, pipeline.Config{Keys: e.keys}, e.cloud, f.Manifest)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, w) {
				t.Fatalf("%s reads back %d bytes, %v", f.Path, len(got), err)
			}
		}
	}
	if !slices.Equal(paths, []string{"docs/a", "docs/b", "docs/sub/c", "docs/zero", "top"}) {
		t.Fatalf("files %q", paths)
	}
	if _, err := d.Files([]string{"docs/nope"}); !errors.Is(err, drive.ErrNoPath) {
		t.Fatalf("a missing name: %v", err)
	}
	if _, err := d.Files([]string{"top/x"}); !errors.Is(err, drive.ErrNoPath) {
		t.Fatalf("a path through a file: %v", err)
	}
	if all, err := d.Files([]string{""}); err != nil || len(all) != 5 {
		t.Fatalf("the root: %d files, %v", len(all), err)
	}
	// A file written since the last commit: not in the cloud yet.
	tr.WriteAt(a, []byte("two"), 0)
	if _, err := d.Files([]string{"docs"}); !errors.Is(err, drive.ErrNotUploaded) {
		t.Fatalf("a changed file: %v", err)
	}
	if _, err := d.Files([]string{"top"}); err != nil {
		t.Fatalf("an unchanged file beside a changed one: %v", err)
	}
	d.Close(ctx)
}
