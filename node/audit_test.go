package node_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// period runs one audit period on the injected clock: the clock moves a
// period and a bit, then every node steps its Auditor until none has
// anything left due (scrubs go one at a time). It returns every result.
func period(t *testing.T, nodes []*node.Node, clk *clock) []audit.Result {
	t.Helper()
	clk.Advance(time.Hour + 2*time.Minute)
	var all []audit.Result
	for round := 0; ; round++ {
		if round > 1000 {
			t.Fatal("the Auditors never ran out of work")
		}
		busy := false
		for _, n := range nodes {
			if next := node.AuditNext(n); !next.IsZero() && !next.After(clk.Now()) {
				busy = true
				all = append(all, node.AuditStep(context.Background(), n)...)
			}
		}
		if !busy {
			return all
		}
		clk.Advance(time.Millisecond) // past the scrub rate's gap
	}
}

// putMany puts count seeded k+m stripes of size-byte shards through c.
func putMany(t *testing.T, c *node.Cloud, count, k, m, size int, seed uint64) ([]*erasure.Descriptor, [][]store.Holder) {
	t.Helper()
	var ds []*erasure.Descriptor
	var hs [][]store.Holder
	for s := range count {
		d, shards := coded(t, k, m, size, seed+uint64(s))
		holders, err := c.PutStripe(context.Background(), d, shards)
		if err != nil {
			t.Fatal(err)
		}
		ds, hs = append(ds, d), append(hs, holders)
	}
	return ds, hs
}

// TestAuditsAndScrubsFindDamage: shards flipped, truncated and deleted on
// a holder's disk are found within one period, by the holder's own scrub
// and by its co-holders' audits, and become repair candidates on both
// sides; the other shards pass.
func TestAuditsAndScrubsFindDamage(t *testing.T) {
	nodes, clk := stripeCloud(t, 4, nil)
	c := nodes[0].Cloud(placement.NewRandom(4))
	ds, hs := putMany(t, c, 6, 2, 1, 150<<10, 100) // shards of 150 KiB: files
	// A period with nothing wrong: every audit passes.
	for _, r := range period(t, nodes, clk) {
		if r.Verdict != audit.Passed {
			t.Fatalf("an intact shard: %+v", r)
		}
	}
	// The victim is the node holding the most shards (at least three).
	var victim *node.Node
	var mine []erasure.ShardID
	for _, n := range nodes {
		var ids []erasure.ShardID
		for s, d := range ds {
			for i := range d.Shards {
				if hs[s][i] == store.Holder(n.ID()) {
					ids = append(ids, d.Shards[i].ID)
				}
			}
		}
		if len(ids) > len(mine) {
			victim, mine = n, ids
		}
	}
	if len(mine) < 3 {
		t.Fatalf("the busiest holder has %d shards", len(mine))
	}
	flipped, truncated, deleted := mine[0], mine[1], mine[2]
	path := node.BlobPath(victim, flipped)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(node.BlobPath(victim, truncated), 1000); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(node.BlobPath(victim, deleted)); err != nil {
		t.Fatal(err)
	}

	results := period(t, nodes, clk)
	damaged := map[erasure.ShardID]audit.Verdict{flipped: audit.Failed, truncated: audit.Missing, deleted: audit.Missing}
	scrubbed, audited := map[erasure.ShardID]bool{}, map[erasure.ShardID]bool{}
	for _, r := range results {
		want, bad := damaged[r.ShardID]
		switch {
		case !bad:
			if r.Verdict != audit.Passed {
				t.Errorf("an intact shard: %+v", r)
			}
		case r.Scrub:
			if r.Peer != string(victim.ID()) || r.Verdict != want {
				t.Errorf("scrub of %s: %v, want %v", r.ShardID.Short(), r.Verdict, want)
			}
			scrubbed[r.ShardID] = true
		case r.Peer == string(victim.ID()):
			if r.Verdict != want {
				t.Errorf("audit of %s: %v, want %v", r.ShardID.Short(), r.Verdict, want)
			}
			audited[r.ShardID] = true
		}
	}
	for id := range damaged {
		if !scrubbed[id] || !audited[id] {
			t.Errorf("shard %s: scrubbed %v, audited %v within the period", id.Short(), scrubbed[id], audited[id])
		}
	}
	st := victim.AuditStatus()
	if st.ScrubCorrupt != 1 || st.ScrubMissing != 2 || st.RepairQueue != 3 {
		t.Errorf("the victim's status: %+v", st)
	}
	var failed, missing int64
	for _, n := range nodes {
		if n == victim {
			continue
		}
		for _, pa := range n.AuditStatus().Peers {
			if pa.ID == victim.ID().String() {
				failed, missing = failed+pa.Failed, missing+pa.Missing
			}
		}
	}
	if failed < 1 || missing < 2 {
		t.Errorf("the co-holders' record of the victim: %d failed, %d missing", failed, missing)
	}
	// The victim's queue holds its own three damaged shards.
	select {
	case <-victim.RepairsReady():
	default:
		t.Error("the victim's repair queue was not signalled")
	}
	got := map[erasure.ShardID]bool{}
	for _, r := range victim.TakeRepairs(100) {
		got[r.ShardID] = true
	}
	if len(got) != 3 || !got[flipped] || !got[truncated] || !got[deleted] {
		t.Errorf("repair candidates %v", got)
	}
	if st := victim.AuditStatus(); st.RepairQueue != 0 {
		t.Errorf("%d candidates left after taking them all", st.RepairQueue)
	}
}

