package stripe

import (
	"fmt"
	"time"
)

// Tombstone is what a holder keeps of a released stripe: the release and
// the stripe's path in it, so that anyone can check it. It overrides every
// retention of the stripe signed up to the release (and any of another
// key), for MaxTerm after the release, by when all of those have expired.
type Tombstone struct {
	Stripe  ID
	Release Release
	Path    Path
}

// NewTombstone returns the tombstone of stripe id released by rel at p,
// after checking rel's signature and that it covers id.
func NewTombstone(id ID, rel Release, p Path) (*Tombstone, error) {
	t := &Tombstone{Stripe: id, Release: rel, Path: p}
	if err := t.Verify(); err != nil {
		return nil, err
	}
	return t, nil
}

// Verify checks the release's signature and that it covers the stripe.
func (t *Tombstone) Verify() error {
	if err := t.Release.Verify(); err != nil {
		return err
	}
	if !t.Release.Covers(t.Stripe, t.Path) {
		return fmt.Errorf("%w: the release does not cover stripe %s", ErrBadStatement, t.Stripe.Short())
	}
	return nil
}

// Blocks reports whether the tombstone overrides ret, a retention of its
// stripe: one of another key, or one its owner signed no later than the
// release.
func (t *Tombstone) Blocks(ret *Retention) bool {
	return ret.Owner != t.Release.Owner || !ret.Issued.After(t.Release.Issued)
}

// Expires returns when the tombstone may be dropped: MaxTerm after the
// release, when every retention it overrides has run out.
func (t *Tombstone) Expires() time.Time { return t.Release.Issued.Add(MaxTerm) }
