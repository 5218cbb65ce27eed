package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/node"
)

// TestComputeFlags: murmur node --compute-slots and --compute-memory
// reach the node, murmur status shows them, and a peer's murmur peers
// shows the slots once gossip has carried them.
func TestComputeFlags(t *testing.T) {
	if _, err := run(t, "node", "--dir", t.TempDir(), "--compute-slots", "-1"); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("--compute-slots -1: %v", err)
	}
	if _, err := run(t, "node", "--dir", t.TempDir(), "--compute-memory", "lots"); !errors.Is(err, cli.ErrUsage) {
		t.Fatalf("--compute-memory lots: %v", err)
	}
	dirs, secret := initCloud(t, 2)
	offers := startNode(t, dirs[0], "--gossip-period", "100ms", "--compute-slots", "3", "--compute-memory", "512MiB")
	a, _ := peer.AddrInfoToP2pAddrs(&offers.info)
	startNode(t, dirs[1], "--gossip-period", "100ms", "--join", node.Invite{Secret: secret, Addrs: a}.String())

	st, err := client.New(cli.SocketPath(dirs[0])).Status(context.Background())
	if err != nil || st.ComputeSlots != 3 || st.ComputeMemory != 512<<20 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	if out, err := run(t, "status", "--dir", dirs[0]); err != nil || !strings.Contains(out, "compute   3 slots, 512MiB a job\n") {
		t.Fatalf("status: %q, %v", out, err)
	}
	if out, err := run(t, "status", "--dir", dirs[1], "--json"); err != nil || strings.Contains(out, "compute_slots") {
		t.Fatalf("a node without slots: %q, %v", out, err)
	}
	var out string
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(out, offers.info.ID.String()+"  ") || !strings.Contains(out, "; compute 3 slots, 3 free\n"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("peers of the second node: %q, %v", out, err)
		}
		out, err = run(t, "peers", "--dir", dirs[1])
	}
}
