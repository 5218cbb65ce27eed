package main

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	"github.com/murmur-cloud/murmur/node"
)

// natWorld is the network of TestHomePeersBehindNAT, made of network
// namespaces: an "internet" (a bridge) with one reachable member on it and
// two home routers, each masquerading (nft) a home LAN with one home PC
// behind it and dropping every connection started from the outside. The
// internet uses 11.0.0.0/24 so that libp2p counts it public; no namespace
// has a way out of the machine.
type natWorld struct {
	inet, pub, r1, r2, h1, h2 string
}

func newNATWorld(t *testing.T) natWorld {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the test suite runs as root: this test makes network namespaces (ip netns)")
	}
	if _, err := exec.LookPath("nft"); err != nil {
		t.Fatal("nft is missing (Debian package nftables): this test builds NAT routers with it")
	}
	id := os.Getpid() % 1000
	name := func(s string) string { return fmt.Sprintf("mnat%d-%s", id, s) }
	w := natWorld{inet: name("inet"), pub: name("pub"), r1: name("r1"), r2: name("r2"), h1: name("h1"), h2: name("h2")}
	sh := func(ns string, args ...string) {
		t.Helper()
		if ns != "" {
			args = append([]string{"-n", ns}, args...)
		}
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	in := func(ns string, args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("in %s: %s: %v: %s", ns, strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{w.inet, w.pub, w.r1, w.r2, w.h1, w.h2} {
		exec.Command("ip", "netns", "del", ns).Run()
		sh("", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		sh(ns, "link", "set", "lo", "up")
	}
	// link joins ns a (interface ia, address aa) and ns b (interface ib).
	link := func(a, ia, aa, b, ib, ab string) {
		sh("", "link", "add", ia, "netns", a, "type", "veth", "peer", "name", ib, "netns", b)
		sh(a, "link", "set", ia, "up")
		sh(b, "link", "set", ib, "up")
		if aa != "" {
			sh(a, "addr", "add", aa, "dev", ia)
		}
		if ab != "" {
			sh(b, "addr", "add", ab, "dev", ib)
		}
	}
	sh(w.inet, "link", "add", "br0", "type", "bridge")
	sh(w.inet, "link", "set", "br0", "up")
	for _, m := range []struct{ ns, addr string }{{w.pub, "11.0.0.1/24"}, {w.r1, "11.0.0.2/24"}, {w.r2, "11.0.0.3/24"}} {
		port := "p" + strings.TrimPrefix(m.ns, fmt.Sprintf("mnat%d-", id))
		link(m.ns, "wan", m.addr, w.inet, port, "")
		sh(w.inet, "link", "set", port, "master", "br0")
	}
	for i, h := range []struct{ r, h string }{{w.r1, w.h1}, {w.r2, w.h2}} {
		n := i + 1
		link(h.r, "lan", fmt.Sprintf("10.%d.0.1/24", n), h.h, "eth0", fmt.Sprintf("10.%d.0.2/24", n))
		sh(h.h, "route", "add", "default", "via", fmt.Sprintf("10.%d.0.1", n))
		in(h.r, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
		rules := `table ip nat {
	chain postrouting { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
}
table ip filter {
	chain forward { type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "lan" oifname "wan" accept
	}
}
`
		cmd := exec.Command("ip", "netns", "exec", h.r, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft in %s: %v: %s", h.r, err, out)
		}
	}
	return w
}

// nsNode is `murmur node` running in a network namespace.
type nsNode struct {
	dir string
	cmd *exec.Cmd
	out *syncBuffer
}

func startNodeIn(t *testing.T, ns, dir string, args ...string) *nsNode {
	t.Helper()
	addrFile := filepath.Join(dir, "addrs")
	os.Remove(addrFile)
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns, os.Args[0], "node", "--dir", dir, "--addr-file", addrFile, "--no-mdns"}, args...)...)
	cmd.Env = append(os.Environ(), "MURMUR_RUN_MAIN=1")
	n := &nsNode{dir: dir, cmd: cmd, out: newSyncBuffer()}
	cmd.Stdout, cmd.Stderr = n.out, n.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("node in %s said:\n%s", ns, n.out.String())
		}
	})
	waitFor(t, 30*time.Second, "node in "+ns+" starts", func() bool {
		b, err := os.ReadFile(addrFile)
		return err == nil && bytes.HasSuffix(b, []byte("\n"))
	})
	return n
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func peersOf(t *testing.T, dir string) []client.Peer {
	t.Helper()
	out, err := run(t, "peers", "--dir", dir, "--json")
	if err != nil {
		return nil
	}
	var ps []client.Peer
	if err := json.Unmarshal([]byte(out), &ps); err != nil {
		t.Fatalf("peers --json: %v: %s", err, out)
	}
	return ps
}

func peerEntry(ps []client.Peer, id peer.ID) (client.Peer, bool) {
	for _, p := range ps {
		if p.ID == id.String() {
			return p, true
		}
	}
	return client.Peer{}, false
}

