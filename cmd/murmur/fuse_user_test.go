package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestMountAsUserNeedsFusermount: a user other than root, without
// fusermount3 on its PATH, is told which package to install.
func TestMountAsUserNeedsFusermount(t *testing.T) {
	// The test binary, where another user may run it.
	dir, err := os.MkdirTemp("", "murmur-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "murmur")
	if err := copyFile(os.Args[0], bin); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, bin} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := murmurCmd("mount", "--dir", dir, filepath.Join(dir, "m"))
	cmd.Path, cmd.Args[0] = bin, bin
	cmd.Env = append(cmd.Env, "PATH=/nonexistent", "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "fusermount3") || !strings.Contains(string(out), "apt-get install fuse3") {
		t.Fatalf("murmur mount as uid 65534: %v\n%s", err, out)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
