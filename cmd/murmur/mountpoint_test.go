package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/fs/mount"
)

// TestMountRefusesNonEmpty: murmur mount and murmur up refuse a folder
// with files in it before they open anything, and name --nonempty.
func TestMountRefusesNonEmpty(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "mine"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	node := t.TempDir()
	_, err := run(t, "mount", "--dir", node, full)
	if !errors.Is(err, mount.ErrNotEmpty) || !strings.Contains(err.Error(), "--nonempty") {
		t.Errorf("murmur mount on a folder with a file: %v, want one naming --nonempty", err)
	}
	out, err := murmurCmd("up", "--dir", node, full).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not empty") || !strings.Contains(string(out), "--nonempty") {
		t.Errorf("murmur up on a folder with a file: %v\n%s", err, out)
	}
}
