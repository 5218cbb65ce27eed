package stripe_test

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/internal/fuzzseed"
	"github.com/murmur-cloud/murmur/stripe"
)

var update = flag.Bool("update", false, "rewrite testdata/v1 (only when the v1 format itself was wrong) and the fuzz seed corpora")

// The v1 golden vectors: owner key seed 0x00..0x1f; a 2+1 stripe of the
// data shards "murmur stripe golden v1 a" and "… b", in a set with the
// stripe IDs 0x11… and 0x22… (so its path has two siblings); kept from
// 2026-01-01 for 30 days; hints "peer-a" for shard 0 and "peer-b",
// "peer-c" for shard 2 at 2026-01-02; released on 2026-02-01.
type golden struct {
	record *stripe.Record
	ret    stripe.Retention
	rel    stripe.Release
	tomb   *stripe.Tombstone
}

func goldenV1(t testing.TB) golden {
	t.Helper()
	key := ownerKey(0)
	d, shards := code(t, 2, 1, []byte("murmur stripe golden v1 a"), []byte("murmur stripe golden v1 b"))
	r, err := stripe.New(d, shards)
	if err != nil {
		t.Fatal(err)
	}
	var x, y stripe.ID
	for i := range x {
		x[i], y[i] = 0x11, 0x22
	}
	set := mustSet(t, r.ID(), x, y)
	ret, err := stripe.SignRetention(key, t0, t0.Add(30*day), set)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = r.Cover(ret, set); err != nil {
		t.Fatal(err)
	}
	r, _ = r.WithHolders(0, []string{"peer-a"}, t0.Add(day))
	r, _ = r.WithHolders(2, []string{"peer-c", "peer-b"}, t0.Add(day))
	rel, err := stripe.SignRelease(key, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), set)
	if err != nil {
		t.Fatal(err)
	}
	tomb, err := r.Release(rel, r.Path)
	if err != nil {
		t.Fatal(err)
	}
	return golden{record: r, ret: ret, rel: rel, tomb: tomb}
}

func (g golden) files(t testing.TB) map[string][]byte {
	return map[string][]byte{
		"record.bin":    encode(t, g.record),
		"retention.bin": encode(t, &g.ret),
		"release.bin":   encode(t, &g.rel),
		"tombstone.bin": encode(t, g.tomb),
		"renewal.bin":   encode(t, &stripe.Renewal{Retention: g.ret, Entries: []stripe.Entry{{Stripe: g.record.ID(), Path: g.record.Path}}}),
		"releasing.bin": encode(t, &stripe.Releasing{Release: g.rel, Entries: []stripe.Entry{{Stripe: g.tomb.Stripe, Path: g.tomb.Path}}}),
		"id.txt":        []byte(g.record.ID().String() + "\n"),
	}
}

// TestGoldenV1: the committed v1 objects parse and verify, and today's
// code makes the same bytes.
func TestGoldenV1(t *testing.T) {
	g := goldenV1(t)
	v1 := fuzzseed.Golden(t, "testdata/v1", g.files(t), *update)
	read := func(name string) []byte { return v1[name] }
	r, err := stripe.ParseRecord(read("record.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); err != nil {
		t.Fatalf("the v1 record: %v", err)
	}
	if id := strings.TrimSpace(string(read("id.txt"))); r.ID().String() != id {
		t.Fatalf("the v1 record's ID is %s, id.txt says %s", r.ID(), id)
	}
	ret, err := stripe.ParseRetention(read("retention.bin"))
	if err != nil || ret.Verify() != nil || ret != r.Retention {
		t.Fatalf("the v1 retention: %v", err)
	}
	rel, err := stripe.ParseRelease(read("release.bin"))
	if err != nil || rel.Verify() != nil || !rel.Covers(r.ID(), r.Path) {
		t.Fatalf("the v1 release: %v", err)
	}
	tomb, err := stripe.ParseTombstone(read("tombstone.bin"))
	if err != nil || tomb.Verify() != nil || tomb.Stripe != r.ID() {
		t.Fatalf("the v1 tombstone: %v", err)
	}
	if _, err := stripe.Receive(nil, r, tomb, t0.Add(day)); err == nil {
		t.Fatal("the v1 tombstone does not block the v1 record")
	}
	ren, err := stripe.ParseRenewal(read("renewal.bin"))
	if err != nil || len(ren.Entries) != 1 || ren.Retention != r.Retention {
		t.Fatalf("the v1 renewal: %v", err)
	}
	if _, err := r.Renew(ren.Retention, ren.Entries[0].Path, nil, t0.Add(day)); err != nil {
		t.Fatalf("the v1 renewal does not renew the v1 record: %v", err)
	}
	ring, err := stripe.ParseReleasing(read("releasing.bin"))
	if err != nil || len(ring.Entries) != 1 {
		t.Fatalf("the v1 releasing: %v", err)
	}
	if _, err := r.Release(ring.Release, ring.Entries[0].Path); err != nil {
		t.Fatalf("the v1 releasing does not release the v1 record: %v", err)
	}
}

// TestWriteFuzzSeeds refreshes testdata/fuzz when run with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	f := goldenV1(t).files(t)
	rec, ret, rel, tomb := f["record.bin"], f["retention.bin"], f["release.bin"], f["tombstone.bin"]
	ren, ring := f["renewal.bin"], f["releasing.bin"]
	fuzzseed.WriteCorpora(t, "testdata/fuzz", map[string]map[string][]byte{
		"FuzzParseRecord":    {"golden": rec, "truncated": rec[:len(rec)/2], "huge-descriptor": {1, 0xff, 0xff, 0x03}},
		"FuzzParseRetention": {"golden": ret, "zero-count": append(bytes.Clone(ret[:49]), make([]byte, 100)...)},
		"FuzzParseRelease":   {"golden": rel, "truncated": rel[:100]},
		"FuzzParseTombstone": {"golden": tomb, "long-path": append(bytes.Clone(tomb[:len(tomb)-66]), 0x7f, 0x7f)},
		"FuzzParseRenewal":   {"golden": ren, "truncated": ren[:len(ren)-10], "huge-count": append(bytes.Clone(ren[:1+stripe.RetentionLen]), 0xff, 0xff, 0x03)},
		"FuzzParseReleasing": {"golden": ring, "truncated": ring[:len(ring)-10], "empty": ring[:1+stripe.ReleaseLen+1]},
	})
}
