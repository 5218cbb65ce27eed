package stripe_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

const day = 24 * time.Hour

func TestID(t *testing.T) {
	r, _ := newStripe(t, "id")
	id := r.ID()
	back, err := stripe.ParseID(id.String())
	if err != nil || back != id || id.IsZero() || len(id.Short()) != 12 {
		t.Fatalf("text round trip: %v", err)
	}
	var u stripe.ID
	if err := u.UnmarshalText([]byte(strings.ToUpper(id.String()))); err != nil || u != id {
		t.Fatalf("upper case: %v", err)
	}
	for _, bad := range []string{"", id.String()[:63], id.String() + "0", "zz" + id.String()[2:]} {
		if _, err := stripe.ParseID(bad); !errors.Is(err, stripe.ErrBadID) {
			t.Fatalf("ParseID(%q): %v", bad, err)
		}
	}
	// The ID names the descriptor and the roots: another root, another ID.
	other := r.Clone()
	other.Roots[1][0] ^= 1
	if other.ID() == id {
		t.Fatal("the roots are not in the ID")
	}
	o := stripe.OwnerOf(ownerKey(1))
	if p, err := stripe.ParseOwner(o.String()); err != nil || p != o || !bytes.Equal(o.PublicKey(), ownerKey(1).Public().(ed25519.PublicKey)) {
		t.Fatalf("owner round trip: %v", err)
	}
}

// TestRecordRoundTrip: covered records verify, encode within
// MaxRecordLen, and parse back to the same bytes and ID.
func TestRecordRoundTrip(t *testing.T) {
	recs, _, _ := covered(t, ownerKey(1), 5, t0, 30*day)
	for _, r := range recs {
		r, _ = r.WithHolders(0, []string{"peer-b", "peer-a", "peer-a"}, t0)
		if err := r.Verify(); err != nil {
			t.Fatal(err)
		}
		b := encode(t, r)
		if len(b) > stripe.MaxRecordLen {
			t.Fatalf("%d bytes > MaxRecordLen", len(b))
		}
		got, err := stripe.ParseRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if err := got.Verify(); err != nil || got.ID() != r.ID() || !bytes.Equal(encode(t, got), b) {
			t.Fatalf("parsed record: %v", err)
		}
		if !slices.Equal(got.Holders[0], []string{"peer-a", "peer-b"}) || got.Seq != uint64(t0.UnixMilli()) {
			t.Fatalf("hints %v seq %d", got.Holders, got.Seq)
		}
	}
	// The largest shape: 256 shards, every hint full.
	data := make([][]byte, 200)
	for i := range data {
		data[i] = []byte{byte(i)}
	}
	d, shards := code(t, 200, 56, data...)
	big, _ := stripe.New(d, shards)
	set := mustSet(t, big.ID())
	ret, _ := stripe.SignRetention(ownerKey(1), t0, t0.Add(day), set)
	big, _ = big.Cover(ret, set)
	for i := range shards {
		var names []string
		for j := range stripe.MaxHolders {
			names = append(names, strings.Repeat(string(rune('a'+j)), stripe.MaxHolderLen))
		}
		big, _ = big.WithHolders(i, names, t0)
	}
	if b := encode(t, big); len(b) > stripe.MaxRecordLen {
		t.Fatalf("the largest record is %d bytes > MaxRecordLen %d", len(b), stripe.MaxRecordLen)
	}
}

// TestBatchedRetention: one signature keeps many stripes; each record
// carries its own path, which shows no other stripe.
func TestBatchedRetention(t *testing.T) {
	recs, set, ret := covered(t, ownerKey(2), 300, t0, 30*day)
	if set.Len() != 300 || ret.Count != 300 {
		t.Fatalf("set of %d", set.Len())
	}
	for i, r := range recs {
		if err := r.Verify(); err != nil {
			t.Fatalf("stripe %d: %v", i, err)
		}
		other := recs[(i+1)%len(recs)]
		if ret.Covers(other.ID(), r.Path) {
			t.Fatalf("stripe %d's path shows stripe %d", i, (i+1)%len(recs))
		}
	}
	if _, ok := set.Path(stripe.ID{1}); ok {
		t.Fatal("a path for a stripe outside the set")
	}
	if s, err := stripe.NewSet([]stripe.ID{recs[0].ID(), recs[0].ID()}); err != nil || s.Len() != 1 {
		t.Fatalf("repeats: %v", err)
	}
	if _, err := stripe.NewSet(nil); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("an empty set: %v", err)
	}
	lone, _ := newStripe(t, "lone")
	if _, err := lone.Cover(ret, set); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("covering a stripe outside the set: %v", err)
	}
	if _, err := recs[0].Cover(ret, mustSet(t, recs[0].ID())); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("covering with a retention of another set: %v", err)
	}
}

