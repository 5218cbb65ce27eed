package mount_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/mount"
)

// The special files (fifos, sockets, character and block devices) are
// tested against Linux itself: the same script of POSIX operations runs
// on the mount and on a tmpfs, as root and as nobody, and every step's
// errno and every change it makes to any inode's lstat must be the same
// on both. The script runs in a child process (the test binary again,
// with specialScriptEnv set; see TestMain), so it can run as another
// user and so the process serving the mount makes no calls into it.

// specialScriptEnv makes the test binary run a special-file script:
// MURMUR_TEST_SPECIAL=PHASE:DIR runs the steps of specialScripts[PHASE]
// in DIR and writes one JSON specialResult a step to file descriptor 3.
const specialScriptEnv = "MURMUR_TEST_SPECIAL"

// specialStep is one operation of a script. want is the outcome POSIX
// (as Linux has it) gives: "ok" or an errno's name; do returns, besides
// its error, what it read (a listing, bytes through a pipe), if anything.
type specialStep struct {
	name string
	want string
	do   func(d string) (string, error)
	// io is set on a step that passes bytes through a fifo, whose
	// times only the kernel can set (see TestSpecialPosix).
	io bool
}

func step(name, want string, do func(string) (string, error)) specialStep {
	return specialStep{name: name, want: want, do: do}
}

func ioStep(name, want string, do func(string) (string, error)) specialStep {
	return specialStep{name: name, want: want, do: do, io: true}
}

// specialResult is what a child reports of a step: its outcome ("ok",
// "ok: what it read", or an errno's name), and a line for each path whose
// lstat the step changed (specialWatch.changes).
type specialResult struct {
	Step    string
	Outcome string
	Changes []string
}

// Times the scripts set explicitly, which the transcript shows as they
// are; any other time shows as "=" (unchanged by the step) or "now" (set
// by the step to the time it ran).
var (
	tsA  = unix.Timespec{Sec: 1_234_567_890, Nsec: 123_456_789}
	tsB  = unix.Timespec{Sec: -1_000_000, Nsec: 999_999_999} // 1969
	tsC  = unix.Timespec{Sec: 2_000_000_000, Nsec: 500_000_000}
	tsD  = unix.Timespec{Sec: 1_500_000_000}
	now  = unix.Timespec{Nsec: unix.UTIME_NOW}
	omit = unix.Timespec{Nsec: unix.UTIME_OMIT}
)

// The operations scripts are made of, each returning a specialStep's do.

func opMknod(name string, mode uint32, dev uint64) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Mknod(filepath.Join(d, name), mode, int(dev)) }
}

func opMkfifo(name string, mode uint32) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Mkfifo(filepath.Join(d, name), mode) }
}

func opMkdir(name string, mode uint32) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Mkdir(filepath.Join(d, name), mode) }
}

func opCreate(name, data string) func(string) (string, error) {
	return func(d string) (string, error) {
		fd, err := unix.Open(filepath.Join(d, name), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
		if err != nil {
			return "", err
		}
		defer unix.Close(fd)
		_, err = unix.Write(fd, []byte(data))
		return "", err
	}
}

func opSymlink(target, name string) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Symlink(target, filepath.Join(d, name)) }
}

func opChmod(name string, mode uint32) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Chmod(filepath.Join(d, name), mode) }
}

func opChown(name string, uid, gid int) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Chown(filepath.Join(d, name), uid, gid) }
}

func opLchown(name string, uid, gid int) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Lchown(filepath.Join(d, name), uid, gid) }
}

func opLink(from, to string) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Link(filepath.Join(d, from), filepath.Join(d, to)) }
}

func opRename(from, to string, flags uint) func(string) (string, error) {
	return func(d string) (string, error) {
		return "", unix.Renameat2(unix.AT_FDCWD, filepath.Join(d, from), unix.AT_FDCWD, filepath.Join(d, to), flags)
	}
}

func opUnlink(name string) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Unlink(filepath.Join(d, name)) }
}

func opUtimes(name string, atime, mtime unix.Timespec, flags int) func(string) (string, error) {
	return func(d string) (string, error) {
		return "", unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(d, name), []unix.Timespec{atime, mtime}, flags)
	}
}

func opTruncate(name string, size int64) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Truncate(filepath.Join(d, name), size) }
}

// opOpen opens name with flags and closes it again.
func opOpen(name string, flags int) func(string) (string, error) {
	return func(d string) (string, error) {
		fd, err := unix.Open(filepath.Join(d, name), flags|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", err
		}
		return "", unix.Close(fd)
	}
}

// opSetxattr sets attribute attr of name (of a symlink itself if l).
func opSetxattr(name, attr, value string, flags int, l bool) func(string) (string, error) {
	return func(d string) (string, error) {
		set := unix.Setxattr
		if l {
			set = unix.Lsetxattr
		}
		return "", set(filepath.Join(d, name), attr, []byte(value), flags)
	}
}

