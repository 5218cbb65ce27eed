package mount

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// fusectl is where the FUSE control filesystem is mounted: a directory
// per connection, named by its device number, whose file abort ends it.
const fusectl = "/sys/fs/fuse/connections"

// Detach ends the mount at once, even while programs use it, without
// waiting for them: it detaches the mount from its directory (umount2
// with MNT_DETACH as root, else fusermount3 -u -z), so no program can
// enter it any more, and aborts its FUSE connection, so the requests of
// the programs still in it fail with ENOTCONN instead of reaching the
// Tree, and Wait returns. Aborting needs the FUSE control filesystem at
// /sys/fs/fuse/connections, which Detach mounts as root when it is
// missing; without it the connection lasts until the last program leaves
// the mount, and Detach says so in its error. Unmount after Detach does
// nothing.
func (s *Server) Detach() error {
	s.detached.Store(true)
	var errs []error
	// EINVAL: it was not mounted there any more, as after an umount from
	// outside; the connection may still be open.
	if err := lazyUnmount(s.dir); err != nil && !errors.Is(err, syscall.EINVAL) {
		errs = append(errs, fmt.Errorf("mount: detach %s: %w", s.dir, err))
	}
	if err := s.abort(); err != nil {
		errs = append(errs, fmt.Errorf("mount: abort the connection of %s: %w", s.dir, err))
	}
	return errors.Join(errs...)
}

// abort aborts the mount's FUSE connection through the control
// filesystem, mounting that first if it is missing and this is root. A
// connection already gone is no error.
func (s *Server) abort() error {
	if s.conn == "" {
		return errors.New("its device number is unknown")
	}
	path := filepath.Join(fusectl, s.conn, "abort")
	err := writeAbort(path)
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	mounted, err := fusectlMounted()
	switch {
	case err != nil:
		return err
	case mounted:
		return nil // the connection is gone already
	case os.Geteuid() != 0:
		return fmt.Errorf("the FUSE control filesystem is not mounted at %s (mount -t fusectl fusectl %s), so the mount lasts until its last program leaves it", fusectl, fusectl)
	}
	if err := syscall.Mount("fusectl", fusectl, "fusectl", 0, ""); err != nil {
		return fmt.Errorf("mount the FUSE control filesystem at %s: %w", fusectl, err)
	}
	if s.opts.Logger != nil {
		s.opts.Logger.Info("mount: mounted the FUSE control filesystem, to abort a connection", "dir", fusectl)
	}
	if err := writeAbort(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// writeAbort writes to a connection's abort file, which aborts it.
func writeAbort(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("1"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fusectlMounted reports whether the FUSE control filesystem is mounted.
func fusectlMounted() (bool, error) {
	mounts, err := readMounts()
	if err != nil {
		return false, err
	}
	e, ok := topMountAt(mounts, fusectl)
	return ok && e.FSType == "fusectl", nil
}

// connectionOf returns the name of the FUSE connection of the mount at
// dir in the control filesystem: its device number as the kernel encodes
// it (major << 20 | minor).
func connectionOf(dir string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return "", err
	}
	return strconv.FormatUint(uint64(unix.Major(st.Dev))<<20|uint64(unix.Minor(st.Dev)), 10), nil
}