// TestVerifyRefuses: a record whose retention is forged, whose parts were
// swapped, or whose roots were changed does not verify.
func TestVerifyRefuses(t *testing.T) {
	recs, _, _ := covered(t, ownerKey(3), 4, t0, 30*day)
	r := recs[0]
	mallory := ownerKey(9)
	forged := map[string]func(*stripe.Record){
		"a flipped signature":     func(x *stripe.Record) { x.Retention.Sig[5] ^= 1 },
		"another owner's key":     func(x *stripe.Record) { x.Retention.Owner = stripe.OwnerOf(mallory) },
		"a later until":           func(x *stripe.Record) { x.Retention.Until = x.Retention.Until.Add(time.Second) },
		"another stripe's path":   func(x *stripe.Record) { x.Path = recs[1].Path },
		"another root":            func(x *stripe.Record) { x.Roots[0][3] ^= 1 },
		"another descriptor":      func(x *stripe.Record) { x.Descriptor = recs[1].Descriptor },
		"a root count off":        func(x *stripe.Record) { x.Roots = x.Roots[:2] },
		"no descriptor":           func(x *stripe.Record) { x.Descriptor = nil },
		"hints for 2 of 3 shards": func(x *stripe.Record) { x.Holders = [][]string{{"a"}, {"b"}} },
		"unsorted hints":          func(x *stripe.Record) { x.Holders = [][]string{{"b", "a"}, nil, nil} },
		"an empty holder name":    func(x *stripe.Record) { x.Holders = [][]string{{""}, nil, nil} },
		"a path too long": func(x *stripe.Record) {
			x.Path.Siblings = append(slices.Clone(x.Path.Siblings), [32]byte{})
		},
	}
	for name, f := range forged {
		x := r.Clone()
		f(x)
		if err := x.Verify(); !errors.Is(err, stripe.ErrBadRecord) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Mallory signing her own retention over the stripe verifies as hers:
	// ownership is settled by Receive, not Verify.
	set := mustSet(t, r.ID())
	ret, _ := stripe.SignRetention(mallory, t0, t0.Add(day), set)
	hers, _ := r.Cover(ret, set)
	if err := hers.Verify(); err != nil {
		t.Fatal(err)
	}
	if _, err := stripe.Receive(r, hers, nil, t0); !errors.Is(err, stripe.ErrOwner) {
		t.Fatalf("another owner's record of a held stripe: %v", err)
	}
	// An empty slot must have the empty shard's root, which is in the ID
	// and so signed: a record made with another does not verify.
	d, shards := code(t, 3, 1, []byte("only one"))
	e, _ := stripe.New(d, shards)
	e.Roots[2] = proof.RootOf([]byte("x"))
	es := mustSet(t, e.ID())
	eret, _ := stripe.SignRetention(ownerKey(3), t0, t0.Add(day), es)
	e, _ = e.Cover(eret, es)
	if err := e.Verify(); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("an empty slot with another root: %v", err)
	}
	if _, err := stripe.SignRetention(ownerKey(3), t0, t0.Add(stripe.MaxTerm+time.Second), es); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("a term beyond MaxTerm: %v", err)
	}
	if _, err := stripe.SignRetention(ownerKey(3), t0, t0, es); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("a term of zero: %v", err)
	}
}

