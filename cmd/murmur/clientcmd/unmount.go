package clientcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/murmur-cloud/murmur/fs/mount"
)

const (
	// busyFor is how long an unmount waits for the programs using the
	// mount before it detaches it.
	busyFor = time.Minute
	// busyPoll is how often it tries again meanwhile, and looks at who
	// still holds the mount.
	busyPoll = time.Second
	// abortWait bounds the wait for the FUSE server to stop once its
	// connection is aborted.
	abortWait = 5 * time.Second
)

// unmountOrDetach unmounts srv once no program uses it. While programs
// do, it names them and tries again; a second Ctrl-C (or SIGTERM), or
// busyFor of trying, detaches the mount instead, without waiting for
// them. unmounted is closed when srv's server has stopped.
func unmountOrDetach(srv *mount.Server, unmounted <-chan struct{}, out io.Writer) error {
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	return unmountWhileBusy(srv, unmounted, again, busyFor, out)
}

// unmountWhileBusy is unmountOrDetach with the second interrupt and the
// deadline given.
func unmountWhileBusy(srv *mount.Server, unmounted <-chan struct{}, again <-chan os.Signal, deadline time.Duration, out io.Writer) error {
	select {
	case <-unmounted:
		return nil
	default:
	}
	giveUp := time.NewTimer(deadline)
	defer giveUp.Stop()
	poll := time.NewTicker(busyPoll)
	defer poll.Stop()
	told := ""
	for {
		err := srv.Unmount()
		if err == nil {
			// The kernel has let go; the server's loop ends once it reads
			// that, a moment later. Returning before would let the caller
			// close what the server still uses.
			<-unmounted
			return nil
		}
		if !errors.Is(err, syscall.EBUSY) {
			fmt.Fprintf(out, "%v: detaching the mount\n", err)
			return detach(srv, unmounted)
		}
		if msg := busyMessage(srv.Dir()); msg != told {
			fmt.Fprintln(out, msg)
			told = msg
		}
		select {
		case <-unmounted:
			return nil
		case <-again:
			fmt.Fprintf(out, "detaching %s; programs still using it get errors\n", srv.Dir())
			return detach(srv, unmounted)
		case <-giveUp.C:
			fmt.Fprintf(out, "%s is still busy after %v: detaching it; programs still using it get errors\n", srv.Dir(), deadline)
			return detach(srv, unmounted)
		case <-poll.C:
		}
	}
}

// busyMessage says who keeps the mount at dir busy, and what to do.
func busyMessage(dir string) string {
	holders, _ := mount.Holders(dir)
	if len(holders) == 0 {
		return fmt.Sprintf("%s is busy (a program has a file open in it, or is in it); close it, or press Ctrl-C again to detach", dir)
	}
	names := make([]string, len(holders))
	for i, h := range holders {
		names[i] = h.String()
	}
	them := "them"
	if len(holders) == 1 {
		them = "it"
	}
	return fmt.Sprintf("%s is busy: %s; close %s, or press Ctrl-C again to detach", dir, strings.Join(names, ", "), them)
}

// detach detaches srv's mount and aborts its connection, then waits
// (briefly) for its server to stop. The programs still in the mount are
// not waited for.
func detach(srv *mount.Server, unmounted <-chan struct{}) error {
	if err := srv.Detach(); err != nil {
		return err
	}
	select {
	case <-unmounted:
		return nil
	case <-time.After(abortWait):
		return fmt.Errorf("the server of %s did not stop within %v of its connection's abort", srv.Dir(), abortWait)
	}
}
