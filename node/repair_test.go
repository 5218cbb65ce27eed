package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

// repairGrace is the tests' grace: a peer with no outage history is lost
// after an hour away on the injected clock.
const repairGrace = time.Hour

// testRepair is the repair config of the tests: checks every minute of
// the injected clock, a grace of an hour, no bandwidth cap.
func testRepair(busy *atomic.Int64) node.RepairConfig {
	return node.RepairConfig{
		Rate:         -1,
		CheckTimeout: 5 * time.Second,
		Machine: repair.Config[peer.ID]{
			CheckPeriod: time.Minute,
			Grace:       repair.GraceConfig{Min: repairGrace / 2, Default: repairGrace, Max: 2 * repairGrace},
		},
	}
}

// repairCloud is a cloud of n nodes on one injected clock with manual
// audits, sharing one counter of repair work in flight.
type repairCloud struct {
	t     *testing.T
	nodes []*node.Node
	cfgs  []node.Config
	clk   *clock
	busy  *atomic.Int64
	down  map[int]bool
}

func newRepairCloud(t *testing.T, n int, cfg func(i int, c *node.Config)) *repairCloud {
	t.Helper()
	busy := new(atomic.Int64)
	nodes, clk, cfgs := stripeCloudConfigs(t, n, func(i int, c *node.Config) {
		c.Repair = testRepair(busy)
		node.ShareRepairBusy(c, busy)
		if cfg != nil {
			cfg(i, c)
		}
	})
	return &repairCloud{t: t, nodes: nodes, cfgs: cfgs, clk: clk, busy: busy, down: map[int]bool{}}
}