// TestDomains: a retention's signature is no release's, and neither is a
// bare signature of the same fields.
func TestDomains(t *testing.T) {
	key := ownerKey(4)
	r, _ := newStripe(t, "domains")
	set := mustSet(t, r.ID())
	ret, _ := stripe.SignRetention(key, t0, t0.Add(day), set)
	rel := stripe.Release{Owner: ret.Owner, Issued: ret.Issued, Count: ret.Count, Root: ret.Root, Sig: ret.Sig}
	if err := rel.Verify(); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("a retention's signature as a release's: %v", err)
	}
	real, _ := stripe.SignRelease(key, t0, set)
	as := stripe.Retention{Owner: real.Owner, Issued: real.Issued, Until: t0.Add(day), Count: real.Count, Root: real.Root, Sig: real.Sig}
	if err := as.Verify(); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("a release's signature as a retention's: %v", err)
	}
	enc := encode(t, &ret)
	bare := ret
	copy(bare.Sig[:], ed25519.Sign(key, enc[:85]))
	if err := bare.Verify(); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("a signature without the domain: %v", err)
	}
}

func TestLive(t *testing.T) {
	recs, _, ret := covered(t, ownerKey(5), 1, t0, 30*day)
	r := recs[0]
	if !r.Live(t0) || !r.Live(ret.Until.Add(-time.Second)) || r.Live(ret.Until) || r.Live(ret.Until.Add(day)) {
		t.Fatal("Live is not 'before Until'")
	}
}

// TestReceive: what a holder keeps when handed a record.
func TestReceive(t *testing.T) {
	key := ownerKey(6)
	recs, _, _ := covered(t, key, 2, t0, 30*day)
	r := recs[0]
	now := t0.Add(day)

	got, err := stripe.Receive(nil, r, nil, now)
	if err != nil || !bytes.Equal(encode(t, got), encode(t, r)) {
		t.Fatalf("a first record: %v", err)
	}
	if _, err := stripe.Receive(nil, r, nil, t0.Add(31*day)); !errors.Is(err, stripe.ErrExpired) {
		t.Fatalf("an expired record: %v", err)
	}
	bad := r.Clone()
	bad.Retention.Sig[0] ^= 1
	if _, err := stripe.Receive(nil, bad, nil, now); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("a forged record: %v", err)
	}
	future, _ := r.WithHolders(0, []string{"x"}, now.Add(stripe.MaxSkew+time.Second))
	if _, err := stripe.Receive(nil, future, nil, now); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("hints from the future: %v", err)
	}
	soon, _ := r.WithHolders(0, []string{"x"}, now.Add(stripe.MaxSkew))
	if _, err := stripe.Receive(nil, soon, nil, now); err != nil {
		t.Fatalf("hints within the skew: %v", err)
	}
	if _, err := stripe.Receive(recs[1], r, nil, now); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("a record of another stripe: %v", err)
	}

	// Released on day 2: the old retention cannot bring it back, nor can
	// a repairer carrying it; a retention signed after the release can.
	rset := mustSet(t, r.ID())
	rel, _ := stripe.SignRelease(key, t0.Add(2*day), rset)
	rp, _ := rset.Path(r.ID())
	tomb, err := r.Release(rel, rp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stripe.Receive(nil, r, tomb, t0.Add(3*day)); !errors.Is(err, stripe.ErrReleased) {
		t.Fatalf("a released stripe re-put under its old retention: %v", err)
	}
	same, _ := stripe.SignRetention(key, t0.Add(2*day), t0.Add(40*day), rset)
	sameRec, _ := r.Cover(same, rset)
	if _, err := stripe.Receive(nil, sameRec, tomb, t0.Add(3*day)); !errors.Is(err, stripe.ErrReleased) {
		t.Fatalf("a retention signed in the release's second: %v", err)
	}
	mallory, _ := stripe.SignRetention(ownerKey(9), t0.Add(3*day), t0.Add(40*day), rset)
	malRec, _ := r.Cover(mallory, rset)
	if _, err := stripe.Receive(nil, malRec, tomb, t0.Add(3*day)); !errors.Is(err, stripe.ErrReleased) {
		t.Fatalf("another key's retention of a released stripe: %v", err)
	}
	again, _ := stripe.SignRetention(key, t0.Add(3*day), t0.Add(40*day), rset)
	againRec, _ := r.Cover(again, rset)
	if _, err := stripe.Receive(nil, againRec, tomb, t0.Add(3*day)); err != nil {
		t.Fatalf("a retention signed after the release: %v", err)
	}
	if want := rel.Issued.Add(stripe.MaxTerm); !tomb.Expires().Equal(want) {
		t.Fatalf("expires %v, want %v", tomb.Expires(), want)
	}
}

