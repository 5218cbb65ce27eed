package mount_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// nobody is the uid and gid of the unprivileged user the tests act as.
const nobody = 65534

// asNobody runs name with args in dir as uid and gid 65534, and returns
// its combined output and error.
func asNobody(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	cmd := command(t, []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}, dir, name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// openUp lets other users reach the mount point: t.TempDir makes its
// directories private to root.
func openUp(t testing.TB, dir string) {
	t.Helper()
	for _, d := range []string{filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOwnership: with AllowOther, what another user creates is theirs,
// and the kernel enforces the model's permission bits against them.
func TestOwnership(t *testing.T) {
	m := newMount(t, fs.Config{RootMode: 0o777}, mount.Options{AllowOther: true})
	openUp(t, m.Dir)
	if !mountInfo(t, m.Dir).has("allow_other") {
		t.Errorf("AllowOther mount lacks allow_other")
	}
	if out, err := asNobody(t, m.Dir, "bash", "-c", "umask 022 && echo mine > mine && mkdir mydir && ln -s mine mylink && cat mine"); err != nil || out != "mine\n" {
		t.Fatalf("nobody creating files: %v\n%s", err, out)
	}
	for _, name := range []string{"mine", "mydir", "mylink"} {
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(m.Dir, name), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s: owned by %d:%d, want %d:%d", name, st.Uid, st.Gid, nobody, nobody)
		}
	}
	if fi, err := os.Stat(filepath.Join(m.Dir, "mine")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("nobody's file: %v, %v; want mode 0644 (0666 less umask 022)", fi, err)
	}

	writeFile(t, filepath.Join(m.Dir, "secret"), []byte("root only"), 0o600)
	writeFile(t, filepath.Join(m.Dir, "public"), []byte("everyone"), 0o644)
	if err := os.Mkdir(filepath.Join(m.Dir, "rootdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := asNobody(t, m.Dir, "cat", "secret"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("nobody reading root's 0600 file: %v, %q; want EACCES", err, out)
	}
	if out, err := asNobody(t, m.Dir, "cat", "public"); err != nil || out != "everyone" {
		t.Errorf("nobody reading root's 0644 file: %v, %q", err, out)
	}
	if out, err := asNobody(t, m.Dir, "touch", "rootdir/x"); err == nil || !strings.Contains(out, "Permission denied") {
		t.Errorf("nobody creating in root's 0755 directory: %v, %q; want EACCES", err, out)
	}
	if out, err := asNobody(t, m.Dir, "chmod", "666", "public"); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("nobody chmod of root's file: %v, %q; want EPERM", err, out)
	}
	if out, err := asNobody(t, m.Dir, "chmod", "600", "mine"); err != nil {
		t.Errorf("nobody chmod of its own file: %v, %q", err, out)
	}
	// Root may give a file away.
	if err := os.Chown(filepath.Join(m.Dir, "public"), nobody, nobody); err != nil {
		t.Fatal(err)
	}
	if out, err := asNobody(t, m.Dir, "bash", "-c", "echo changed > public"); err != nil {
		t.Errorf("nobody writing the file it was given: %v, %q", err, out)
	}
}

// TestNoAllowOther: without AllowOther, another user cannot enter the
// mount at all, whatever its permission bits.
func TestNoAllowOther(t *testing.T) {
	m := newMount(t, fs.Config{RootMode: 0o777}, mount.Options{})
	openUp(t, m.Dir)
	writeFile(t, filepath.Join(m.Dir, "public"), []byte("everyone"), 0o644)
	for _, args := range [][]string{{"ls", m.Dir}, {"cat", filepath.Join(m.Dir, "public")}, {"bash", "-c", "cd " + m.Dir}} {
		out, err := asNobody(t, "/", args[0], args[1:]...)
		if err == nil || !strings.Contains(out, "Permission denied") {
			t.Errorf("nobody: %q: %v, %q; want EACCES", args, err, out)
		}
	}
	// Root, who mounted it, may.
	wantFile(t, filepath.Join(m.Dir, "public"), "everyone")
}

// TestMknod: mknod of S_IFREG makes an empty regular file with the mode
// asked less the umask. The other types are special_test.go's.
func TestMknod(t *testing.T) {
	setUmask(t, 0o022)
	m := mountDefault(t)
	p := filepath.Join(m.Dir, "reg")
	if err := syscall.Mknod(p, syscall.S_IFREG|0o660, 0); err != nil {
		t.Fatalf("mknod S_IFREG: %v", err)
	}
	if fi, err := os.Lstat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o640 || fi.Size() != 0 {
		t.Errorf("mknod S_IFREG made %v, %v", fi, err)
	}
}

// asRoot runs name with args in dir, and returns its combined output and
// error.
func asRoot(t testing.TB, dir, name string, args ...string) (string, error) {
	t.Helper()
	out, err := command(t, env(t), dir, name, args...).CombinedOutput()
	return string(out), err
}

// setUmask sets the process's umask to mask for the rest of the test.
func setUmask(t testing.TB, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}
