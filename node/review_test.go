package node_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

// TestForeignTombstoneBlocksNothing: a member that does not own a stripe
// signs a release of it with its own key (dated far ahead, so that it
// would never expire) and sends it to a member that does not hold the
// stripe yet: a future holder or repair target. The stripe's owner must
// still be able to put it there.
func TestForeignTombstoneBlocksNothing(t *testing.T) {
	nodes, clk := stripeCloud(t, 3, nil)
	ctx := context.Background()
	owner, rogue, holder := nodes[0], nodes[1], nodes[2]
	d, shards := coded(t, 2, 1, 20<<10, 41)
	rec, err := stripe.New(d, shards)
	if err != nil {
		t.Fatal(err)
	}
	id := rec.ID()

	for _, ahead := range []time.Duration{50 * 365 * 24 * time.Hour, 0} {
		rel, entries, err := stripe.SignReleasing(node.OwnerKey(rogue), clk.Now().Add(ahead), []stripe.ID{id})
		if err != nil {
			t.Fatal(err)
		}
		// The holder may answer it or not; what matters is what it keeps.
		_ = rogue.Remote(holder.ID()).ReleaseStripes(ctx, &stripe.Releasing{Release: rel, Entries: []stripe.Entry{entries[id]}})
		if tomb, _ := holder.Store().Tombstone(ctx, id); ahead > 0 && tomb != nil {
			t.Fatalf("a release dated %v ahead was kept, until %v", ahead, tomb.Expires())
		}
	}

	now := clk.Now()
	ret, ren, err := stripe.SignRenewal(node.OwnerKey(owner), now, now.Add(24*time.Hour), []stripe.ID{id})
	if err != nil {
		t.Fatal(err)
	}
	rec.Retention, rec.Path = ret, ren[id].Path
	if err := owner.Remote(holder.ID()).PutStriped(ctx, rec, 0, shards[0]); err != nil {
		t.Fatalf("the owner's put, after another member's release of its stripe: %v", err)
	}

	// The owner's own release replaces the other key's tombstone, and
	// then its old retention cannot bring the stripe back.
	clk.Advance(time.Minute)
	rel, entries, err := stripe.SignReleasing(node.OwnerKey(owner), clk.Now(), []stripe.ID{id})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Remote(holder.ID()).ReleaseStripes(ctx, &stripe.Releasing{Release: rel, Entries: []stripe.Entry{entries[id]}}); err != nil {
		t.Fatal(err)
	}
	if tomb, err := holder.Store().Tombstone(ctx, id); err != nil || tomb == nil || tomb.Release.Owner != owner.Owner() {
		t.Fatalf("the owner's release left no tombstone of the owner's: %v", err)
	}
	if err := owner.Remote(holder.ID()).PutStriped(ctx, rec, 0, shards[0]); !errors.Is(err, node.ErrRefused) {
		t.Fatalf("a stale put after the owner's release: %v", err)
	}
}

// onPeers places shards on the named peers, in order.
type onPeers []string

func (o onPeers) Place(cands []placement.Candidate, sizes []int) ([]int, error) {
	out := make([]int, len(sizes))
	for j := range sizes {
		out[j] = slices.IndexFunc(cands, func(c placement.Candidate) bool { return c.ID == o[j] })
		if out[j] < 0 {
			return nil, placement.ErrNotEnoughPeers
		}
	}
	return out, nil
}

