package node_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/node"
)

// TestComputePeers: of three nodes, the one that offers two compute slots
// is the only compute peer the others learn of by gossip, with its slots,
// and the free slots it reports reach them in its next descriptors.
func TestComputePeers(t *testing.T) {
	nodes, _ := gossipCloud(t, node.NewCloudSecret(), 3, func(i int, c *node.Config) {
		if i == 0 {
			c.ComputeSlots = 2
		}
	})
	offers, plain, watcher := nodes[0], nodes[1], nodes[2]
	if s, m := offers.ComputeConfig(); s != 2 || m != node.DefaultComputeMemory {
		t.Fatalf("compute config %d slots, %d bytes", s, m)
	}
	if s, m := plain.ComputeConfig(); s != 0 || m != 0 {
		t.Fatalf("a node without compute has %d slots, %d bytes", s, m)
	}
	want := func(free int) []node.ComputePeer {
		return []node.ComputePeer{{ID: offers.ID(), Slots: 2, Free: free, Zone: "office"}}
	}
	seen := func(nd *node.Node) []node.ComputePeer {
		ps := nd.ComputePeers()
		for i := range ps {
			ps[i].Reliability = 0 // checked below
		}
		return ps
	}
	for _, free := range []int{2, 1} {
		offers.SetComputeFree(free)
		for _, nd := range []*node.Node{plain, watcher} {
			eventually(t, 20*time.Second, fmt.Sprintf("%s never saw %v", nd.ID().ShortString(), want(free)), func() bool {
				return slices.Equal(seen(nd), want(free))
			})
		}
		if got := seen(offers); !slices.Equal(got, want(free)) {
			t.Fatalf("the offering node lists %v, want itself %v", got, want(free))
		}
	}
	if ps := offers.ComputePeers(); ps[0].Reliability != 1 {
		t.Fatalf("a node rates itself %v", ps[0].Reliability)
	}
	st := watcher.GossipStatus()
	i := slices.IndexFunc(st.Peers, func(p node.PeerStatus) bool { return p.ID == offers.ID().String() })
	if i < 0 || st.Peers[i].Slots != 2 || st.Peers[i].SlotsFree != 1 {
		t.Fatalf("gossip status of the offering node: %+v", st.Peers)
	}

	// More free slots than it has are all of them; fewer than none, none.
	offers.SetComputeFree(5)
	if ps := offers.ComputePeers(); ps[0].Free != 2 {
		t.Fatalf("5 of 2 slots free: %+v", ps[0])
	}
	offers.SetComputeFree(-1)
	if ps := offers.ComputePeers(); ps[0].Free != 0 {
		t.Fatalf("-1 of 2 slots free: %+v", ps[0])
	}

	// A wrong result is evidence against the peer that computed it.
	before := watcher.ComputePeers()[0].Reliability
	for range 3 {
		watcher.Observe(offers.ID(), gossip.ComputeWrong)
	}
	if after := watcher.ComputePeers()[0].Reliability; !(after < before) {
		t.Fatalf("reliability %.3f after wrong results, %.3f before", after, before)
	}
}

func TestComputeConfigLimits(t *testing.T) {
	secret := node.NewCloudSecret()
	for _, c := range []node.Config{
		{ComputeSlots: -1},
		{ComputeSlots: node.MaxComputeSlots + 1},
		{ComputeSlots: 1, ComputeMemory: -1},
	} {
		c.Dir, c.Secret = t.TempDir(), secret
		if nd, err := node.New(c); err == nil {
			nd.Close()
			t.Errorf("%d slots of %d bytes accepted", c.ComputeSlots, c.ComputeMemory)
		}
	}
}
