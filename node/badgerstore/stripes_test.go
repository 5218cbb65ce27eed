package badgerstore_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/fuzzseed"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpora")

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func ownerKey(b byte) ed25519.PrivateKey {
	seed := bytes.Repeat([]byte{b}, ed25519.SeedSize)
	return ed25519.NewKeyFromSeed(seed)
}

// coded codes a 2+1 stripe named by tag, kept by key from t0 for 30 days.
func coded(t testing.TB, key ed25519.PrivateKey, tag string) (*stripe.Record, [][]byte) {
	t.Helper()
	c, err := erasure.NewCoder(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	data := [][]byte{[]byte("shard a of " + tag), []byte("shard b of " + tag)}
	d, parity, err := c.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	shards := append(data, parity...)
	rec, err := stripe.New(d, shards)
	if err != nil {
		t.Fatal(err)
	}
	ret, entries, err := stripe.SignRenewal(key, t0, t0.Add(30*24*time.Hour), []stripe.ID{rec.ID()})
	if err != nil {
		t.Fatal(err)
	}
	rec = rec.Clone()
	rec.Retention, rec.Path = ret, entries[rec.ID()].Path
	if err := rec.Verify(); err != nil {
		t.Fatal(err)
	}
	return rec, shards
}

// TestStripedPutRenewRelease: a shard is stored with its record; wrong
// bytes and forged records are refused; a renewal extends it; a release
// deletes it and leaves a tombstone that refuses the stale put again.
func TestStripedPutRenewRelease(t *testing.T) {
	now := t0.Add(time.Hour)
	s := open(t, badgerstore.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	key := ownerKey(1)
	owner := []byte("owner-peer")
	rec, shards := coded(t, key, "one")

	if _, err := s.PutStriped(ctx, rec, 0, shards[1], owner); !errors.Is(err, store.ErrBadShard) {
		t.Fatalf("another shard's bytes: %v", err)
	}
	forged := rec.Clone()
	forged.Retention.Until = forged.Retention.Until.Add(time.Hour)
	if _, err := s.PutStriped(ctx, forged, 0, shards[0], owner); !errors.Is(err, badgerstore.ErrRefused) {
		t.Fatalf("a forged retention: %v", err)
	}
	if has, _ := s.Has(ctx, []erasure.ShardID{rec.Descriptor.Shards[0].ID}); has[0] {
		t.Fatal("a refused put stored its shard")
	}
	for _, i := range []int{0, 2} {
		if _, err := s.PutStriped(ctx, rec, i, shards[i], owner); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.GetHeld(ctx, rec.ID())
	if err != nil || h == nil || fmt.Sprint(h.Shards) != "[0 2]" || h.Record.ID() != rec.ID() {
		t.Fatalf("held %+v, %v", h, err)
	}

	ret, entries, err := stripe.SignRenewal(key, t0.Add(24*time.Hour), t0.Add(60*24*time.Hour), []stripe.ID{rec.ID(), {1}})
	if err != nil {
		t.Fatal(err)
	}
	now = t0.Add(25 * time.Hour)
	kept, err := s.RenewStripes(ctx, &stripe.Renewal{Retention: ret, Entries: []stripe.Entry{entries[rec.ID()], entries[stripe.ID{1}]}}, owner)
	if err != nil || !kept[0] || kept[1] {
		t.Fatalf("renew: %v, %v", kept, err)
	}
	if h, _ := s.GetHeld(ctx, rec.ID()); !h.Record.Retention.Until.Equal(ret.Until) {
		t.Fatal("the renewal was not kept")
	}
	// Another key's renewal of the same stripe is nobody's business.
	other, oentries, _ := stripe.SignRenewal(ownerKey(2), now, now.Add(90*24*time.Hour), []stripe.ID{rec.ID()})
	if kept, _ := s.RenewStripes(ctx, &stripe.Renewal{Retention: other, Entries: []stripe.Entry{oentries[rec.ID()]}}, owner); kept[0] {
		t.Fatal("another key renewed the stripe")
	}

	rel, rentries, err := stripe.SignReleasing(key, t0.Add(26*time.Hour), []stripe.ID{rec.ID()})
	if err != nil {
		t.Fatal(err)
	}
	now = t0.Add(27 * time.Hour)
	n, err := s.ReleaseStripes(ctx, &stripe.Releasing{Release: rel, Entries: []stripe.Entry{rentries[rec.ID()]}}, owner)
	if err != nil || n != 1 {
		t.Fatalf("release: %d, %v", n, err)
	}
	has, _ := s.Has(ctx, []erasure.ShardID{rec.Descriptor.Shards[0].ID, rec.Descriptor.Shards[2].ID})
	if has[0] || has[1] {
		t.Fatalf("released shards still held: %v", has)
	}
	if h, _ := s.GetHeld(ctx, rec.ID()); h != nil {
		t.Fatal("a released stripe's record is still held")
	}
	if tomb, _ := s.Tombstone(ctx, rec.ID()); tomb == nil {
		t.Fatal("no tombstone")
	}
	// The stale put (a repairer's, a retry's) does not bring it back.
	if _, err := s.PutStriped(ctx, rec, 0, shards[0], owner); !errors.Is(err, stripe.ErrReleased) {
		t.Fatalf("a released stripe came back: %v", err)
	}
	if used := s.Used(); used != 0 {
		t.Fatalf("%d bytes used after the release", used)
	}
}

// TestDropShardsAndSweep: a record whose shard is gone is dropped; an
// expired record and a tombstone past MaxTerm are swept.
func TestDropShardsAndSweep(t *testing.T) {
	now := t0.Add(time.Hour)
	s := open(t, badgerstore.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	key := ownerKey(3)
	a, as := coded(t, key, "a")
	b, bs := coded(t, key, "b")
	owner := []byte("o")
	for _, p := range []struct {
		r  *stripe.Record
		sh [][]byte
	}{{a, as}, {b, bs}} {
		if _, err := s.PutStriped(ctx, p.r, 1, p.sh[1], owner); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Release(ctx, []erasure.ShardID{a.Descriptor.Shards[1].ID}, owner); err != nil {
		t.Fatal(err)
	}
	changed, err := s.DropShards(ctx, []erasure.ShardID{a.Descriptor.Shards[1].ID, b.Descriptor.Shards[1].ID})
	if err != nil || len(changed) != 1 || changed[0] != a.ID() {
		t.Fatalf("dropped %v, %v", changed, err)
	}
	if h, _ := s.GetHeld(ctx, a.ID()); h != nil {
		t.Fatal("the record of a shard gone is kept")
	}
	rel, rentries, _ := stripe.SignReleasing(key, now, []stripe.ID{{9}}) // dated ahead of the clock, it is refused
	if n, err := s.ReleaseStripes(ctx, &stripe.Releasing{Release: rel, Entries: []stripe.Entry{rentries[stripe.ID{9}]}}, owner); n != 1 || err != nil {
		t.Fatalf("a tombstone for a stripe not held: %d, %v", n, err)
	}
	now = t0.Add(31 * 24 * time.Hour)
	gone, err := s.SweepStripes(ctx, now)
	if err != nil || len(gone) != 1 || gone[0] != b.ID() {
		t.Fatalf("swept %v, %v", gone, err)
	}
	if tomb, _ := s.Tombstone(ctx, stripe.ID{9}); tomb == nil {
		t.Fatal("a tombstone went before MaxTerm")
	}
	if _, err := s.SweepStripes(ctx, t0.Add(stripe.MaxTerm+3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if tomb, _ := s.Tombstone(ctx, stripe.ID{9}); tomb != nil {
		t.Fatal("a tombstone outlived MaxTerm")
	}
}

// TestOwned: the owner's records survive a restart.
func TestOwned(t *testing.T) {
	dir := t.TempDir()
	s, err := badgerstore.Open(badgerstore.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, _ := coded(t, ownerKey(4), "a")
	b, _ := coded(t, ownerKey(4), "b")
	if err := s.PutOwned(ctx, []*stripe.Record{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOwned(ctx, []stripe.ID{a.ID()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, badgerstore.Config{Dir: dir})
	var got []stripe.ID
	if err := s.WalkOwned(ctx, func(r *stripe.Record) error { got = append(got, r.ID()); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != b.ID() {
		t.Fatalf("owned %v", got)
	}
	of, err := s.OwnedOf(ctx, []erasure.ShardID{a.Descriptor.Shards[0].ID, b.Descriptor.Shards[2].ID, b.Descriptor.Shards[1].ID})
	if err != nil || len(of) != 1 || of[0].ID() != b.ID() {
		t.Fatalf("owned of the shards: %v, %v", of, err)
	}
}

func FuzzParseHeld(f *testing.F) {
	f.Add([]byte{1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := badgerstore.ParseHeld(b)
		if err != nil {
			return
		}
		again, err := badgerstore.AppendHeld(nil, h)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed held record does not re-encode to itself: %v", err)
		}
	})
}

func FuzzParseOwed(f *testing.F) {
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := badgerstore.ParseOwed(b)
		if err != nil {
			if !errors.Is(err, badgerstore.ErrBadOwed) {
				t.Fatalf("an error that is not ErrBadOwed: %v", err)
			}
			return
		}
		again, err := badgerstore.AppendOwed(nil, o)
		if err != nil {
			t.Fatalf("a parsed owed value does not encode: %v", err)
		}
		o2, err := badgerstore.ParseOwed(again)
		if err != nil || o2.Record.Seq != o.Record.Seq || !bytes.Equal(o2.Cert, o.Cert) {
			t.Fatalf("a re-encoded owed value parses differently: %v", err)
		}
	})
}

// TestWriteHeldSeeds refreshes the fuzz seeds of FuzzParseHeld (-update).
func TestWriteHeldSeeds(t *testing.T) {
	if !*update {
		return
	}
	rec, _ := coded(t, ownerKey(5), "seed")
	b, err := badgerstore.AppendHeld(nil, &badgerstore.Held{Record: rec, Shards: []int{0, 2}})
	if err != nil {
		t.Fatal(err)
	}
	owed, err := badgerstore.AppendOwed(nil, badgerstore.Owed{Record: rec, Cert: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	fuzzseed.WriteCorpora(t, "testdata/fuzz", map[string]map[string][]byte{
		"FuzzParseHeld": {"two-shards": b, "truncated": b[:len(b)/2], "unsorted": append([]byte{1, 2, 2, 0}, b[4:]...)},
		"FuzzParseOwed": {"with-cert": owed, "truncated": owed[:len(owed)/2], "bad-version": append([]byte{9}, owed[1:]...)},
	})
}

// TestProve: a shard put with its record is proved from its tree, in the
// value log or in a file; a flipped leaf is proof.ErrCorrupt, a short file
// not held; a shard put with a lease alone is proved from its bytes.
func TestProve(t *testing.T) {
	dir := t.TempDir()
	s := open(t, badgerstore.Config{Dir: dir, FileThreshold: 64 << 10, Now: func() time.Time { return t0.Add(time.Hour) }})
	ctx := context.Background()
	c, err := erasure.NewCoder(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{20 << 10, 100 << 10} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*7 + size)
		}
		d, parity, err := c.Encode([][]byte{data})
		if err != nil {
			t.Fatal(err)
		}
		rec, err := stripe.New(d, [][]byte{data, parity[0]})
		if err != nil {
			t.Fatal(err)
		}
		ret, entries, _ := stripe.SignRenewal(ownerKey(6), t0, t0.Add(24*time.Hour), []stripe.ID{rec.ID()})
		rec = rec.Clone()
		rec.Retention, rec.Path = ret, entries[rec.ID()].Path
		if _, err := s.PutStriped(ctx, rec, 0, data, []byte("o")); err != nil {
			t.Fatal(err)
		}
		ch := &proof.Challenge{Shard: d.Shards[0].ID, Nonce: proof.Nonce{1}, Leaves: []int{0, proof.Leaves(size) - 1}}
		pr, err := s.Prove(ctx, ch)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.Verify(rec.Roots[0], ch, pr); err != nil {
			t.Fatalf("a %d-byte shard's proof: %v", size, err)
		}
		if size < 64<<10 {
			continue
		}
		path := filepath.Join(dir, "blobs", d.Shards[0].ID.String()[:1], d.Shards[0].ID.String())
		b, _ := os.ReadFile(path)
		b[0] ^= 1
		os.WriteFile(path, b, 0o600)
		if _, err := s.Prove(ctx, ch); !errors.Is(err, proof.ErrCorrupt) {
			t.Fatalf("a flipped leaf: %v", err)
		}
		os.Truncate(path, 10)
		if _, err := s.Prove(ctx, ch); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a short file: %v", err)
		}
	}
	id, data := erasure.SumShard([]byte("leased")), []byte("leased")
	if err := s.PutLeased(ctx, id, data, []byte("o"), t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	ch := &proof.Challenge{Shard: id, Leaves: []int{0}}
	if pr, err := s.Prove(ctx, ch); err != nil || proof.Verify(proof.RootOf(data), ch, pr) != nil {
		t.Fatalf("a leased shard's proof: %v", err)
	}
	if _, err := s.Prove(ctx, &proof.Challenge{Shard: erasure.SumShard([]byte("absent")), Leaves: []int{0}}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an absent shard: %v", err)
	}
}

// BenchmarkProve answers a four-leaf challenge of a 64 MiB shard: from
// its tree (what a striped shard has) and from the whole shard (a shard
// put with a lease alone).
func BenchmarkProve(b *testing.B) {
	s := open(b, badgerstore.Config{Now: func() time.Time { return t0.Add(time.Hour) }})
	ctx := context.Background()
	c, _ := erasure.NewCoder(1, 1)
	data := make([]byte, erasure.MaxShardSize)
	for i := range data {
		data[i] = byte(i * 31)
	}
	d, parity, err := c.Encode([][]byte{data})
	if err != nil {
		b.Fatal(err)
	}
	rec, _ := stripe.New(d, [][]byte{data, parity[0]})
	ret, entries, _ := stripe.SignRenewal(ownerKey(8), t0, t0.Add(24*time.Hour), []stripe.ID{rec.ID()})
	rec = rec.Clone()
	rec.Retention, rec.Path = ret, entries[rec.ID()].Path
	if _, err := s.PutStriped(ctx, rec, 0, data, []byte("o")); err != nil {
		b.Fatal(err)
	}
	lid, ldata := erasure.SumShard(data[1:]), data[1:]
	if err := s.PutLeased(ctx, lid, ldata, []byte("o"), t0.Add(24*time.Hour)); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		id   erasure.ShardID
	}{{"tree", d.Shards[0].ID}, {"whole", lid}} {
		b.Run(c.name, func(b *testing.B) {
			ch := &proof.Challenge{Shard: c.id, Leaves: []int{3, 1000, 5000, 8000}}
			for b.Loop() {
				if _, err := s.Prove(ctx, ch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRenewStripes applies one renewal of 1,024 held stripes (a
// holder's share of an owner's renewal), per op.
func BenchmarkRenewStripes(b *testing.B) {
	now := t0.Add(time.Hour)
	s := open(b, badgerstore.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	key := ownerKey(9)
	var ids []stripe.ID
	for i := range 1024 {
		rec, shards := coded(b, key, fmt.Sprint("bench ", i))
		if _, err := s.PutStriped(ctx, rec, 0, shards[0], []byte("o")); err != nil {
			b.Fatal(err)
		}
		ids = append(ids, rec.ID())
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		issued := t0.Add(time.Duration(2+i) * time.Hour)
		ret, entries, err := stripe.SignRenewal(key, issued, issued.Add(30*24*time.Hour), ids)
		if err != nil {
			b.Fatal(err)
		}
		ren := &stripe.Renewal{Retention: ret}
		for _, id := range ids {
			ren.Entries = append(ren.Entries, entries[id])
		}
		now = issued
		kept, err := s.RenewStripes(ctx, ren, []byte("o"))
		if err != nil || !kept[0] {
			b.Fatal(kept[0], err)
		}
	}
}

// TestStripedPutLeasesKeptRetention: a put whose record carries an older
// retention than the one held (a repair planned before a renewal) keeps
// the held one, and leases the shard to its end, not the put's.
func TestStripedPutLeasesKeptRetention(t *testing.T) {
	now := t0.Add(time.Hour)
	s := open(t, badgerstore.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	key := ownerKey(1)
	owner := []byte("owner-peer")
	rec, shards := coded(t, key, "renewed")
	if _, err := s.PutStriped(ctx, rec, 0, shards[0], owner); err != nil {
		t.Fatal(err)
	}
	ret, entries, err := stripe.SignRenewal(key, t0.Add(24*time.Hour), t0.Add(60*24*time.Hour), []stripe.ID{rec.ID()})
	if err != nil {
		t.Fatal(err)
	}
	now = t0.Add(25 * time.Hour)
	if _, err := s.RenewStripes(ctx, &stripe.Renewal{Retention: ret, Entries: []stripe.Entry{entries[rec.ID()]}}, owner); err != nil {
		t.Fatal(err)
	}
	kept, err := s.PutStriped(ctx, rec, 1, shards[1], owner) // the record from before the renewal
	if err != nil {
		t.Fatal(err)
	}
	if !kept.Retention.Until.Equal(ret.Until) {
		t.Fatalf("kept until %v, not the renewal's %v", kept.Retention.Until, ret.Until)
	}
	now = t0.Add(31 * 24 * time.Hour) // past the put's retention, within the renewal
	if _, _, err := s.Reclaim(ctx); err != nil {
		t.Fatal(err)
	}
	if has, _ := s.Has(ctx, []erasure.ShardID{rec.Descriptor.Shards[0].ID, rec.Descriptor.Shards[1].ID}); !has[0] || !has[1] {
		t.Fatalf("shards reclaimed within the renewal: %v", has)
	}
}

// TestOwed: records owed to an owner are kept merged per stripe, listed
// per owner, survive a reopen, and go when settled by a record at least
// as new; a newer one owed since stays.
func TestOwed(t *testing.T) {
	dir := t.TempDir()
	now := t0.Add(time.Hour)
	cfg := badgerstore.Config{Dir: dir, Now: func() time.Time { return now }}
	s, err := badgerstore.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := ownerKey(1)
	a, _ := coded(t, key, "a")
	b, _ := coded(t, key, "b")
	a2, err := a.WithHolders(0, []string{"new-holder"}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, put := range []struct {
		owner string
		rec   *stripe.Record
		cert  string
	}{{"owner-1", a2, "cert-a2"}, {"owner-1", a, "cert-a"}, {"owner-1", b, ""}, {"owner-2", b, "cert-b"}} {
		if err := s.PutOwed(ctx, []byte(put.owner), put.rec, []byte(put.cert)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = badgerstore.Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	owners, err := s.OwedOwners(ctx)
	if err != nil || fmt.Sprintf("%q", owners) != `["owner-1" "owner-2"]` {
		t.Fatalf("owners %q, %v", owners, err)
	}
	owed, err := s.Owed(ctx, []byte("owner-1"), 10)
	if err != nil || len(owed) != 2 {
		t.Fatalf("%d records owed, %v", len(owed), err)
	}
	for _, o := range owed {
		if r := o.Record; r.ID() == a.ID() && (r.Seq != a2.Seq || string(o.Cert) != "cert-a2") {
			t.Fatalf("the older record replaced the newer one owed (seq %d, want %d; certificate %q)", r.Seq, a2.Seq, o.Cert)
		}
		if r := o.Record; r.ID() == b.ID() && len(o.Cert) != 0 {
			t.Fatalf("b was owed without a certificate, and came back with %q", o.Cert)
		}
	}
	// Settling with the older record of a leaves the newer one owed.
	if err := s.SettleOwed(ctx, []byte("owner-1"), []*stripe.Record{a, b}); err != nil {
		t.Fatal(err)
	}
	if owed, _ := s.Owed(ctx, []byte("owner-1"), 10); len(owed) != 1 || owed[0].Record.ID() != a.ID() {
		t.Fatalf("after settling b and an older a: %d owed", len(owed))
	}
	if err := s.SettleOwed(ctx, []byte("owner-1"), []*stripe.Record{a2}); err != nil {
		t.Fatal(err)
	}
	if owed, _ := s.Owed(ctx, []byte("owner-1"), 10); len(owed) != 0 {
		t.Fatalf("%d owed after settling all", len(owed))
	}
	if owners, _ := s.OwedOwners(ctx); len(owners) != 1 || string(owners[0]) != "owner-2" {
		t.Fatalf("owners %q", owners)
	}
	// Past their retention, records owed to an owner that never came
	// back are swept.
	now = t0.Add(31 * 24 * time.Hour)
	if _, err := s.SweepStripes(ctx, now); err != nil {
		t.Fatal(err)
	}
	if owners, _ := s.OwedOwners(ctx); len(owners) != 0 {
		t.Fatalf("owners %q after their records' retention", owners)
	}
}
