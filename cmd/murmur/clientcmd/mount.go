package clientcmd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	mfs "github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// WriterTimeout is how long the kernel caches names and attributes on a
// mount that holds the writer lease.
const WriterTimeout = time.Minute

// MountsDir holds each mount's state directory and status file.
func MountsDir(dir string) string { return filepath.Join(dir, "mounts") }

// CheckFUSE says clearly why this user cannot mount, if it cannot.
func CheckFUSE() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("FUSE is not available: /dev/fuse is missing (load the fuse module, or run where FUSE is allowed)")
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return fmt.Errorf("mounting as a user other than root needs fusermount3: install the fuse3 package (apt-get install fuse3)")
		}
	}
	return nil
}

// mountStatus is what a running mount answers on its status socket, for
// `murmur status`.
type mountStatus struct {
	Mountpoint string `json:"mountpoint"`
	Name       string `json:"name"`
	PID        int    `json:"pid"`
	drive.Status
}

// ServeDrive mounts d at mountpoint and serves it until ctx ends, then
// unmounts and closes d, showing the upload of what is pending. A running
// mount answers `murmur status` on the unix socket statusSock.
func ServeDrive(ctx context.Context, d *drive.Drive, mountpoint, name, statusSock string, o mount.Options, out io.Writer) error {
	if err := CheckFUSE(); err != nil {
		return err
	}
	if err := os.MkdirAll(mountpoint, 0o755); err != nil {
		return err
	}
	st := d.Status()
	o.ReadOnly = o.ReadOnly || !st.Writer
	if st.Writer && o.EntryTimeout == 0 {
		// Every change to the drive comes through this kernel, which
		// updates its caches as it makes it: they may last. A follower's
		// tree moves under it, so it keeps the short defaults, and the
		// invalidations it is sent.
		o.EntryTimeout, o.AttrTimeout, o.NegativeTimeout = WriterTimeout, WriterTimeout, WriterTimeout
	}
	srv, err := mount.Mount(mountpoint, d.Tree(), o)
	if err != nil {
		d.Close(context.Background())
		return fmt.Errorf("mount %s: %w", mountpoint, err)
	}
	d.OnChange(func(changed []mfs.Ino) {
		if changed == nil {
			srv.Invalidate(mfs.RootIno)
			return
		}
		for _, ino := range changed {
			srv.Invalidate(ino)
		}
	})
	mode := "read-write"
	if !st.Writer {
		mode = "read-only: " + st.ReadOnlyWhy
	}
	fmt.Fprintf(out, "drive %s mounted at %s (%s)\nCtrl-C unmounts; changes upload in the background, and at unmount.\n", name, mountpoint, mode)

	// murmur status answers for the mount once it is mounted: before,
	// the status requests (this process serves them) would run beside
	// go-fuse's start-up, whose probe of the mount from this process can
	// deadlock with the garbage collector (a test hung so in CI).
	if statusSock != "" {
		stop, err := serveStatus(statusSock, func() mountStatus {
			return mountStatus{Mountpoint: mountpoint, Name: name, PID: os.Getpid(), Status: d.Status()}
		})
		if err != nil {
			fmt.Fprintf(out, "murmur status will not show this mount: %v\n", err)
		} else {
			defer stop()
		}
	}
	unmounted := make(chan struct{})
	go func() { srv.Wait(); close(unmounted) }()
	select {
	case <-ctx.Done():
	case <-unmounted:
		fmt.Fprintf(out, "%s was unmounted\n", mountpoint)
	}
	if err := unmountOrDetach(srv, unmounted, out); err != nil {
		// Its connection could not be aborted: a program still in the
		// mount may reach the drive until it leaves, or this exits.
		fmt.Fprintln(out, err)
	}
	return closeWithProgress(d, out)
}

// closeWithProgress closes d, drawing the upload of what is pending.
func closeWithProgress(d *drive.Drive, out io.Writer) error {
	st := d.Status()
	if st.PendingBytes == 0 && st.PendingFiles == 0 {
		return d.Close(context.Background())
	}
	total := st.PendingBytes
	p := newUploadProgress(out, isTerminal(out), time.Now, func() (int64, int64) {
		// Files leave PendingBytes when their commit is published; until
		// then the running commit counts what it has uploaded of them.
		s := d.Status()
		return min(total, total-s.PendingBytes+s.UploadDone), total
	})
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	go func() { done <- d.Close(ctx) }()
	return p.follow(done)
}

