package stripe

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/internal/merkle"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

const (
	// MaxHolders bounds the holders hinted for one shard.
	MaxHolders = 4
	// MaxHolderLen bounds a holder's name (store.MaxHolderLen).
	MaxHolderLen = 128
	// MaxSkew is how far ahead of a receiver's clock a record's Seq may
	// be: hints from further in the future are refused, so that nobody
	// can pin a stripe's hints by dating them late.
	MaxSkew = 10 * time.Minute
)

var (
	// ErrBadRecord reports a record or tombstone that is malformed,
	// inconsistent or not covered by a genuine statement.
	ErrBadRecord = errors.New("stripe: invalid stripe record")
	// ErrExpired reports a record whose retention has run out.
	ErrExpired = errors.New("stripe: the stripe's retention has expired")
	// ErrReleased reports a record that a release of its stripe, which
	// the holder keeps as a tombstone, overrides.
	ErrReleased = errors.New("stripe: the stripe was released")
	// ErrOwner reports a record or statement of another owner than the
	// stripe's.
	ErrOwner = errors.New("stripe: another owner's stripe")
	// ErrStale reports a release signed before the retention a holder
	// keeps: the owner kept the stripe after releasing it.
	ErrStale = errors.New("stripe: superseded by a later retention")
)

// Record is what each holder of a shard keeps about its stripe. Records
// are values: functions of this package return new ones and never change
// their arguments; a caller that changes one owns it.
type Record struct {
	Descriptor *erasure.Descriptor
	// Roots[i] is the proof root of shard i (that of an empty shard for
	// an empty data slot).
	Roots []proof.Root
	// Seq versions the hints: the time of their last change, in
	// milliseconds since 1970.
	Seq uint64
	// Holders[i] hints where shard i is held: 0 to MaxHolders names,
	// ascending, each 1 to MaxHolderLen bytes (libp2p peer IDs for node);
	// none for an empty slot. A nil Holders hints nothing.
	Holders [][]string
	// Retention keeps the stripe, and Path shows the stripe in its set.
	Retention Retention
	Path      Path
}

// New returns the record of a stripe its owner has just coded: d and its
// shards (shards[i] for d.Shards[i], nil for an empty slot), with each
// shard's proof root, no hints and no retention yet (Cover adds it).
func New(d *erasure.Descriptor, shards [][]byte) (*Record, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if len(shards) != len(d.Shards) {
		return nil, fmt.Errorf("%w: %d shards for a descriptor of %d", ErrBadRecord, len(shards), len(d.Shards))
	}
	r := &Record{Descriptor: d, Roots: make([]proof.Root, len(shards))}
	for i, s := range shards {
		if len(s) != d.Shards[i].Size {
			return nil, fmt.Errorf("%w: shard %d has %d bytes, the descriptor says %d", ErrBadRecord, i, len(s), d.Shards[i].Size)
		}
		r.Roots[i] = proof.RootOf(s)
	}
	return r, nil
}

// ID returns the stripe's ID, or the zero ID for a record whose
// descriptor or roots are malformed (Verify says what is wrong).
func (r *Record) ID() ID {
	id, _ := IDOf(r.Descriptor, r.Roots)
	return id
}

// Owner returns the owner of the stripe: the key that signed its
// retention.
func (r *Record) Owner() Owner { return r.Retention.Owner }

// Cover returns a copy of r kept by ret, which must have been signed over
// set, a set that holds r's stripe.
func (r *Record) Cover(ret Retention, set *Set) (*Record, error) {
	if ret.Root != set.Root() || ret.Count != set.Len() {
		return nil, fmt.Errorf("%w: the retention was not signed over this set", ErrBadStatement)
	}
	p, ok := set.Path(r.ID())
	if !ok {
		return nil, fmt.Errorf("%w: the set does not hold stripe %s", ErrBadStatement, r.ID().Short())
	}
	out := r.Clone()
	out.Retention, out.Path = ret, p
	return out, nil
}

