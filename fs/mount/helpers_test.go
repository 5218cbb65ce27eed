package mount_test

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// mounted is a fresh Tree mounted on a temporary directory.
type mounted struct {
	Dir  string
	Tree *fs.Tree
	Srv  *mount.Server
}

// newMount mounts a new empty Tree configured by c on a temporary
// directory with options o, and unmounts it when the test ends.
func newMount(t testing.TB, c fs.Config, o mount.Options) *mounted {
	t.Helper()
	if driveBacked {
		return mountTree(t, newDriveTree(t, c), o)
	}
	tree, err := fs.New(c)
	if err != nil {
		t.Fatalf("fs.New: %v", err)
	}
	return mountTree(t, tree, o)
}

// mountTree mounts tree on a temporary directory with options o, and
// unmounts it when the test ends.
func mountTree(t testing.TB, tree *fs.Tree, o mount.Options) *mounted {
	t.Helper()
	return mountTreeOn(t, t.TempDir(), tree, o)
}

// mountTreeOn mounts tree on dir with options o, and unmounts it when the
// test ends.
func mountTreeOn(t testing.TB, dir string, tree *fs.Tree, o mount.Options) *mounted {
	t.Helper()
	srv, err := mount.Mount(dir, tree, o)
	if err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("Unmount: %v", err)
			// Detach it anyway, so the temporary directory goes.
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return &mounted{Dir: dir, Tree: tree, Srv: srv}
}

// mountDefault mounts a new Tree with a root anyone may write in, as a
// test's scratch space, with default options.
func mountDefault(t testing.TB) *mounted {
	t.Helper()
	return newMount(t, fs.Config{RootMode: 0o777}, mount.Options{})
}

// needProgram fails t unless the program name is installed; pkg is the
// Debian package that has it.
func needProgram(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: apt-get install %s", name, pkg)
	}
	return p
}

// writeFile writes data to path or fails t.
func writeFile(t testing.TB, path string, data []byte, perm os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, perm); err != nil {
		t.Fatal(err)
	}
}

// env is the environment of the programs tests run: the test's own, less
// anything that would make them read the machine's configuration or
// reach the network.
func env(t testing.TB, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	return append(append(os.Environ(),
		"HOME="+home,
		"LC_ALL=C",
		"GIT_CONFIG_NOSYSTEM=1",
		"GOPROXY=off",
		"GOTOOLCHAIN=local",
		"GOTELEMETRY=off",
		"GOFLAGS=-mod=mod",
	), extra...)
}

// shell is the script run runs programs with: it changes to the directory
// $0, then execs "$@".
const shell = `cd -- "$0" && exec "$@"`

// command returns a command running name with args in directory dir. A
// shell does the chdir and the exec: this process serves the mount and
// must not fork into it itself (see mount.Mount).
func command(t testing.TB, environ []string, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	bash := needProgram(t, "bash", "bash")
	cmd := exec.Command(bash, append([]string{"-c", shell, dir, name}, args...)...)
	cmd.Env = environ
	return cmd
}

// run runs name with args in dir and returns its standard output, failing
// t with its output if it fails.
func run(t testing.TB, environ []string, dir, name string, args ...string) string {
	t.Helper()
	cmd := command(t, environ, dir, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s in %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), dir, err, out, stderr.String())
	}
	return string(out)
}

// modelIno returns the inode of the path given as names from the root,
// asking the model, not the mount.
func modelIno(t testing.TB, tree *fs.Tree, names ...string) fs.Ino {
	t.Helper()
	ino := fs.RootIno
	for _, name := range names {
		a, err := tree.Lookup(ino, name)
		if err != nil {
			t.Fatalf("model lookup %q: %v", names, err)
		}
		ino = a.Ino
	}
	return ino
}

// waitFor polls cond until it holds, failing t after five seconds.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mountEntry is a line of /proc/self/mounts.
type mountEntry struct {
	source, fstype, opts string
}

// has reports whether the mount has option o.
func (e mountEntry) has(o string) bool {
	return slices.Contains(strings.Split(e.opts, ","), o)
}

// mountInfo returns the /proc/self/mounts line of the mount on dir.
func mountInfo(t testing.TB, dir string) mountEntry {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == dir {
			return mountEntry{source: f[0], fstype: f[2], opts: f[3]}
		}
	}
	t.Fatalf("%s is not in /proc/self/mounts", dir)
	return mountEntry{}
}

// wantErr fails t unless err is the errno want.
func wantErr(t testing.TB, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

// inoOf returns the inode number of path.
func inoOf(t testing.TB, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// wantFile fails t unless the file at path holds want.
func wantFile(t testing.TB, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s: %q, want %q", path, got, want)
	}
}
