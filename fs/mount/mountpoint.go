package mount

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Errors of PrepareMountpoint.
var (
	// ErrMounted: a live filesystem is already mounted on the directory.
	ErrMounted = errors.New("already mounted")
	// ErrNotEmpty: the directory holds files, which a mount would hide.
	ErrNotEmpty = errors.New("not empty")
)

// errNoAnswer: a statfs of the directory did not return within
// probeTimeout.
var errNoAnswer = errors.New("does not answer")

// probeTimeout bounds how long PrepareMountpoint waits for a FUSE mount
// to answer a statfs: one whose server is alive but stuck never does.
const probeTimeout = 5 * time.Second

// PrepareMountpoint makes dir ready to be mounted on. A dead FUSE mount
// there, whose serving process died (statfs gives ENOTCONN), is detached,
// and log says so; several stacked dead mounts all are. A live mount there,
// of a drive or of anything else, is refused with ErrMounted, and a
// directory with files in it with ErrNotEmpty unless nonempty. A missing
// dir is no error: the caller makes it. log may be nil.
func PrepareMountpoint(dir string, nonempty bool, log *slog.Logger) error {
	dir = filepath.Clean(dir)
	names := []string{dir}
	if parent, err := filepath.EvalSymlinks(filepath.Dir(dir)); err == nil {
		names = append(names, filepath.Join(parent, filepath.Base(dir)))
	}
	// Each round detaches one dead mount; a few crashed mounts may be
	// stacked on the same directory.
	for range 16 {
		mounts, err := readMounts()
		if err != nil {
			return err
		}
		var top mountEntry
		var found bool
		for _, name := range names {
			if top, found = topMountAt(mounts, name); found {
				break
			}
		}
		err = probe(dir)
		switch {
		case errors.Is(err, syscall.ENOTCONN) && found && top.fuse():
			if err := lazyUnmount(top.Point); err != nil {
				return fmt.Errorf("mount: detach the dead mount at %s: %w", dir, err)
			}
			if log != nil {
				log.Warn("detached a dead FUSE mount (its serving process had died)", "dir", dir, "type", top.FSType)
			}
			continue
		case errors.Is(err, syscall.ENOTCONN):
			return fmt.Errorf("mount: %s is in a dead FUSE mount: unmount that (umount -l, or fusermount3 -u -z): %w", dir, err)
		case errors.Is(err, errNoAnswer):
			return fmt.Errorf("mount: %w", err)
		case found && top.FSType == "fuse."+DefaultName:
			return fmt.Errorf("mount: a drive is %w at %s: unmount it first (Ctrl-C the murmur serving it, or umount %s)", ErrMounted, dir, dir)
		case found:
			return fmt.Errorf("mount: something is %w at %s (a %s filesystem from %s): unmount it first, or choose another folder", ErrMounted, dir, top.FSType, top.Source)
		case errors.Is(err, os.ErrNotExist):
			return nil
		case err != nil:
			return fmt.Errorf("mount: %w", err)
		}
		return checkEmpty(dir, nonempty)
	}
	return fmt.Errorf("mount: %s: too many dead mounts stacked there", dir)
}

// checkEmpty refuses a directory with files in it, unless nonempty.
func checkEmpty(dir string, nonempty bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("mount: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	switch {
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("mount: %s is not a directory", dir)
	case err != nil && err != io.EOF:
		return fmt.Errorf("mount: %w", err)
	case len(names) > 0 && !nonempty:
		return fmt.Errorf("mount: %s is %w: mounting there would hide its files until unmount", dir, ErrNotEmpty)
	}
	return nil
}

// probe asks the filesystem at dir whether it lives, with statfs(2): a
// stat may be answered from attributes the kernel cached before the
// server died, but a FUSE statfs always reaches the server, and fails
// with ENOTCONN when it is gone. It gives up after probeTimeout on a
// mount whose server does not answer (the call itself stays blocked in
// the kernel).
func probe(dir string) error {
	done := make(chan error, 1)
	go func() {
		var st syscall.Statfs_t
		done <- syscall.Statfs(dir, &st)
	}()
	select {
	case err := <-done:
		if err != nil {
			return &os.PathError{Op: "statfs", Path: dir, Err: err}
		}
		return nil
	case <-time.After(probeTimeout):
		return fmt.Errorf("%s %w within %v: the server of the mount there is stuck (umount -l %s detaches it)", dir, errNoAnswer, probeTimeout, dir)
	}
}

// lazyUnmount detaches the mount at dir even while it is in use: with
// umount2(MNT_DETACH) as root, else with fusermount3 -u -z.
func lazyUnmount(dir string) error {
	err := syscall.Unmount(dir, syscall.MNT_DETACH)
	if err == nil || os.Geteuid() == 0 || !errors.Is(err, syscall.EPERM) {
		return err
	}
	out, ferr := exec.Command("fusermount3", "-u", "-z", dir).CombinedOutput()
	if ferr != nil {
		return fmt.Errorf("fusermount3 -u -z: %v: %s", ferr, out)
	}
	return nil
}
