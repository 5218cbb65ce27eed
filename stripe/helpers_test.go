package stripe_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/stripe"
)

// t0 is the tests' epoch.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ownerKey returns the Ed25519 key whose seed is 32 bytes of b.
func ownerKey(b byte) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = b + byte(i)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// newStripe codes a 2+1 stripe of two data shards named by tag and
// returns its record, not yet covered, and its shards.
func newStripe(t testing.TB, tag string) (*stripe.Record, [][]byte) {
	t.Helper()
	d, shards := code(t, 2, 1, []byte("data shard a of "+tag), []byte("b of "+tag))
	r, err := stripe.New(d, shards)
	if err != nil {
		t.Fatal(err)
	}
	return r, shards
}

// covered returns n records of the same owner, all kept by one retention
// signed at issued for term.
func covered(t testing.TB, key ed25519.PrivateKey, n int, issued time.Time, term time.Duration) ([]*stripe.Record, *stripe.Set, stripe.Retention) {
	t.Helper()
	recs := make([]*stripe.Record, n)
	ids := make([]stripe.ID, n)
	for i := range recs {
		recs[i], _ = newStripe(t, fmt.Sprint("stripe ", i))
		ids[i] = recs[i].ID()
	}
	set := mustSet(t, ids...)
	ret, err := stripe.SignRetention(key, issued, issued.Add(term), set)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if recs[i], err = r.Cover(ret, set); err != nil {
			t.Fatal(err)
		}
	}
	return recs, set, ret
}

func mustSet(t testing.TB, ids ...stripe.ID) *stripe.Set {
	t.Helper()
	s, err := stripe.NewSet(ids)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func encode(t testing.TB, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	t.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// code codes a k+m stripe of data (fewer than k: empty slots) and returns
// its descriptor and all its shards, nil for an empty slot.
func code(t testing.TB, k, m int, data ...[]byte) (*erasure.Descriptor, [][]byte) {
	t.Helper()
	c, err := erasure.NewCoder(k, m)
	if err != nil {
		t.Fatal(err)
	}
	d, parity, err := c.Encode(data)
	if err != nil {
		t.Fatal(err)
	}
	shards := make([][]byte, k, k+m)
	copy(shards, data)
	return d, append(shards, parity...)
}