// TestMerge: the longer retention and the newer hints prevail; hints of
// one Seq are united; Merge is commutative.
func TestMerge(t *testing.T) {
	key := ownerKey(7)
	recs, _, _ := covered(t, key, 1, t0, 30*day)
	r := recs[0]
	set := mustSet(t, r.ID())
	longer, _ := stripe.SignRetention(key, t0.Add(day), t0.Add(60*day), set)
	long, _ := r.Cover(longer, set)

	a, _ := r.WithHolders(0, []string{"a1"}, t0.Add(time.Hour))
	b, _ := long.WithHolders(1, []string{"b1"}, t0)
	for _, pair := range [][2]*stripe.Record{{a, b}, {b, a}} {
		m, err := stripe.Merge(pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if !m.Retention.Until.Equal(longer.Until) || m.Seq != a.Seq || !slices.Equal(m.Holders[0], []string{"a1"}) || m.Holders[1] != nil {
			t.Fatalf("merged: until %v seq %d hints %v", m.Retention.Until, m.Seq, m.Holders)
		}
		if err := m.Verify(); err != nil {
			t.Fatal(err)
		}
	}
	if !stripe.Wins(b, a) || stripe.Wins(a, b) {
		t.Fatal("Wins: the longer retention prevails")
	}
	newer, _ := b.WithHolders(2, []string{"c"}, t0.Add(2*time.Hour))
	if !stripe.Wins(newer, b) || stripe.Wins(b, newer) || stripe.Wins(b, b) {
		t.Fatal("Wins: with the same retention, the newer hints prevail")
	}

	// Two updaters in the same millisecond: their hints are united, in
	// order, at most MaxHolders.
	x, _ := r.WithHolders(0, []string{"p3", "p1", "p5"}, t0.Add(time.Hour))
	y, _ := r.WithHolders(0, []string{"p2", "p4", "p1"}, t0.Add(time.Hour))
	xy, _ := stripe.Merge(x, y)
	yx, _ := stripe.Merge(y, x)
	if !bytes.Equal(encode(t, xy), encode(t, yx)) || !slices.Equal(xy.Holders[0], []string{"p1", "p2", "p3", "p4"}) {
		t.Fatalf("united hints %v / %v", xy.Holders[0], yx.Holders[0])
	}
	if m, _ := stripe.Merge(r, x); m.Seq != x.Seq || !slices.Equal(m.Holders[0], x.Holders[0]) {
		t.Fatal("hints over none")
	}
}

func TestWithHolders(t *testing.T) {
	recs, _, _ := covered(t, ownerKey(8), 1, t0, 30*day)
	r, _ := recs[0].WithHolders(0, []string{"b", "a"}, t0)
	if r.Seq != uint64(t0.UnixMilli()) || recs[0].Holders != nil {
		t.Fatalf("seq %d; the original changed: %v", r.Seq, recs[0].Holders)
	}
	// A clock behind the last change still moves Seq forward.
	s, _ := r.WithHolders(1, []string{"c"}, t0.Add(-time.Hour))
	if s.Seq != r.Seq+1 || !slices.Equal(s.Holders[0], []string{"a", "b"}) {
		t.Fatalf("seq %d, hints %v", s.Seq, s.Holders)
	}
	if _, err := r.WithHolders(0, []string{"1", "2", "3", "4", "5"}, t0); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("too many holders: %v", err)
	}
	if _, err := r.WithHolders(3, nil, t0); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("no such shard: %v", err)
	}
	d, shards := code(t, 3, 1, []byte("one"))
	e, _ := stripe.New(d, shards)
	if _, err := e.WithHolders(2, []string{"x"}, t0); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("hints for an empty slot: %v", err)
	}
}