// Clone returns a copy of r that shares nothing changeable with it but
// the descriptor, which is never changed.
func (r *Record) Clone() *Record {
	out := *r
	out.Roots = slices.Clone(r.Roots)
	out.Holders = cloneHolders(r.Holders)
	out.Path.Siblings = slices.Clone(r.Path.Siblings)
	return &out
}

func cloneHolders(h [][]string) [][]string {
	if h == nil {
		return nil
	}
	out := make([][]string, len(h))
	for i, names := range h {
		out[i] = slices.Clone(names)
	}
	return out
}

// checkForm checks what the encoding relies on, short of signatures: a
// valid descriptor, a root per shard, well-formed hints, a retention with
// sound fields and a path that fits its set.
func (r *Record) checkForm() error {
	if r.Descriptor == nil {
		return fmt.Errorf("%w: no descriptor", ErrBadRecord)
	}
	if err := r.Descriptor.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	n := len(r.Descriptor.Shards)
	if len(r.Roots) != n {
		return fmt.Errorf("%w: %d roots for %d shards", ErrBadRecord, len(r.Roots), n)
	}
	if r.Holders != nil && len(r.Holders) != n {
		return fmt.Errorf("%w: hints for %d shards of %d", ErrBadRecord, len(r.Holders), n)
	}
	for i, names := range r.Holders {
		if err := checkHolders(names); err != nil {
			return fmt.Errorf("%w: shard %d: %w", ErrBadRecord, i, err)
		}
		if len(names) > 0 && !r.Descriptor.Stored(i) {
			return fmt.Errorf("%w: holders hinted for the empty slot %d", ErrBadRecord, i)
		}
	}
	if err := r.Retention.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if merkle.PathLen(r.Path.Index, r.Retention.Count) != len(r.Path.Siblings) {
		return fmt.Errorf("%w: a path of %d at %d does not fit a set of %d", ErrBadRecord, len(r.Path.Siblings), r.Path.Index, r.Retention.Count)
	}
	return nil
}

func checkHolders(names []string) error {
	if len(names) > MaxHolders {
		return fmt.Errorf("%d holders hinted, at most %d", len(names), MaxHolders)
	}
	for j, h := range names {
		if len(h) < 1 || len(h) > MaxHolderLen {
			return fmt.Errorf("a holder's name of %d bytes, want 1..%d", len(h), MaxHolderLen)
		}
		if j > 0 && names[j-1] >= h {
			return errors.New("holders not in ascending order, or repeated")
		}
	}
	return nil
}

// Verify checks that the record is valid: its form, that empty slots
// have the empty shard's root, and that its retention is genuine and
// covers its stripe. It does not check that the retention is live.
func (r *Record) Verify() error { return r.verify(nil) }

// verify is Verify; with signed, a retention whose signature the caller
// has checked and which r's must equal, it checks no signature.
func (r *Record) verify(signed *Retention) error {
	if err := r.checkForm(); err != nil {
		return err
	}
	empty := proof.RootOf(nil)
	for i, s := range r.Descriptor.Shards {
		if s.Size == 0 && r.Roots[i] != empty {
			return fmt.Errorf("%w: the empty slot %d has another root than the empty shard's", ErrBadRecord, i)
		}
	}
	switch {
	case signed == nil:
		if err := r.Retention.Verify(); err != nil {
			return fmt.Errorf("%w: %w", ErrBadRecord, err)
		}
	case r.Retention != *signed:
		return fmt.Errorf("%w: not the retention checked", ErrBadRecord)
	}
	if !r.Retention.Covers(r.ID(), r.Path) {
		return fmt.Errorf("%w: %w: the retention does not cover stripe %s", ErrBadRecord, ErrBadStatement, r.ID().Short())
	}
	return nil
}

// Live reports whether the record's retention still keeps the stripe.
func (r *Record) Live(now time.Time) bool { return r.Retention.Live(now) }

