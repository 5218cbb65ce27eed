package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The drive's hardening (issue 10), as a user meets it: murmur up as a
// process, files written through its mount, stopped with Ctrl-C or
// SIGKILL, and run again.

// upMount is what murmur status --json says of up's mount.
type upMount struct {
	Writer       bool   `json:"writer"`
	ReadOnlyWhy  string `json:"read_only_why"`
	PendingFiles int    `json:"pending_files"`
	LastCommit   string `json:"last_commit"`
	LastError    string `json:"last_error"`
	StateError   string `json:"state_error"`
}

func upStatus(t *testing.T, dir string) upMount {
	t.Helper()
	out, err := run(t, "status", "--dir", dir, "--json")
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	var st struct{ Mounts []upMount }
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Mounts) != 1 {
		t.Fatalf("status shows %d mounts (%v): %s", len(st.Mounts), err, out)
	}
	return st.Mounts[0]
}

// waitCommitted waits, up to a bound, for up's background commit to hold
// everything written.
func waitCommitted(t *testing.T, dir string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); ; {
		st := upStatus(t, dir)
		if st.StateError != "" {
			t.Fatalf("the state directory failed: %s", st.StateError)
		}
		if st.PendingFiles == 0 && st.LastCommit != "" && !strings.HasPrefix(st.LastCommit, "0001") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing committed in 3 minutes: %+v", st)
		}
		time.Sleep(200 * time.Millisecond) // polls another process
	}
}

// wantWritable fails t unless up's drive holds the writer lease and takes
// a new file.
func wantWritable(t *testing.T, dir, mnt string) {
	t.Helper()
	if st := upStatus(t, dir); !st.Writer {
		t.Fatalf("the drive came back read-only: %s", st.ReadOnlyWhy)
	}
	p := filepath.Join(mnt, fmt.Sprint("writable-", time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte("yes"), 0o644); err != nil {
		t.Fatalf("the drive came back, but takes no file: %v", err)
	}
}

// content is the deterministic contents of file i of size n.
func content(i, n int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf("%08d", i)), n/8+1)
	return b[:n]
}

func writeMany(t *testing.T, dir string, n, size int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprint("f", i)), content(i, size), 0o644); err != nil {
			t.Fatalf("write file %d of %d: %v", i, n, err)
		}
	}
}

func checkMany(t *testing.T, dir string, n, size int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != n {
		t.Fatalf("%s holds %d files (%v), want %d", dir, len(ents), err, n)
	}
	for i := range n {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprint("f", i)))
		if err != nil || !bytes.Equal(b, content(i, size)) {
			t.Fatalf("%s/f%d: %d bytes, %v", dir, i, len(b), err)
		}
	}
}

// stopUp interrupts up and wants it to exit 0, its drive unmounted.
func stopUp(t *testing.T, up *exec.Cmd, mnt string) {
	t.Helper()
	up.Process.Signal(os.Interrupt)
	if err := up.Wait(); err != nil {
		t.Fatalf("murmur up after Ctrl-C: %v", err)
	}
	if mounted(mnt) {
		t.Fatal("murmur up stopped and left its drive mounted")
	}
}

// TestUpBurstOfSmallFiles is the wedge as it was found: in one mount
// 1,000 files of 8 KiB, a commit, 4,000 files of 16 KiB (62.5 MiB, past
// what one badger transaction held), Ctrl-C, murmur up again: it exits 0,
// comes back writable, with every file.
func TestUpBurstOfSmallFiles(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "cloud")
	up := startUp(t, dir, mnt)
	writeMany(t, filepath.Join(mnt, "first"), 1000, 8<<10)
	waitCommitted(t, dir)
	writeMany(t, filepath.Join(mnt, "burst"), 4000, 16<<10)
	if st := upStatus(t, dir); st.StateError != "" {
		t.Fatalf("the burst failed the state: %s", st.StateError)
	}
	stopUp(t, up, mnt)
	startUp(t, dir, mnt)
	wantWritable(t, dir, mnt)
	checkMany(t, filepath.Join(mnt, "first"), 1000, 8<<10)
	checkMany(t, filepath.Join(mnt, "burst"), 4000, 16<<10)
}

// TestUpGoSourceTree copies Go's own src tree (about 11,500 files) into
// the mount with cp -a, stops cleanly and restarts: diff -r finds the
// copy identical, and the drive writable. Then a second copy, an fsync of
// every file (sync(1) with file arguments; none may fail), SIGKILL, and
// a restart on the dead mount it left: the second copy is identical too.
func TestUpGoSourceTree(t *testing.T) {
	src := filepath.Join(runtime.GOROOT(), "src")
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		t.Skipf("no Go source tree at %s", src)
	}
	for _, p := range []string{"cp", "diff", "sync", "find", "xargs"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("needs %s", p)
		}
	}
	dir := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "cloud")
	up := startUp(t, dir, mnt)
	shell(t, "cp", "-a", src, filepath.Join(mnt, "src"))
	stopUp(t, up, mnt)
	up = startUp(t, dir, mnt)
	shell(t, "diff", "-r", "--no-dereference", src, filepath.Join(mnt, "src"))
	wantWritable(t, dir, mnt)

	shell(t, "cp", "-a", src, filepath.Join(mnt, "again"))
	shell(t, "sh", "-c", `find "$1" -type f -print0 | xargs -0 sync --`, "sh", filepath.Join(mnt, "again"))
	up.Process.Signal(syscall.SIGKILL)
	up.Wait()
	startUp(t, dir, mnt)
	shell(t, "diff", "-r", "--no-dereference", src, filepath.Join(mnt, "again"))
	shell(t, "diff", "-r", "--no-dereference", src, filepath.Join(mnt, "src"))
	wantWritable(t, dir, mnt)
}

// shell runs a program and fails t with its output if it fails.
func shell(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		if len(out) > 4000 {
			out = out[:4000]
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