func opGetxattr(name, attr string) func(string) (string, error) {
	return func(d string) (string, error) {
		b := make([]byte, 256)
		n, err := unix.Getxattr(filepath.Join(d, name), attr, b)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%q", b[:n]), nil
	}
}

// opListxattr lists name's attributes (a symlink's own if l).
func opListxattr(name string, l bool) func(string) (string, error) {
	return func(d string) (string, error) {
		list := unix.Listxattr
		if l {
			list = unix.Llistxattr
		}
		b := make([]byte, 4096)
		n, err := list(filepath.Join(d, name), b)
		if err != nil {
			return "", err
		}
		names := strings.Split(strings.TrimSuffix(string(b[:n]), "\x00"), "\x00")
		slices.Sort(names)
		return fmt.Sprintf("%q", names), nil
	}
}

func opRemovexattr(name, attr string) func(string) (string, error) {
	return func(d string) (string, error) { return "", unix.Removexattr(filepath.Join(d, name), attr) }
}

// opFifo opens fifo rname for reading and wname (the same fifo, or a hard
// link to it) for writing, both without blocking, and passes bytes from
// one to the other: the kernel serves a fifo itself, whatever the
// filesystem.
func opFifo(wname, rname string) func(string) (string, error) {
	return func(d string) (string, error) {
		r, err := unix.Open(filepath.Join(d, rname), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", err
		}
		defer unix.Close(r)
		w, err := unix.Open(filepath.Join(d, wname), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", err
		}
		defer unix.Close(w)
		if _, err := unix.Write(w, []byte("through the pipe")); err != nil {
			return "", err
		}
		b := make([]byte, 64)
		n, err := unix.Read(r, b)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("read %q", b[:n]), nil
	}
}

// opBind binds a unix socket to name, connects to it through the
// filesystem, passes a byte each way, and closes both ends, leaving the
// socket's inode behind.
func opBind(name string) func(string) (string, error) {
	return func(d string) (string, error) {
		p := filepath.Join(d, name)
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: p, Net: "unix"})
		if err != nil {
			return "", err
		}
		l.SetUnlinkOnClose(false)
		defer l.Close()
		l.SetDeadline(time.Now().Add(10 * time.Second))
		served := make(chan error, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				served <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			b := make([]byte, 1)
			if _, err := io.ReadFull(c, b); err != nil {
				served <- err
				return
			}
			_, err = c.Write([]byte{b[0] + 1})
			served <- err
		}()
		got, err := dialAndPass(p)
		if err != nil {
			return "", err
		}
		if err := <-served; err != nil {
			return "", err
		}
		return got, nil
	}
}

// opConnect connects to the unix socket name, which must refuse.
func opConnect(name string) func(string) (string, error) {
	return func(d string) (string, error) { return dialAndPass(filepath.Join(d, name)) }
}

// dialAndPass connects to the socket at p, sends 'a' and reads a byte.
func dialAndPass(p string) (string, error) {
	c, err := net.Dial("unix", p)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("a")); err != nil {
		return "", err
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return "", err
	}
	return fmt.Sprintf("passed a, got %q", b), nil
}