// CheckShard reports whether b is shard i of the stripe: its length, ID
// and proof root. A holder checks this before it takes a shard with its
// record, since a record whose root is not its shard's would make it fail
// every audit.
func (r *Record) CheckShard(i int, b []byte) error {
	if i < 0 || i >= len(r.Descriptor.Shards) || i >= len(r.Roots) {
		return fmt.Errorf("%w: no shard %d", ErrBadRecord, i)
	}
	s := r.Descriptor.Shards[i]
	switch {
	case len(b) != s.Size:
		return fmt.Errorf("%w: shard %d has %d bytes, the record says %d", ErrBadRecord, i, len(b), s.Size)
	case !s.ID.Verify(b):
		return fmt.Errorf("%w: the bytes are not shard %d (%s)", ErrBadRecord, i, s.ID.Short())
	}
	return r.CheckRoot(i, b)
}

// CheckRoot checks only that b's proof root is the record's for shard i:
// for bytes whose length and ID are known good (a shard erasure rebuilt
// and checked against its ID), it saves CheckShard's second hash.
func (r *Record) CheckRoot(i int, b []byte) error {
	if i < 0 || i >= len(r.Roots) {
		return fmt.Errorf("%w: no shard %d", ErrBadRecord, i)
	}
	if proof.RootOf(b) != r.Roots[i] {
		return fmt.Errorf("%w: shard %d's proof root is not the record's", ErrBadRecord, i)
	}
	return nil
}

// WithHolders returns a copy of r whose hints for shard i are holders (in
// any order, repeats ignored), versioned at now: Seq becomes the later of
// now and r's Seq + 1.
func (r *Record) WithHolders(i int, holders []string, now time.Time) (*Record, error) {
	if i < 0 || i >= len(r.Descriptor.Shards) {
		return nil, fmt.Errorf("%w: no shard %d", ErrBadRecord, i)
	}
	names := slices.Compact(slices.Sorted(slices.Values(holders)))
	if err := checkHolders(names); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if len(names) > 0 && !r.Descriptor.Stored(i) {
		return nil, fmt.Errorf("%w: holders hinted for the empty slot %d", ErrBadRecord, i)
	}
	out := r.Clone()
	if out.Holders == nil {
		out.Holders = make([][]string, len(r.Descriptor.Shards))
	}
	out.Holders[i] = names
	out.Seq = max(r.Seq+1, uint64(max(0, now.UnixMilli())))
	return out, nil
}

// Wins reports whether a prevails over b, two records of one stripe: its
// retention outlasts b's, or they have the same retention and a's hints
// are newer. What a holder keeps is Merge's result, which takes each part
// from the record that prevails in it.
func Wins(a, b *Record) bool {
	if a.Retention.Outlasts(&b.Retention) {
		return true
	}
	return !b.Retention.Outlasts(&a.Retention) && a.Seq > b.Seq
}

// Merge returns what a holder of two records of one stripe keeps: the
// retention (with its path) that outlasts the other, and the newer hints;
// hints of the same Seq are united, shard by shard (the MaxHolders first
// in order when there are more). Merge is commutative. It fails for
// records of two stripes (ErrBadRecord) or of two owners (ErrOwner). It
// does not verify signatures.
func Merge(a, b *Record) (*Record, error) {
	if a.ID() != b.ID() {
		return nil, fmt.Errorf("%w: records of two stripes, %s and %s", ErrBadRecord, a.ID().Short(), b.ID().Short())
	}
	if a.Owner() != b.Owner() {
		return nil, fmt.Errorf("%w: stripe %s is kept by %s, not %s", ErrOwner, a.ID().Short(), a.Owner().String()[:12], b.Owner().String()[:12])
	}
	out := a.Clone()
	if b.Retention.Outlasts(&a.Retention) {
		out.Retention, out.Path = b.Retention, Path{Index: b.Path.Index, Siblings: slices.Clone(b.Path.Siblings)}
	}
	switch {
	case b.Seq > a.Seq:
		out.Seq, out.Holders = b.Seq, cloneHolders(b.Holders)
	case b.Seq == a.Seq && b.Holders != nil:
		if out.Holders == nil {
			out.Holders = make([][]string, len(b.Holders))
		}
		for i := range out.Holders {
			u := slices.Compact(slices.Sorted(slices.Values(append(out.Holders[i], b.Holders[i]...))))
			out.Holders[i] = u[:min(len(u), MaxHolders)]
		}
	}
	return out, nil
}