// TestHomePeersBehindNAT: two home PCs, each behind its own masquerading
// router that refuses connections from outside, and one reachable member.
// The home PCs find each other through the cloud, connect (directly when
// hole punching gets through the routers, else through the member's
// relay), and a file written to a drive on one home PC is stored on the
// other and read back there. The test reports each pair's connection and
// throughput.
func TestHomePeersBehindNAT(t *testing.T) {
	w := newNATWorld(t)
	base := t.TempDir()
	dirs := map[string]string{}
	ids := map[string]peer.ID{}
	for _, n := range []string{"pub", "h1", "h2"} {
		dirs[n] = filepath.Join(base, n)
		id, err := node.Init(dirs[n], node.Setup{Listen: []string{"/ip4/0.0.0.0/tcp/4001"}})
		if err != nil {
			t.Fatal(err)
		}
		ids[n] = id
	}
	secret, err := node.CreateCloud(dirs["pub"])
	if err != nil {
		t.Fatal(err)
	}
	pubAddr, err := multiaddr.NewMultiaddr("/ip4/11.0.0.1/tcp/4001/p2p/" + ids["pub"].String())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"h1", "h2"} {
		if err := node.Join(dirs[n], node.Invite{Secret: secret, Addrs: []multiaddr.Multiaddr{pubAddr}}); err != nil {
			t.Fatal(err)
		}
	}
	startNodeIn(t, w.pub, dirs["pub"], "--reachability", "public")
	startNodeIn(t, w.h1, dirs["h1"])
	startNodeIn(t, w.h2, dirs["h2"])

	// The home PCs reach each other: neither can dial the other's
	// address, so they meet through the cloud.
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range []string{"pub", "h1", "h2"} {
				st, _ := run(t, "status", "--dir", dirs[n], "--json")
				ps, _ := run(t, "peers", "--dir", dirs[n], "--json")
				t.Logf("%s status: %s\n%s peers: %s", n, st, n, ps)
			}
		}
	})
	waitFor(t, 120*time.Second, "the home PCs are connected to each other", func() bool {
		p, ok := peerEntry(peersOf(t, dirs["h1"]), ids["h2"])
		return ok && p.Conn != ""
	})

	// AutoNAT (the members' dial-back service) told each home PC it is
	// behind NAT: that is what made it reserve a slot on the member's relay.
	for _, n := range []string{"h1", "h2"} {
		st, err := client.New(cli.SocketPath(dirs[n])).Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Reachability != "private" {
			t.Fatalf("%s's reachability is %q, want private (found by AutoNAT)", n, st.Reachability)
		}
	}

	// h1 writes a drive; h2 mounts it by its public key and reads it.
	pass := writeSecret(t, "behind two routers")
	out, err := murmurCmd("drive", "create", "--dir", dirs["h1"], "--name", "home", "--passphrase-file", pass).CombinedOutput()
	if err != nil {
		t.Fatalf("drive create: %v\n%s", err, out)
	}
	pub := strings.Fields(strings.SplitN(string(out), ": ", 2)[1])[0]
	const size = 16 << 20
	data := fileBytes(42, size)
	mnt1 := filepath.Join(t.TempDir(), "h1")
	m1 := startMount(t, mnt1, "--dir", dirs["h1"], "--passphrase-file", pass)
	before := trafficByPeer(t, dirs["h1"])
	start := time.Now()
	if err := os.WriteFile(filepath.Join(mnt1, "photos.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	m1.stop(t) // uploads and commits everything
	putTime := time.Since(start)
	afterPut := trafficByPeer(t, dirs["h1"])

	st, err := client.New(cli.SocketPath(dirs["h2"])).Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.StoredBytes == 0 {
		t.Fatalf("the other home PC stores no shards of the file: %+v", st)
	}

	mnt2 := filepath.Join(t.TempDir(), "h2")
	startMount(t, mnt2, "--dir", dirs["h2"], "--drive", pub, "--passphrase-file", pass)
	before2 := trafficByPeer(t, dirs["h2"])
	start = time.Now()
	got, err := os.ReadFile(filepath.Join(mnt2, "photos.bin"))
	getTime := time.Since(start)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the other home PC reads the file back: %v (%d of %d bytes)", err, len(got), size)
	}
	after2 := trafficByPeer(t, dirs["h2"])

	kinds := map[string]string{}
	for _, pair := range [][2]string{{"h1", "pub"}, {"h2", "pub"}, {"h1", "h2"}} {
		p, _ := peerEntry(peersOf(t, dirs[pair[0]]), ids[pair[1]])
		kinds[pair[0]+"-"+pair[1]] = p.Conn
	}
	mbps := func(b int64, d time.Duration) float64 { return float64(b) / d.Seconds() / 1e6 }
	t.Logf("pairs: h1-pub %s, h2-pub %s, h1-h2 %s", kinds["h1-pub"], kinds["h2-pub"], kinds["h1-h2"])
	t.Logf("write on h1 (%d MiB, upload and commit in %v): to pub %.1f MB/s, to h2 %.1f MB/s",
		size>>20, putTime.Round(time.Millisecond),
		mbps(afterPut[ids["pub"]][1]-before[ids["pub"]][1], putTime), mbps(afterPut[ids["h2"]][1]-before[ids["h2"]][1], putTime))
	t.Logf("read on h2 (%d MiB in %v): from pub %.1f MB/s, from h1 %.1f MB/s (a shard h2 holds is read locally); h2 stores %d bytes",
		size>>20, getTime.Round(time.Millisecond),
		mbps(after2[ids["pub"]][0]-before2[ids["pub"]][0], getTime), mbps(after2[ids["h1"]][0]-before2[ids["h1"]][0], getTime), st.StoredBytes)
	if kinds["h1-h2"] == "" {
		t.Fatal("the home PCs are no longer connected")
	}
	if afterPut[ids["h2"]][1]-before[ids["h2"]][1] == 0 {
		t.Fatal("h1 sent nothing to h2 while writing the file")
	}
}

// trafficByPeer is `murmur peers` as bytes [in, out] by peer.
func trafficByPeer(t *testing.T, dir string) map[peer.ID][2]int64 {
	t.Helper()
	m := map[peer.ID][2]int64{}
	for _, p := range peersOf(t, dir) {
		id, err := peer.Decode(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		m[id] = [2]int64{p.InBytes, p.OutBytes}
	}
	return m
}