// The scripts. The root script leaves what the nobody script works on
// (pub, a directory anyone may write in, sticky, the same with the
// sticky bit, and root's fifos in them). Both run with umask 022.
var specialScripts = map[string][]specialStep{
	"root": {
		// mknod(2) of each type, and mkfifo(3).
		step("mknod S_IFIFO 0666 fifo", "ok", opMknod("fifo", unix.S_IFIFO|0o666, 0)),
		step("mknod S_IFIFO with a device number", "ok", opMknod("fifo.rdev", unix.S_IFIFO|0o600, unix.Mkdev(8, 1))),
		step("mknod S_IFSOCK sock", "ok", opMknod("sock", unix.S_IFSOCK|0o640, 0)),
		step("mknod S_IFCHR 1:3", "ok", opMknod("chr", unix.S_IFCHR|0o666, unix.Mkdev(1, 3))),
		step("mknod S_IFCHR 4095:1048575 (the largest)", "ok", opMknod("chr.max", unix.S_IFCHR|0o600, unix.Mkdev(4095, 1<<20-1))),
		step("mknod S_IFCHR 0:0", "ok", opMknod("chr.zero", unix.S_IFCHR|0o600, 0)),
		step("mknod S_IFCHR 4096:1 (wider than the kernel's dev_t)", "ok", opMknod("chr.wide", unix.S_IFCHR|0o600, unix.Mkdev(4096, 1))),
		step("mknod S_IFBLK 8:1", "ok", opMknod("blk", unix.S_IFBLK|0o660, unix.Mkdev(8, 1))),
		step("mknod S_IFBLK 259:74565", "ok", opMknod("blk.big", unix.S_IFBLK|0o600, unix.Mkdev(259, 0x12345))),
		step("mknod S_IFBLK 4095:0", "ok", opMknod("blk.max", unix.S_IFBLK|0o600, unix.Mkdev(4095, 0))),
		step("mknod without a type: a regular file", "ok", opMknod("plain", 0o644, 0)),
		step("create reg", "ok", opCreate("reg", "data")),
		step("mknod S_IFIFO over a fifo", "EEXIST", opMknod("fifo", unix.S_IFIFO|0o644, 0)),
		step("mknod S_IFCHR over a regular file", "EEXIST", opMknod("reg", unix.S_IFCHR|0o644, unix.Mkdev(1, 3))),
		step("mkfifo over a socket", "EEXIST", opMkfifo("sock", 0o644)),
		step("mknod S_IFDIR", "EPERM", opMknod("dir", unix.S_IFDIR|0o755, 0)),
		step("mknod S_IFLNK", "EINVAL", opMknod("lnk", unix.S_IFLNK|0o777, 0)),
		step("mknod of an unknown type", "EINVAL", opMknod("bogus", 0o030000|0o644, 0)),
		step("mkfifo fifo2", "ok", opMkfifo("fifo2", 0o666)),
		step("bind sock.bound, connect and pass a byte", "ok: passed a, got \"b\"", opBind("sock.bound")),
		step("bind over an existing socket", "EADDRINUSE", opBind("sock.bound")),
		step("connect to a socket nobody listens on", "ECONNREFUSED", opConnect("sock.bound")),
		step("connect to a socket made by mknod", "ECONNREFUSED", opConnect("sock")),
		step("connect to a fifo", "ECONNREFUSED", opConnect("fifo")),

		// chmod, with setuid, setgid and sticky.
		step("chmod fifo 07755", "ok", opChmod("fifo", 0o7755)),
		step("chmod chr 04600", "ok", opChmod("chr", 0o4600)),
		step("chmod sock 01777", "ok", opChmod("sock", 0o1777)),
		step("chmod blk 02640", "ok", opChmod("blk", 0o2640)),
		step("chmod chr.max 02070", "ok", opChmod("chr.max", 0o2070)),
		step("chmod reg 06755", "ok", opChmod("reg", 0o6755)),
		step("chmod fifo.rdev 0", "ok", opChmod("fifo.rdev", 0)),

		// chown and lchown, which drop setuid and setgid as Linux says.
		step("lchown fifo 65534:65534", "ok", opLchown("fifo", nobody, nobody)),
		step("chown chr 65534:65534", "ok", opChown("chr", nobody, nobody)),
		step("lchown sock -1:65534", "ok", opLchown("sock", -1, nobody)),
		step("chown reg 65534:65534", "ok", opChown("reg", nobody, nobody)),
		step("chown blk 0:0 (no change of owner)", "ok", opChown("blk", 0, 0)),
		step("chown chr.max 0:65534", "ok", opChown("chr.max", 0, nobody)),
		step("chown -1:-1 chr.zero", "ok", opChown("chr.zero", -1, -1)),

		// link: a second name, nlink 2 on both.
		step("link fifo fifo.link", "ok", opLink("fifo", "fifo.link")),
		step("link sock sock.link", "ok", opLink("sock", "sock.link")),
		step("link chr chr.link", "ok", opLink("chr", "chr.link")),
		step("link blk blk.link", "ok", opLink("blk", "blk.link")),
		step("link sock.bound sock.bound.link", "ok", opLink("sock.bound", "sock.bound.link")),
		step("link over an existing name", "EEXIST", opLink("fifo", "chr")),
		step("link into a missing directory", "ENOENT", opLink("fifo", "missing/fifo")),

		// rename and renameat2.
		step("rename fifo.link over sock.link (special over special)", "ok", opRename("fifo.link", "sock.link", 0)),
		step("rename chr.link over reg (over a regular file)", "ok", opRename("chr.link", "reg", 0)),
		step("renameat2 fifo2 blk RENAME_EXCHANGE", "ok", opRename("fifo2", "blk", unix.RENAME_EXCHANGE)),
		step("renameat2 chr.max blk RENAME_NOREPLACE", "EEXIST", opRename("chr.max", "blk", unix.RENAME_NOREPLACE)),
		step("renameat2 chr.max chr.moved RENAME_NOREPLACE", "ok", opRename("chr.max", "chr.moved", unix.RENAME_NOREPLACE)),
		step("rename fifo over its own hard link", "ok", opRename("fifo", "sock.link", 0)),
		step("renameat2 RENAME_EXCHANGE with a missing name", "ENOENT", opRename("fifo", "missing", unix.RENAME_EXCHANGE)),
		step("mkdir dir", "ok", opMkdir("dir", 0o777)),
		step("rename fifo over a directory", "EISDIR", opRename("fifo", "dir", 0)),
		step("rename a directory over fifo", "ENOTDIR", opRename("dir", "fifo", 0)),
		step("renameat2 dir chr.wide RENAME_EXCHANGE", "ok", opRename("dir", "chr.wide", unix.RENAME_EXCHANGE)),
		step("renameat2 chr.wide/x RENAME_EXCHANGE back", "ok", opRename("chr.wide", "dir", unix.RENAME_EXCHANGE)),
		step("rename chr.wide into dir", "ok", opRename("chr.wide", "dir/chr.wide", 0)),

		// utimensat, explicit and UTIME_NOW and UTIME_OMIT, following
		// symlinks and not.
		step("utimensat fifo explicit times", "ok", opUtimes("fifo", tsA, tsB, 0)),
		step("utimensat chr.moved UTIME_NOW UTIME_OMIT", "ok", opUtimes("chr.moved", now, omit, 0)),
		step("utimensat blk UTIME_OMIT explicit", "ok", opUtimes("blk", omit, tsC, 0)),
		step("utimensat sock AT_SYMLINK_NOFOLLOW", "ok", opUtimes("sock", tsD, tsA, unix.AT_SYMLINK_NOFOLLOW)),
		step("symlink lnk -> fifo", "ok", opSymlink("fifo", "lnk")),
		step("utimensat lnk AT_SYMLINK_NOFOLLOW: the link's times", "ok", opUtimes("lnk", tsC, tsD, unix.AT_SYMLINK_NOFOLLOW)),
		step("utimensat lnk: fifo's times", "ok", opUtimes("lnk", tsB, tsC, 0)),
		step("utimensat fifo UTIME_OMIT UTIME_OMIT", "ok", opUtimes("fifo", omit, omit, 0)),
		step("utimensat blk.max UTIME_NOW UTIME_NOW", "ok", opUtimes("blk.max", now, now, 0)),
		step("utimensat a missing name", "ENOENT", opUtimes("missing", tsA, tsA, 0)),
		step("lchown lnk 65534:65534: the link's owner", "ok", opLchown("lnk", nobody, nobody)),
		step("chown lnk 0:0: fifo's owner", "ok", opChown("lnk", 0, 0)),

		// truncate and opens with O_TRUNC.
		step("truncate fifo 0", "EINVAL", opTruncate("fifo", 0)),
		step("truncate fifo 10", "EINVAL", opTruncate("fifo", 10)),
		step("truncate sock", "EINVAL", opTruncate("sock", 0)),
		step("truncate chr.moved", "EINVAL", opTruncate("chr.moved", 0)),
		step("truncate blk.max", "EINVAL", opTruncate("blk.max", 0)),
		step("truncate lnk (fifo)", "EINVAL", opTruncate("lnk", 0)),
		step("open fifo O_WRONLY|O_TRUNC without a reader", "ENXIO", opOpen("fifo", unix.O_WRONLY|unix.O_TRUNC|unix.O_NONBLOCK)),

		// Opens: the kernel serves fifos and refuses devices (nodev)
		// and sockets.
		ioStep("fifo: a reader and a writer pass bytes", "ok: read \"through the pipe\"", opFifo("fifo", "fifo")),
		ioStep("fifo: writer on one hard link, reader on the other", "ok: read \"through the pipe\"", opFifo("sock.link", "fifo")),
		ioStep("fifo: through a symlink", "ok: read \"through the pipe\"", opFifo("lnk", "fifo")),
		step("fifo O_RDWR", "ok", opOpen("fifo", unix.O_RDWR)),
		step("open chr O_RDONLY (nodev)", "EACCES", opOpen("chr", unix.O_RDONLY)),
		step("open chr.zero O_WRONLY (nodev)", "EACCES", opOpen("chr.zero", unix.O_WRONLY)),
		step("open blk.big O_RDWR (nodev)", "EACCES", opOpen("blk.big", unix.O_RDWR)),
		step("open chr O_PATH", "ok", opOpen("chr", unix.O_PATH)),
		step("open sock O_RDONLY", "ENXIO", opOpen("sock", unix.O_RDONLY)),

		// xattrs: Linux keeps user.* to regular files and directories.
		step("setxattr user.* on a fifo", "EPERM", opSetxattr("fifo", "user.murmur", "v", 0, false)),
		step("getxattr user.* on a fifo", "ENODATA", opGetxattr("fifo", "user.murmur")),
		step("removexattr user.* on a fifo", "EPERM", opRemovexattr("fifo", "user.murmur")),
		step("setxattr user.* on a char device", "EPERM", opSetxattr("chr.moved", "user.murmur", "v", 0, false)),
		step("setxattr user.* on a socket", "EPERM", opSetxattr("sock", "user.murmur", "v", 0, false)),
		step("lsetxattr user.* on a symlink", "EPERM", opSetxattr("lnk", "user.murmur", "v", 0, true)),
		step("setxattr user.* on a regular file", "ok", opSetxattr("plain", "user.murmur", "v", 0, false)),
		step("setxattr trusted.* on a fifo", "ok", opSetxattr("fifo", "trusted.murmur", "fifo's", 0, false)),
		step("getxattr trusted.* on a fifo", "ok: \"fifo's\"", opGetxattr("fifo", "trusted.murmur")),
		step("setxattr trusted.* on a block device", "ok", opSetxattr("blk.big", "trusted.murmur", "blk", 0, false)),
		step("setxattr trusted.* on a socket XATTR_CREATE", "ok", opSetxattr("sock", "trusted.murmur", "sock", unix.XATTR_CREATE, false)),
		step("setxattr XATTR_CREATE again", "EEXIST", opSetxattr("sock", "trusted.murmur", "sock", unix.XATTR_CREATE, false)),
		step("setxattr XATTR_REPLACE of a missing one", "ENODATA", opSetxattr("sock", "trusted.other", "x", unix.XATTR_REPLACE, false)),
		step("lsetxattr trusted.* on a symlink", "ok", opSetxattr("lnk", "trusted.murmur", "lnk's", 0, true)),
		step("listxattr fifo", "ok: [\"trusted.murmur\"]", opListxattr("fifo", false)),
		step("llistxattr lnk", "ok: [\"trusted.murmur\"]", opListxattr("lnk", true)),
		step("removexattr trusted.* on a fifo", "ok", opRemovexattr("fifo", "trusted.murmur")),
		step("listxattr fifo, none left", "ok: [\"\"]", opListxattr("fifo", false)),

		// What the nobody script works on.
		step("mkdir pub", "ok", opMkdir("pub", 0o777)),
		step("chmod pub 0777", "ok", opChmod("pub", 0o777)),
		step("mkdir sticky", "ok", opMkdir("sticky", 0o777)),
		step("chmod sticky 01777", "ok", opChmod("sticky", 0o1777)),
		step("mknod pub/rootfifo", "ok", opMknod("pub/rootfifo", unix.S_IFIFO|0o666, 0)),
		step("chmod pub/rootfifo 0666", "ok", opChmod("pub/rootfifo", 0o666)),
		step("mknod pub/rootfifo.ro", "ok", opMknod("pub/rootfifo.ro", unix.S_IFIFO|0o644, 0)),
		step("mknod sticky/rootfifo", "ok", opMknod("sticky/rootfifo", unix.S_IFIFO|0o644, 0)),
		step("chmod sticky/rootfifo 0666", "ok", opChmod("sticky/rootfifo", 0o666)),
		step("mknod pub/nobodys", "ok", opMknod("pub/nobodys", unix.S_IFIFO|0o644, 0)),
		step("chown pub/nobodys 65534:0", "ok", opChown("pub/nobodys", nobody, 0)),
		step("setxattr trusted.* on pub/rootfifo", "ok", opSetxattr("pub/rootfifo", "trusted.murmur", "root's", 0, false)),

		// unlink: the inode goes with its last name.
		step("unlink fifo (sock.link stays)", "ok", opUnlink("fifo")),
		step("unlink chr.zero", "ok", opUnlink("chr.zero")),
		step("unlink sock.bound (sock.bound.link stays)", "ok", opUnlink("sock.bound")),
		step("unlink blk.link", "ok", opUnlink("blk.link")),
		step("unlink a missing name", "ENOENT", opUnlink("missing")),
		step("unlink a directory", "EISDIR", opUnlink("dir")),
	},
	"nobody": {
		step("mknod S_IFIFO pub/nfifo", "ok", opMknod("pub/nfifo", unix.S_IFIFO|0o666, 0)),
		step("mknod S_IFSOCK pub/nsock", "ok", opMknod("pub/nsock", unix.S_IFSOCK|0o644, 0)),
		step("mknod S_IFCHR (needs CAP_MKNOD)", "EPERM", opMknod("pub/nchr", unix.S_IFCHR|0o644, unix.Mkdev(1, 3))),
		step("mknod S_IFBLK (needs CAP_MKNOD)", "EPERM", opMknod("pub/nblk", unix.S_IFBLK|0o644, unix.Mkdev(8, 1))),
		step("mknod S_IFIFO in the root", "ok", opMknod("top.nfifo", unix.S_IFIFO|0o600, 0)),
		step("mkfifo pub/nfifo2", "ok", opMkfifo("pub/nfifo2", 0o666)),
		step("bind pub/nbound, connect and pass a byte", "ok: passed a, got \"b\"", opBind("pub/nbound")),
		step("connect to root's 0755 socket", "EACCES", opConnect("sock.bound.link")),

		step("chmod pub/nfifo 07755", "ok", opChmod("pub/nfifo", 0o7755)),
		step("chmod pub/nobodys 02755 (not in its group)", "ok", opChmod("pub/nobodys", 0o2755)),
		step("chmod root's pub/rootfifo", "EPERM", opChmod("pub/rootfifo", 0o600)),

		step("chown pub/nfifo 0:0", "EPERM", opChown("pub/nfifo", 0, 0)),
		step("chown pub/nfifo -1:0 (not its group)", "EPERM", opChown("pub/nfifo", -1, 0)),
		step("chown pub/nfifo -1:65534 (its own group)", "ok", opChown("pub/nfifo", -1, nobody)),
		step("chown pub/nobodys -1:65534", "ok", opChown("pub/nobodys", -1, nobody)),
		step("lchown pub/nsock 65534:-1", "ok", opLchown("pub/nsock", nobody, -1)),
		step("chown root's pub/rootfifo to itself", "EPERM", opChown("pub/rootfifo", nobody, nobody)),

		step("link root's pub/rootfifo (protected_hardlinks)", "EPERM", opLink("pub/rootfifo", "pub/nlink")),
		step("link pub/nfifo pub/nfifo.link", "ok", opLink("pub/nfifo", "pub/nfifo.link")),
		step("link pub/nsock pub/nsock.link", "ok", opLink("pub/nsock", "pub/nsock.link")),

		step("rename pub/nfifo.link over pub/nsock.link", "ok", opRename("pub/nfifo.link", "pub/nsock.link", 0)),
		step("rename root's pub/rootfifo pub/moved", "ok", opRename("pub/rootfifo", "pub/moved", 0)),
		step("rename root's sticky/rootfifo (sticky)", "EPERM", opRename("sticky/rootfifo", "sticky/x", 0)),
		step("renameat2 pub/nfifo pub/nfifo2 RENAME_EXCHANGE", "ok", opRename("pub/nfifo", "pub/nfifo2", unix.RENAME_EXCHANGE)),
		step("renameat2 pub/nsock pub/nfifo RENAME_NOREPLACE", "EEXIST", opRename("pub/nsock", "pub/nfifo", unix.RENAME_NOREPLACE)),
		step("mknod S_IFIFO sticky/nfifo", "ok", opMknod("sticky/nfifo", unix.S_IFIFO|0o644, 0)),
		step("rename sticky/nfifo sticky/nfifo.r", "ok", opRename("sticky/nfifo", "sticky/nfifo.r", 0)),
		step("rename pub/nfifo2 over root's sock.link", "ok", opRename("pub/nfifo2", "sock.link", 0)),

		step("utimensat own pub/nfifo explicit", "ok", opUtimes("pub/nfifo", tsA, tsB, 0)),
		step("utimensat root's pub/moved explicit", "EPERM", opUtimes("pub/moved", tsA, tsB, 0)),
		step("utimensat root's writable pub/moved UTIME_NOW", "ok", opUtimes("pub/moved", now, now, 0)),
		step("utimensat root's pub/rootfifo.ro UTIME_NOW", "EACCES", opUtimes("pub/rootfifo.ro", now, now, 0)),
		step("utimensat root's pub/moved UTIME_NOW UTIME_OMIT", "EPERM", opUtimes("pub/moved", now, omit, 0)),
		step("utimensat own pub/nsock AT_SYMLINK_NOFOLLOW", "ok", opUtimes("pub/nsock", tsC, tsD, unix.AT_SYMLINK_NOFOLLOW)),

		step("truncate pub/nfifo", "EINVAL", opTruncate("pub/nfifo", 0)),
		ioStep("fifo: root's writable pub/moved passes bytes", "ok: read \"through the pipe\"", opFifo("pub/moved", "pub/moved")),
		step("open root's pub/rootfifo.ro for writing", "EACCES", opOpen("pub/rootfifo.ro", unix.O_WRONLY|unix.O_NONBLOCK)),
		step("open chr.moved (nodev)", "EACCES", opOpen("chr.moved", unix.O_RDONLY)),

		step("setxattr trusted.* (needs CAP_SYS_ADMIN)", "EPERM", opSetxattr("pub/nfifo", "trusted.murmur", "v", 0, false)),
		step("getxattr root's trusted.*", "ENODATA", opGetxattr("pub/moved", "trusted.murmur")),
		step("listxattr root's fifo with trusted.*", "ok: [\"\"]", opListxattr("pub/moved", false)),
		step("setxattr user.* on own fifo", "EPERM", opSetxattr("pub/nfifo", "user.murmur", "v", 0, false)),
		step("getxattr user.* on own fifo", "ENODATA", opGetxattr("pub/nfifo", "user.murmur")),

		step("unlink root's sticky/rootfifo (sticky)", "EPERM", opUnlink("sticky/rootfifo")),
		step("unlink root's pub/moved", "ok", opUnlink("pub/moved")),
		step("unlink pub/nbound", "ok", opUnlink("pub/nbound")),
		step("unlink pub/nsock (pub/nsock.link stays)", "ok", opUnlink("pub/nsock")),
		step("unlink sticky/nfifo.r", "ok", opUnlink("sticky/nfifo.r")),
	},
}