// Receive decides what a holder keeps when it is handed got for a stripe
// it keeps held for (nil: none yet), given the tombstone it keeps for that
// stripe (nil: none): got must be valid, live at now, not from the future
// (MaxSkew), not overridden by the tombstone, and of the owner of held;
// then the holder keeps Merge(held, got).
func Receive(held, got *Record, tomb *Tombstone, now time.Time) (*Record, error) {
	return receive(held, got, tomb, now, nil)
}

func receive(held, got *Record, tomb *Tombstone, now time.Time, signed *Retention) (*Record, error) {
	if err := got.verify(signed); err != nil {
		return nil, err
	}
	id := got.ID()
	switch {
	case !got.Live(now):
		return nil, fmt.Errorf("%w: stripe %s was kept until %v", ErrExpired, id.Short(), got.Retention.Until)
	case got.Seq > uint64(max(0, now.Add(MaxSkew).UnixMilli())):
		return nil, fmt.Errorf("%w: hints dated %v, ahead of this clock", ErrBadRecord, time.UnixMilli(int64(min(got.Seq, 1<<62))))
	case tomb != nil && tomb.Stripe == id && tomb.Blocks(&got.Retention):
		return nil, fmt.Errorf("%w: stripe %s, on %v", ErrReleased, id.Short(), tomb.Release.Issued)
	case held == nil:
		return got.Clone(), nil
	}
	return Merge(held, got)
}

// Renew returns what a holder keeps of r when the owner sends it a new
// retention ret that covers r's stripe at p: r with ret if ret is genuine,
// live, not overridden by tomb and outlasts r's retention; r as it was if
// ret does not outlast it.
func (r *Record) Renew(ret Retention, p Path, tomb *Tombstone, now time.Time) (*Record, error) {
	got := r.Clone()
	got.Retention, got.Path = ret, p
	return Receive(r, got, tomb, now)
}

// Renewer applies one retention to many records, checking its signature
// once: a holder handed a Renewal of thousands of its stripes verifies
// one signature, not one per stripe.
type Renewer struct {
	ret Retention
	err error // of the retention's signature
}

// NewRenewer checks ret's signature and returns its Renewer.
func NewRenewer(ret Retention) *Renewer {
	rn := &Renewer{ret: ret, err: ret.Verify()}
	if rn.err != nil {
		rn.err = fmt.Errorf("%w: %w", ErrBadRecord, rn.err)
	}
	return rn
}

// Renew is r.Renew(ret, p, tomb, now) for the Renewer's retention.
func (rn *Renewer) Renew(r *Record, p Path, tomb *Tombstone, now time.Time) (*Record, error) {
	if rn.err != nil {
		return nil, rn.err
	}
	got := r.Clone()
	got.Retention, got.Path = rn.ret, p
	return receive(r, got, tomb, now, &rn.ret)
}

// Release returns the tombstone a holder keeps in place of r when handed
// rel, the owner's release of a set that holds r's stripe at p. It fails
// if rel is not genuine or does not cover the stripe (ErrBadStatement), is
// another owner's (ErrOwner), or was signed before r's retention
// (ErrStale): the owner kept the stripe after releasing it.
func (r *Record) Release(rel Release, p Path) (*Tombstone, error) {
	t, err := NewTombstone(r.ID(), rel, p)
	if err != nil {
		return nil, err
	}
	if rel.Owner != r.Owner() {
		return nil, fmt.Errorf("%w: a release of stripe %s by another key", ErrOwner, r.ID().Short())
	}
	if r.Retention.Issued.After(rel.Issued) {
		return nil, fmt.Errorf("%w: released on %v, kept again on %v", ErrStale, rel.Issued, r.Retention.Issued)
	}
	return t, nil
}
