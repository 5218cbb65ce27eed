package mount_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/murmur-cloud/murmur/fs/mount"
)

// startHolder starts cmd and kills it when the test ends; the channel
// says when it exits.
func startHolder(t *testing.T, cmd *exec.Cmd) <-chan struct{} {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-exited })
	return exited
}

// TestDetachWhileHeld: while one program is in the mount and another has
// a file of it open, Unmount fails with EBUSY and Holders names both;
// Detach then ends the mount without waiting for them: Wait returns while
// they still run, and a directory this process holds open in the mount
// fails with ENOTCONN.
func TestDetachWhileHeld(t *testing.T) {
	m := mountDefault(t)
	file := filepath.Join(m.Dir, "f")
	writeFile(t, file, []byte("x"), 0o644)
	inside := command(t, env(t), m.Dir, "sleep", "1000")
	insideExited := startHolder(t, inside)
	opener := exec.Command(needProgram(t, "bash", "bash"), "-c", `exec 3<"$0" && exec sleep 1000`, file)
	openerExited := startHolder(t, opener)

	want := []mount.Holder{
		{PID: inside.Process.Pid, Command: "sleep", What: "is in it"},
		{PID: opener.Process.Pid, Command: "sleep", What: "has a file open in it"},
	}
	slices.SortFunc(want, func(a, b mount.Holder) int { return a.PID - b.PID })
	var got []mount.Holder
	waitFor(t, "Holders to name both programs", func() bool {
		hs, err := mount.Holders(m.Dir)
		if err != nil {
			t.Fatal(err)
		}
		got = hs
		return slices.Equal(hs, want)
	})
	if err := m.Srv.Unmount(); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("Unmount while held: %v, want EBUSY (holders %v)", err, got)
	}

	root, err := os.Open(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := m.Srv.Detach(); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	waitDone(t, "Wait after Detach", m.Srv.Wait)
	for _, exited := range []<-chan struct{}{insideExited, openerExited} {
		select {
		case <-exited:
			t.Fatal("a program holding the mount exited at Detach")
		default:
		}
	}
	if isMountpoint(t, m.Dir) {
		t.Errorf("%s is still mounted after Detach", m.Dir)
	}
	if _, err := root.Readdirnames(-1); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("readdir of a directory held open across Detach: %v, want ENOTCONN", err)
	}
	if err := m.Srv.Unmount(); err != nil {
		t.Errorf("Unmount after Detach: %v", err)
	}
}

// TestHoldersNone: a directory no process uses has no holders.
func TestHoldersNone(t *testing.T) {
	hs, err := mount.Holders(t.TempDir())
	if err != nil || len(hs) != 0 {
		t.Errorf("Holders of an unused directory: %v, %v", hs, err)
	}
}
