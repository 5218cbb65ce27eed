package mount_test

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// TestUnmount: Unmount fails with EBUSY while a file is open and leaves
// the mount serving; once it is closed Unmount succeeds, and Wait
// returns.
func TestUnmount(t *testing.T) {
	m := mountDefault(t)
	p := filepath.Join(m.Dir, "f")
	writeFile(t, p, []byte("x"), 0o644)
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Srv.Unmount(); !errors.Is(err, syscall.EBUSY) {
		t.Errorf("Unmount with an open file: %v, want EBUSY", err)
	}
	wantFile(t, p, "x")
	f.Close()
	if err := m.Srv.Unmount(); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	waitDone(t, "Wait after Unmount", m.Srv.Wait)
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("the file is still visible after Unmount: %v", err)
	}
}

// TestUnmountFromOutside: an umount by someone else ends the server.
func TestUnmountFromOutside(t *testing.T) {
	tree, err := fs.New(fs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	srv, err := mount.Mount(dir, tree, mount.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	waitDone(t, "Wait after umount", srv.Wait)
}

// TestMountErrors: mounting on something that is not a directory fails
// with an error naming it.
func TestMountErrors(t *testing.T) {
	tree, err := fs.New(fs.Config{})
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing")
	_, err = mount.Mount(missing, tree, mount.Options{})
	if !errors.Is(err, syscall.ENOENT) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Mount on a missing directory: %v, want ENOENT naming it", err)
	}
}

// TestDebug: with Debug, every request and reply goes to the Logger.
func TestDebug(t *testing.T) {
	var log syncBuffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	m := newMount(t, fs.Config{}, mount.Options{Debug: true, Logger: logger})
	if _, err := os.Stat(filepath.Join(m.Dir, "nothing")); !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if got := log.String(); !strings.Contains(got, "LOOKUP") || !strings.Contains(got, "nothing") {
		t.Errorf("debug log lacks the LOOKUP of \"nothing\":\n%s", got)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitDone fails t unless f returns within five seconds.
func waitDone(t testing.TB, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}
