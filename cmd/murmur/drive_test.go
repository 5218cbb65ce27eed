package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/node"
)

// mountProcess is `murmur mount` running as its own OS process.
type mountProcess struct {
	dir    string
	cmd    *exec.Cmd
	out    *syncBuffer
	killed bool
	exited chan error
}

// syncBuffer is a bytes.Buffer safe for a process to write while a test
// reads it.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// murmurCmd returns the murmur command as a process of the test binary.
func murmurCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MURMUR_RUN_MAIN=1")
	return cmd
}

// startMount mounts a drive at mnt with `murmur mount` and waits until the
// mount serves.
func startMount(t *testing.T, mnt string, args ...string) *mountProcess {
	t.Helper()
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := murmurCmd(append([]string{"mount"}, append(args, mnt)...)...)
	out := newSyncBuffer()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	p := &mountProcess{dir: mnt, cmd: cmd, out: out, exited: exited}
	t.Cleanup(func() { p.stop(t) })
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for !mounted(mnt) {
		select {
		case err := <-exited:
			p.killed = true
			t.Fatalf("murmur mount exited (%v):\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("murmur mount did not mount %s:\n%s", mnt, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return p
}

// mounted reports whether a FUSE filesystem is mounted at dir.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == dir && strings.Contains(line, "fuse") {
			return true
		}
	}
	return false
}

// stop interrupts the mount, which unmounts, uploads and exits.
func (p *mountProcess) stop(t *testing.T) {
	if p.killed {
		syscall.Unmount(p.dir, syscall.MNT_DETACH)
		return
	}
	p.killed = true
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.exited:
		if err != nil {
			t.Errorf("murmur mount of %s: %v\n%s", p.dir, err, p.out.String())
		}
	case <-time.After(2 * time.Minute):
		t.Errorf("murmur mount of %s did not stop:\n%s", p.dir, p.out.String())
	}
	syscall.Unmount(p.dir, syscall.MNT_DETACH)
}

// kill SIGKILLs the mount process; the kernel's mount is then dead, and
// is detached.
func (p *mountProcess) kill() {
	p.killed = true
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
	for range 100 {
		if syscall.Kill(p.cmd.Process.Pid, 0) != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Unmount(p.dir, syscall.MNT_DETACH)
}

// startCloudProcesses starts n node processes of one cloud and returns
// their folders and processes.
func startCloudProcesses(t *testing.T, n int) ([]string, []*nodeProcess) {
	dirs, secret := initCloud(t, n)
	procs := []*nodeProcess{startNode(t, dirs[0])}
	a, _ := peer.AddrInfoToP2pAddrs(&procs[0].info)
	invite := node.Invite{Secret: secret, Addrs: a}.String()
	for _, d := range dirs[1:] {
		procs = append(procs, startNode(t, d, "--join", invite))
	}
	return dirs, procs
}

func writeSecret(t *testing.T, s string) string {
	f := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(f, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// fileBytes is file i's contents in the crash test: seeded, so a check
// can recompute them.
func fileBytes(i, size int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 77))
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(r.Uint32())
	}
	copy(b, fmt.Sprintf("MURMUR-PLAINTEXT-MARKER-%04d", i))
	return b
}

