package node_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

type badgerHeld = badgerstore.Held

// clock is the tests' injected clock: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testAudit is the audit schedule of the tests: an hour's period on the
// injected clock, every leaf of a test shard challenged, every own shard
// scrubbed each period with no rate cap to speak of.
func testAudit(seed byte) audit.Config {
	return audit.Config{Period: time.Hour, Deadline: time.Minute, Leaves: 64, ScrubPeriod: time.Hour, ScrubRate: 1 << 30, Seed: [32]byte{seed}}
}

// stripeCloud starts n connected nodes on one injected clock with manual
// audits; cfg may change each node's config.
func stripeCloud(t *testing.T, n int, cfg func(i int, c *node.Config)) ([]*node.Node, *clock) {
	t.Helper()
	nodes, clk, _ := stripeCloudConfigs(t, n, cfg)
	return nodes, clk
}

// stripeCloudConfigs is stripeCloud, also returning each node's config.
func stripeCloudConfigs(t *testing.T, n int, cfg func(i int, c *node.Config)) ([]*node.Node, *clock, []node.Config) {
	t.Helper()
	clk := newClock()
	var cfgs []node.Config
	secret := node.NewCloudSecret()
	var nodes []*node.Node
	for i := range n {
		c := node.Config{Dir: t.TempDir(), Secret: secret, RequestTimeout: 10 * time.Second, Now: clk.Now, Audit: testAudit(byte(i + 1))}
		node.ManualAudits(&c)
		if cfg != nil {
			cfg(i, &c)
		}
		nd, err := node.New(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		nodes, cfgs = append(nodes, nd), append(cfgs, c)
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.Connect(context.Background(), b.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return nodes, clk, cfgs
}

// coded codes a k+m stripe of k seeded random data shards of size bytes.
func coded(t testing.TB, k, m, size int, seed uint64) (*erasure.Descriptor, [][]byte) {
	t.Helper()
	c, err := erasure.NewCoder(k, m)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7}))
	data := make([][]byte, k)
	for i := range data {
		data[i] = make([]byte, size)
		for j := range data[i] {
			data[i][j] = byte(rng.Uint32())
		}
	}
	d, parity, err := c.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	return d, append(data, parity...)
}

// stripeRefs returns the stored shards of stripes and their holders.
func stripeRefs(ds []*erasure.Descriptor, holders [][]store.Holder) []node.ShardRef {
	var refs []node.ShardRef
	for i, d := range ds {
		for j, s := range d.Shards {
			if d.Stored(j) {
				refs = append(refs, node.ShardRef{ID: s.ID, Holder: holders[i][j]})
			}
		}
	}
	return refs
}

// heldBy returns the node of nodes with the peer ID h.
func heldBy(nodes []*node.Node, h store.Holder) *node.Node {
	for _, n := range nodes {
		if store.Holder(n.ID()) == h {
			return n
		}
	}
	return nil
}

// TestStripeRecordsOnHolders: every holder of a put stripe keeps its
// record, verified, naming where each shard went; a holder refuses a
// record its sender does not own and bytes that are not the record's
// shard; renewals and releases go out batched, one signature for all the
// stripes; a released stripe leaves nothing but tombstones and does not
// come back.
func TestStripeRecordsOnHolders(t *testing.T) {
	nodes, clk := stripeCloud(t, 4, nil)
	ctx := context.Background()
	c := nodes[0].Cloud(placement.NewRandom(1))
	var ds []*erasure.Descriptor
	var hs [][]store.Holder
	var shardsOf [][][]byte
	for s := range 3 {
		d, shards := coded(t, 2, 1, 150<<10, uint64(s))
		holders, err := c.PutStripe(ctx, d, shards)
		if err != nil {
			t.Fatal(err)
		}
		ds, hs, shardsOf = append(ds, d), append(hs, holders), append(shardsOf, shards)
	}
	var firstRec *stripe.Record
	for s, d := range ds {
		for i := range d.Shards {
			h := heldBy(nodes, hs[s][i])
			rec := heldRecord(t, h, d, i)
			if err := rec.Verify(); err != nil {
				t.Fatalf("stripe %d shard %d: %v", s, i, err)
			}
			if rec.Owner() != nodes[0].Owner() {
				t.Fatal("the record is not the writer's")
			}
			for j := range d.Shards {
				if len(rec.Holders[j]) != 1 || store.Holder(rec.Holders[j][0]) != hs[s][j] {
					t.Fatalf("stripe %d: shard %d hinted at %v, stored at %s", s, j, rec.Holders[j], hs[s][j])
				}
			}
			if s == 0 && i == 0 {
				firstRec = rec
			}
		}
	}

	// Another member hands on the writer's record as its own: refused.
	var target, other *node.Node
	for _, h := range hs[0] {
		if n := heldBy(nodes, h); n != nodes[0] {
			target = n
			break
		}
	}
	for _, n := range nodes[1:] {
		if n != target {
			other = n
			break
		}
	}
	if err := other.Remote(target.ID()).PutStriped(ctx, firstRec, 0, shardsOf[0][0]); !errors.Is(err, node.ErrRefused) {
		t.Fatalf("another owner's record: %v", err)
	}
	if err := nodes[0].Remote(target.ID()).PutStriped(ctx, firstRec, 0, shardsOf[0][1]); !errors.Is(err, store.ErrBadShard) {
		t.Fatalf("another shard's bytes: %v", err)
	}

	clk.Advance(24 * time.Hour)
	refs := stripeRefs(ds, hs)
	rep, err := c.Renew(ctx, refs)
	if err != nil || rep.Stripes != 3 {
		t.Fatalf("renew: %+v, %v", rep, err)
	}
	for s, d := range ds {
		for i := range d.Shards {
			rec := heldRecord(t, heldBy(nodes, hs[s][i]), d, i)
			if want := clk.Now().Add(nodes[0].LeaseTerm()).Truncate(time.Second); !rec.Retention.Until.Equal(want) {
				t.Fatalf("stripe %d kept until %v, want %v", s, rec.Retention.Until, want)
			}
			if rec.Retention.Count != 3 {
				t.Fatalf("the renewal's set has %d stripes, want the 3 in one signature", rec.Retention.Count)
			}
		}
	}

	rep, err = c.Release(ctx, refs)
	if err != nil || rep.Stripes != 3 {
		t.Fatalf("release: %+v, %v", rep, err)
	}
	for _, n := range nodes {
		if used := n.Store().Used(); used != 0 {
			t.Errorf("%s still uses %d bytes", n.ID().ShortString(), used)
		}
	}
	for s, d := range ds {
		id := stripeID(t, d, shardsOf[s])
		for i := range d.Shards {
			h := heldBy(nodes, hs[s][i])
			if tomb, err := h.Store().Tombstone(ctx, id); err != nil || tomb == nil {
				t.Fatalf("no tombstone for stripe %d at its holder: %v", s, err)
			}
		}
	}
	// The stale put, as a retry or a repairer would send it: refused.
	if err := nodes[0].Remote(target.ID()).PutStriped(ctx, firstRec, 0, shardsOf[0][0]); !errors.Is(err, node.ErrRefused) {
		t.Fatalf("a released stripe came back: %v", err)
	}
}