// TestCheatersRankedDown: a holder that deletes its shards but still
// answers has, and one that answers audits with garbage, fail their audits,
// fall in the writer's ranking, and get no new shards from the reliable
// placer, while the honest holders still do.
func TestCheatersRankedDown(t *testing.T) {
	const liar, forger = 4, 5
	nodes, clk := stripeCloud(t, 6, func(i int, c *node.Config) {
		switch i {
		case liar:
			node.HasAll(c)
		case forger:
			node.AnswerAudits(c, func(*proof.Challenge) (proto.AuditAnswer, bool) {
				b := make([]byte, 100)
				rand.Read(b)
				return proto.AuditAnswer{Held: true, Proof: b}, true
			})
		}
	})
	ctx := context.Background()
	writer := nodes[0]
	c := writer.Cloud(placement.NewRandom(5))
	ds, _ := putMany(t, c, 30, 2, 1, 16<<10, 200)
	// The liar drops every shard.
	var dropped []erasure.ShardID
	nodes[liar].Store().Walk(ctx, func(id erasure.ShardID, _ int) error {
		dropped = append(dropped, id)
		return nil
	})
	if len(dropped) == 0 {
		t.Fatal("the liar holds nothing")
	}
	for _, id := range dropped {
		if err := nodes[liar].Store().Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	has, err := writer.Remote(nodes[liar].ID()).Has(ctx, dropped)
	if err != nil || !has[0] {
		t.Fatalf("the liar does not claim its shards: %v %v", has, err)
	}
	for range 4 {
		period(t, nodes, clk)
	}
	rating := func(p peer.ID) float64 { return node.Rating(writer, p) }
	for _, i := range []int{liar, forger} {
		for _, h := range []int{1, 2, 3} {
			if rating(nodes[i].ID()) >= rating(nodes[h].ID()) {
				t.Fatalf("cheater %d rated %.3f, honest %d %.3f", i, rating(nodes[i].ID()), h, rating(nodes[h].ID()))
			}
		}
	}
	rec := map[string]node.PeerAudits{}
	for _, pa := range writer.AuditStatus().Peers {
		rec[pa.ID] = pa
	}
	if pa := rec[nodes[liar].ID().String()]; pa.Missing == 0 || pa.Passed != 0 {
		t.Errorf("the writer's record of the liar: %+v", pa)
	}
	if pa := rec[nodes[forger].ID().String()]; pa.Failed == 0 || pa.Passed != 0 {
		t.Errorf("the writer's record of the forger: %+v", pa)
	}
	t.Logf("ratings: honest %.3f %.3f %.3f, liar %.3f, forger %.3f (writer's %d stripes before)",
		rating(nodes[1].ID()), rating(nodes[2].ID()), rating(nodes[3].ID()), rating(nodes[liar].ID()), rating(nodes[forger].ID()), len(ds))

	reliable, err := placement.NewReliable(placement.ReliableConfig{Seed: 6})
	if err != nil {
		t.Fatal(err)
	}
	_, hs := putMany(t, writer.Cloud(reliable), 20, 2, 1, 16<<10, 300)
	count := map[store.Holder]int{}
	for _, holders := range hs {
		for _, h := range holders {
			count[h]++
		}
	}
	for _, i := range []int{liar, forger} {
		if n := count[store.Holder(nodes[i].ID())]; n > 0 {
			t.Errorf("cheater %d got %d new shards", i, n)
		}
	}
	honest := 0
	for _, i := range []int{1, 2, 3} {
		honest += count[store.Holder(nodes[i].ID())]
	}
	if honest == 0 {
		t.Error("the honest holders got no new shards")
	}
}

// TestAuditLoop: with the real clock and a short period, the node's own
// loop audits and scrubs: a shard flipped on disk reaches the repair
// queue of its holder (scrub) and of a co-holder (audit).
func TestAuditLoop(t *testing.T) {
	cfg := audit.Config{Period: 2 * time.Second, Deadline: 500 * time.Millisecond, Leaves: 64, ScrubPeriod: 2 * time.Second, Seed: [32]byte{9}}
	secret := node.NewCloudSecret()
	var nodes []*node.Node
	for range 3 {
		n, err := node.New(node.Config{Dir: t.TempDir(), Secret: secret, RequestTimeout: 10 * time.Second, Audit: cfg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	ctx := context.Background()
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.Connect(ctx, b.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
	}
	ds, hs := putMany(t, nodes[0].Cloud(placement.NewRandom(7)), 1, 2, 1, 150<<10, 400)
	victim := heldBy(nodes, hs[0][1])
	id := ds[0].Shards[1].ID
	path := node.BlobPath(victim, id)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	auditor := heldBy(nodes, hs[0][0])
	for _, n := range []*node.Node{victim, auditor} {
		select {
		case <-n.RepairsReady():
		case <-time.After(30 * time.Second):
			t.Fatalf("%s queued no repair in 30 s: %+v", n.ID().ShortString(), n.AuditStatus())
		}
		rs := n.TakeRepairs(10)
		if len(rs) != 1 || rs[0].ShardID != id || rs[0].Verdict != audit.Failed {
			t.Fatalf("repair candidates %+v", rs)
		}
	}
}

// TestAuditsSurviveRestart: a holder restarted on its folder reloads its
// stripe records and audits and scrubs them as before.
func TestAuditsSurviveRestart(t *testing.T) {
	nodes, clk, cfgs := stripeCloudConfigs(t, 3, nil)
	ds, hs := putMany(t, nodes[0].Cloud(placement.NewRandom(8)), 2, 2, 1, 150<<10, 500)
	i := 1
	before := nodes[i].AuditStatus()
	if before.Stripes != 2 || before.Targets == 0 {
		t.Fatalf("before the restart: %+v", before)
	}
	if err := nodes[i].Close(); err != nil {
		t.Fatal(err)
	}
	n, err := node.New(cfgs[i])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	nodes[i] = n
	for j, o := range nodes {
		if j != i {
			if err := n.Connect(context.Background(), o.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := n.AuditStatus(); after.Stripes != before.Stripes || after.Targets != before.Targets {
		t.Fatalf("after the restart: %+v, before %+v", after, before)
	}
	var mine erasure.ShardID
	for s, d := range ds {
		for j := range d.Shards {
			if hs[s][j] == store.Holder(n.ID()) {
				mine = d.Shards[j].ID
			}
		}
	}
	if err := os.Remove(node.BlobPath(n, mine)); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range period(t, nodes, clk) {
		if r.ShardID == mine && r.Scrub && r.Verdict == audit.Missing {
			found = true
		} else if r.ShardID != mine && r.Verdict != audit.Passed {
			t.Errorf("an intact shard: %+v", r)
		}
	}
	if !found {
		t.Fatal("the restarted holder's scrub did not find its deleted shard")
	}
}

// TestExpiredStripesAreNoEvidence: once a stripe's retention has run out,
// a holder that has already dropped it is not counted as failing the
// audits of a co-holder that has not yet; the co-holder stops auditing it.
func TestExpiredStripesAreNoEvidence(t *testing.T) {
	nodes, clk := stripeCloud(t, 3, nil)
	ctx := context.Background()
	_, hs := putMany(t, nodes[0].Cloud(placement.NewRandom(9)), 1, 2, 1, 16<<10, 600)
	for _, r := range period(t, nodes, clk) {
		if r.Verdict != audit.Passed {
			t.Fatalf("an intact shard: %+v", r)
		}
	}
	clk.Advance(nodes[0].LeaseTerm())
	dropper := heldBy(nodes, hs[0][1])
	if err := node.Reclaim(ctx, dropper); err != nil {
		t.Fatal(err)
	}
	if used := dropper.Store().Used(); used != 0 || dropper.AuditStatus().Stripes != 0 {
		t.Fatalf("the dropper still holds %d bytes, %d stripes", used, dropper.AuditStatus().Stripes)
	}
	for _, r := range period(t, nodes, clk) {
		if r.Verdict != audit.Passed {
			t.Errorf("an expired stripe's audit counted: %+v", r)
		}
	}
	for _, n := range nodes {
		if n == dropper {
			continue
		}
		for _, pa := range n.AuditStatus().Peers {
			if pa.ID == dropper.ID().String() && pa.Missing+pa.Failed+pa.TimedOut > 0 {
				t.Errorf("%s holds the expiry against the dropper: %+v", n.ID().ShortString(), pa)
			}
		}
	}
}
