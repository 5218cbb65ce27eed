package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// gocryptfsMount is a gocryptfs filesystem on the same disk as the
// others, mounted at dir, for bench mount to measure against: the usual
// way to keep files encrypted at rest, with no cloud behind it.
type gocryptfsMount struct {
	dir string
}

// startGocryptfs makes a gocryptfs filesystem in base (with a fast KDF:
// the bench measures the files, not the unlock) and mounts it. It fails,
// saying so, if gocryptfs is not on PATH.
func startGocryptfs(base string) (*gocryptfsMount, error) {
	bin, err := exec.LookPath("gocryptfs")
	if err != nil {
		return nil, errors.New("gocryptfs is not on PATH: not measured")
	}
	cipher := filepath.Join(base, "gocryptfs-cipher")
	dir := filepath.Join(base, "gocryptfs")
	pass := filepath.Join(base, "gocryptfs-pass")
	for _, d := range []string{cipher, dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(pass, []byte("bench\n"), 0o600); err != nil {
		return nil, err
	}
	run := func(args ...string) error {
		var out bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("gocryptfs %s: %w: %s", args[0], err, bytes.TrimSpace(out.Bytes()))
		}
		return nil
	}
	if err := run("-init", "-q", "-scryptn", "10", "-passfile", pass, cipher); err != nil {
		return nil, err
	}
	// gocryptfs returns once the filesystem is mounted, serving it from
	// a process of its own.
	if err := run("-q", "-passfile", pass, cipher, dir); err != nil {
		return nil, err
	}
	return &gocryptfsMount{dir: dir}, nil
}

func (g *gocryptfsMount) close() error {
	if err := unix.Unmount(g.dir, 0); err != nil {
		return fmt.Errorf("unmount gocryptfs at %s: %w", g.dir, err)
	}
	return nil
}
