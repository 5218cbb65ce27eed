package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// gossipCloud starts n nodes gossiping every 100 ms in epochs of 10
// cycles, in zones "office" and "home" alternately; each connects to the
// three before it (the rest they find through gossip and the DHT). Each
// opt may change node i's config before it starts.
func gossipCloud(t *testing.T, secret node.CloudSecret, n int, opts ...func(i int, c *node.Config)) ([]*node.Node, []node.Config) {
	t.Helper()
	var nodes []*node.Node
	var cfgs []node.Config
	for i := range n {
		zone := "office"
		if i%2 == 1 {
			zone = "home"
		}
		cfg := node.Config{Dir: t.TempDir(), Secret: secret, Zone: zone, Capacity: int64(1+i%4) << 30,
			GossipPeriod: 100 * time.Millisecond, GossipEpoch: 10, RequestTimeout: 10 * time.Second}
		for _, o := range opts {
			o(i, &cfg)
		}
		nd, err := node.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		for _, o := range nodes[max(0, i-3):] {
			if err := nd.Connect(context.Background(), o.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
		nodes, cfgs = append(nodes, nd), append(cfgs, cfg)
	}
	return nodes, cfgs
}

// TestGossipTwentyNodes: twenty real nodes estimate their number and total
// capacity within 5%; a node that leaves drops out of every view; a flaky
// node (stopped and started again and again) ranks below steady ones; and
// files are placed on the reliable slice, across zones.
func TestGossipTwentyNodes(t *testing.T) {
	if testing.Short() {
		// make test runs it in full first; under -race on two cores the
		// probes of twenty nodes time out for want of CPU, and the
		// ratings it checks measure that starvation, not the flapping.
		t.Skip("twenty nodes' reliability ratings need the CPU -short -race lacks")
	}
	const n = 20
	secret := node.NewCloudSecret()
	nodes, cfgs := gossipCloud(t, secret, n)
	var capacity int64
	for _, c := range cfgs {
		capacity += c.Capacity
	}
	within := func(got, want float64) bool { return math.Abs(got-want) <= 0.05*want }
	// Generous bounds: under -race on a loaded 2-core machine an epoch
	// stretches; the waits end as soon as the estimates hold.
	eventually(t, 90*time.Second, "size estimates did not reach 20 ± 5%", func() bool {
		for _, nd := range nodes {
			st := nd.GossipStatus()
			if !within(st.Size, n) || !within(st.Capacity, float64(capacity)) {
				return false
			}
		}
		return true
	})
	st := nodes[7].GossipStatus()
	t.Logf("node 7: size %.2f, capacity %.3g of %d, view %d, %.0f bytes of gossip per cycle", st.Size, st.Capacity, capacity, st.View, st.BytesPerCyc)

	// The last node leaves: it drops out of every view.
	gone := nodes[n-1]
	gone.Close()
	nodes = nodes[:n-1]
	eventually(t, 90*time.Second, "a node that left stayed in others' views", func() bool {
		for _, nd := range nodes {
			if slices.Contains(node.GossipView(nd), gone.ID()) {
				return false
			}
		}
		return true
	})

	// Node 5 is flaky: down half a second, up a second, six times over.
	flaky := nodes[5]
	cfg := cfgs[5]
	for range 6 {
		flaky.Close()
		time.Sleep(500 * time.Millisecond)
		var err error
		if flaky, err = node.New(cfg); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { flaky.Close() })
		for _, o := range nodes[:3] {
			if err := flaky.Connect(context.Background(), o.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second)
	}
	nodes[5] = flaky
	mean := func(p peer.ID) float64 {
		var sum float64
		var k int
		for _, nd := range nodes {
			if nd.ID() != p {
				sum += node.Rating(nd, p)
				k++
			}
		}
		return sum / float64(k)
	}
	steady := nodes[4].ID()
	t.Logf("mean rating: flaky node %.3f, a steady one %.3f", mean(flaky.ID()), mean(steady))
	if mean(flaky.ID()) >= mean(steady) {
		t.Fatalf("the flaky node rates %.3f, a steady one %.3f", mean(flaky.ID()), mean(steady))
	}

	// Files go to the reliable slice, across zones. The writer decides by
	// its own book, which a mean over everyone's does not show: wait
	// until, in node 0's book, the flaky node rates below its reliable
	// slice by more than the placer's Epsilon (so neither the slice nor
	// the newcomers the placer admits can hold it), and the slice alone
	// holds a stripe (6 shards) in both zones.
	cfgDrive := drive()
	var zoneOf = map[string]string{}
	for i, nd := range nodes {
		zoneOf[string(nd.ID())] = cfgs[i].Zone
	}
	rp, err := placement.NewReliable(placement.ReliableConfig{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for why := ""; ; time.Sleep(50 * time.Millisecond) {
		cands := node.Candidates(nodes[0])
		slice := rp.Slice(cands)
		low, zones, in := math.Inf(1), map[string]bool{}, false
		for _, i := range slice {
			in = in || cands[i].ID == string(flaky.ID())
			low = min(low, cands[i].Reliability)
			zones[zoneOf[cands[i].ID]] = true
		}
		rel := math.NaN()
		for _, c := range cands {
			if c.ID == string(flaky.ID()) {
				rel = c.Reliability
			}
		}
		// Not a candidate (NaN) is as good as rated out.
		if !in && len(slice) >= 6 && len(zones) == 2 && !(rel >= low-rp.Config().Epsilon) {
			break
		}
		why = fmt.Sprintf("flaky in slice %v, slice %d of %d candidates in %d zones, lowest %.3f, flaky %.3f", in, len(slice), len(cands), len(zones), low, rel)
		if time.Since(start) > 30*time.Second {
			t.Fatalf("after 30s node 0 still does not rate the flaky node below its reliable slice: %s", why)
		}
	}
	t.Logf("node 0 rates the flaky node below its slice %v after the flapping", time.Since(start).Round(time.Millisecond))
	writer := nodes[0].Cloud(rp)
	data := make([]byte, 24<<20)
	rand.Read(data)
	m, err := pipeline.Write(context.Background(), cfgDrive, writer, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	onFlaky := 0
	for i, d := range m.Stripes {
		zones := map[string]int{}
		for j := range d.Shards {
			if h := string(m.Holders[i][j]); h != "" {
				zones[zoneOf[h]]++
				if h == string(flaky.ID()) {
					onFlaky++
				}
			}
		}
		if len(zones) < 2 {
			t.Fatalf("stripe %d lies in zones %v", i, zones)
		}
	}
	if onFlaky > 0 {
		t.Fatalf("%d shards placed on the flaky node", onFlaky)
	}
	if got := readBack(t, cfgDrive, nodes[9].Cloud(placement.NewRandom(2)), m); !bytes.Equal(got, data) {
		t.Fatal("the file reads back differently")
	}
}
