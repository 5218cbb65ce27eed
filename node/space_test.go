package node_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"math"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// diskSize returns the size of the filesystem dir is on, as statfs says.
func diskSize(t *testing.T, dir string) float64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return float64(st.Blocks) * float64(st.Bsize)
}

// near reports whether got is within frac of want.
func near(got, want, frac float64) bool { return math.Abs(got-want) <= frac*want }

// localCloud starts a local cloud configured by cfg for the test.
func localCloud(t *testing.T, cfg node.LocalConfig) *node.Local {
	t.Helper()
	l, err := node.StartLocal(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// joinNode starts a node configured by cfg for the test and connects it
// to every node of others.
func joinNode(t *testing.T, cfg node.Config, others []*node.Node) *node.Node {
	t.Helper()
	nd, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.Close() })
	for _, o := range others {
		if err := nd.Connect(context.Background(), o.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	return nd
}

// TestSpaceLocalOneDisk: the six nodes of one local cloud, on one disk
// and without quotas, count that disk once, not six times: in gossip's
// estimate and in what each node reports.
func TestSpaceLocalOneDisk(t *testing.T) {
	dir := t.TempDir()
	disk := diskSize(t, dir)
	l := localCloud(t, node.LocalConfig{Dir: dir, GossipPeriod: 100 * time.Millisecond})
	eventually(t, 30*time.Second, "the estimate did not reach one disk", func() bool {
		for _, nd := range l.Nodes {
			st := nd.GossipStatus()
			if !near(st.Size, 6, 0.02) || !near(st.Capacity, disk, 0.02) || st.Free <= 0 || st.Free > st.Capacity {
				return false
			}
		}
		return true
	})
	for i, nd := range l.Nodes {
		st := nd.GossipStatus()
		sp, d := nd.Space()
		if i == 0 {
			t.Logf("disk %.4g bytes; gossip: %.2f members, capacity %.4g (%.4f disks), free %.4g; Space %+v; disk %+v",
				disk, st.Size, st.Capacity, st.Capacity/disk, st.Free, sp, d)
		}
		if !sp.Estimated || float64(sp.Total) != disk || d.Nodes != 6 || float64(d.Size) != disk {
			t.Fatalf("node %d: Space %+v, disk %+v; want the disk once, %g bytes, of six nodes", i, sp, d, disk)
		}
	}
}

// TestSpaceBeforeEstimate: until gossip has an estimate, a node reports
// what it knows itself, never a nominal figure: its disk once, shared
// with the nodes it sees there, or their quotas; and their stored bytes,
// each within a second of a put.
func TestSpaceBeforeEstimate(t *testing.T) {
	ctx := context.Background()
	// An hour-long gossip period: no epoch completes during the test.
	dir := t.TempDir()
	disk := diskSize(t, dir)
	l := localCloud(t, node.LocalConfig{Dir: dir, GossipPeriod: time.Hour})
	n := l.Nodes[0]
	sp, d := n.Space()
	t.Logf("before the first estimate: %+v; disk %+v", sp, d)
	if sp.Estimated || float64(sp.Total) != disk || sp.Members != 6 || sp.Free == 0 || sp.Free > sp.Total || sp.Stored != 0 {
		t.Fatalf("Space = %+v before the first estimate; want the disk of %g bytes once, six members, not an estimate", sp, disk)
	}
	// A shard on another node of the disk shows within its refresh.
	id, b := storetest.Shard(40, 5000)
	if err := l.Nodes[3].Store().Put(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "a sibling's stored bytes did not show", func() bool {
		sp, _ := n.Space()
		return sp.Stored == uint64(l.Nodes[3].Store().Used())
	})

	// With quotas, the nodes offer their quotas, once each.
	q := localCloud(t, node.LocalConfig{Dir: t.TempDir(), Nodes: 3, Capacity: 1 << 30, GossipPeriod: time.Hour})
	if err := q.Nodes[1].Store().Put(ctx, id, b); err != nil {
		t.Fatal(err)
	}
	used := uint64(q.Nodes[1].Store().Used())
	eventually(t, 5*time.Second, "the quotas' figures", func() bool {
		sp, _ := q.Nodes[0].Space()
		return !sp.Estimated && sp.Total == 3<<30 && sp.Stored == used && sp.Free == 3<<30-used
	})
}

// TestGossipCountsEachDiskOnce: three nodes on one filesystem and three
// on another (a tmpfs as large as the first) count both disks, each
// once: twice the first disk, where counting either group's disk for
// each of its nodes would give four times.
func TestGossipCountsEachDiskOnce(t *testing.T) {
	secret := node.NewCloudSecret()
	first := t.TempDir()
	groups := []string{first, node.MountTmpfs(t, int64(diskSize(t, first)))}
	var want float64
	var nodes []*node.Node
	for _, base := range groups {
		want += diskSize(t, base)
		for range 3 {
			dir, err := os.MkdirTemp(base, "node-")
			if err != nil {
				t.Fatal(err)
			}
			cfg := node.Config{Dir: dir, Secret: secret, GossipPeriod: 100 * time.Millisecond, GossipEpoch: 10, RequestTimeout: 10 * time.Second}
			nodes = append(nodes, joinNode(t, cfg, nodes))
		}
	}
	eventually(t, 30*time.Second, "the estimate did not reach both disks", func() bool {
		for _, nd := range nodes {
			st := nd.GossipStatus()
			if !near(st.Size, 6, 0.02) || !near(st.Capacity, want, 0.02) {
				return false
			}
		}
		return true
	})
	for i, nd := range nodes {
		sp, d := nd.Space()
		if i == 0 || i == 3 {
			t.Logf("node %d: %+v; disk %+v; both disks %.4g", i, sp, d, want)
		}
		if !sp.Estimated || !near(float64(sp.Total), want, 0.02) || d.Nodes != 3 {
			t.Fatalf("node %d: Space %+v, disk %+v; want both disks, %g bytes, three nodes on each", i, sp, d, want)
		}
	}
}

// TestSpaceStored: after N bytes are put with k data and m parity shards
// per stripe, the cloud stores about N·(k+m)/k, as each node reports it
// at once and as gossip estimates it an epoch later.
func TestSpaceStored(t *testing.T) {
	l := localCloud(t, node.LocalConfig{Dir: t.TempDir(), GossipPeriod: 100 * time.Millisecond})
	cfg := drive()
	cfg.Chunking = chunk.Params{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}
	const size = 8 << 20
	data := make([]byte, size)
	rand.Read(data)
	m, err := pipeline.Write(context.Background(), cfg, l.Nodes[0].Cloud(placement.NewRandom(1)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var raw float64
	for _, nd := range l.Nodes {
		raw += float64(nd.Store().Used())
	}
	ideal := float64(size) * float64(cfg.K+cfg.M) / float64(cfg.K)
	t.Logf("%d bytes in %d stripes of %d+%d: %.0f bytes stored, %.3f of N·(k+m)/k", size, len(m.Stripes), cfg.K, cfg.M, raw, raw/ideal)
	if raw < ideal || raw > 1.3*ideal {
		t.Fatalf("the nodes store %.0f bytes for %d put with %d+%d", raw, size, cfg.K, cfg.M)
	}
	eventually(t, 5*time.Second, "the stored bytes did not show", func() bool {
		sp, _ := l.Nodes[2].Space()
		return float64(sp.Stored) == raw
	})
	eventually(t, 30*time.Second, "gossip did not estimate the stored bytes", func() bool {
		return near(l.Nodes[4].GossipStatus().Stored, raw, 0.02)
	})
}
