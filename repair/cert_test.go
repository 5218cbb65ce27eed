package repair_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/murmur-cloud/murmur/repair"
)

// certFor makes the certificate of prev's repair into next by claimant,
// granted by grantors, as their Machines would sign it.
func certFor(prev, next repair.Stripe[P], claimant P, ballot uint64, slots []int, grantors ...P) *repair.Cert[P] {
	c := &repair.Cert[P]{Version: prev.Version, Ballot: ballot, Claimant: claimant, Slots: slots, Holders: prev.Holders}
	stmt := repair.GrantStatement(prev.ID, prev.Version, ballot, keyOf(claimant), slots)
	for _, g := range grantors {
		c.Grants = append(c.Grants, repair.Signed[P]{From: g, Sig: tag(g, stmt)})
	}
	changed := repair.Changed(prev, next)
	var keys []repair.Key
	for _, i := range changed {
		keys = append(keys, keyOf(next.Holders[i]))
	}
	c.Commit = tag(claimant, repair.CommitStatement(prev.ID, prev.Version, next.Version, ballot, changed, keys))
	return c
}

func withHolder(s repair.Stripe[P], slot int, p P) repair.Stripe[P] {
	s.Holders = slices.Clone(s.Holders)
	s.Holders[slot] = p
	s.Version++
	return s
}

// TestCheckCert: a record two repairs ahead is taken with the chain of
// their certificates, by a holder at either version before; a record
// whose holders differ from what the repairer signed, or a link with too
// few grants, is not.
func TestCheckCert(t *testing.T) {
	v0 := repair.Stripe[P]{ID: repair.StripeID{5}, K: 2, M: 3, ShardSize: 1, Holders: []P{1, 2, 3, 4, 5}}
	v1 := withHolder(v0, 4, 6)
	v2 := withHolder(v1, 3, 7)
	c1 := certFor(v0, v1, 1, 1, []int{4}, 1, 2, 3)
	c2 := certFor(v1, v2, 2, 1, []int{3}, 1, 2, 6)
	c2.Prev = c1
	for _, tc := range []struct {
		name       string
		prev, next repair.Stripe[P]
		cert       *repair.Cert[P]
		ok         bool
	}{
		{"one step", v0, v1, c1, true},
		{"two steps", v0, v2, c2, true},
		{"the last step", v1, v2, c2, true},
		{"no change", v0, repair.Stripe[P]{ID: v0.ID, K: 2, M: 3, ShardSize: 1, Holders: v0.Holders, Version: 9}, nil, true},
		{"none", v0, v1, nil, false},
		{"not the signed holder", v0, withHolder(v0, 4, 8), c1, false},
		{"a slot not granted", v0, withHolder(v1, 0, 6), c1, false},
		{"no majority", v0, v1, certFor(v0, v1, 1, 1, []int{4}, 1, 2), false},
		{"a repeated grant", v0, v1, certFor(v0, v1, 1, 1, []int{4}, 1, 1, 2), false},
		{"a stranger's grant", v0, v1, certFor(v0, v1, 1, 1, []int{4}, 1, 2, 9), false},
		{"the chain does not reach", v0, v2, certFor(v1, v2, 2, 1, []int{3}, 1, 2, 6), false},
	} {
		err := repair.CheckCert(tc.prev, tc.next, tc.cert, keyOf, verify)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, repair.ErrCert) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}