// MountCommand is `murmur mount DIR`.
func MountCommand() *cli.Command {
	var f openDriveFlags
	var readOnly, allowOther, verbose, nonempty bool
	var snapshot uint64
	var state, set, backupID string
	cache := cli.Size(4 << 30)
	return &cli.Command{
		Name:    "mount",
		Args:    "DIR",
		Summary: "mount a drive at DIR until interrupted",
		Flags: func(fs *flag.FlagSet) {
			f.declare(fs)
			fs.BoolVar(&readOnly, "read-only", false, "mount read-only, without taking the writer lease")
			fs.Uint64Var(&snapshot, "snapshot", 0, "mount snapshot N read-only (see 'murmur snapshot list')")
			fs.BoolVar(&allowOther, "allow-other", false, "let other local users use the mount (permissions still apply)")
			fs.BoolVar(&nonempty, "nonempty", false, NonemptyUsage)
			fs.StringVar(&state, "state", "", "the mount's state directory (default: DIR of the node/mounts/DRIVE)")
			fs.Var(&cache, "cache", "bound on the local cache of uploaded contents")
			fs.BoolVar(&verbose, "v", false, "log debug messages")
			fs.StringVar(&backupID, "backup", "", "mount this snapshot of a backup set read-only (an ID, or latest; see 'murmur snapshots') instead of a drive")
			fs.StringVar(&set, "set", "", "with --backup: the backup set (default: the node's only set)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
			if fs.NArg() != 1 {
				return fmt.Errorf("%w: murmur mount DIR", cli.ErrUsage)
			}
			if err := CheckFUSE(); err != nil {
				return err
			}
			mountpoint, err := filepath.Abs(fs.Arg(0))
			if err != nil {
				return err
			}
			log := cli.NewLogger(slog.LevelInfo, verbose)
			if err := PrepareMountpoint(mountpoint, nonempty, log); err != nil {
				return err
			}
			if backupID != "" {
				return mountBackup(ctx, setFlags{dir: f.dir, set: set, keyFile: f.keyFile, passFile: f.passFile}, backupID, mountpoint,
					mount.Options{AllowOther: allowOther, Logger: log, ReadOnly: true}, log, out)
			}
			pub, _, err := ResolveDrive(f.dir, f.drive)
			if err != nil {
				return err
			}
			id := fmt.Sprintf("%x", []byte(pub))[:16]
			if state == "" && snapshot == 0 {
				state = filepath.Join(MountsDir(f.dir), id)
			}
			cfg := drive.Config{StateDir: state, ReadOnly: readOnly, Snapshot: snapshot, CacheBytes: int64(cache), Logger: log}
			d, _, name, err := f.open(ctx, cfg, out)
			if err != nil {
				return err
			}
			return ServeDrive(ctx, d, mountpoint, name, StatusSocket(f.dir, id), mount.Options{AllowOther: allowOther, Logger: log}, out)
		},
	}
}

// mountBackup mounts a backup snapshot read-only: its tree is a drive
// commit, served like a read-only drive's.
func mountBackup(ctx context.Context, f setFlags, id, mountpoint string, o mount.Options, log *slog.Logger, out io.Writer) error {
	c, keys, e, snaps, err := f.snapshots(ctx, out)
	if err != nil {
		return err
	}
	s, err := backup.Find(snaps, id)
	if err != nil {
		return fmt.Errorf("%w: %v", cli.ErrUsage, err)
	}
	cloud, dk, err := backup.SnapshotDrive(c.Drive(), keys, s.Snapshot)
	if err != nil {
		return err
	}
	d, err := drive.Open(ctx, drive.Config{Keys: dk, Cloud: cloud, ReadOnly: true, Logger: log})
	if err != nil {
		return err
	}
	name := e.Name + "@" + s.ID.Short()
	sock := StatusSocket(f.dir, "backup-"+s.ID.Short())
	return ServeDrive(ctx, d, mountpoint, name, sock, o, out)
}