// runSpecialScript is the child's side (TestMain): it runs the script
// specialScriptEnv names and reports each step on file descriptor 3.
func runSpecialScript() int {
	phase, dir, _ := strings.Cut(os.Getenv(specialScriptEnv), ":")
	steps, ok := specialScripts[phase]
	if !ok {
		fmt.Fprintf(os.Stderr, "no script %q\n", phase)
		return 2
	}
	unix.Umask(0o022)
	out := json.NewEncoder(os.NewFile(3, "results"))
	w := &specialWatch{dir: dir, byIno: map[uint64]unix.Stat_t{}, labels: map[uint64]int{}}
	if _, err := w.walk(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	last := time.Now()
	for _, s := range steps {
		// Each step starts on a later tick of the kernel's coarse
		// clock than the last ended, so a time a step sets is always
		// distinguishable from one it kept.
		start, err := coarseAfter(last)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		got, err := s.do(dir)
		last = time.Now()
		changes, werr := w.changes(start, last.UnixNano())
		if werr != nil {
			fmt.Fprintln(os.Stderr, werr)
			return 1
		}
		if err := out.Encode(specialResult{Step: s.name, Outcome: outcome(got, err), Changes: changes}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// coarseAfter waits until the kernel's coarse realtime clock, which
// tmpfs stamps times with, reads later than t, and returns its reading.
func coarseAfter(t time.Time) (int64, error) {
	deadline := time.Now().Add(time.Second)
	for {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_REALTIME_COARSE, &ts); err != nil {
			return 0, err
		}
		if ts.Nano() > t.UnixNano() {
			return ts.Nano(), nil
		}
		if time.Now().After(deadline) {
			return 0, errors.New("the coarse clock did not move in a second")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// outcome is how a step's result shows in the transcript: "ok", "ok:
// what it read", or the errno's name (any other error as its text).
func outcome(got string, err error) string {
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			return unix.ErrnoName(errno)
		}
		return err.Error()
	}
	if got != "" {
		return "ok: " + got
	}
	return "ok"
}

// specialWatch describes every inode under dir, step after step.
type specialWatch struct {
	dir    string
	last   map[string]unix.Stat_t // by path, as of the last step
	byIno  map[uint64]unix.Stat_t // by inode number, as last seen
	labels map[uint64]int         // inode number -> label, in order of appearance
}

// walk returns the lstat of every path under w.dir, dir itself as ".".
func (w *specialWatch) walk() (map[string]unix.Stat_t, error) {
	sts := map[string]unix.Stat_t{}
	err := filepath.WalkDir(w.dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		rel, _ := filepath.Rel(w.dir, p)
		sts[rel] = st
		return nil
	})
	if w.last == nil {
		w.last = sts
	}
	return sts, err
}

// changes returns a line for each path whose lstat changed since the
// last call: new, gone, or with other attributes or times. The step ran
// between start and end.
func (w *specialWatch) changes(start, end int64) ([]string, error) {
	sts, err := w.walk()
	if err != nil {
		return nil, err
	}
	paths := slices.Collect(maps.Keys(sts))
	for p := range w.last {
		if _, ok := sts[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []string
	for _, p := range paths {
		st, ok := sts[p]
		prev, had := w.last[p]
		switch {
		case !ok:
			out = append(out, p+": gone")
		case !had || prev.Ino != st.Ino:
			// A name new to its inode (a link, a rename) compares the
			// inode's times with the inode's, if it was seen before.
			var was *unix.Stat_t
			if old, ok := w.byIno[st.Ino]; ok {
				was = &old
			}
			out = append(out, p+": "+w.describe(st, was, start, end))
		default:
			if d := w.describe(st, &prev, start, end); d != w.describe(prev, &prev, start, end) {
				out = append(out, p+": "+d)
			}
		}
	}
	w.last = sts
	for _, st := range sts {
		w.byIno[st.Ino] = st
	}
	return out, nil
}

// describe is a path's line: its type, permission bits, owner, link
// count, device number, size, st_blocks, inode (as a label, so hard links
// show as one), and times, each "=" if as in prev, "now" if set to the
// time of the step, or the explicit time a step set.
//
// What the comparison leaves out, with tmpfs's reasons: st_dev and
// st_ino, which name a filesystem's own numbering; st_blksize, the
// preferred I/O size; and a directory's st_size and st_blocks, which
// tmpfs reports as 20 bytes an entry while the model, like ext4's 4 KiB
// blocks, has no size of entries to report.
func (w *specialWatch) describe(st unix.Stat_t, prev *unix.Stat_t, start, end int64) string {
	label, ok := w.labels[st.Ino]
	if !ok {
		label = len(w.labels) + 1
		w.labels[st.Ino] = label
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %04o %d:%d nlink=%d", typeName(st.Mode), st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
	if st.Rdev != 0 || st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFBLK {
		fmt.Fprintf(&b, " rdev=%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		fmt.Fprintf(&b, " size=%d blocks=%d", st.Size, st.Blocks)
	}
	fmt.Fprintf(&b, " i%d", label)
	for _, tt := range []struct {
		name     string
		cur, was unix.Timespec
	}{{"a", st.Atim, prevTime(prev, 0)}, {"m", st.Mtim, prevTime(prev, 1)}, {"c", st.Ctim, prevTime(prev, 2)}} {
		fmt.Fprintf(&b, " %s=%s", tt.name, timeWord(tt.cur, tt.was, prev != nil, start, end))
	}
	return b.String()
}

func prevTime(prev *unix.Stat_t, i int) unix.Timespec {
	if prev == nil {
		return unix.Timespec{}
	}
	return [...]unix.Timespec{prev.Atim, prev.Mtim, prev.Ctim}[i]
}

// timeWord is how a time shows in the transcript (see describe).
func timeWord(cur, was unix.Timespec, had bool, start, end int64) string {
	switch {
	case had && cur == was:
		return "="
	case slices.Contains([]unix.Timespec{tsA, tsB, tsC, tsD}, cur):
		return fmt.Sprintf("%d.%09d", cur.Sec, cur.Nsec)
	case cur.Nano() >= start && cur.Nano() <= end:
		return "now"
	}
	return fmt.Sprintf("unexpected(%d.%09d)", cur.Sec, cur.Nsec)
}

func typeName(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "sock"
	case unix.S_IFCHR:
		return "chr"
	case unix.S_IFBLK:
		return "blk"
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFLNK:
		return "lnk"
	case unix.S_IFREG:
		return "reg"
	}
	return fmt.Sprintf("type%#o", mode&unix.S_IFMT)
}

// mountTmpfs mounts a tmpfs anyone may write in on a temporary directory,
// with the mount's flags: nodev, and nosuid and noatime so that neither
// side's times move on reads; it is unmounted when the test ends.
func mountTmpfs(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOATIME, "mode=0777"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount tmpfs: %v", err)
			unix.Unmount(dir, unix.MNT_DETACH)
		}
	})
	if !mountInfo(t, dir).has("nodev") {
		t.Fatalf("tmpfs on %s is not nodev", dir)
	}
	return dir
}

// othersExe returns a copy of the test binary that any user may run: go
// test keeps it in a directory private to root.
func othersExe(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), "mount.test")
	writeFile(t, exe, b, 0o755)
	openUp(t, exe)
	return exe
}

// runSpecial runs script phase in dir as uid (and gid) and returns its
// results.
func runSpecial(t testing.TB, exe, phase, dir string, uid uint32) []specialResult {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), specialScriptEnv+"="+phase+":"+dir)
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var res []specialResult
	dec := json.NewDecoder(r)
	for {
		var sr specialResult
		if err := dec.Decode(&sr); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("script %s in %s: %v", phase, dir, err)
		}
		res = append(res, sr)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("script %s in %s: %v\n%s", phase, dir, err, stderr.Bytes())
	}
	if len(res) != len(specialScripts[phase]) {
		t.Fatalf("script %s in %s: %d results for %d steps\n%s", phase, dir, len(res), len(specialScripts[phase]), stderr.Bytes())
	}
	return res
}