// TestDriveAcrossProcesses is the drive's end-to-end test with every part
// a real process: eight nodes, a mount SIGKILLed in the middle of a copy
// and mounted again, two storage nodes SIGKILLed during a copy, a second
// node mounting the same drive, a wrong passphrase, and a member without
// the key looking for plaintext in what it stores.
func TestDriveAcrossProcesses(t *testing.T) {
	dirs, procs := startCloudProcesses(t, 8)
	pass := writeSecret(t, "correct horse battery staple")
	out, err := murmurCmd("drive", "create", "--dir", dirs[0], "--name", "home", "--passphrase-file", pass).CombinedOutput()
	if err != nil {
		t.Fatalf("drive create: %v\n%s", err, out)
	}
	pub := strings.Fields(strings.SplitN(string(out), ": ", 2)[1])[0]

	// Mount, copy files with an fsync after each, SIGKILL the mount in
	// the middle of the copy.
	mnt := filepath.Join(t.TempDir(), "cloud")
	m := startMount(t, mnt, "--dir", dirs[0], "--passphrase-file", pass)
	const size = 3<<20 + 4321
	if err := os.Mkdir(filepath.Join(mnt, "docs"), 0o755); err != nil {
		t.Fatal(err)
	}
	synced := 0
	for i := range 6 {
		f, err := os.Create(filepath.Join(mnt, "docs", fmt.Sprintf("file-%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(fileBytes(i, size)); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		synced++
	}
	// The next file is in the middle of its copy, not fsynced, when the
	// mount dies.
	half, err := os.Create(filepath.Join(mnt, "docs", "file-6"))
	if err != nil {
		t.Fatal(err)
	}
	half.Write(fileBytes(6, size)[:size/2])
	m.kill()
	half.Close()

	m = startMount(t, mnt, "--dir", dirs[0], "--passphrase-file", pass)
	for i := range synced {
		got, err := os.ReadFile(filepath.Join(mnt, "docs", fmt.Sprintf("file-%d", i)))
		if err != nil {
			t.Fatalf("fsynced file %d after the crash: %v", i, err)
		}
		if !bytes.Equal(got, fileBytes(i, size)) {
			t.Fatalf("fsynced file %d differs after the crash (%d bytes)", i, len(got))
		}
	}
	if got, err := os.ReadFile(filepath.Join(mnt, "docs", "file-6")); err == nil {
		if !bytes.HasPrefix(fileBytes(6, size), got) {
			t.Fatalf("the file cut short by the crash is not a prefix of what was written (%d bytes)", len(got))
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}

	// Kill m=2 storage nodes in the middle of another copy: the user sees
	// nothing of it.
	for i := 10; i < 16; i++ {
		if i == 12 {
			procs[5].kill()
			procs[6].kill()
		}
		if err := os.WriteFile(filepath.Join(mnt, fmt.Sprintf("more-%d", i)), fileBytes(i, 1<<20), 0o644); err != nil {
			t.Fatalf("write with two nodes down: %v", err)
		}
	}
	for i := 10; i < 16; i++ {
		got, err := os.ReadFile(filepath.Join(mnt, fmt.Sprintf("more-%d", i)))
		if err != nil || !bytes.Equal(got, fileBytes(i, 1<<20)) {
			t.Fatalf("more-%d with two nodes down: %v", i, err)
		}
	}

	// Unmount: everything is committed; a second node mounts the drive by
	// its public key and passphrase alone and reads it all from peers.
	m.stop(t)
	if s := m.out.String(); !strings.Contains(s, "mounted at") {
		t.Fatalf("mount output: %s", s)
	}
	other := filepath.Join(t.TempDir(), "cloud")
	m2 := startMount(t, other, "--dir", dirs[1], "--drive", pub, "--passphrase-file", pass)
	for i := range synced {
		got, err := os.ReadFile(filepath.Join(other, "docs", fmt.Sprintf("file-%d", i)))
		if err != nil || !bytes.Equal(got, fileBytes(i, size)) {
			t.Fatalf("the second node reads docs/file-%d: %v", i, err)
		}
	}
	for i := 10; i < 16; i++ {
		got, err := os.ReadFile(filepath.Join(other, fmt.Sprintf("more-%d", i)))
		if err != nil || !bytes.Equal(got, fileBytes(i, 1<<20)) {
			t.Fatalf("the second node reads more-%d: %v", i, err)
		}
	}

	// While the second node holds the writer lease, the first mounts
	// read-only, and is told why.
	ro := filepath.Join(t.TempDir(), "ro")
	m3 := startMount(t, ro, "--dir", dirs[0], "--passphrase-file", pass)
	if s := m3.out.String(); !strings.Contains(s, "read-only") {
		t.Fatalf("a second writer was not told it is read-only: %s", s)
	}
	if err := os.WriteFile(filepath.Join(ro, "nope"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write on the read-only mount: %v", err)
	}
	// It follows the writer's changes within seconds.
	if err := os.WriteFile(filepath.Join(other, "from-second"), []byte("hello from the second node"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(ro, "from-second"))
		if err == nil && string(b) == "hello from the second node" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the read-only mount did not follow the writer: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	m3.stop(t)
	m2.stop(t)

	// Every commit is a snapshot: the oldest (the drive as made) mounts
	// read-only and is empty; restoring it makes the drive empty again,
	// as a new snapshot.
	out, err = murmurCmd("snapshot", "list", "--json", "--dir", dirs[1], "--drive", pub, "--passphrase-file", pass).CombinedOutput()
	if err != nil {
		t.Fatalf("snapshot list: %v\n%s", err, out)
	}
	var snaps []struct{ Gen uint64 }
	if err := json.Unmarshal(out, &snaps); err != nil || len(snaps) < 3 || snaps[len(snaps)-1].Gen != 1 {
		t.Fatalf("snapshot list: %v\n%s", err, out)
	}
	old := filepath.Join(t.TempDir(), "old")
	m4 := startMount(t, old, "--dir", dirs[1], "--drive", pub, "--passphrase-file", pass, "--snapshot", "1")
	if entries, err := os.ReadDir(old); err != nil || len(entries) != 0 {
		t.Fatalf("snapshot 1 shows %d entries, %v", len(entries), err)
	}
	m4.stop(t)
	out, err = murmurCmd("snapshot", "restore", "--dir", dirs[1], "--drive", pub, "--passphrase-file", pass, "1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "restored") {
		t.Fatalf("snapshot restore: %v\n%s", err, out)
	}
	m5 := startMount(t, other, "--dir", dirs[1], "--drive", pub, "--passphrase-file", pass)
	if entries, err := os.ReadDir(other); err != nil || len(entries) != 0 {
		t.Fatalf("after restoring snapshot 1 the drive shows %d entries, %v", len(entries), err)
	}
	m5.stop(t)

	// A mount whose node goes away cannot upload at unmount: it says what
	// is kept where, and exits non-zero.
	lone := filepath.Join(t.TempDir(), "lone")
	m6 := startMount(t, lone, "--dir", dirs[3], "--drive", pub, "--passphrase-file", pass)
	if err := os.WriteFile(filepath.Join(lone, "stranded"), []byte("kept locally"), 0o644); err != nil {
		t.Fatal(err)
	}
	procs[3].kill()
	m6.killed = true
	m6.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-m6.exited:
		if err == nil || !strings.Contains(m6.out.String(), "not in the cloud yet") || !strings.Contains(m6.out.String(), "kept in") {
			t.Errorf("unmount with the node gone: %v\n%s", err, m6.out.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("unmount with the node gone did not end:\n%s", m6.out.String())
	}
	syscall.Unmount(lone, syscall.MNT_DETACH)

	// A wrong passphrase is refused, clearly, with the exit code for it.
	wrong := writeSecret(t, "wrong")
	cmd := murmurCmd("mount", "--dir", dirs[2], "--drive", pub, "--passphrase-file", wrong, filepath.Join(t.TempDir(), "x"))
	out, err = cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitAuth || !strings.Contains(string(out), "passphrase") {
		t.Fatalf("wrong passphrase: %v\n%s", err, out)
	}

	// A member without the key holds only ciphertext: no file's bytes and
	// no name appear anywhere in what the nodes store (the mount's own
	// state directory, on the mounting machine, is plaintext by design).
	for _, d := range dirs {
		filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				if e != nil && e.IsDir() && e.Name() == "mounts" {
					return filepath.SkipDir
				}
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, s := range []string{"MURMUR-PLAINTEXT-MARKER", "from-second", "file-3"} {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("%s holds %q in plaintext", p, s)
				}
			}
			return nil
		})
	}
}
