package clientcmd

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/mount"
	"github.com/murmur-cloud/murmur/pipeline"
)

// names returns the names of the mounts in sts, sorted.
func names(sts []mountStatus) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

// TestStatusSocket: a mount's status socket answers with the status of
// the moment, mode 0600; a second mount of the drive answers beside it;
// a stopped one removes its socket, and a socket left by a mount that
// died is skipped by murmur status and replaced by the next mount.
func TestStatusSocket(t *testing.T) {
	dir := t.TempDir()
	path := StatusSocket(dir, "abc")
	var asked atomic.Int64
	stopA, err := serveStatus(path, func() mountStatus { return mountStatus{Name: "a", PID: int(asked.Add(1))} })
	if err != nil {
		t.Fatal(err)
	}
	defer stopA()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the status socket: %v, %v", fi, err)
	}
	for want := 1; want <= 2; want++ {
		if sts := mountStatuses(dir); len(sts) != 1 || sts[0].Name != "a" || sts[0].PID != want {
			t.Fatalf("status asked %d times: %+v", want, sts)
		}
	}

	stopB, err := serveStatus(path, func() mountStatus { return mountStatus{Name: "b"} })
	if err != nil {
		t.Fatal(err)
	}
	defer stopB()
	if got := names(mountStatuses(dir)); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("two mounts of one drive: %v", got)
	}
	stopA()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a stopped mount left its socket: %v", err)
	}

	// A mount that was killed leaves its socket, which nothing accepts on.
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if got := names(mountStatuses(dir)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("with a dead mount's socket: %v", got)
	}
	stopC, err := serveStatus(path, func() mountStatus { return mountStatus{Name: "c"} })
	if err != nil {
		t.Fatal(err)
	}
	defer stopC()
	if s, err := askStatus(context.Background(), path); err != nil || s.Name != "c" {
		t.Fatalf("the dead mount's socket was not taken over: %+v, %v", s, err)
	}
}

// TestStatusRightAfterWrite: murmur status asks the running mount, so a
// file written a moment ago shows as pending; the socket goes at unmount.
func TestStatusRightAfterWrite(t *testing.T) {
	cfg := drive.Config{
		Keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), Cloud: cloudtest.NewMem(0),
		Pipeline: pipeline.Config{K: 2, M: 1, Chunking: chunk.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}},
		RootMode: 0o777,
		// No commit while the test looks: what is written stays pending.
		CommitEvery: time.Hour,
	}
	if err := drive.Create(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = t.TempDir()
	d, err := drive.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	node, mnt := t.TempDir(), filepath.Join(t.TempDir(), "drive")
	ctx, cancel := context.WithCancel(context.Background())
	out := newSyncBuffer()
	served := make(chan error, 1)
	go func() { served <- ServeDrive(ctx, d, mnt, "test", StatusSocket(node, "test"), mount.Options{}, out) }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cancel()
			<-served
		}
		syscall.Unmount(mnt, syscall.MNT_DETACH)
	})
	waitUntil(t, "the mount and its status socket", 10*time.Second, func() bool {
		return mounted(mnt) && len(mountStatuses(node)) == 1
	})

	data := []byte("written a moment ago")
	if err := os.WriteFile(filepath.Join(mnt, "new"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	sts := mountStatuses(node)
	if len(sts) != 1 {
		t.Fatalf("statuses: %+v", sts)
	}
	s := sts[0]
	if s.PendingFiles != 1 || s.PendingBytes != int64(len(data)) || s.Mountpoint != mnt || s.Name != "test" || s.PID != os.Getpid() || !s.Writer {
		t.Errorf("status right after a write: %+v, want 1 file of %d bytes pending", s, len(data))
	}

	cancel()
	stopped = true
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serveDrive: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("serveDrive did not return after its context ended:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "uploaded 20 B") {
		t.Errorf("no last progress line:\n%s", out.String())
	}
	if socks, _ := filepath.Glob(filepath.Join(MountsDir(node), "*.sock")); len(socks) != 0 {
		t.Errorf("sockets left after unmount: %v", socks)
	}
}
