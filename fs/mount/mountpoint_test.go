package mount_test

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// childMountEnv makes the test binary a mount of its own: started with
// MURMUR_TEST_MOUNT=DIR it mounts an empty Tree on DIR, prints "mounted"
// and serves until it is killed.
const childMountEnv = "MURMUR_TEST_MOUNT"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childMountEnv); dir != "" {
		serveChild(dir)
	}
	if os.Getenv(specialScriptEnv) != "" {
		os.Exit(runSpecialScript())
	}
	os.Exit(m.Run())
}

// serveChild is the child process of mountInChild.
func serveChild(dir string) {
	tree, err := fs.New(fs.Config{RootMode: 0o777})
	if err == nil {
		var srv *mount.Server
		if srv, err = mount.Mount(dir, tree, mount.Options{}); err == nil {
			fmt.Println("mounted")
			srv.Wait()
			os.Exit(0)
		}
	}
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// mountInChild mounts an empty Tree on dir in a process of its own and
// returns that process once the mount serves. When the test ends the
// process is killed and its mount detached.
func mountInChild(t *testing.T, dir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childMountEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		syscall.Unmount(dir, syscall.MNT_DETACH)
	})
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "mounted\n" {
			t.Fatalf("the child did not mount %s: %q", dir, line)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the child did not mount %s in 20 s", dir)
	}
	return cmd
}

// TestPrepareMountpointDeadMount: two mounts stacked on a directory whose
// serving processes were SIGKILLed leave it dead (ENOTCONN); PrepareMountpoint
// detaches both, says so, and a new mount there serves.
func TestPrepareMountpointDeadMount(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		child := mountInChild(t, dir)
		if err := child.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		child.Wait()
	}
	// A stat may still be answered from the attributes the kernel
	// cached; statfs always asks the server.
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("statfs of the dead mount: %v, want ENOTCONN", err)
	}
	var log syncBuffer
	if err := mount.PrepareMountpoint(dir, false, slog.New(slog.NewTextHandler(&log, nil))); err != nil {
		t.Fatalf("PrepareMountpoint on dead mounts: %v", err)
	}
	if n := strings.Count(log.String(), "dead FUSE mount"); n != 2 {
		t.Errorf("the log tells of %d dead mounts detached, want 2:\n%s", n, log.String())
	}
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatalf("statfs after PrepareMountpoint: %v", err)
	}
	if isMountpoint(t, dir) {
		t.Fatalf("%s is still a mountpoint after PrepareMountpoint", dir)
	}
	m := mountTreeAt(t, dir)
	writeFile(t, filepath.Join(m.Dir, "f"), []byte("alive"), 0o644)
	wantFile(t, filepath.Join(m.Dir, "f"), "alive")
}

// isMountpoint reports whether /proc/self/mounts lists a mount on dir.
func isMountpoint(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}

// mountTreeAt mounts an empty Tree on dir until the test ends.
func mountTreeAt(t *testing.T, dir string) *mounted {
	t.Helper()
	tree, err := fs.New(fs.Config{RootMode: 0o777})
	if err != nil {
		t.Fatal(err)
	}
	return mountTreeOn(t, dir, tree, mount.Options{})
}

// TestPrepareMountpointRefuses: a live drive, another filesystem (on a
// folder whose name mountinfo escapes) and a
// folder with files in it are refused with errors that say so; a missing
// folder is fine, and nonempty lets a mount hide a folder's files.
func TestPrepareMountpointRefuses(t *testing.T) {
	live := mountDefault(t)
	err := mount.PrepareMountpoint(live.Dir, true, nil)
	if !errors.Is(err, mount.ErrMounted) || !strings.Contains(err.Error(), "a drive is already mounted at "+live.Dir) {
		t.Errorf("PrepareMountpoint on a live mount: %v, want ErrMounted naming a drive", err)
	}

	// A name with a space, which mountinfo escapes.
	tmpfs := filepath.Join(t.TempDir(), "other fs")
	if err := os.Mkdir(tmpfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(tmpfs, unix.MNT_DETACH) })
	if err := mount.PrepareMountpoint(tmpfs, true, nil); !errors.Is(err, mount.ErrMounted) || !strings.Contains(err.Error(), "tmpfs") {
		t.Errorf("PrepareMountpoint on a tmpfs: %v, want ErrMounted naming tmpfs", err)
	}

	full := t.TempDir()
	writeFile(t, filepath.Join(full, "mine"), []byte("x"), 0o644)
	if err := mount.PrepareMountpoint(full, false, nil); !errors.Is(err, mount.ErrNotEmpty) || !strings.Contains(err.Error(), full) {
		t.Errorf("PrepareMountpoint on a folder with a file: %v, want ErrNotEmpty naming it", err)
	}
	if err := mount.PrepareMountpoint(full, true, nil); err != nil {
		t.Fatalf("PrepareMountpoint with nonempty: %v", err)
	}
	mountTreeAt(t, full)
	if _, err := os.Stat(filepath.Join(full, "mine")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the folder's own file shows through the mount: %v", err)
	}

	if err := mount.PrepareMountpoint(filepath.Join(t.TempDir(), "missing"), false, nil); err != nil {
		t.Errorf("PrepareMountpoint on a missing folder: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	writeFile(t, file, nil, 0o644)
	if err := mount.PrepareMountpoint(file, false, nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("PrepareMountpoint on a file: %v, want not a directory", err)
	}
}