func stripeID(t *testing.T, d *erasure.Descriptor, shards [][]byte) stripe.ID {
	t.Helper()
	r, err := stripe.New(d, shards)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID()
}

// heldRecord returns the record n holds for the stripe of d, which must
// include shard i.
func heldRecord(t *testing.T, n *node.Node, d *erasure.Descriptor, i int) *stripe.Record {
	t.Helper()
	var found *stripe.Record
	err := n.Store().WalkHeld(context.Background(), func(h *badgerHeld) error {
		if h.Record.Descriptor.Shards[i].ID == d.Shards[i].ID {
			for _, j := range h.Shards {
				if j == i {
					found = h.Record
				}
			}
		}
		return nil
	})
	if err != nil || found == nil {
		t.Fatalf("%s holds no record for shard %d (%s): %v", n.ID().ShortString(), i, d.Shards[i].ID.Short(), err)
	}
	return found
}

// TestFailedPutLeavesNothing: a stripe refused part-way (one holder out
// of space, no spare member) leaves no shard and no record on any holder;
// and a file refused after some of its stripes were stored gives those
// back through Tracked.Undo.
func TestFailedPutLeavesNothing(t *testing.T) {
	nodes, _ := stripeCloud(t, 4, func(i int, c *node.Config) {
		if i == 3 {
			c.Capacity = 100 << 10 // less than one shard
		}
	})
	ctx := context.Background()
	c := nodes[0].Cloud(placement.NewRandom(2)).PeersOnly()
	d, shards := coded(t, 2, 1, 150<<10, 9)
	_, err := c.PutStripe(ctx, d, shards)
	if !errors.Is(err, store.ErrFull) {
		t.Fatalf("a put onto a full holder: %v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("more than the full holder failed, so nothing was stored to undo: %v", err)
	}
	empty(t, nodes)

	// A file of stripes, the last too big for anyone: the stored ones go.
	tr := nodes[0].Cloud(placement.NewRandom(3)).Track()
	for s := range 3 {
		d, shards := coded(t, 2, 1, 40<<10, uint64(20+s))
		if _, err := tr.PutStripe(ctx, d, shards); err != nil {
			t.Fatal(err)
		}
	}
	d, shards = coded(t, 3, 1, 150<<10, 30)
	if _, err := tr.PutStripe(ctx, d, shards); err == nil {
		t.Fatal("a stripe wider than the members with room was stored")
	}
	if len(tr.Refs()) != 9 {
		t.Fatalf("tracked %d shards, want 9", len(tr.Refs()))
	}
	if _, err := tr.Undo(ctx, nil); err != nil {
		t.Fatal(err)
	}
	empty(t, nodes)
}

// empty fails unless no node holds a shard or a stripe record.
func empty(t *testing.T, nodes []*node.Node) {
	t.Helper()
	ctx := context.Background()
	for _, n := range nodes {
		shards := 0
		n.Store().Walk(ctx, func(erasure.ShardID, int) error { shards++; return nil })
		recs := 0
		n.Store().WalkHeld(ctx, func(*badgerHeld) error { recs++; return nil })
		if shards > 0 || recs > 0 || n.Store().Used() != 0 {
			t.Errorf("%s holds %d shards (%d bytes) and %d stripe records", n.ID().ShortString(), shards, n.Store().Used(), recs)
		}
	}
}
