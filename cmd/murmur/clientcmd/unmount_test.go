package clientcmd

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	mfs "github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// waitUntil polls cond until it holds, failing t after timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestUnmountWhileBusy: an unmount while a shell's working directory is
// in the mount names it by pid and command, then unmounts once it leaves,
// or detaches at a second Ctrl-C or at the deadline without waiting for
// it.
func TestUnmountWhileBusy(t *testing.T) {
	for _, c := range []struct {
		name     string
		deadline time.Duration
		// end is what the test does once the holder is named.
		end          func(again chan<- os.Signal, holder *exec.Cmd)
		wantDetached bool
	}{
		{"HolderLeaves", time.Hour, func(_ chan<- os.Signal, h *exec.Cmd) { h.Process.Kill() }, false},
		{"CtrlCAgain", time.Hour, func(again chan<- os.Signal, _ *exec.Cmd) { again <- os.Interrupt }, true},
		{"Deadline", 0, func(chan<- os.Signal, *exec.Cmd) {}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			tree, err := mfs.New(mfs.Config{RootMode: 0o777})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			srv, err := mount.Mount(dir, tree, mount.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
			unmounted := make(chan struct{})
			go func() { srv.Wait(); close(unmounted) }()
			// A shell changes into the mount: this process serves it and
			// must not (mount's package doc).
			holder := exec.Command("bash", "-c", `cd -- "$0" && exec sleep 1000`, dir)
			if err := holder.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { holder.Wait(); close(exited) }()
			t.Cleanup(func() { holder.Process.Kill(); <-exited })
			named := fmt.Sprintf("pid %d (sleep) is in it", holder.Process.Pid)
			waitUntil(t, "the holder to be in the mount", 5*time.Second, func() bool {
				return strings.Contains(busyMessage(dir), named)
			})

			out := newSyncBuffer()
			again := make(chan os.Signal, 1)
			done := make(chan error, 1)
			go func() { done <- unmountWhileBusy(srv, unmounted, again, c.deadline, out) }()
			waitUntil(t, "the busy message", 5*time.Second, func() bool { return strings.Contains(out.String(), named) })
			c.end(again, holder)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("unmount: %v\n%s", err, out.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("the unmount did not end:\n%s", out.String())
			}
			select {
			case <-unmounted:
			default:
				t.Error("the unmount returned with the server still running")
			}
			if detached := strings.Contains(out.String(), "detaching"); detached != c.wantDetached {
				t.Errorf("detached: %v, want %v:\n%s", detached, c.wantDetached, out.String())
			}
			if c.wantDetached {
				select {
				case <-exited:
					t.Error("the holder exited at the detach")
				default:
				}
			}
		})
	}
}
