package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// TestMain lets tests run the murmur command as a separate process: the
// test binary, started with MURMUR_RUN_MAIN=1, is murmur.
func TestMain(m *testing.M) {
	if os.Getenv("MURMUR_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// nodeProcess is `murmur node` running as its own OS process.
type nodeProcess struct {
	dir  string
	cmd  *exec.Cmd
	info peer.AddrInfo
}

func startNode(t *testing.T, dir string, args ...string) *nodeProcess {
	t.Helper()
	return startNodeWith(t, dir, nil, args...)
}

// startNodeWith is startNode with setup called on the command before it
// starts (to give it an environment or a standard input).
func startNodeWith(t *testing.T, dir string, setup func(*exec.Cmd), args ...string) *nodeProcess {
	t.Helper()
	addrFile := filepath.Join(dir, "addrs")
	os.Remove(addrFile)
	// No mDNS: it would multicast on the machine's own network.
	cmd := exec.Command(os.Args[0], append([]string{"node", "--dir", dir, "--addr-file", addrFile, "--no-mdns"}, args...)...)
	cmd.Env = append(os.Environ(), "MURMUR_RUN_MAIN=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if setup != nil {
		setup(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &nodeProcess{dir: dir, cmd: cmd}
	t.Cleanup(func() { p.kill() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil && bytes.HasSuffix(b, []byte("\n")) {
			a, err := multiaddr.NewMultiaddr(strings.Fields(string(b))[0])
			if err != nil {
				t.Fatal(err)
			}
			ai, err := peer.AddrInfoFromP2pAddr(a)
			if err != nil {
				t.Fatal(err)
			}
			p.info = *ai
			// The addresses are written before the API listens: wait
			// for it too, so a test may ask the node at once.
			if _, err := client.New(cli.SocketPath(dir)).Status(context.Background()); err == nil {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node in %s did not start: %s", dir, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *nodeProcess) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// initCloud makes n node folders listening on loopback, the first of
// which creates a cloud, and returns them with the cloud's secret.
func initCloud(t *testing.T, n int) ([]string, node.CloudSecret) {
	t.Helper()
	base := t.TempDir()
	var dirs []string
	for i := range n {
		d := filepath.Join(base, fmt.Sprint("n", i))
		if _, err := node.Init(d, node.Setup{Listen: []string{"/ip4/127.0.0.1/tcp/0"}}); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	secret, err := node.CreateCloud(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	return dirs, secret
}

// TestNodesAsProcesses runs six nodes as separate processes, writes a file
// through them, SIGKILLs two, and reads every byte back; a killed node
// restarted on its folder serves its shards again.
func TestNodesAsProcesses(t *testing.T) {
	dirs, secret := initCloud(t, 6)
	procs := []*nodeProcess{startNode(t, dirs[0])}
	a, _ := peer.AddrInfoToP2pAddrs(&procs[0].info)
	invite := node.Invite{Secret: secret, Addrs: a}.String()
	for _, d := range dirs[1:] {
		procs = append(procs, startNode(t, d, "--join", invite))
	}

	// A client node of the same cloud, which stores nothing itself.
	client, err := node.New(node.Config{Dir: t.TempDir(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	for _, p := range procs {
		if err := client.Connect(ctx, p.info); err != nil {
			t.Fatal(err)
		}
	}
	var mk crypt.MasterKey
	rand.Read(mk[:])
	cfg := pipeline.Config{Keys: mk.Keys(crypt.NewDriveID()), K: 4, M: 2}
	data := make([]byte, 12<<20)
	rand.Read(data)
	m, err := pipeline.Write(ctx, cfg, client.Cloud(placement.NewRandom(9)).PeersOnly(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}

	procs[1].kill()
	procs[4].kill()
	r, err := pipeline.NewReader(ctx, cfg, client.Cloud(placement.NewRandom(10)), m)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if _, err := r.WriteTo(&got); err != nil {
		t.Fatalf("read with two nodes SIGKILLed: %v", err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatal("read with two nodes SIGKILLed returned different bytes")
	}

	// Node 1 restarts on its folder (its config remembers the cloud).
	back := startNode(t, dirs[1])
	if back.info.ID != procs[1].info.ID {
		t.Fatal("the restarted node has a new identity")
	}
	if err := client.Connect(ctx, back.info); err != nil {
		t.Fatal(err)
	}
	served := 0
	for _, d := range m.Stripes {
		for _, s := range d.Shards {
			if b, err := client.Remote(back.info.ID).Get(ctx, s.ID); err == nil && s.ID.Verify(b) {
				served++
			}
		}
	}
	if served == 0 {
		t.Fatal("the restarted node serves none of the shards it acknowledged before SIGKILL")
	}
}

// startUp runs `murmur up` as its own process and waits for its API.
func startUp(t *testing.T, dir, mnt string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "up", "--dir", dir, mnt)
	cmd.Env = append(os.Environ(), "MURMUR_RUN_MAIN=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
		}
		syscall.Unmount(mnt, syscall.MNT_DETACH) // a killed up leaves its mount dead
	})
	for deadline := time.Now().Add(30 * time.Second); ; {
		// Up is up once its node answers and its mount is in the status
		// (which the mount answers once its folder is mounted).
		if out, err := run(t, "status", "--dir", dir, "--json"); err == nil && mounted(mnt) && strings.Contains(out, `"mountpoint"`) {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("murmur up did not start: %s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestUp runs murmur up, stores and fetches a file with the CLI and one
// through the drive it mounts, stops it with Ctrl-C, and finds both again
// after a rerun.
func TestUp(t *testing.T) {
	dir := t.TempDir()
	mnt := filepath.Join(t.TempDir(), "cloud")
	up := startUp(t, dir, mnt)
	if err := os.MkdirAll(filepath.Join(mnt, "notes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "notes", "todo.txt"), []byte("water the plants\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(t.TempDir(), "in")
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "put", "--dir", dir, in)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out)
	if ls, err := run(t, "ls", "--dir", dir); err != nil || !strings.Contains(ls, id) {
		t.Fatalf("ls: %q, %v", ls, err)
	}
	if st, err := run(t, "status", "--dir", dir, "--json"); err != nil || !strings.Contains(st, `"peers": 5`) {
		t.Fatalf("status: %q, %v", st, err)
	}
	if st, err := run(t, "status", "--dir", dir); err != nil || !strings.Contains(st, "drive     up at "+mnt) {
		t.Fatalf("status does not show the mounted drive: %q, %v", st, err)
	}
	if st, err := run(t, "status", "--dir", dir); err != nil || !strings.Contains(st, "compute   2 slots, 256MiB a job\n") {
		t.Fatalf("status does not show up's compute slots: %q, %v", st, err)
	}

	up.Process.Signal(os.Interrupt)
	if err := up.Wait(); err != nil {
		t.Fatalf("murmur up after Ctrl-C: %v", err)
	}
	if mounted(mnt) {
		t.Fatal("murmur up stopped and left its drive mounted")
	}
	if _, err := run(t, "ls", "--dir", dir); !errors.Is(err, client.ErrNotRunning) {
		t.Fatalf("ls with the cloud stopped: %v", err)
	}

	startUp(t, dir, mnt)
	if b, err := os.ReadFile(filepath.Join(mnt, "notes", "todo.txt")); err != nil || string(b) != "water the plants\n" {
		t.Fatalf("the drive after a rerun: %q, %v", b, err)
	}
	outFile := filepath.Join(t.TempDir(), "out")
	if _, err := run(t, "get", "--dir", dir, id, outFile); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(outFile)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after a rerun the file reads as %d bytes, %v", len(got), err)
	}
	if _, err := run(t, "get", "--dir", dir, "00", outFile+".2"); !errors.Is(err, client.ErrNoFile) {
		t.Fatalf("get of an unknown ID: %v", err)
	}
	if _, err := os.Lstat(outFile + ".2"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed get left a file: %v", err)
	}
	if st, err := run(t, "status", "--dir", dir); err != nil || !strings.Contains(st, "leases    not renewed yet") {
		t.Fatalf("status: %q, %v", st, err)
	}
	if rm, err := run(t, "rm", "--dir", dir, id); err != nil || !strings.Contains(rm, "removed "+id) {
		t.Fatalf("rm: %q, %v", rm, err)
	}
	if ls, err := run(t, "ls", "--dir", dir); err != nil || strings.Contains(ls, id) {
		t.Fatalf("ls after rm: %q, %v", ls, err)
	}
	if _, err := run(t, "rm", "--dir", dir, id); !errors.Is(err, client.ErrNoFile) {
		t.Fatalf("second rm: %v", err)
	}

	// put takes several paths, a folder's files by their path from its
	// parent; names a terminal cannot show are quoted.
	src := t.TempDir()
	for name, body := range map[string]string{"photos/a.jpg": "a", "photos/sub/b.jpg": "bb", "new\nline": "ccc"} {
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err = run(t, "put", "--dir", dir, filepath.Join(src, "photos"), filepath.Join(src, "new\nline"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		id, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("put of several files printed %q", out)
		}
		ids[name] = id
	}
	if len(ids) != 3 || ids["photos/a.jpg"] == "" || ids["photos/sub/b.jpg"] == "" || ids[`"new\nline"`] == "" {
		t.Fatalf("put of a folder and a file printed %q", out)
	}
	if ls, err := run(t, "ls", "--dir", dir); err != nil || !strings.Contains(ls, `"new\nline"`) || strings.Contains(ls, "new\nline") {
		t.Fatalf("ls does not quote a name with a newline: %q, %v", ls, err)
	}
	if _, err := run(t, "put", "--dir", dir, filepath.Join(src, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("put of a missing file: %v", err)
	}
	// get does not replace a file unless told to.
	if _, err := run(t, "get", "--dir", dir, ids["photos/sub/b.jpg"], outFile); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("get over an existing file: %v", err)
	}
	if got, _ := os.ReadFile(outFile); !bytes.Equal(got, data) {
		t.Fatal("a refused get changed the file there")
	}
	if _, err := run(t, "get", "--dir", dir, "--force", ids["photos/sub/b.jpg"], outFile); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(outFile); string(got) != "bb" {
		t.Fatalf("get --force wrote %q", got)
	}
}

// TestGossipAsProcesses runs twenty nodes as separate processes, in two
// zones, joined through one invite: each estimates the cloud's size
// within 5% and shows it in murmur status.
func TestGossipAsProcesses(t *testing.T) {
	const n = 20
	dirs, secret := initCloud(t, n)
	gossipArgs := func(i int) []string {
		zone := []string{"office", "home"}[i%2]
		return []string{"--gossip-period", "200ms", "--zone", zone}
	}
	first := startNode(t, dirs[0], gossipArgs(0)...)
	a, _ := peer.AddrInfoToP2pAddrs(&first.info)
	invite := node.Invite{Secret: secret, Addrs: a}.String()
	for i, d := range dirs[1:] {
		startNode(t, d, append(gossipArgs(i+1), "--join", invite)...)
	}
	ctx := context.Background()
	sizes := make([]float64, n)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		ok := true
		for i, d := range dirs {
			st, err := client.New(cli.SocketPath(d)).Status(ctx)
			if err != nil {
				t.Fatalf("status of node %d: %v", i, err)
			}
			sizes[i] = st.Gossip.Size
			ok = ok && sizes[i] >= n*0.95 && sizes[i] <= n*1.05
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("size estimates %v, want %d ± 5%%", sizes, n)
		}
	}
	t.Logf("twenty processes estimate %v", sizes)
	out, err := run(t, "status", "--dir", dirs[7])
	if err != nil || !strings.Contains(out, "members   about ") || !strings.Contains(out, "code      k=") {
		t.Fatalf("status: %q, %v", out, err)
	}
	t.Logf("murmur status of one of them:\n%s", out)
}