// TestSpecialPosix runs the special-file scripts, as root then as nobody,
// on the mount and on a nodev tmpfs: each step must give the outcome
// POSIX gives, on both, and change the same attributes of the same
// inodes in the same way on both.
func TestSpecialPosix(t *testing.T) {
	m := newMount(t, fs.Config{RootMode: 0o777}, mount.Options{AllowOther: true})
	openUp(t, m.Dir)
	ref := mountTmpfs(t)
	openUp(t, ref)
	exe := othersExe(t)
	for _, phase := range []struct {
		name string
		uid  uint32
	}{{"root", 0}, {"nobody", nobody}} {
		want := runSpecial(t, exe, phase.name, ref, phase.uid)
		got := runSpecial(t, exe, phase.name, m.Dir, phase.uid)
		for i, s := range specialScripts[phase.name] {
			w, g := want[i], got[i]
			if w.Outcome != s.want {
				t.Errorf("%s: %q on tmpfs: %s, want %s (the script is wrong)", phase.name, s.name, w.Outcome, s.want)
			}
			if s.io && g.Outcome == w.Outcome && len(g.Changes) == 0 && onlyWriteStamps(w.Changes) {
				// The kernel serves a fifo's reads and writes itself,
				// and tmpfs stamps the fifo's mtime and ctime as it is
				// written. A FUSE inode is S_NOCMTIME: the kernel
				// leaves its times to the filesystem, which never hears
				// of a fifo's bytes, so on the mount they stay.
				continue
			}
			if g.Outcome != w.Outcome || !slices.Equal(g.Changes, w.Changes) {
				t.Errorf("%s: %q differs from tmpfs:\nmount: %s\n\t%s\ntmpfs: %s\n\t%s", phase.name, s.name,
					g.Outcome, strings.Join(g.Changes, "\n\t"), w.Outcome, strings.Join(w.Changes, "\n\t"))
			}
		}
		if testing.Verbose() {
			for _, r := range got {
				t.Logf("%s: %s: %s\n\t%s", phase.name, r.Step, r.Outcome, strings.Join(r.Changes, "\n\t"))
			}
		}
	}
}

// onlyWriteStamps reports whether changes are only fifos' mtimes and
// ctimes set by a write, and there is at least one.
func onlyWriteStamps(changes []string) bool {
	for _, c := range changes {
		if !strings.Contains(c, ": fifo ") || !strings.HasSuffix(c, " a== m=now c=now") {
			return false
		}
	}
	return len(changes) > 0
}
