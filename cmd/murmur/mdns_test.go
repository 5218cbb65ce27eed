package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/node"
)

// netns makes two network namespaces joined by a veth pair (10.77.N.1 and
// 10.77.N.2) and removes them when the test ends. Only these namespaces
// see the test's traffic.
func netns(t *testing.T) (a, b string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the test suite runs as root: this test makes network namespaces (ip netns)")
	}
	id := os.Getpid() % 200
	a, b = fmt.Sprintf("murmur-%d-a", id), fmt.Sprintf("murmur-%d-b", id)
	va, vb := fmt.Sprintf("mrm%da", id), fmt.Sprintf("mrm%db", id)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	exec.Command("ip", "netns", "del", a).Run()
	exec.Command("ip", "netns", "del", b).Run()
	ip("netns", "add", a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", a).Run() })
	ip("netns", "add", b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", b).Run() })
	ip("link", "add", va, "type", "veth", "peer", "name", vb)
	ip("link", "set", va, "netns", a)
	ip("link", "set", vb, "netns", b)
	ip("-n", a, "addr", "add", fmt.Sprintf("10.77.%d.1/24", id), "dev", va)
	ip("-n", b, "addr", "add", fmt.Sprintf("10.77.%d.2/24", id), "dev", vb)
	for _, ns := range [][2]string{{a, va}, {b, vb}} {
		ip("-n", ns[0], "link", "set", ns[1], "up")
		ip("-n", ns[0], "link", "set", "lo", "up")
	}
	return a, b
}

// TestMDNSFindsMembersOnTheLAN runs two nodes of one cloud on two hosts
// (network namespaces on one virtual LAN) with no addresses to bootstrap
// from: mDNS must bring them together.
func TestMDNSFindsMembersOnTheLAN(t *testing.T) {
	nsA, nsB := netns(t)
	base := t.TempDir()
	dirA, dirB := filepath.Join(base, "a"), filepath.Join(base, "b")
	if _, err := node.Init(dirA, node.Setup{Listen: []string{"/ip4/0.0.0.0/tcp/4001"}}); err != nil {
		t.Fatal(err)
	}
	idB, err := node.Init(dirB, node.Setup{Listen: []string{"/ip4/0.0.0.0/tcp/4001"}})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := node.CreateCloud(dirA)
	if err != nil {
		t.Fatal(err)
	}
	// The invite carries the secret only: no member addresses.
	if err := node.Join(dirB, node.Invite{Secret: secret}); err != nil {
		t.Fatal(err)
	}
	start := func(ns, dir string) *exec.Cmd {
		cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "node", "--dir", dir)
		cmd.Env = append(os.Environ(), "MURMUR_RUN_MAIN=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if t.Failed() {
				t.Logf("node in %s said:\n%s", ns, out.String())
			}
		})
		return cmd
	}
	start(nsA, dirA)
	start(nsB, dirB)
	// mDNS queries back off (0, 4, 12, 28, 60 s...): on a loaded machine
	// the first ones can go out before the other node answers.
	deadline := time.Now().Add(150 * time.Second)
	for {
		out, err := run(t, "peers", "--dir", dirA, "--json")
		if err == nil && strings.Contains(out, idB.String()) && strings.Contains(out, "10.77.") {
			t.Logf("A's peers: %s", out)
			return // A reached B over the virtual LAN
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not find each other with mDNS: %q, %v", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
