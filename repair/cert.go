package repair

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Grant certificates. A holder's Grant is signed by it (Config.Sign) over
// GrantStatement: the stripe, the version being repaired, the ballot, the
// claimant and the slots the claim replaces. A committed repair's Done
// carries a Cert: the grants of a majority of that version's holders, and
// the claimant's own signature over CommitStatement (the new holder of
// each slot it changed). Whoever receives a newer record that changes
// holders takes it only with a certificate that CheckCert accepts against
// the record it is at, so a peer cannot name itself (or anyone) for
// another holder's slot on its word alone: it needs a majority of the
// holders to have held that slot's holder for lost or damaged, each in
// its own view, and to have granted it the repair.

// The signature domains.
const (
	grantDomain  = "murmur repair grant v1\x00"
	commitDomain = "murmur repair commit v1\x00"
)

// certVersion is the first byte after a statement's domain.
const certVersion byte = 1

// MaxCertSig bounds a signature in a certificate (an ed25519 signature is
// 64 bytes; node's wire format uses the same bound).
const MaxCertSig = 128

// ErrCert reports a hint-changing record without a certificate that
// covers its changes.
var ErrCert = errors.New("repair: no valid grant certificate")

// Cert is a repair's grant certificate: a majority of the holders of
// version Version granted Claimant, for Ballot, the repair of Slots; and
// the claimant signed what it put there (Commit). Holders are that
// version's holders and Prev the certificate that brought them (nil:
// none, or further back than MaxChain), so that a receiver a few versions
// behind can check every step from the record it is at. A Cert is kept as
// it is once made: it and its chain are shared.
type Cert[P comparable] struct {
	Version  uint64 // the record repaired
	Ballot   uint64
	Claimant P
	Slots    []int // ascending
	Grants   []Signed[P]
	Commit   []byte // the claimant's signature over CommitStatement
	Holders  []P    // the holders of version Version, by slot
	Prev     *Cert[P]
}

// MaxChain bounds a certificate's chain (itself and its Prevs): a
// receiver further behind cannot check a newer record, and waits for a
// record that changes no holder (the owner's) or stays at its own.
const MaxChain = 16

// chain returns a certificate for a commit that follows prev (nil: none),
// with prev's chain cut to MaxChain-1 links.
func chain[P comparable](c *Cert[P], prev *Cert[P]) *Cert[P] {
	if prev == nil || MaxChain < 2 {
		return c
	}
	links := []*Cert[P]{}
	for l := prev; l != nil && len(links) < MaxChain-1; l = l.Prev {
		links = append(links, l)
	}
	if links[len(links)-1].Prev != nil {
		// Copy the links kept, the last without its Prev.
		var next *Cert[P]
		for i := len(links) - 1; i >= 0; i-- {
			l := *links[i]
			l.Prev = next
			next = &l
		}
		prev = next
	}
	c.Prev = prev
	return c
}

// Signed is one holder's signature over a GrantStatement.
type Signed[P comparable] struct {
	From P
	Sig  []byte
}

// GrantStatement is what a holder signs when it grants a claim: the
// stripe, the version of its record, the ballot, the claimant's key
// (Config.KeyOf: node's is the SHA-256 of the peer ID) and the slots the
// claim replaces.
//
//	domain | version(1) | stripe(32) | record version(8) | ballot(8) |
//	claimant key(32) | n(2) | n × slot(2)
func GrantStatement(id StripeID, version, ballot uint64, claimant Key, slots []int) []byte {
	b := make([]byte, 0, len(grantDomain)+1+32+8+8+32+2+2*len(slots))
	b = append(b, grantDomain...)
	b = append(b, certVersion)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint64(b, ballot)
	b = append(b, claimant[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(slots)))
	for _, s := range slots {
		b = binary.BigEndian.AppendUint16(b, uint16(s))
	}
	return b
}

