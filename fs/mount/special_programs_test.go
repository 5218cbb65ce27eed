package mount_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// makeSpecials is the script TestSpecialPrograms makes its tree with, in
// the directory it runs in: coreutils' mkfifo, mknod, ln, chmod, chown
// and touch, and perl to bind a unix socket.
const makeSpecials = `set -e
umask 022
mkdir made made/dev made/run
mkfifo -m 0640 made/run/fifo
mkfifo made/run/fifo.plain
mknod made/run/fifo2 p
mknod -m 0666 made/dev/null c 1 3
mknod -m 0600 made/dev/max c 4095 1048575
mknod -m 0660 made/dev/sda1 b 8 1
mknod -m 0640 made/dev/nvme b 259 74565
ln made/run/fifo made/fifo.link
ln made/dev/sda1 made/run/sda1.link
(cd made/run && perl -MIO::Socket::UNIX -e 'IO::Socket::UNIX->new(Local => "sock", Listen => 1) or die "bind: $!\n"')
ln made/run/sock made/sock.link
echo data > made/file
ln -s run/fifo made/lnk
chmod 4640 made/dev/nvme
chmod 2755 made/dev
chmod 1777 made/run
chown 65534:65534 made/run/fifo made/dev/null
chown 0:6 made/dev/sda1
chown -h 1000:1000 made/lnk
find made -depth -exec touch -h -d @1600000000.123456789 {} +
`

// listSpecials describes the tree at dir as find and stat see it: each
// path's type, mode, owner, link count, size and mtime, and devices'
// numbers, sorted by path. Directories' sizes are left out: tmpfs counts
// 20 bytes an entry, the model nothing (see specialWatch.describe).
func listSpecials(t testing.TB, environ []string, dir string) []string {
	t.Helper()
	out := run(t, environ, dir, "find", ".", "-mindepth", "1",
		"(", "-type", "d", "-printf", "%p %y %m %U %G %n - %T@\n", ")", "-o", "-printf", "%p %y %m %U %G %n %s %T@\n")
	out += run(t, environ, dir, "find", ".", "(", "-type", "c", "-o", "-type", "b", ")",
		"-exec", "stat", "-c", "%n device %t:%T", "{}", "+")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	slices.Sort(lines)
	return lines
}

// sameListing fails t unless got is want, saying what differs.
func sameListing(t testing.TB, what string, want, got []string) {
	t.Helper()
	if !slices.Equal(want, got) {
		t.Errorf("%s differs:\n%s", what, diffLines(strings.Join(want, "\n"), strings.Join(got, "\n")))
	}
}

// TestSpecialPrograms: mkfifo, mknod and a socket bound by perl make the
// same tree in the mount as on a nodev tmpfs; tar archives it alike from
// both (GNU tar skips the socket, from both) and extracts it alike into
// both; cp -a and rsync -a copy it, devices, fifos, sockets and hard
// links, into the mount and back out unchanged.
func TestSpecialPrograms(t *testing.T) {
	tar := needProgram(t, "tar", "tar")
	cp := needProgram(t, "cp", "coreutils")
	rsync := needProgram(t, "rsync", "rsync")
	needProgram(t, "perl", "perl")
	m := mountDefault(t)
	ref := mountTmpfs(t)
	e := env(t)
	for _, d := range []string{ref, m.Dir} {
		run(t, e, d, "bash", "-c", makeSpecials)
	}
	want := listSpecials(t, e, filepath.Join(ref, "made"))
	for _, line := range []string{
		"./dev/max c 600 0 0 1 0 1600000000.1234567890",
		"./dev/max device fff:fffff",
		"./dev/nvme device 103:12345",
		"./dev/sda1 b 660 0 6 2 0 1600000000.1234567890",
		"./run/sock s 755 0 0 2 0 1600000000.1234567890",
		"./fifo.link p 640 65534 65534 2 0 1600000000.1234567890",
	} {
		if !slices.Contains(want, line) {
			t.Fatalf("the tree on tmpfs lacks %q:\n%s", line, strings.Join(want, "\n"))
		}
	}
	sameListing(t, "the tree made in the mount", want, listSpecials(t, e, filepath.Join(m.Dir, "made")))

	// tar -c of each, byte for byte (without atime and ctime, and with
	// extended headers named without a pid); tar -x of tmpfs's into both.
	out := t.TempDir()
	archive := func(dir, name string) []byte {
		t.Helper()
		file := filepath.Join(out, name)
		run(t, e, dir, tar, "--sort=name", "--format=posix",
			"--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime", "-cf", file, "made")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	refTar, mountTar := archive(ref, "ref.tar"), archive(m.Dir, "mount.tar")
	if !bytes.Equal(refTar, mountTar) {
		t.Errorf("tar of the mount's tree differs from tmpfs's:\n%s",
			diffLines(run(t, e, out, tar, "-tvf", "ref.tar"), run(t, e, out, tar, "-tvf", "mount.tar")))
	}
	// GNU tar skips sockets ("socket ignored"), and archives each name
	// of a fifo or device as a node of its own, without hard links: what
	// it extracts, on tmpfs as on ext4, has them each with one link.
	var untarred []string
	for _, l := range want {
		f := strings.Fields(l)
		switch f[1] {
		case "s":
		case "p", "c", "b":
			f[5] = "1"
			untarred = append(untarred, strings.Join(f, " "))
		default:
			untarred = append(untarred, l)
		}
	}
	for _, d := range []string{ref, m.Dir} {
		if err := os.Mkdir(filepath.Join(d, "tar"), 0o755); err != nil {
			t.Fatal(err)
		}
		run(t, e, filepath.Join(d, "tar"), tar, "-xf", filepath.Join(out, "ref.tar"))
	}
	extracted := listSpecials(t, e, filepath.Join(ref, "tar", "made"))
	sameListing(t, "tar -x on tmpfs", untarred, extracted)
	sameListing(t, "tar -x into the mount", extracted, listSpecials(t, e, filepath.Join(m.Dir, "tar", "made")))

	// cp -a in and back out.
	run(t, e, m.Dir, cp, "-a", filepath.Join(ref, "made"), "cp")
	sameListing(t, "cp -a into the mount", want, listSpecials(t, e, filepath.Join(m.Dir, "cp")))
	run(t, e, m.Dir, cp, "-a", "cp", filepath.Join(ref, "cpback"))
	sameListing(t, "cp -a out of the mount", want, listSpecials(t, e, filepath.Join(ref, "cpback")))

	// rsync in and back out; a second run finds nothing to do.
	rs := []string{"-a", "-H", "--specials", "--devices"}
	run(t, e, m.Dir, rsync, append(rs, filepath.Join(ref, "made")+"/", "rsync/")...)
	sameListing(t, "rsync into the mount", want, listSpecials(t, e, filepath.Join(m.Dir, "rsync")))
	run(t, e, m.Dir, rsync, append(rs, "rsync/", filepath.Join(ref, "rsyncback")+"/")...)
	sameListing(t, "rsync out of the mount", want, listSpecials(t, e, filepath.Join(ref, "rsyncback")))
	if got := run(t, e, m.Dir, rsync, append(rs, "--itemize-changes", filepath.Join(ref, "made")+"/", "rsync/")...); got != "" {
		t.Errorf("a second rsync into the mount changed: %q", got)
	}
}