// settle waits until no node has repair work in flight.
func (rc *repairCloud) settle() {
	rc.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for quiet := 0; quiet < 3; {
		if time.Now().After(deadline) {
			rc.t.Fatalf("repair work still in flight: %d", rc.busy.Load())
		}
		if rc.busy.Load() == 0 {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(2 * time.Millisecond) // polling the counter, not waiting for an event
	}
}

// advance moves the clock by d and lets every live node do what is due.
func (rc *repairCloud) advance(d time.Duration) {
	rc.t.Helper()
	rc.clk.Advance(d)
	for i, n := range rc.nodes {
		if !rc.down[i] {
			node.RepairStep(n)
		}
	}
	rc.settle()
}

func (rc *repairCloud) live() []*node.Node {
	var out []*node.Node
	for i, n := range rc.nodes {
		if !rc.down[i] {
			out = append(out, n)
		}
	}
	return out
}

func (rc *repairCloud) close(i int) {
	rc.t.Helper()
	if err := rc.nodes[i].Close(); err != nil {
		rc.t.Fatal(err)
	}
	rc.down[i] = true
}

// restart starts node i again from its folder and connects it to the
// live nodes.
func (rc *repairCloud) restart(i int) *node.Node {
	rc.t.Helper()
	back, err := node.New(rc.cfgs[i])
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.t.Cleanup(func() { back.Close() })
	for _, n := range rc.live() {
		if err := back.Connect(context.Background(), n.AddrInfo()); err != nil {
			rc.t.Fatal(err)
		}
	}
	rc.nodes[i], rc.down[i] = back, false
	rc.connected(back)
	return back
}

// connected waits until every live node sees n connected (the listening
// side of a connection may add it after the dialing side returns).
func (rc *repairCloud) connected(n *node.Node) {
	rc.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, o := range rc.live() {
		for o != n && o.Host().Network().Connectedness(n.ID()) != network.Connected {
			if time.Now().After(deadline) {
				rc.t.Fatalf("%s never saw %s connect", o.ID().ShortString(), n.ID().ShortString())
			}
			time.Sleep(time.Millisecond) // polling the connection's state
		}
	}
}

// status sums the live nodes' repair status.
func (rc *repairCloud) status() (sum node.RepairStatus, whole bool) {
	whole = true
	for _, n := range rc.live() {
		st := n.RepairStatus()
		whole = whole && st.Whole()
		sum.Done += st.Done
		sum.Failed += st.Failed
		sum.Rebuilt += st.Rebuilt
		sum.Down += st.Down
		sum.Lost += st.Lost
		sum.BytesIn += st.BytesIn
		sum.BytesOut += st.BytesOut
		sum.Stripes += st.Stripes
	}
	return sum, whole
}

// untilWhole advances the clock a minute at a time until every live node
// sees every stripe whole.
func (rc *repairCloud) untilWhole(rounds int) node.RepairStatus {
	rc.t.Helper()
	for range rounds {
		if st, whole := rc.status(); whole {
			return st
		}
		rc.advance(time.Minute)
	}
	st, _ := rc.status()
	for _, n := range rc.live() {
		rc.t.Logf("%s: %+v", n.ID().ShortString(), n.RepairStatus())
	}
	rc.t.Fatalf("not whole after %d rounds: %+v", rounds, st)
	return st
}

// busiest returns the node, not the writer (0), that holds the most
// shards, and how many.
func (rc *repairCloud) busiest() (int, int) {
	rc.t.Helper()
	best, most := -1, 0
	for i, n := range rc.nodes[1:] {
		if c := heldShards(rc.t, n); c > most {
			best, most = i+1, c
		}
	}
	if best < 0 {
		rc.t.Fatal("nobody but the writer holds shards")
	}
	return best, most
}

// heldShards returns how many shards n holds with stripe records.
func heldShards(t *testing.T, n *node.Node) int {
	t.Helper()
	c := 0
	if err := n.Store().WalkHeld(context.Background(), func(h *badgerstore.Held) error {
		c += len(h.Shards)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

// putFiles writes count seeded files of size bytes through w (k=4, m=2).
func putFiles(t *testing.T, w *node.Cloud, count, size int, seed uint64) (pipeline.Config, [][]byte, []*pipeline.Manifest) {
	t.Helper()
	var mk crypt.MasterKey
	rng := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	for i := range mk {
		mk[i] = byte(rng.Uint32())
	}
	// Small chunks, so every stripe fills its four data shards.
	cfg := pipeline.Config{Keys: mk.Keys(crypt.DriveID{1}), K: 4, M: 2, Chunking: chunk.Params{Min: 8 << 10, Avg: 16 << 10, Max: 32 << 10}, PackSize: 24 << 10}
	var files [][]byte
	var ms []*pipeline.Manifest
	for range count {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		m, err := pipeline.Write(context.Background(), cfg, w, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		files, ms = append(files, data), append(ms, m)
	}
	return cfg, files, ms
}

// checkRecords checks that every held record names, for each stored
// slot, one live node that has the shard's verified bytes.
func (rc *repairCloud) checkRecords() {
	rc.t.Helper()
	ctx := context.Background()
	byID := map[string]*node.Node{}
	for _, n := range rc.live() {
		byID[string(n.ID())] = n
	}
	seen := map[stripe.ID]bool{}
	for _, n := range rc.live() {
		err := n.Store().WalkHeld(ctx, func(h *badgerstore.Held) error {
			rec := h.Record
			if seen[rec.ID()] {
				return nil
			}
			seen[rec.ID()] = true
			for i, sh := range rec.Descriptor.Shards {
				if !rec.Descriptor.Stored(i) {
					continue
				}
				if len(rec.Holders[i]) != 1 {
					rc.t.Errorf("stripe %s slot %d hinted at %d holders", rec.ID().Short(), i, len(rec.Holders[i]))
					continue
				}
				holder := byID[rec.Holders[i][0]]
				if holder == nil {
					rc.t.Errorf("stripe %s slot %d names a node that is gone", rec.ID().Short(), i)
					continue
				}
				b, err := holder.Store().Get(ctx, sh.ID)
				if err != nil || rec.CheckShard(i, b) != nil {
					rc.t.Errorf("stripe %s slot %d: its holder does not have it: %v", rec.ID().Short(), i, err)
				}
			}
			return nil
		})
		if err != nil {
			rc.t.Fatal(err)
		}
	}
}

func readAll(t *testing.T, c *node.Cloud, cfg pipeline.Config, files [][]byte, ms []*pipeline.Manifest) {
	t.Helper()
	for i, m := range ms {
		if got := readBack(t, cfg, c, m); !bytes.Equal(got, files[i]) {
			t.Fatalf("file %d reads back %d bytes, not the %d written", i, len(got), len(files[i]))
		}
	}
}

func reliable(t *testing.T, seed uint64) *placement.Reliable {
	p, err := placement.NewReliable(placement.ReliableConfig{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRepairAfterDeparture: in a cloud of eight nodes, a holder leaves
// for good; once its grace is over every stripe it held is whole again on
// the others, each lost shard rebuilt exactly once, the replaced hints
// name holders that have the shards, and every file reads back, even with
// two more nodes gone.
func TestRepairAfterDeparture(t *testing.T) {
	rc := newRepairCloud(t, 8, nil)
	cfg, files, ms := putFiles(t, rc.nodes[0].Cloud(reliable(t, 1)), 4, 300<<10, 1)
	rc.advance(time.Minute) // every holder checked once
	if st, whole := rc.status(); !whole || st.Done != 0 || st.Stripes == 0 {
		t.Fatalf("before any loss: %+v", st)
	}
	victim, lost := rc.busiest()
	departed := rc.nodes[victim].ID()
	rc.close(victim)
	rc.advance(time.Minute)
	if st, _ := rc.status(); st.Down == 0 || st.Lost != 0 || st.Done != 0 {
		t.Fatalf("the departure's first minute: %+v", st)
	}
	rc.advance(repairGrace)
	st := rc.untilWhole(20)
	if st.Rebuilt != lost || st.Failed != 0 {
		t.Fatalf("rebuilt %d shards in %d repairs (%d failed), want the %d lost, each once", st.Rebuilt, st.Done, st.Failed, lost)
	}
	if st.BytesOut == 0 || st.BytesIn == 0 {
		t.Fatalf("no repair traffic counted: %+v", st)
	}
	t.Logf("%d shards lost, rebuilt in %d repairs; %d bytes fetched, %d stored", lost, st.Done, st.BytesIn, st.BytesOut)
	rc.checkRecords()
	rc.checkOwnerRenews(rc.nodes[0], departed)
	// Nothing more happens: the stripes are whole.
	rc.advance(repairGrace)
	if again, _ := rc.status(); again.Rebuilt != lost {
		t.Fatalf("more repairs after the stripes were whole: %+v", again)
	}
	reader := rc.nodes[0].Cloud(reliable(t, 2))
	readAll(t, reader, cfg, files, ms)
	for _, i := range []int{1, 2, 3, 4, 5, 6, 7} {
		if i != victim && len(rc.live()) > 5 {
			rc.close(i)
		}
	}
	readAll(t, reader, cfg, files, ms)
}

// TestShortOutageNoRepair: a holder away for less than its grace and back
// causes no repair.
func TestShortOutageNoRepair(t *testing.T) {
	rc := newRepairCloud(t, 6, nil)
	putFiles(t, rc.nodes[0].Cloud(reliable(t, 3)), 2, 200<<10, 2)
	rc.advance(time.Minute)
	away, _ := rc.busiest()
	rc.close(away)
	rc.advance(time.Minute)
	if st, _ := rc.status(); st.Down == 0 {
		t.Fatalf("nobody saw the outage: %+v", st)
	}
	rc.advance(repairGrace / 2)
	rc.restart(away)
	rc.advance(time.Minute)
	st, whole := rc.status()
	if st.Down != 0 || !whole {
		t.Fatalf("after the return: %+v", st)
	}
	rc.advance(2 * repairGrace) // past the grace the outage would have had
	if st, whole := rc.status(); st.Done != 0 || st.Rebuilt != 0 || st.BytesOut != 0 || !whole {
		t.Fatalf("a short outage caused repairs: %+v", st)
	}
}

// TestStopNoticedAtOnce: a holder that stops is checked as its
// connections close, not at the next check period: with the clock
// standing still, the other holders count it down.
func TestStopNoticedAtOnce(t *testing.T) {
	rc := newRepairCloud(t, 6, nil)
	putFiles(t, rc.nodes[0].Cloud(reliable(t, 5)), 1, 200<<10, 5)
	rc.advance(time.Minute) // every holder checked once
	if st, _ := rc.status(); st.Down != 0 {
		t.Fatalf("down before the stop: %+v", st)
	}
	away, _ := rc.busiest()
	rc.close(away)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, _ := rc.status()
		if st.Down > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nobody checked the stopped holder before its next period: %+v", st)
		}
		time.Sleep(5 * time.Millisecond) // polling the nodes' status
	}
	if st, _ := rc.status(); st.Lost != 0 || st.Done != 0 {
		t.Fatalf("a stop is an outage, not a loss: %+v", st)
	}
}

// TestRepairRateCap: the repair traffic of every node stays within its
// cap over every window of a second (one pacer chunk of slack).
func TestRepairRateCap(t *testing.T) {
	const rate = 256 << 10
	rc := newRepairCloud(t, 8, func(i int, c *node.Config) { c.Repair.Rate = rate })
	putFiles(t, rc.nodes[0].Cloud(reliable(t, 4)), 4, 600<<10, 3)
	rc.advance(time.Minute)
	type event struct {
		at time.Time
		n  int
	}
	var mu sync.Mutex
	paced := map[int][]event{}
	for i, n := range rc.nodes {
		node.OnRepairPace(n, func(b int) {
			mu.Lock()
			paced[i] = append(paced[i], event{time.Now(), b})
			mu.Unlock()
		})
	}
	victim, lost := rc.busiest()
	rc.close(victim)
	rc.advance(time.Minute)
	start := time.Now()
	rc.advance(repairGrace)
	st := rc.untilWhole(20)
	elapsed := time.Since(start)
	if st.Rebuilt != lost {
		t.Fatalf("rebuilt %d of %d shards", st.Rebuilt, lost)
	}
	mu.Lock()
	defer mu.Unlock()
	var total int64
	for i, evs := range paced {
		var sum int64
		for j, e := range evs {
			sum += int64(e.n)
			// The bytes admitted within a second from e.
			var w int64
			for _, f := range evs[j:] {
				if f.at.Sub(e.at) >= time.Second {
					break
				}
				w += int64(f.n)
			}
			if w > rate+64<<10 {
				t.Fatalf("node %d moved %d bytes within a second, the cap is %d", i, w, rate)
			}
		}
		total += sum
	}
	moved := st.BytesIn + st.BytesOut
	if moved == 0 || total < moved {
		t.Fatalf("%d bytes moved, %d paced", moved, total)
	}
	t.Logf("%d repair bytes in %v over %d nodes, capped at %d B/s each", moved, elapsed.Round(time.Millisecond), len(paced), rate)
}

// TestCorruptShardRebuilt: a shard found corrupt is rebuilt on another
// node, every holder gets the new record, and the damaged copy goes:
// first found by its holder's own scrub (the holder repairs its own slot,
// so the Done messages carry a record that no longer names the repairer),
// then by the co-holders' audits alone.
func TestCorruptShardRebuilt(t *testing.T) {
	rc := newRepairCloud(t, 6, nil)
	c := rc.nodes[0].Cloud(reliable(t, 5))
	ds, hs := putMany(t, c, 3, 2, 2, 150<<10, 7) // shards of 150 KiB: files
	rc.advance(time.Minute)
	ctx := context.Background()
	corrupt := func(n *node.Node, id erasure.ShardID) {
		t.Helper()
		path := node.BlobPath(n, id)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/3] ^= 0x01
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// check waits for the repair of slot i of stripe s, which n held.
	check := func(s, i int, n *node.Node, want int) {
		t.Helper()
		st := rc.untilWhole(30)
		if st.Rebuilt != want {
			t.Fatalf("%d shards rebuilt, want %d: %+v", st.Rebuilt, want, st)
		}
		if has, err := n.Store().Has(ctx, []erasure.ShardID{ds[s].Shards[i].ID}); err != nil || has[0] {
			t.Fatalf("the corrupt copy is still there (%v)", err)
		}
		rc.checkRecords()
		id := stripeOf(t, ds[s], rc.nodes)
		for _, o := range rc.nodes {
			if hd, err := o.Store().GetHeld(ctx, id); err == nil && hd != nil {
				if names := hd.Record.Holders[i]; len(names) != 1 || names[0] == string(n.ID()) {
					t.Fatalf("a holder hints slot %d at %d holders (the damaged one: %v)", i, len(names), len(names) == 1 && names[0] == string(n.ID()))
				}
			}
		}
	}

	// The scrub: only the damaged holder takes its repair candidates. (A
	// co-holder's audit in the same period may find it first: the holder
	// then learns from the challenge that its copy is damaged.)
	victim := heldBy(rc.nodes, hs[0][1])
	corrupt(victim, ds[0].Shards[1].ID)
	found := false
	for _, r := range period(t, rc.nodes, rc.clk) {
		found = found || r.ShardID == ds[0].Shards[1].ID && r.Verdict == audit.Failed
	}
	if !found {
		t.Fatal("neither the scrub nor an audit found the corrupt shard")
	}
	node.TakeAuditRepairs(victim)
	rc.settle()
	check(0, 1, victim, 1)
	// The co-holders' audits of the old copy come too late: nothing more.
	for _, n := range rc.nodes {
		node.TakeAuditRepairs(n)
	}
	rc.advance(time.Minute)
	if st, whole := rc.status(); !whole || st.Rebuilt != 1 {
		t.Fatalf("late audit results caused repairs: %+v", st)
	}

	// The audits: every node but the damaged holder takes its candidates.
	victim = heldBy(rc.nodes, hs[1][2])
	corrupt(victim, ds[1].Shards[2].ID)
	found = false
	for _, r := range period(t, rc.nodes, rc.clk) {
		found = found || !r.Scrub && r.ShardID == ds[1].Shards[2].ID && r.Verdict == audit.Failed
	}
	if !found {
		t.Fatal("no audit found the corrupt shard")
	}
	for _, n := range rc.nodes {
		if n != victim {
			node.TakeAuditRepairs(n)
		}
	}
	rc.settle()
	check(1, 2, victim, 2)
}

// stripeOf returns the ID of the stripe of d from any node's held record.
func stripeOf(t *testing.T, d *erasure.Descriptor, nodes []*node.Node) stripe.ID {
	t.Helper()
	var out stripe.ID
	for _, n := range nodes {
		_ = n.Store().WalkHeld(context.Background(), func(h *badgerstore.Held) error {
			if h.Record.Descriptor.Shards[0].ID == d.Shards[0].ID {
				out = h.Record.ID()
			}
			return nil
		})
	}
	if out.IsZero() {
		t.Fatal("no record of the stripe")
	}
	return out
}

// TestForgedDoneDeletesNothing: a Done whose record names, for a
// holder's shard, a node that does not have it (hints are not signed: a
// forged or botched record) does not make the holder delete its copy.
func TestForgedDoneDeletesNothing(t *testing.T) {
	rc := newRepairCloud(t, 5, nil)
	ds, hs := putMany(t, rc.nodes[0].Cloud(reliable(t, 6)), 1, 2, 1, 150<<10, 9)
	rc.advance(time.Minute)
	ctx := context.Background()
	holder := heldBy(rc.nodes, hs[0][0])
	var other *node.Node
	for _, n := range rc.nodes {
		if !slices.Contains(hs[0], store.Holder(n.ID())) {
			other = n
			break
		}
	}
	h, err := holder.Store().GetHeld(ctx, stripeOf(t, ds[0], rc.nodes))
	if err != nil || h == nil {
		t.Fatal(err)
	}
	forged, err := h.Record.WithHolders(0, []string{string(other.ID())}, rc.clk.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := node.SendRepair(other, holder.ID(), []proto.RepairMsg{{Kind: proto.RepairDone, Record: forged}}); err != nil {
		t.Fatal(err)
	}
	rc.settle()
	has, err := holder.Store().Has(ctx, []erasure.ShardID{ds[0].Shards[0].ID})
	if err != nil || !has[0] {
		t.Fatalf("the holder deleted its shard for a record naming a node without it (%v)", err)
	}
}

// TestForgedDoneFromCoHolder (finding 1): a holder of a stripe names
// itself, in a newer record, for another holder's shard, and hands the
// record to every holder and to the owner as a Done (bare, and with a
// certificate of its own grant), a Stale and a Claim. Nobody takes it:
// the victim keeps its shard, every holder keeps the hints it had, and
// the owner's record of the stripe still names the victim.
func TestForgedDoneFromCoHolder(t *testing.T) {
	rc := newRepairCloud(t, 6, nil)
	ds, hs := putMany(t, rc.nodes[0].Cloud(reliable(t, 6)), 1, 2, 2, 150<<10, 11)
	rc.advance(time.Minute)
	ctx := context.Background()
	owner := rc.nodes[0]
	// The victim holds slot vs, the forger another; neither is the owner.
	var victim, forger *node.Node
	vs := -1
	for i, holder := range hs[0] {
		switch n := heldBy(rc.nodes, holder); {
		case n == nil || n == owner || n == victim || n == forger:
		case victim == nil:
			victim, vs = n, i
		case forger == nil:
			forger = n
		}
	}
	if forger == nil {
		t.Fatal("the placement did not give two holders beside the owner")
	}
	id := stripeOf(t, ds[0], rc.nodes)
	h, err := forger.Store().GetHeld(ctx, id)
	if err != nil || h == nil {
		t.Fatal(err)
	}
	before := slices.Clone(h.Record.Holders[vs])
	forged, err := h.Record.WithHolders(vs, []string{string(forger.ID())}, rc.clk.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// A certificate with the forger's own grant only, signed by its key.
	slots := []int{vs}
	fk := repair.Key(sha256.Sum256([]byte(forger.ID())))
	grant := ed25519.Sign(node.OwnerKey(forger), repair.GrantStatement(repair.StripeID(id), h.Record.Seq, 1, fk, slots))
	commit := ed25519.Sign(node.OwnerKey(forger), repair.CommitStatement(repair.StripeID(id), h.Record.Seq, forged.Seq, 1, slots, []repair.Key{fk}))
	cert := &proto.RepairCert{Version: h.Record.Seq, Ballot: 1, Claimant: string(forger.ID()), Slots: slots,
		Grants: []proto.RepairSigned{{From: string(forger.ID()), Sig: grant}, {From: string(forger.ID()), Sig: grant}}, Commit: commit}
	msgs := []proto.RepairMsg{
		{Kind: proto.RepairDone, Record: forged},
		{Kind: proto.RepairDone, Record: forged, Cert: cert},
		{Kind: proto.RepairStale, Record: forged, Cert: cert},
		{Kind: proto.RepairClaim, Record: forged, Ballot: 2, Sent: rc.clk.Now(), TTL: time.Minute, Slots: slots, Cert: cert},
	}
	targets := []*node.Node{owner}
	for _, holder := range hs[0] {
		if n := heldBy(rc.nodes, holder); n != forger && !slices.Contains(targets, n) {
			targets = append(targets, n)
		}
	}
	for _, n := range targets {
		if err := node.SendRepair(forger, n.ID(), msgs); err != nil {
			t.Fatal(err)
		}
	}
	rc.settle()
	has, err := victim.Store().Has(ctx, []erasure.ShardID{ds[0].Shards[vs].ID})
	if err != nil || !has[0] {
		t.Fatalf("the victim deleted its shard for a forged record (%v)", err)
	}
	for _, n := range targets[1:] {
		held, err := n.Store().GetHeld(ctx, id)
		if err != nil || held == nil {
			t.Fatalf("%s: no record of the stripe (%v)", n.ID().ShortString(), err)
		}
		if !slices.Equal(held.Record.Holders[vs], before) {
			t.Errorf("%s took the forged hints: shard 0 at %v, was %v", n.ID().ShortString(), held.Record.Holders[vs], before)
		}
	}
	owned, err := owner.Store().OwnedOf(ctx, []erasure.ShardID{ds[0].Shards[vs].ID})
	if err != nil || len(owned) != 1 {
		t.Fatalf("the owner's record: %d, %v", len(owned), err)
	}
	if !slices.Equal(owned[0].Holders[vs], before) {
		t.Errorf("the owner took the forged hints: shard %d at %v, was %v", vs, owned[0].Holders[vs], before)
	}
}