// CommitStatement is what a repairer signs when it commits: the stripe,
// the version repaired, the version it makes (next), the ballot, and each
// slot it changed with its new holder's key, ascending by slot.
//
//	domain | version(1) | stripe(32) | record version(8) | next version(8) |
//	ballot(8) | n(2) | n × (slot(2) | holder key(32))
func CommitStatement(id StripeID, version, next, ballot uint64, slots []int, holders []Key) []byte {
	b := make([]byte, 0, len(commitDomain)+1+32+8+8+8+2+34*len(slots))
	b = append(b, commitDomain...)
	b = append(b, certVersion)
	b = append(b, id[:]...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint64(b, next)
	b = binary.BigEndian.AppendUint64(b, ballot)
	b = binary.BigEndian.AppendUint16(b, uint16(len(slots)))
	for i, s := range slots {
		b = binary.BigEndian.AppendUint16(b, uint16(s))
		b = append(b, holders[i][:]...)
	}
	return b
}

// Changed returns the stored slots whose holder differs between prev and
// next, two records of one stripe, ascending.
func Changed[P comparable](prev, next Stripe[P]) []int {
	var out []int
	for i := range prev.Holders {
		if prev.stored(i) && i < len(next.Holders) && prev.Holders[i] != next.Holders[i] {
			out = append(out, i)
		}
	}
	return out
}

// commitOf returns the commit statement of next's changes to prev.
func commitOf[P comparable](prev, next Stripe[P], ballot uint64, changed []int, keyOf func(P) Key) []byte {
	keys := make([]Key, len(changed))
	for j, i := range changed {
		keys[j] = keyOf(next.Holders[i])
	}
	return CommitStatement(prev.ID, prev.Version, next.Version, ballot, changed, keys)
}

// CheckCert reports whether next, a newer record of prev's stripe, may
// replace prev on the strength of c (nil: none). A record that changes no
// holder needs none. One that does needs a certificate for each version
// from prev's to next's (c and its chain): each with slots that include
// every slot it changed, valid grants (verify) from a majority of the
// holders of the version it repaired, distinct, and the claimant's valid
// signature over the changes. It does not look at the versions' order.
func CheckCert[P comparable](prev, next Stripe[P], c *Cert[P], keyOf func(P) Key, verify func(P, []byte, []byte) bool) error {
	if next.ID != prev.ID || next.K != prev.K || next.M != prev.M || len(next.Holders) != len(prev.Holders) || !slices.Equal(next.Empty, prev.Empty) {
		return fmt.Errorf("%w: stripe %s: the record's shape differs from the one held", ErrCert, prev.ID.Short())
	}
	if len(Changed(prev, next)) == 0 {
		return nil
	}
	// The links from prev's version on, oldest first.
	var links []*Cert[P]
	for l := c; l != nil && len(links) < MaxChain; l = l.Prev {
		links = append(links, l)
		if l.Version == prev.Version {
			break
		}
	}
	switch {
	case c == nil:
		return fmt.Errorf("%w: stripe %s: the record changes the holders of slots %v without one", ErrCert, prev.ID.Short(), Changed(prev, next))
	case links[len(links)-1].Version != prev.Version:
		return fmt.Errorf("%w: stripe %s: a certificate for version %d, the record held is at %d", ErrCert, prev.ID.Short(), c.Version, prev.Version)
	}
	slices.Reverse(links)
	cur := prev
	for i, l := range links {
		step := next
		if i+1 < len(links) {
			step = prev
			step.Holders, step.Version = links[i+1].Holders, links[i+1].Version
			if len(step.Holders) != len(prev.Holders) {
				return fmt.Errorf("%w: stripe %s: a link of %d holders", ErrCert, prev.ID.Short(), len(step.Holders))
			}
		}
		if err := checkLink(cur, step, l, keyOf, verify); err != nil {
			return err
		}
		cur = step
	}
	return nil
}

// checkLink checks one certificate: prev to next, at prev's version.
func checkLink[P comparable](prev, next Stripe[P], c *Cert[P], keyOf func(P) Key, verify func(P, []byte, []byte) bool) error {
	changed := Changed(prev, next)
	if len(changed) == 0 {
		return nil
	}
	for _, i := range changed {
		if _, ok := slices.BinarySearch(c.Slots, i); !ok {
			return fmt.Errorf("%w: stripe %s: slot %d changed, the grants cover %v", ErrCert, prev.ID.Short(), i, c.Slots)
		}
	}
	stmt := GrantStatement(prev.ID, c.Version, c.Ballot, keyOf(c.Claimant), c.Slots)
	var seen []P
	for _, g := range c.Grants {
		if prev.slotOf(g.From) < 0 || slices.Contains(seen, g.From) || !verify(g.From, stmt, g.Sig) {
			continue
		}
		seen = append(seen, g.From)
	}
	stored := 0
	for i := range prev.Holders {
		if prev.stored(i) {
			stored++
		}
	}
	if len(seen) < quorum(stored) {
		return fmt.Errorf("%w: stripe %s: %d valid grants of %d, a majority of %d holders is %d", ErrCert, prev.ID.Short(), len(seen), len(c.Grants), stored, quorum(stored))
	}
	if !verify(c.Claimant, commitOf(prev, next, c.Ballot, changed, keyOf), c.Commit) {
		return fmt.Errorf("%w: stripe %s: the claimant's signature does not cover the new holders", ErrCert, prev.ID.Short())
	}
	return nil
}

// checkSlots reports whether slots are ascending, distinct, stored slots
// of rec.
func checkSlots[P comparable](rec *Stripe[P], slots []int) bool {
	if len(slots) == 0 {
		return false
	}
	for j, i := range slots {
		if i < 0 || i >= len(rec.Holders) || !rec.stored(i) || j > 0 && slots[j-1] >= i {
			return false
		}
	}
	return true
}

// Refusal is a message whose record this node did not take: the record
// changes holders without a certificate CheckCert accepts. node logs it.
type Refusal[P comparable] struct {
	Stripe StripeID
	From   P
	Err    error
}