// TestRenew: the owner's batched renewal extends what holders keep.
func TestRenew(t *testing.T) {
	key := ownerKey(10)
	recs, set, old := covered(t, key, 50, t0, 30*day)
	renewal, _ := stripe.SignRetention(key, t0.Add(10*day), t0.Add(40*day), set)
	for _, r := range recs {
		p, _ := set.Path(r.ID())
		got, err := r.Renew(renewal, p, nil, t0.Add(10*day))
		if err != nil || !got.Retention.Until.Equal(renewal.Until) {
			t.Fatalf("renewal: %v", err)
		}
		back, err := got.Renew(old, r.Path, nil, t0.Add(10*day))
		if err != nil || !back.Retention.Until.Equal(renewal.Until) {
			t.Fatalf("an older retention replaced a newer: %v", err)
		}
		if _, err := r.Renew(renewal, recs[0].Path, nil, t0.Add(10*day)); r != recs[0] && !errors.Is(err, stripe.ErrBadRecord) {
			t.Fatalf("a renewal shown with another stripe's path: %v", err)
		}
	}
	mal, _ := stripe.SignRetention(ownerKey(9), t0.Add(10*day), t0.Add(300*day), set)
	p, _ := set.Path(recs[0].ID())
	if _, err := recs[0].Renew(mal, p, nil, t0.Add(10*day)); !errors.Is(err, stripe.ErrOwner) {
		t.Fatalf("another key's renewal: %v", err)
	}
}

// TestRelease: a release becomes a tombstone that checks on its own; one
// by another key, one signed before the kept retention, or one that does
// not cover the stripe is refused.
func TestRelease(t *testing.T) {
	key := ownerKey(11)
	recs, set, _ := covered(t, key, 20, t0, 30*day)
	rel, _ := stripe.SignRelease(key, t0.Add(day), set)
	for _, r := range recs {
		p, _ := set.Path(r.ID())
		tomb, err := r.Release(rel, p)
		if err != nil {
			t.Fatal(err)
		}
		b := encode(t, tomb)
		if len(b) > stripe.TombstoneMaxLen {
			t.Fatalf("%d bytes", len(b))
		}
		back, err := stripe.ParseTombstone(b)
		if err != nil || back.Verify() != nil || back.Stripe != r.ID() || !back.Blocks(&r.Retention) {
			t.Fatalf("tombstone round trip: %v", err)
		}
	}
	r := recs[0]
	p, _ := set.Path(r.ID())
	if _, err := r.Release(rel, recs[1].Path); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("a release shown with another stripe's path: %v", err)
	}
	forged := rel
	forged.Issued = forged.Issued.Add(time.Second)
	if _, err := r.Release(forged, p); !errors.Is(err, stripe.ErrBadStatement) {
		t.Fatalf("a forged release: %v", err)
	}
	mal, _ := stripe.SignRelease(ownerKey(9), t0.Add(day), set)
	if _, err := r.Release(mal, p); !errors.Is(err, stripe.ErrOwner) {
		t.Fatalf("another key's release: %v", err)
	}
	early, _ := stripe.SignRelease(key, t0.Add(-time.Hour), set)
	if _, err := r.Release(early, p); !errors.Is(err, stripe.ErrStale) {
		t.Fatalf("a release older than the retention: %v", err)
	}
}

// TestCheckShard: a holder can tell whether the bytes it is given are the
// record's shard, root included.
func TestCheckShard(t *testing.T) {
	r, shards := newStripe(t, "check")
	for i, s := range shards {
		if err := r.CheckShard(i, s); err != nil {
			t.Fatalf("shard %d: %v", i, err)
		}
	}
	if err := r.CheckShard(0, shards[1]); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("another shard's bytes: %v", err)
	}
	bad := r.Clone()
	bad.Roots[0] = proof.RootOf(shards[1])
	if err := bad.CheckShard(0, shards[0]); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("a record with another root: %v", err)
	}
	if err := r.CheckShard(7, nil); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("no such shard: %v", err)
	}
	if _, err := stripe.New(r.Descriptor, shards[:2]); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("New with a shard missing: %v", err)
	}
}

