package mount_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestGit makes a repository in the mount, commits to it and reads the
// history back.
func TestGit(t *testing.T) {
	git := needProgram(t, "git", "git")
	m := mountDefault(t)
	e := env(t)
	repo := filepath.Join(m.Dir, "repo")
	run(t, e, m.Dir, git, "init", "-q", "-b", "main", repo)
	writeFile(t, filepath.Join(repo, "README"), []byte("murmur\n"), 0o644)
	if err := os.MkdirAll(filepath.Join(repo, "src/pkg"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(repo, "src/pkg/a.go"), []byte("package pkg\n"), 0o644)
	writeFile(t, filepath.Join(repo, "run.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755)
	id := []string{"-c", "user.name=Murmur Test", "-c", "user.email=test@murmur.invalid"}
	run(t, e, repo, git, "add", "-A")
	run(t, e, repo, git, append(id, "commit", "-q", "-m", "first")...)
	writeFile(t, filepath.Join(repo, "README"), []byte("murmur, again\n"), 0o644)
	run(t, e, repo, git, append(id, "commit", "-q", "-a", "-m", "second")...)

	if got := run(t, e, repo, git, "log", "--format=%s"); got != "second\nfirst\n" {
		t.Errorf("git log: got %q, want %q", got, "second\nfirst\n")
	}
	if got := run(t, e, repo, git, "status", "--porcelain"); got != "" {
		t.Errorf("git status after commit: %q, want clean", got)
	}
	if got := run(t, e, repo, git, "ls-files", "-s", "run.sh"); !strings.HasPrefix(got, "100755 ") {
		t.Errorf("git ls-files run.sh: %q, want mode 100755", got)
	}
	run(t, e, repo, git, "fsck", "--strict", "--no-progress")
	if got := run(t, e, repo, git, "show", "HEAD~1:README"); got != "murmur\n" {
		t.Errorf("first README: %q", got)
	}
}

// TestTar extracts a tarball of Go's encoding sources into the mount,
// compares every file with the original, and archives the copy back: the
// two archives are byte-identical.
func TestTar(t *testing.T) {
	tar := needProgram(t, "tar", "tar")
	src := filepath.Join(goroot(t), "src")
	m := mountDefault(t)
	e := env(t)
	out := t.TempDir()
	archive := func(dir, file string) []byte {
		t.Helper()
		run(t, e, dir, tar, "--sort=name", "--format=gnu", "-cf", file, "encoding")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	orig := archive(src, filepath.Join(out, "orig.tar"))
	run(t, e, m.Dir, tar, "-xf", filepath.Join(out, "orig.tar"))
	sameTree(t, filepath.Join(src, "encoding"), filepath.Join(m.Dir, "encoding"), time.Second)
	back := archive(m.Dir, filepath.Join(out, "back.tar"))
	if !bytes.Equal(orig, back) {
		t.Errorf("tar of the mount's copy differs from the original's:\n%s",
			diffLines(run(t, e, out, tar, "-tvf", "orig.tar"), run(t, e, out, tar, "-tvf", "back.tar")))
	}
}

// TestCp copies a tree into the mount and back out with cp -a: contents,
// modes, symlinks and nanosecond mtimes survive both ways.
func TestCp(t *testing.T) {
	cp := needProgram(t, "cp", "coreutils")
	diff := needProgram(t, "diff", "diffutils")
	m := mountDefault(t)
	e := env(t)
	src := makeTree(t)
	run(t, e, m.Dir, cp, "-a", src, "in")
	sameTree(t, src, filepath.Join(m.Dir, "in"), time.Nanosecond)
	out := filepath.Join(t.TempDir(), "out")
	run(t, e, m.Dir, cp, "-a", "in", out)
	sameTree(t, src, out, time.Nanosecond)
	run(t, e, m.Dir, diff, "-r", "--no-dereference", src, out)
}

// TestRsync copies a tree into the mount and back out with rsync -a.
func TestRsync(t *testing.T) {
	rsync := needProgram(t, "rsync", "rsync")
	diff := needProgram(t, "diff", "diffutils")
	m := mountDefault(t)
	e := env(t)
	src := makeTree(t)
	run(t, e, m.Dir, rsync, "-a", src+"/", "in/")
	sameTree(t, src, filepath.Join(m.Dir, "in"), time.Nanosecond)
	out := filepath.Join(t.TempDir(), "out")
	run(t, e, m.Dir, rsync, "-a", "in/", out+"/")
	sameTree(t, src, out, time.Nanosecond)
	run(t, e, m.Dir, diff, "-r", "--no-dereference", src, out)
	// A second run finds nothing to do.
	if got := run(t, e, m.Dir, rsync, "-a", "--itemize-changes", src+"/", "in/"); got != "" {
		t.Errorf("second rsync changed: %q", got)
	}
}

// TestMv moves files and directories across directories of the mount:
// the inode moves, nothing is copied.
func TestMv(t *testing.T) {
	mv := needProgram(t, "mv", "coreutils")
	m := mountDefault(t)
	e := env(t)
	for _, d := range []string{"a/sub", "b"} {
		if err := os.MkdirAll(filepath.Join(m.Dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(m.Dir, "a/f"), []byte("file"), 0o640)
	writeFile(t, filepath.Join(m.Dir, "a/sub/g"), []byte("in sub"), 0o644)
	before := inoOf(t, filepath.Join(m.Dir, "a/f"))
	run(t, e, m.Dir, mv, "a/f", "b/f2")
	run(t, e, m.Dir, mv, "a/sub", "b/")
	if got := inoOf(t, filepath.Join(m.Dir, "b/f2")); got != before {
		t.Errorf("mv changed the inode: %d, was %d", got, before)
	}
	wantFile(t, filepath.Join(m.Dir, "b/f2"), "file")
	wantFile(t, filepath.Join(m.Dir, "b/sub/g"), "in sub")
	for _, gone := range []string{"a/f", "a/sub"} {
		if _, err := os.Lstat(filepath.Join(m.Dir, gone)); !os.IsNotExist(err) {
			t.Errorf("%s after mv: %v, want not exist", gone, err)
		}
	}
	// Over an existing file, and back to where it came from.
	writeFile(t, filepath.Join(m.Dir, "a/f"), []byte("other"), 0o644)
	run(t, e, m.Dir, mv, "-f", "b/f2", "a/f")
	wantFile(t, filepath.Join(m.Dir, "a/f"), "file")
}

// TestSqlite creates a database in the mount, inserts 1000 rows in one
// transaction, reads them back, and checks that a second process is kept
// out while the first holds a write lock (locks are the kernel's).
func TestSqlite(t *testing.T) {
	sqlite := needProgram(t, "sqlite3", "sqlite3")
	m := mountDefault(t)
	e := env(t)
	var sql strings.Builder
	sql.WriteString("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL);\nBEGIN;\n")
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&sql, "INSERT INTO t (id, name) VALUES (%d, 'row %d');\n", i, i)
	}
	sql.WriteString("COMMIT;\n")
	run(t, e, m.Dir, sqlite, "test.db", sql.String())
	query := "SELECT count(*), sum(id), max(name) FROM t WHERE name LIKE 'row %';"
	if got := run(t, e, m.Dir, sqlite, "test.db", query); got != "1000|500500|row 999\n" {
		t.Errorf("query: got %q", got)
	}
	if got := run(t, e, m.Dir, sqlite, "test.db", "PRAGMA integrity_check;"); got != "ok\n" {
		t.Errorf("integrity_check: %q", got)
	}

	// Process A holds an exclusive transaction; B cannot write until A
	// commits.
	a := command(t, e, m.Dir, sqlite, "test.db")
	stdin, err := a.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := a.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Wait()
	defer stdin.Close()
	fmt.Fprintln(stdin, "BEGIN EXCLUSIVE; INSERT INTO t (id, name) VALUES (1001, 'a'); SELECT 'holding';")
	if line, err := bufio.NewReader(stdout).ReadString('\n'); line != "holding\n" {
		t.Fatalf("sqlite A: %q, %v", line, err)
	}
	b := command(t, e, m.Dir, sqlite, "-cmd", ".timeout 0", "test.db", "INSERT INTO t (id, name) VALUES (1002, 'b');")
	if out, err := b.CombinedOutput(); err == nil || !strings.Contains(string(out), "locked") {
		t.Errorf("sqlite B while A holds the lock: err %v, output %q; want database is locked", err, out)
	}
	fmt.Fprintln(stdin, "COMMIT;")
	stdin.Close()
	if err := a.Wait(); err != nil {
		t.Fatalf("sqlite A: %v", err)
	}
	run(t, e, m.Dir, sqlite, "test.db", "INSERT INTO t (id, name) VALUES (1002, 'b');")

	// The same in WAL mode, whose index is a shared mapping of test.db-shm.
	run(t, e, m.Dir, sqlite, "test.db", "PRAGMA journal_mode=WAL; INSERT INTO t (id, name) VALUES (1003, 'c');")
	if got := run(t, e, m.Dir, sqlite, "test.db", "SELECT count(*) FROM t;"); got != "1003\n" {
		t.Errorf("count after WAL insert: %q", got)
	}
}

// TestGoBuild writes a module into the mount, builds it there and runs the
// binary from the mount.
func TestGoBuild(t *testing.T) {
	goCmd := needProgram(t, "go", "golang-go")
	m := mountDefault(t)
	e := env(t, "GOCACHE="+t.TempDir(), "GOPATH="+t.TempDir(), "CGO_ENABLED=0")
	mod := filepath.Join(m.Dir, "hello")
	if err := os.MkdirAll(filepath.Join(mod, "greet"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(mod, "go.mod"), []byte("module example.com/hello\n\ngo 1.26\n"), 0o644)
	writeFile(t, filepath.Join(mod, "greet/greet.go"), []byte(`package greet

// Hello returns a greeting for who.
func Hello(who string) string { return "hello from " + who }
`), 0o644)
	writeFile(t, filepath.Join(mod, "main.go"), []byte(`package main

import (
	"fmt"

	"example.com/hello/greet"
)

func main() { fmt.Println(greet.Hello("the mount")) }
`), 0o644)
	run(t, e, mod, goCmd, "vet", "./...")
	run(t, e, mod, goCmd, "build", "-o", "hello", ".")
	if got := run(t, e, mod, "./hello"); got != "hello from the mount\n" {
		t.Errorf("./hello: %q", got)
	}
}

// TestShellInMount runs a shell whose working directory is in the mount,
// which runs a script stored there.
func TestShellInMount(t *testing.T) {
	m := mountDefault(t)
	e := env(t)
	sub := filepath.Join(m.Dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(sub, "script.sh"), []byte("#!/bin/sh\necho \"script in $(pwd)\"\n"), 0o755)
	got := run(t, e, sub, "bash", "-c", `echo made > f && cat f && ls && ./script.sh && pwd`)
	want := fmt.Sprintf("made\nf\nscript.sh\nscript in %s\n%s\n", sub, sub)
	if got != want {
		t.Errorf("shell in the mount:\ngot  %q\nwant %q", got, want)
	}
}

// goroot returns the Go installation's root.
func goroot(t testing.TB) string {
	t.Helper()
	goCmd := needProgram(t, "go", "golang-go")
	out, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// makeTree makes a small tree outside the mount to copy in: nested
// directories, files of several modes and sizes, an empty file, symlinks,
// and mtimes with nanoseconds, set last so copying tools must keep them.
func makeTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	files := []struct {
		path string
		mode os.FileMode
		size int
	}{
		{"a.txt", 0o644, 100},
		{"empty", 0o600, 0},
		{"bin/tool", 0o755, 70000},
		{"deep/er/still/f", 0o640, 5000},
		{"big", 0o644, 3<<20 + 17},
	}
	for i, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, p, pattern(i, f.size), f.mode)
		if err := os.Chmod(p, f.mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../a.txt", filepath.Join(root, "bin/link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nowhere", filepath.Join(root, "dangling")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(root, "deep/er"), 0o700); err != nil {
		t.Fatal(err)
	}
	// Children before parents, so setting a child's mtime does not move
	// its parent's afterwards.
	var paths []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	for i := len(paths) - 1; i >= 0; i-- {
		mt := time.Unix(1_600_000_000+int64(i)*1000, int64(i)*123_456_789%1e9)
		if err := lutimes(paths[i], mt); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// pattern returns n bytes that differ with seed.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + i/251)
	}
	return b
}

// lutimes sets the atime and mtime of path, not following a symlink.
func lutimes(path string, mt time.Time) error {
	ts := unix.NsecToTimespec(mt.UnixNano())
	return unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// sameTree fails t unless the trees at a and b hold the same names, kinds,
// permission bits, contents and symlink targets, and mtimes equal to
// within prec (for files and symlinks; directories' too when prec is a
// nanosecond, as cp -a and rsync -a keep them).
func sameTree(t testing.TB, a, b string, prec time.Duration) {
	t.Helper()
	err := filepath.WalkDir(a, func(pa string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, pa)
		pb := filepath.Join(b, rel)
		ia, err := os.Lstat(pa)
		if err != nil {
			return err
		}
		ib, err := os.Lstat(pb)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			return nil
		}
		if ia.Mode() != ib.Mode() {
			t.Errorf("%s: mode %v, want %v", rel, ib.Mode(), ia.Mode())
		}
		if !ia.ModTime().Truncate(prec).Equal(ib.ModTime().Truncate(prec)) {
			t.Errorf("%s: mtime %v, want %v", rel, ib.ModTime(), ia.ModTime())
		}
		switch {
		case ia.Mode().IsRegular():
			if !sameContent(t, pa, pb) {
				t.Errorf("%s: contents differ", rel)
			}
		case ia.Mode()&os.ModeSymlink != 0:
			ta, _ := os.Readlink(pa)
			tb, err := os.Readlink(pb)
			if err != nil || ta != tb {
				t.Errorf("%s: link to %q (%v), want %q", rel, tb, err, ta)
			}
		case ia.IsDir():
			ea, _ := os.ReadDir(pa)
			eb, _ := os.ReadDir(pb)
			if len(ea) != len(eb) {
				t.Errorf("%s: %d entries, want %d", rel, len(eb), len(ea))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sameContent reports whether the files a and b hold the same bytes.
func sameContent(t testing.TB, a, b string) bool {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, err := io.ReadAll(fa)
	if err != nil {
		t.Fatal(err)
	}
	bb, err := io.ReadAll(fb)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ba, bb)
}

// diffLines returns the lines of a and b that the other lacks, marked -
// and +.
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out strings.Builder
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			fmt.Fprintf(&out, "- %s\n", l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			fmt.Fprintf(&out, "+ %s\n", l)
		}
	}
	return out.String()
}