// TestHintsFromStrangersAreNoEvidence: a member that neither owns nor
// holds a stripe hands its holders the stripe's record (genuine: the
// owner's retention) with newer hints naming an honest member for one
// shard, and dropping the shard's real holder. The honest member, which
// was never given the shard, must not be reported for missing it, nor
// the real holder escape its audits.
func TestHintsFromStrangersAreNoEvidence(t *testing.T) {
	nodes, clk := stripeCloud(t, 5, nil)
	ctx := context.Background()
	owner, victim, rogue := nodes[0], nodes[4], nodes[3]
	holders := onPeers{string(nodes[1].ID()), string(nodes[2].ID()), string(owner.ID())}
	d, shards := coded(t, 2, 1, 20<<10, 43)
	if _, err := owner.Cloud(holders).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	rec := heldRecord(t, nodes[1], d, 0)
	bad, err := rec.WithHolders(1, []string{string(victim.ID())}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range nodes[:3] {
		_ = rogue.Remote(h.ID()).PushRecord(ctx, bad)
	}
	for _, r := range period(t, nodes, clk) {
		if r.Peer == string(victim.ID()) && r.Verdict != audit.Passed {
			t.Fatalf("the honest %s, hinted by a stranger, was reported: %v", victim.ID().ShortString(), r.Verdict)
		}
	}
	if got := heldRecord(t, nodes[1], d, 0).Holders[1]; len(got) != 1 || got[0] != string(nodes[2].ID()) {
		t.Fatalf("a stranger's hints were kept: shard 1 at %v", got)
	}
}

// TestUndoKeepsWhatAnotherPutStored: two puts of the same bytes run at
// once (the same file uploaded twice); one fails and undoes what it
// stored while the other is still writing, so its file is in no catalog
// yet. The undo must not release the stripe the other put stored.
func TestUndoKeepsWhatAnotherPutStored(t *testing.T) {
	nodes, _ := stripeCloud(t, 4, nil)
	ctx := context.Background()
	c := nodes[0].Cloud(placement.NewRandom(7)).PeersOnly()
	d, shards := coded(t, 2, 1, 20<<10, 44)
	first, second := c.Track(), c.Track()
	holders, err := first.PutStripe(ctx, d, shards)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := second.PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Undo(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for i, h := range holders {
		n := heldBy(nodes, h)
		has, err := n.Store().Has(ctx, []erasure.ShardID{d.Shards[i].ID})
		if err != nil || !has[0] {
			t.Fatalf("shard %d, which the first put still needs, is gone from %s: %v", i, h, err)
		}
	}
	first.Done()
}

// TestSkewedExpiryIsNoEvidence: a holder whose clock runs five minutes
// ahead (within stripe.MaxSkew) drops a stripe when its retention ends by
// its clock; its co-holders, whose clocks say the retention has minutes
// left, must not count that against it.
func TestSkewedExpiryIsNoEvidence(t *testing.T) {
	nodes, clk := stripeCloud(t, 3, func(i int, c *node.Config) {
		if i == 2 {
			now := c.Now
			c.Now = func() time.Time { return now().Add(5 * time.Minute) }
		}
	})
	ctx := context.Background()
	dropper := nodes[2]
	holders := onPeers{string(nodes[0].ID()), string(nodes[1].ID()), string(dropper.ID())}
	d, shards := coded(t, 2, 1, 16<<10, 45)
	if _, err := nodes[0].Cloud(holders).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	clk.Advance(nodes[0].LeaseTerm() - 3*time.Minute)
	if err := node.Reclaim(ctx, dropper); err != nil {
		t.Fatal(err)
	}
	if used := dropper.Store().Used(); used != 0 {
		t.Fatalf("the dropper still holds %d bytes", used)
	}
	n := 0
	for _, a := range nodes[:2] {
		for _, r := range node.AuditStep(ctx, a) {
			n++
			if r.Peer == string(dropper.ID()) && r.Verdict != audit.Passed {
				t.Errorf("%s holds a skewed expiry against the dropper: %v", a.ID().ShortString(), r.Verdict)
			}
		}
	}
	if n == 0 {
		t.Fatal("no audits ran")
	}
}

// TestUndoKeepsShardsOfLiveStripes: two stripes of one owner share a
// data shard (the same bytes in two files, or a file and a drive object).
// Undoing a failed put of the second must not take the shard from the
// first, whose retention is live and which nobody released.
func TestUndoKeepsShardsOfLiveStripes(t *testing.T) {
	nodes, _ := stripeCloud(t, 4, nil)
	ctx := context.Background()
	on := onPeers{string(nodes[1].ID()), string(nodes[2].ID()), string(nodes[3].ID())}
	c := nodes[0].Cloud(on)
	enc, err := erasure.NewCoder(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	_, base := coded(t, 2, 1, 16<<10, 46)
	_, other := coded(t, 2, 1, 16<<10, 47)
	put := func(p store.StripePutter, data [][]byte) *erasure.Descriptor {
		d, parity, err := enc.Encode(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PutStripe(ctx, d, append(data, parity...)); err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := put(c, [][]byte{base[0], base[1]})
	tr := c.Track()
	second := put(tr, [][]byte{base[0], other[1]})
	if first.Shards[0].ID != second.Shards[0].ID {
		t.Fatal("the stripes share no shard")
	}
	if _, err := tr.Undo(ctx, nil); err != nil {
		t.Fatal(err)
	}
	has, err := nodes[1].Store().Has(ctx, []erasure.ShardID{first.Shards[0].ID})
	if err != nil || !has[0] {
		t.Fatalf("the first stripe's shard 0 is gone from its holder: %v", err)
	}
	heldRecord(t, nodes[1], first, 0)
}

// TestSilentHolderIsRepaired: a holder that stops answering audits (gone
// for good, or a cheater that dropped its shards and keeps quiet rather
// than say so) must not keep its shards out of repair for ever: after a
// few periods of silence its co-holders queue them.
func TestSilentHolderIsRepaired(t *testing.T) {
	nodes, clk := stripeCloud(t, 4, nil)
	ctx := context.Background()
	silent := nodes[3]
	on := onPeers{string(nodes[1].ID()), string(nodes[2].ID()), string(silent.ID())}
	d, shards := coded(t, 2, 1, 16<<10, 48)
	if _, err := nodes[0].Cloud(on).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	if err := silent.Close(); err != nil {
		t.Fatal(err)
	}
	live := nodes[:3]
	for range 4 {
		period(t, live, clk)
	}
	found := false
	for _, n := range live[1:] {
		for _, r := range n.TakeRepairs(100) {
			if r.Peer == string(silent.ID()) && r.Shard == 2 {
				found = true
			}
		}
	}
	if !found {
		t.Fatal("four periods of silence, and the silent holder's shard is no repair candidate")
	}
}

// TestRefusedReleaseKeepsAudits: a member sends a holder a release, signed
// with its own key, of a stripe another owner put there (a co-holder
// cheating, say, that would rather not be audited). The holder refuses it
// and must go on auditing the stripe's co-holders and scrubbing its shard.
func TestRefusedReleaseKeepsAudits(t *testing.T) {
	nodes, clk := stripeCloud(t, 4, nil)
	ctx := context.Background()
	rogue := nodes[3]
	on := onPeers{string(nodes[1].ID()), string(nodes[2].ID()), string(rogue.ID())}
	d, shards := coded(t, 2, 1, 16<<10, 49)
	if _, err := nodes[0].Cloud(on).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	id := stripeID(t, d, shards)
	rel, entries, err := stripe.SignReleasing(node.OwnerKey(rogue), clk.Now(), []stripe.ID{id})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range nodes[1:3] {
		_ = rogue.Remote(h.ID()).ReleaseStripes(ctx, &stripe.Releasing{Release: rel, Entries: []stripe.Entry{entries[id]}})
	}
	for _, h := range nodes[1:3] {
		if st := h.AuditStatus(); st.Stripes != 1 || st.Targets == 0 {
			t.Fatalf("%s audits %d stripes, %d targets after a refused release", h.ID().ShortString(), st.Stripes, st.Targets)
		}
	}
	audited := 0
	for _, r := range period(t, nodes[:3], clk) {
		if r.Peer == string(rogue.ID()) {
			audited++
		}
	}
	if audited == 0 {
		t.Fatal("nobody audited the rogue after its refused release")
	}
}

// TestHintsFromCoHolderRefused: a holder of a stripe pushes the other
// holders a newer record naming itself for another holder's shard. Only
// the owner hands hints over this way (a repair's come with its grant
// certificate): the record is refused and the hints stay.
func TestHintsFromCoHolderRefused(t *testing.T) {
	nodes, clk := stripeCloud(t, 4, nil)
	ctx := context.Background()
	owner, rogue, other := nodes[0], nodes[1], nodes[2]
	holders := onPeers{string(rogue.ID()), string(other.ID()), string(owner.ID())}
	d, shards := coded(t, 2, 1, 20<<10, 45)
	if _, err := owner.Cloud(holders).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	bad, err := heldRecord(t, rogue, d, 0).WithHolders(1, []string{string(rogue.ID())}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := rogue.Remote(other.ID()).PushRecord(ctx, bad); !errors.Is(err, node.ErrRefused) {
		t.Fatalf("a co-holder's hints: %v, want refused", err)
	}
	if got := heldRecord(t, other, d, 1).Holders[1]; len(got) != 1 || got[0] != string(other.ID()) {
		t.Fatalf("a co-holder's hints were kept: shard 1 at %v", got)
	}
}

// TestReplacedShardNeedsProof: a replaced holder deletes its copy only
// once a new holder proves it has the shard, answering a challenge
// against the record's root: a holder whose copy is corrupt still says
// it has it (Has), and one that never had it proves nothing.
func TestReplacedShardNeedsProof(t *testing.T) {
	nodes, _ := stripeCloud(t, 4, nil)
	ctx := context.Background()
	owner, holder, asker, stranger := nodes[0], nodes[1], nodes[2], nodes[3]
	d, shards := coded(t, 2, 1, 150<<10, 46) // large enough to be a blob file
	if _, err := owner.Cloud(onPeers{string(holder.ID()), string(asker.ID()), string(owner.ID())}).PutStripe(ctx, d, shards); err != nil {
		t.Fatal(err)
	}
	rec := heldRecord(t, holder, d, 0)
	if !node.HeldElsewhere(asker, rec, 0, []string{string(holder.ID())}) {
		t.Fatal("the holder of the shard did not prove it")
	}
	if node.HeldElsewhere(asker, rec, 0, []string{string(stranger.ID())}) {
		t.Fatal("a member without the shard proved it")
	}
	path := node.BlobPath(holder, d.Shards[0].ID)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] ^= 0x5a
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if has, err := asker.Remote(holder.ID()).Has(ctx, []erasure.ShardID{d.Shards[0].ID}); err != nil || !has[0] {
		t.Fatalf("the corrupt holder does not say it has the shard (%v, %v): the case is not the one meant", has, err)
	}
	if node.HeldElsewhere(asker, rec, 0, []string{string(holder.ID())}) {
		t.Fatal("a holder whose copy is corrupt proved it")
	}
}
