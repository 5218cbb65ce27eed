package proto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/fuzzseed"
	"github.com/murmur-cloud/murmur/stripe"
)

var repairT0 = time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.UTC)

// testRecord returns a signed record of a small 2+1 stripe with hints.
func testRecord(t testing.TB) *stripe.Record {
	t.Helper()
	c, err := erasure.NewCoder(2, 1)
	if err != nil {
		t.Fatal(err)
	}
	data := [][]byte{[]byte("first shard....."), []byte("second shard....")}
	d, parity, err := c.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := stripe.New(d, append(data, parity...))
	if err != nil {
		t.Fatal(err)
	}
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	ret, entries, err := stripe.SignRenewal(key, repairT0, repairT0.Add(24*time.Hour), []stripe.ID{rec.ID()})
	if err != nil {
		t.Fatal(err)
	}
	rec = rec.Clone()
	rec.Retention, rec.Path = ret, entries[rec.ID()].Path
	for i, h := range []string{"holder-a", "holder-b", "holder-c"} {
		if rec, err = rec.WithHolders(i, []string{h}, repairT0); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

func repairMsgs(t testing.TB) []RepairMsg {
	rec := testRecord(t)
	id := rec.ID()
	sig := make([]byte, 64)
	for i := range sig {
		sig[i] = byte(i)
	}
	prev := &RepairCert{Version: rec.Seq - 2, Ballot: 2, Claimant: "holder-c", Slots: []int{0},
		Grants: []RepairSigned{{From: "holder-b", Sig: sig}, {From: "holder-c", Sig: sig}}, Commit: sig, Holders: []string{"gone", "holder-b", "holder-c"}}
	cert := &RepairCert{Version: rec.Seq - 1, Ballot: 3, Claimant: "holder-a", Slots: []int{1, 2},
		Grants: []RepairSigned{{From: "holder-a", Sig: sig}, {From: "holder-c", Sig: sig}}, Commit: sig, Holders: []string{"holder-a", "", "lost"}, Prev: prev}
	return []RepairMsg{
		{Kind: RepairClaim, Record: rec, Ballot: 7, Sent: repairT0, TTL: 10 * time.Minute, Slots: []int{0, 2}},
		{Kind: RepairGrant, Stripe: id, Version: rec.Seq, Ballot: 7, Sent: repairT0, Sig: sig},
		{Kind: RepairDeny, Stripe: id, Version: rec.Seq, Ballot: 7, Holder: "holder-b", Remaining: 3 * time.Minute},
		{Kind: RepairStale, Record: rec, Cert: cert},
		{Kind: RepairRelease, Stripe: id, Ballot: 7},
		{Kind: RepairDone, Record: rec, Cert: cert},
		{Kind: RepairWatch, Record: rec},
		{Kind: RepairClaim, Record: rec, Ballot: 8, Sent: repairT0, TTL: time.Minute, Slots: []int{1}, Cert: cert},
	}
}

func sameCert(a, b *RepairCert) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Version != b.Version || a.Ballot != b.Ballot || a.Claimant != b.Claimant || !slices.Equal(a.Slots, b.Slots) ||
		!bytes.Equal(a.Commit, b.Commit) || len(a.Grants) != len(b.Grants) || !slices.Equal(a.Holders, b.Holders) || !sameCert(a.Prev, b.Prev) {
		return false
	}
	for i := range a.Grants {
		if a.Grants[i].From != b.Grants[i].From || !bytes.Equal(a.Grants[i].Sig, b.Grants[i].Sig) {
			return false
		}
	}
	return true
}

func sameRepairMsg(a, b *RepairMsg) bool {
	if a.Kind != b.Kind || a.Stripe != b.Stripe || a.Version != b.Version || a.Ballot != b.Ballot ||
		!a.Sent.Equal(b.Sent) || a.TTL != b.TTL || a.Holder != b.Holder || a.Remaining != b.Remaining ||
		!slices.Equal(a.Slots, b.Slots) || !bytes.Equal(a.Sig, b.Sig) || !sameCert(a.Cert, b.Cert) {
		return false
	}
	if (a.Record == nil) != (b.Record == nil) {
		return false
	}
	if a.Record != nil {
		x, _ := a.Record.MarshalBinary()
		y, _ := b.Record.MarshalBinary()
		return string(x) == string(y)
	}
	return true
}

func longChain(n int) *RepairCert {
	var c *RepairCert
	for i := range n {
		c = &RepairCert{Version: uint64(i), Claimant: "a", Prev: c}
	}
	return c
}

func TestRepairRoundTrip(t *testing.T) {
	msgs := repairMsgs(t)
	b, err := AppendRepairRequest(nil, msgs)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRepairRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(msgs) {
		t.Fatalf("%d messages, want %d", len(got), len(msgs))
	}
	for i := range msgs {
		if !sameRepairMsg(&msgs[i], &got[i]) {
			t.Errorf("%v: got %+v, want %+v", msgs[i].Kind, got[i], msgs[i])
		}
	}
	if got[1].Sent.UnixNano() != repairT0.UnixNano() {
		t.Error("a grant does not echo the claim's time exactly")
	}
	for _, st := range []Status{StatusOK, StatusRefused} {
		s, msg, err := ParseRepairResponse(AppendRepairResponse(nil, st, "why"))
		if err != nil || s != st || (st != StatusOK && msg != "why") {
			t.Errorf("response %v: %v %q %v", st, s, msg, err)
		}
	}
}

// TestRepairHostile: every truncation and bad field is a clear
// ErrMalformed, never a panic.
func TestRepairHostile(t *testing.T) {
	msgs := repairMsgs(t)
	b, err := AppendRepairRequest(nil, msgs)
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := ParseRepairRequest(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0xff
		if got, err := ParseRepairRequest(c); err == nil {
			// A flip in a ballot or a time may parse; it must re-encode.
			if _, err := AppendRepairRequest(nil, got); err != nil {
				t.Fatalf("flip at %d parses but does not encode: %v", i, err)
			}
		} else if !errors.Is(err, ErrMalformed) {
			t.Fatalf("flip at %d: %v", i, err)
		}
	}
	for name, bad := range map[string][]byte{
		"empty":        {},
		"version":      {9, 1, byte(RepairRelease)},
		"no messages":  {Version, 0},
		"unknown kind": append([]byte{Version, 1, 99}, make([]byte, 40)...),
		"huge count":   {Version, 0xff, 0xff, 0x03},
		"trailing":     append(b[:len(b):len(b)], 0),
	} {
		if _, err := ParseRepairRequest(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, m := range []RepairMsg{
		{Kind: RepairClaim},                                                                                      // no record
		{Kind: RepairClaim, Record: msgs[0].Record},                                                              // no TTL
		{Kind: RepairDeny, Stripe: msgs[1].Stripe},                                                               // no holder
		{Kind: RepairKind(42)},                                                                                   // unknown
		{Kind: RepairClaim, Record: msgs[0].Record, TTL: -1},                                                     // negative
		{Kind: RepairDeny, Holder: "x", Remaining: -time.Hour},                                                   // negative
		{Kind: RepairClaim, Record: msgs[0].Record, TTL: time.Minute, Slots: []int{2, 1}},                        // slots out of order
		{Kind: RepairGrant, Sig: make([]byte, MaxRepairSig+1)},                                                   // signature too long
		{Kind: RepairDone, Record: msgs[0].Record, Cert: &RepairCert{}},                                          // no claimant
		{Kind: RepairDone, Record: msgs[0].Record, Cert: &RepairCert{Claimant: "a", Grants: []RepairSigned{{}}}}, // grant from nobody
		{Kind: RepairDone, Record: msgs[0].Record, Cert: longChain(MaxRepairChain + 1)},                          // chain too long
	} {
		if _, err := AppendRepairRequest(nil, []RepairMsg{m}); !errors.Is(err, ErrMalformed) {
			t.Errorf("%+v encodes: %v", m, err)
		}
	}
	if _, err := AppendRepairRequest(nil, nil); !errors.Is(err, ErrMalformed) {
		t.Error("an empty batch encodes")
	}
	if _, _, err := ParseRepairResponse([]byte{Version, 200}); !errors.Is(err, ErrMalformed) {
		t.Errorf("unknown status: %v", err)
	}
}

func TestRepairBatches(t *testing.T) {
	msgs := repairMsgs(t)
	var many []RepairMsg
	for range 100 {
		many = append(many, msgs...)
	}
	batches, err := RepairBatches(many)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range batches {
		if len(b) > MaxRepairBatch {
			t.Fatalf("a batch of %d", len(b))
		}
		if _, err := AppendRepairRequest(nil, b); err != nil {
			t.Fatal(err)
		}
		n += len(b)
	}
	if n != len(many) || len(batches) != (len(many)+MaxRepairBatch-1)/MaxRepairBatch {
		t.Fatalf("%d messages in %d batches", n, len(batches))
	}
}

func FuzzParseRepairRequest(f *testing.F) {
	for _, m := range repairMsgs(f) {
		b, _ := AppendRepairRequest(nil, []RepairMsg{m})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := ParseRepairRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := AppendRepairRequest(nil, msgs)
		if err != nil {
			t.Fatalf("a parsed request does not encode: %v", err)
		}
		msgs2, err := ParseRepairRequest(again)
		if err != nil || len(msgs2) != len(msgs) {
			t.Fatalf("re-encoded request does not parse: %v", err)
		}
		for i := range msgs {
			if !sameRepairMsg(&msgs[i], &msgs2[i]) {
				t.Fatalf("message %d parses differently after re-encoding", i)
			}
		}
	})
}

func FuzzParseRepairResponse(f *testing.F) {
	f.Add(AppendRepairResponse(nil, StatusOK, ""))
	f.Add(AppendRepairResponse(nil, StatusRefused, "no"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, msg, err := ParseRepairResponse(b)
		if err != nil {
			return
		}
		if len(msg) > MaxMessage || st > StatusRefused {
			t.Fatal("response over the limits")
		}
	})
}

// TestWriteRepairFuzzSeeds refreshes the repair protocol's seed corpora
// in testdata/fuzz when run with -update.
func TestWriteRepairFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	req := map[string][]byte{}
	for _, m := range repairMsgs(t) {
		b, err := AppendRepairRequest(nil, []RepairMsg{m})
		if err != nil {
			t.Fatal(err)
		}
		req[m.Kind.String()] = b
	}
	all, err := AppendRepairRequest(nil, repairMsgs(t))
	if err != nil {
		t.Fatal(err)
	}
	req["all"] = all
	req["huge-count"] = []byte{Version, 0xff, 0xff, 0x03}
	resp := map[string][]byte{
		"ok":      AppendRepairResponse(nil, StatusOK, ""),
		"refused": AppendRepairResponse(nil, StatusRefused, fmt.Sprint("no such stripe")),
	}
	fuzzseed.WriteCorpora(t, filepath.Join("testdata", "fuzz"), map[string]map[string][]byte{
		"FuzzParseRepairRequest": req, "FuzzParseRepairResponse": resp,
	})
}
