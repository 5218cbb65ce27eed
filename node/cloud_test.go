package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// cloud starts n nodes of one cloud, each connected to every other.
func cloud(t *testing.T, n int) (node.CloudSecret, []*node.Node, []string) {
	t.Helper()
	secret := node.NewCloudSecret()
	var nodes []*node.Node
	var dirs []string
	for range n {
		dir := t.TempDir()
		nd, err := node.New(node.Config{Dir: dir, Secret: secret, RequestTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
		dirs = append(dirs, dir)
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.Connect(context.Background(), b.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return secret, nodes, dirs
}

func drive() pipeline.Config {
	var mk crypt.MasterKey
	rand.Read(mk[:])
	return pipeline.Config{Keys: mk.Keys(crypt.NewDriveID()), K: 4, M: 2}
}

func readBack(t *testing.T, cfg pipeline.Config, c *node.Cloud, m *pipeline.Manifest) []byte {
	t.Helper()
	r, err := pipeline.NewReader(context.Background(), cfg, c, m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil {
		t.Fatalf("read back: %v", err)
	}
	return buf.Bytes()
}

// TestSixNodeCloud stores files through six real nodes, loses any two of
// them, and reads every byte back; a restarted node serves its shards again.
func TestSixNodeCloud(t *testing.T) {
	secret, nodes, dirs := cloud(t, 6)
	cfg := drive()
	ctx := context.Background()
	writer := nodes[0].Cloud(placement.NewRandom(1))
	var files [][]byte
	var manifests []*pipeline.Manifest
	for i, size := range []int{0, 1000, 3 << 20, 20 << 20} {
		data := make([]byte, size)
		rand.Read(data)
		m, err := pipeline.Write(ctx, cfg, writer, bytes.NewReader(data))
		if err != nil {
			t.Fatalf("file %d: %v", i, err)
		}
		files, manifests = append(files, data), append(manifests, m)
	}
	// Every stripe is spread over k+m distinct nodes.
	for _, m := range manifests {
		for _, d := range m.Stripes {
			seen := map[string]bool{}
			for i, s := range d.Shards {
				if !d.Stored(i) {
					continue
				}
				h := writer.Holders(s.ID)
				if len(h) != 1 || seen[string(h[0])] {
					t.Fatalf("shard %d held by %v: not on its own node", i, h)
				}
				seen[string(h[0])] = true
			}
		}
	}
	// Lose two nodes, the writer among them; read from a node that has
	// never seen these files, without the manifests' holder hints (it must
	// find the holders itself).
	nodes[0].Close()
	nodes[3].Close()
	reader := nodes[5].Cloud(placement.NewRandom(2))
	for i, m := range manifests {
		bare := *m
		bare.Holders = nil
		if got := readBack(t, cfg, reader, &bare); !bytes.Equal(got, files[i]) {
			t.Fatalf("file %d differs with two nodes gone", i)
		}
	}
	if reader.Lookups() == 0 {
		t.Fatal("a reader without hints or memory of holders looked nothing up")
	}
	// The writer comes back on its own directory and serves its shards.
	back, err := node.New(node.Config{Dir: dirs[0], Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if back.ID() != nodes[0].ID() {
		t.Fatal("a restarted node has a new identity")
	}
	if err := nodes[5].Connect(ctx, back.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	served := 0
	for _, m := range manifests {
		for _, d := range m.Stripes {
			for _, s := range d.Shards {
				if b, err := nodes[5].Remote(back.ID()).Get(ctx, s.ID); err == nil && s.ID.Verify(b) {
					served++
				}
			}
		}
	}
	if served == 0 {
		t.Fatal("the restarted node serves none of its shards")
	}
}

// TestManifestHolderHints: a manifest records where each shard went, and
// a node that has never seen the file reads it from those holders without
// looking anything up; with a hinted holder gone, the read still succeeds.
func TestManifestHolderHints(t *testing.T) {
	_, nodes, _ := cloud(t, 6)
	cfg := drive()
	ctx := context.Background()
	data := make([]byte, 9<<20)
	rand.Read(data)
	m, err := pipeline.Write(ctx, cfg, nodes[0].Cloud(placement.NewRandom(3)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Holders) != len(m.Stripes) {
		t.Fatalf("manifest hints %d of %d stripes", len(m.Holders), len(m.Stripes))
	}
	byID := map[string]*node.Node{}
	for _, n := range nodes {
		byID[string(n.ID())] = n
	}
	for i, d := range m.Stripes {
		for j, s := range d.Shards {
			h := string(m.Holders[i][j])
			if !d.Stored(j) {
				if h != "" {
					t.Fatalf("stripe %d: empty slot %d has holder hint", i, j)
				}
				continue
			}
			holder := byID[h]
			if holder == nil {
				t.Fatalf("stripe %d shard %d: hint %q names no member", i, j, h)
			}
			if holder == nodes[1] {
				continue // a node does not ask itself over the network
			}
			has, err := nodes[1].Remote(holder.ID()).Has(ctx, []erasure.ShardID{s.ID})
			if err != nil || !has[0] {
				t.Fatalf("stripe %d shard %d: hinted holder does not have it (%v)", i, j, err)
			}
		}
	}
	reader := nodes[1].Cloud(placement.NewRandom(4))
	if got := readBack(t, cfg, reader, m); !bytes.Equal(got, data) {
		t.Fatal("read by hints differs")
	}
	if n := reader.Lookups(); n != 0 {
		t.Fatalf("a reader with hints looked up %d shards", n)
	}
	// A hinted holder of a data shard goes away: the read still succeeds.
	gone := byID[string(m.Holders[0][0])]
	if gone == nodes[1] {
		gone = byID[string(m.Holders[0][1])]
	}
	gone.Close()
	after := nodes[1].Cloud(placement.NewRandom(5))
	if got := readBack(t, cfg, after, m); !bytes.Equal(got, data) {
		t.Fatal("read with a hinted holder gone differs")
	}
	if after.Lookups() == 0 {
		t.Fatal("a hinted holder was gone, yet nothing was looked up")
	}
}

// TestLyingPeer: a member that answers every get with wrong bytes is
// caught, counted, and the read succeeds from the others.
func TestLyingPeer(t *testing.T) {
	secret, nodes, _ := cloud(t, 6)
	cfg := drive()
	ctx := context.Background()
	data := make([]byte, 6<<20)
	rand.Read(data)
	m, err := pipeline.Write(ctx, cfg, nodes[0].Cloud(placement.NewRandom(3)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	// The liar is the holder of a data shard (not the reader), so a read
	// asks it whatever the placement.
	var liar *node.Node
	for i, d := range m.Stripes {
		for j := range d.K {
			for _, n := range nodes[1:5] {
				if liar == nil && d.Stored(j) && string(n.ID()) == string(m.Holders[i][j]) {
					liar = n
				}
			}
		}
	}
	if liar == nil {
		t.Fatal("no data shard is on nodes 1-4")
	}
	liar.Host().SetStreamHandler(secret.Protocol(proto.ID), func(s network.Stream) {
		defer s.Close()
		br := bufio.NewReader(s)
		size, err := proto.ReadFrameSize(br, proto.MaxFrame)
		if err != nil {
			return
		}
		body := make([]byte, size)
		io.ReadFull(br, body)
		req, err := proto.ParseRequest(body)
		if err != nil {
			return
		}
		resp := &proto.Response{Bits: make([]bool, len(req.IDs))}
		for i := range resp.Bits {
			resp.Bits[i] = true // claims to hold everything
		}
		if req.Op == proto.OpGet {
			resp.Data = make([]byte, 1<<20)
			rand.Read(resp.Data)
		}
		proto.WriteFrame(s, proto.AppendResponse(nil, req.Op, resp))
	})
	reader := nodes[5].Cloud(placement.NewRandom(4))
	if got := readBack(t, cfg, reader, m); !bytes.Equal(got, data) {
		t.Fatal("read with a lying member returned wrong bytes")
	}
	if reader.Lies()[liar.ID()] == 0 {
		t.Fatal("the lying member was not caught")
	}
}

// TestStripeCopiesAllCount: with k=1 every parity shard is a copy of the
// data shard under one ID; a copy that could not be stored fails the put.
func TestStripeCopiesAllCount(t *testing.T) {
	secret := node.NewCloudSecret()
	client := newNode(t, secret, 0)
	full := newNode(t, secret, 1) // refuses every shard
	ok := newNode(t, secret, 0)
	ctx := context.Background()
	for _, n := range []*node.Node{full, ok} {
		if err := client.Connect(ctx, n.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	cfg := drive()
	cfg.K, cfg.M = 1, 2
	data := make([]byte, 100<<10)
	rand.Read(data)
	if _, err := pipeline.Write(ctx, cfg, client.Cloud(placement.NewRandom(5)), bytes.NewReader(data)); err == nil {
		t.Fatal("a stripe with a copy that no member could take was reported stored")
	}
}

// TestProviderRecords: a node that stores a shard announces it in the DHT,
// and another member finds it there.
func TestProviderRecords(t *testing.T) {
	_, nodes, _ := cloud(t, 5)
	waitForRoutes(t, nodes)
	ctx := context.Background()
	id, data := storetestShard(1 << 10)
	if err := nodes[0].Remote(nodes[1].ID()).Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if nodes[1].AnnounceStats().Announced > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the storing node never published a provider record")
		}
		time.Sleep(20 * time.Millisecond)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	holders := nodes[4].FindHolders(fctx, id, 5)
	found := false
	for _, h := range holders {
		found = found || h == nodes[1].ID()
	}
	if !found {
		t.Fatalf("the DHT names %v as holders, not the node that stores the shard", holders)
	}
	st := nodes[1].AnnounceStats()
	t.Logf("%d provider records sent after %d walks in a 5-node cloud", st.Records, st.Walks)
}

func storetestShard(n int) (erasure.ShardID, []byte) {
	b := make([]byte, n)
	rand.Read(b)
	return erasure.SumShard(b), b
}