// TestBatches: one signature over many stripes, split into per-holder
// batches, renews and releases each; a batch whose path does not fit its
// set does not encode, and one that names another stripe renews nothing.
func TestBatches(t *testing.T) {
	key := ownerKey(7)
	recs, _, _ := covered(t, key, 5, t0, 30*day)
	ids := make([]stripe.ID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID()
	}
	ret, entries, err := stripe.SignRenewal(key, t0.Add(day), t0.Add(60*day), ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&stripe.Renewal{Retention: ret, Entries: []stripe.Entry{entries[ids[1]], entries[ids[3]]}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ren, err := stripe.ParseRenewal(b)
	if err != nil {
		t.Fatal(err)
	}
	for j, e := range ren.Entries {
		r := recs[[]int{1, 3}[j]]
		got, err := r.Renew(ren.Retention, e.Path, nil, t0.Add(2*day))
		if err != nil || !got.Retention.Until.Equal(t0.Add(60*day)) {
			t.Fatalf("renew stripe %d: %v", j, err)
		}
	}
	if _, err := recs[0].Renew(ren.Retention, ren.Entries[0].Path, nil, t0.Add(2*day)); err == nil {
		t.Fatal("another stripe's path renewed a record")
	}
	rel, rentries, err := stripe.SignReleasing(key, t0.Add(3*day), ids)
	if err != nil {
		t.Fatal(err)
	}
	b, err = (&stripe.Releasing{Release: rel, Entries: []stripe.Entry{rentries[ids[2]]}}).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := stripe.ParseReleasing(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recs[2].Release(ring.Release, ring.Entries[0].Path); err != nil {
		t.Fatal(err)
	}
	bad := stripe.Renewal{Retention: ret, Entries: []stripe.Entry{{Stripe: ids[0], Path: stripe.Path{Index: 0}}}}
	if _, err := bad.MarshalBinary(); err == nil {
		t.Fatal("a path that does not fit its set encoded")
	}
}

// TestRenewer: a Renewer, which checks its retention's signature once,
// decides exactly as Record.Renew for genuine, older, forged, misplaced,
// foreign, blocked and expired renewals.
func TestRenewer(t *testing.T) {
	key := ownerKey(12)
	recs, set, old := covered(t, key, 8, t0, 30*day)
	good, _ := stripe.SignRetention(key, t0.Add(10*day), t0.Add(40*day), set)
	forged := good
	forged.Until = forged.Until.Add(time.Hour)
	foreign, _ := stripe.SignRetention(ownerKey(13), t0.Add(10*day), t0.Add(40*day), set)
	rel, _ := stripe.SignRelease(key, t0.Add(20*day), set)
	p0, _ := set.Path(recs[0].ID())
	tomb, err := recs[0].Release(rel, p0)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ret  stripe.Retention
		tomb *stripe.Tombstone
		now  time.Time
	}{
		{"genuine", good, nil, t0.Add(10 * day)},
		{"older", old, nil, t0.Add(10 * day)},
		{"forged", forged, nil, t0.Add(10 * day)},
		{"foreign", foreign, nil, t0.Add(10 * day)},
		{"blocked", good, tomb, t0.Add(10 * day)},
		{"expired", good, nil, t0.Add(41 * day)},
	} {
		rn := stripe.NewRenewer(c.ret)
		for i, r := range recs {
			for _, p := range []stripe.Path{recs[i].Path, recs[(i+1)%len(recs)].Path} {
				want, werr := r.Renew(c.ret, p, c.tomb, c.now)
				got, gerr := rn.Renew(r, p, c.tomb, c.now)
				if (werr == nil) != (gerr == nil) || (werr != nil && !errors.Is(gerr, stripe.ErrBadRecord) && !errors.Is(gerr, stripe.ErrOwner) && !errors.Is(gerr, stripe.ErrReleased) && !errors.Is(gerr, stripe.ErrExpired)) {
					t.Fatalf("%s, stripe %d: Renew %v, Renewer %v", c.name, i, werr, gerr)
				}
				if werr == nil && !bytes.Equal(encode(t, want), encode(t, got)) {
					t.Fatalf("%s, stripe %d: the Renewer kept another record", c.name, i)
				}
			}
		}
	}
}
