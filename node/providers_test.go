package node_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// startCloud starts a node on each directory, all of one cloud, each
// connected to every other, with cfg adjusting each node's Config.
func startCloud(t *testing.T, secret node.CloudSecret, dirs []string, cfg func(i int, c *node.Config)) []*node.Node {
	t.Helper()
	nodes := startNodes(t, secret, dirs, cfg)
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.Connect(context.Background(), b.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return nodes
}

// startNodes starts a node on each directory, all of one cloud, not
// connected.
func startNodes(t *testing.T, secret node.CloudSecret, dirs []string, cfg func(i int, c *node.Config)) []*node.Node {
	t.Helper()
	var nodes []*node.Node
	for i, dir := range dirs {
		c := node.Config{Dir: dir, Secret: secret, RequestTimeout: 10 * time.Second}
		if cfg != nil {
			cfg(i, &c)
		}
		n, err := node.New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	return nodes
}

func tempDirs(t *testing.T, n int) []string {
	var dirs []string
	for range n {
		dirs = append(dirs, t.TempDir())
	}
	return dirs
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// putShards stores count seeded shards on holder, put by from, and returns
// their IDs.
func putShards(t *testing.T, from, holder *node.Node, seed uint64, count int) []erasure.ShardID {
	t.Helper()
	var ids []erasure.ShardID
	for i := range count {
		id, data := storetest.Shard(seed+uint64(i), 64)
		if err := from.Remote(holder.ID()).Put(context.Background(), id, data); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// holds reports whether the DHT, asked by n, names p as a holder of id.
func holds(n *node.Node, id erasure.ShardID, p peer.ID) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return slices.Contains(n.FindHolders(ctx, id, 20), p)
}

// allFound reports whether reader finds holder for every shard of ids.
func allFound(reader, holder *node.Node, ids []erasure.ShardID) bool {
	for _, id := range ids {
		if !holds(reader, id, holder.ID()) {
			return false
		}
	}
	return true
}

// TestProvidersBatched: shards put on a member of a six-node cloud are
// found through the DHT by another member, and their records took a
// handful of DHT walks, not one per shard.
func TestProvidersBatched(t *testing.T) {
	nodes := startCloud(t, node.NewCloudSecret(), tempDirs(t, 6), nil)
	holder, reader := nodes[1], nodes[5]
	eventually(t, 20*time.Second, "the holder never swept its (empty) store", func() bool {
		return holder.AnnounceStats().Sweeps > 0
	})
	before := holder.AnnounceStats()
	const count = 200
	ids := putShards(t, nodes[0], holder, 1000, count)
	eventually(t, 20*time.Second, "the holder never announced the shards", func() bool {
		st := holder.AnnounceStats()
		return st.Announced >= count && st.Queued == 0
	})
	if !allFound(reader, holder, ids) {
		t.Fatal("another member does not find the holder of every shard")
	}
	st := holder.AnnounceStats()
	walks, records := st.Walks-before.Walks, st.Records-before.Records
	if records != 5*count {
		t.Errorf("%d records sent for %d shards in a six-node cloud, want %d", records, count, 5*count)
	}
	if walks > 3 {
		t.Errorf("%d DHT walks for %d shards: not batched", walks, count)
	}
	if st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("%d records failed, %d shards dropped", st.Failed, st.Dropped)
	}
	t.Logf("%d shards: %d walks, %d records", count, walks, records)
}

// TestProvidersRefreshed: records outlive their validity because the
// holder announces them again every refresh interval, while the records
// of a holder that stopped expire (so expiry is real in this cloud).
func TestProvidersRefreshed(t *testing.T) {
	const validity = 4 * time.Second
	nodes := startCloud(t, node.NewCloudSecret(), tempDirs(t, 5), func(i int, c *node.Config) {
		c.ProviderValidity, c.ProviderRefresh = validity, validity*3/4
		if i == 1 {
			c.ProviderRefresh = time.Second
		}
	})
	refreshing, stopped, reader := nodes[1], nodes[2], nodes[4]
	eventually(t, 20*time.Second, "the first sweeps never ran", func() bool {
		return refreshing.AnnounceStats().Sweeps > 0 && stopped.AnnounceStats().Sweeps > 0
	})
	fresh := putShards(t, nodes[0], refreshing, 2000, 20)
	stale := putShards(t, nodes[0], stopped, 3000, 20)
	eventually(t, 20*time.Second, "records were never found", func() bool {
		return allFound(reader, refreshing, fresh) && allFound(reader, stopped, stale)
	})
	sweeps := refreshing.AnnounceStats().Sweeps
	stopped.Close()
	time.Sleep(validity + 2*time.Second)
	if !allFound(reader, refreshing, fresh) {
		t.Fatal("a refreshed record was lost")
	}
	for _, id := range stale {
		if holds(reader, id, stopped.ID()) {
			t.Fatal("a record outlived its validity without a refresh: the test shows nothing")
		}
	}
	st := refreshing.AnnounceStats()
	if st.Sweeps < sweeps+3 || st.SweepShards != len(fresh) {
		t.Fatalf("%d sweeps of %d shards, want at least %d of %d", st.Sweeps, st.SweepShards, sweeps+3, len(fresh))
	}
}

// TestProvidersAfterRestart: members keep the records they receive in
// memory only, so after the whole cloud restarts none is left; a holder
// that comes back with shards on disk announces them again by itself.
func TestProvidersAfterRestart(t *testing.T) {
	secret, dirs := node.NewCloudSecret(), tempDirs(t, 4)
	nodes := startCloud(t, secret, dirs, nil)
	ids := putShards(t, nodes[0], nodes[1], 4000, 50)
	eventually(t, 20*time.Second, "records were never found", func() bool {
		return allFound(nodes[3], nodes[1], ids)
	})
	for _, n := range nodes {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	nodes = startCloud(t, secret, dirs, nil)
	holder, reader := nodes[1], nodes[3]
	eventually(t, 20*time.Second, "the restarted holder never announced its shards", func() bool {
		return holder.AnnounceStats().Sweeps > 0
	})
	if st := holder.AnnounceStats(); st.SweepShards != len(ids) || st.Records < int64(3*len(ids)) {
		t.Fatalf("the restarted holder swept %d shards and sent %d records, want %d and %d", st.SweepShards, st.Records, len(ids), 3*len(ids))
	}
	if !allFound(reader, holder, ids) {
		t.Fatal("after a restart of the cloud, the holder's shards are not found through the DHT")
	}
}

// TestProvidersRejoin: a member that restarts (losing the records it
// held) gets the others' records again when it reconnects, without
// waiting for their next sweep.
func TestProvidersRejoin(t *testing.T) {
	secret, dirs := node.NewCloudSecret(), tempDirs(t, 3)
	nodes := startCloud(t, secret, dirs, nil)
	holder := nodes[0]
	ids := putShards(t, nodes[1], holder, 5000, 30)
	eventually(t, 20*time.Second, "records were never found, or never swept", func() bool {
		return holder.AnnounceStats().Sweeps > 0 && allFound(nodes[2], holder, ids)
	})
	nodes[2].Close()
	// Alone with the holder, the restarted member can only find the
	// shards in the records the holder sends it.
	holder2 := startCloud(t, secret, dirs[2:], nil)[0]
	nodes[1].Close()
	if err := holder2.Connect(context.Background(), holder.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the rejoining member never got the records", func() bool {
		return allFound(holder2, holder, ids)
	})
	// The pass counts itself once its last record is sent.
	eventually(t, 5*time.Second, "found without a catch-up pass", func() bool {
		st := holder.AnnounceStats()
		return st.Catchups > 0 && st.Sweeps == 1
	})
}

// TestProvidersBiggerCloud: in a cloud of more than 21 members, each
// connected to a few others at first, a record goes to the 20 members
// closest to its key, not to everyone, and every member finds it.
func TestProvidersBiggerCloud(t *testing.T) {
	nodes := startNodes(t, node.NewCloudSecret(), tempDirs(t, 24), nil)
	rng := rand.New(rand.NewPCG(7, 7))
	for i, a := range nodes {
		for _, j := range []int{(i + 1) % len(nodes), rng.IntN(len(nodes))} {
			if j != i {
				if err := a.Connect(context.Background(), nodes[j].AddrInfo()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	holder := nodes[0]
	eventually(t, 30*time.Second, "the holder never swept", func() bool {
		return holder.AnnounceStats().Sweeps > 0
	})
	// Until the DHT has converged, members do not know each other yet.
	eventually(t, 30*time.Second, "the routing tables never filled", func() bool {
		for _, n := range nodes {
			if node.RoutingTableSize(n) < 20 {
				return false
			}
		}
		return true
	})
	const count = 100
	ids := putShards(t, nodes[1], holder, 6000, count)
	eventually(t, 20*time.Second, "the holder never announced the shards", func() bool {
		st := holder.AnnounceStats()
		return st.Announced >= count && st.Queued == 0
	})
	// Each record is held by the 20 members closest to its key (as the
	// DHT's own code sorts them) and, once the holder's view is complete,
	// by no other.
	others := make([]peer.ID, 0, len(nodes)-1)
	byID := map[peer.ID]*node.Node{}
	for _, n := range nodes[1:] {
		others = append(others, n.ID())
		byID[n.ID()] = n
	}
	exact := 0
	eventually(t, 20*time.Second, "some record is missing from a closest member", func() bool {
		exact = 0
		for _, id := range ids {
			closest := kb.SortClosestPeers(slices.Clone(others), kb.ConvertKey(string(node.ShardKey(id))))[:20]
			for _, p := range closest {
				if !slices.Contains(node.ProvidersHeld(byID[p], id), holder.ID()) {
					return false
				}
			}
			held := 0
			for _, n := range nodes[1:] {
				if slices.Contains(node.ProvidersHeld(n, id), holder.ID()) {
					held++
				}
			}
			if held == 20 {
				exact++
			}
		}
		return true
	})
	st := holder.AnnounceStats()
	if exact < count/2 {
		t.Errorf("only %d of %d records are held by exactly their 20 closest members: %+v", exact, count, st)
	}
	for _, reader := range nodes[1:] {
		if !allFound(reader, holder, ids[:10]) {
			t.Fatalf("member %s does not find the holder", reader.ID().ShortString())
		}
	}
	t.Logf("%d walks to explore a cloud of %d; %d records for %d shards, %d held by exactly their closest 20", st.Walks, len(nodes), st.Records, count, exact)
}

// TestStalledMemberDoesNotStallAnnouncer: a member that accepts provider
// records but never reads them costs the announcer a timeout, not its
// life: the node still closes.
func TestStalledMemberDoesNotStallAnnouncer(t *testing.T) {
	secret := node.NewCloudSecret()
	nodes := startNodes(t, secret, tempDirs(t, 2), nil)
	a, b := nodes[0], nodes[1]
	if err := a.Connect(context.Background(), b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the routing tables never filled", func() bool {
		return node.RoutingTableSize(a) > 0 && node.RoutingTableSize(b) > 0
	})
	// b's DHT protocol now reads nothing: it holds new streams open unread,
	// and the streams a already had to it go.
	// Streams that come after the test (b closes later) are reset.
	held, done := make(chan network.Stream, 64), make(chan struct{})
	b.Host().SetStreamHandler(secret.Protocol("/kad/1.0.0"), func(s network.Stream) {
		select {
		case held <- s:
		case <-done:
			s.Reset()
		}
	})
	t.Cleanup(func() {
		close(done)
		for {
			select {
			case s := <-held:
				s.Reset()
			default:
				return
			}
		}
	})
	for _, c := range b.Host().Network().ConnsToPeer(a.ID()) {
		c.Close()
	}
	if err := a.Connect(context.Background(), b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	putShards(t, b, a, 1, 5000) // a holds them and announces them to b
	eventually(t, 30*time.Second, "a never sent b its provider records", func() bool { return len(held) > 0 })
	time.Sleep(time.Second)
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case <-closed:
	case <-time.After(60 * time.Second):
		t.Fatal("a node whose provider records a member will not read did not close")
	}
}
