package stripe

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/internal/merkle"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// MaxBatch bounds the stripes one Renewal or Releasing names: what an
// owner sends one holder in one message (a holder of more gets several,
// all under the same signature).
const MaxBatch = 4096

// Entry is one stripe of a batch and its path in the batch's set.
type Entry struct {
	Stripe ID
	Path   Path
}

// Renewal is what an owner sends a holder to renew the stripes it holds:
// one retention, signed once over a set of any size, and the path of each
// of the holder's stripes in that set (Record.Renew takes each).
type Renewal struct {
	Retention Retention
	Entries   []Entry
}

// Releasing is what an owner sends a holder to release stripes: one
// release and the path of each stripe the holder keeps (Record.Release).
type Releasing struct {
	Release Release
	Entries []Entry
}

// Renewal and Releasing encodings:
//
//	renewal:   version | retention | uvarint n | n × (stripe ID(32) | path)
//	releasing: version | release   | uvarint n | n × (stripe ID(32) | path)
//
// Each path must fit the statement's set (its length follows from its
// index and the set's count); that it leads to the root is for Renew and
// Release to check, with the signature.
const (
	maxEntryLen = 32 + maxPathLen
	// MaxRenewalLen bounds an encoded Renewal or Releasing.
	MaxRenewalLen = 1 + RetentionLen + binary.MaxVarintLen32 + MaxBatch*maxEntryLen
)

func appendEntries(b []byte, count int, es []Entry) ([]byte, error) {
	if len(es) > MaxBatch {
		return nil, fmt.Errorf("%w: %d stripes in a batch, at most %d", ErrBadStatement, len(es), MaxBatch)
	}
	b = binary.AppendUvarint(b, uint64(len(es)))
	for _, e := range es {
		if merkle.PathLen(e.Path.Index, count) != len(e.Path.Siblings) {
			return nil, fmt.Errorf("%w: a path of %d at %d does not fit a set of %d", ErrBadStatement, len(e.Path.Siblings), e.Path.Index, count)
		}
		b = append(b, e.Stripe[:]...)
		b = e.Path.AppendBinary(b)
	}
	return b, nil
}

func readEntries(rd *wire.Reader, count int) []Entry {
	n := rd.Count(MaxBatch, 32+2)
	if rd.Err() != nil {
		return nil
	}
	es := make([]Entry, n)
	for i := range es {
		copy(es[i].Stripe[:], rd.Bytes(32))
		es[i].Path = readPath(rd)
		if rd.Err() == nil && merkle.PathLen(es[i].Path.Index, count) != len(es[i].Path.Siblings) {
			rd.Fail("a path of %d at %d does not fit a set of %d", len(es[i].Path.Siblings), es[i].Path.Index, count)
		}
	}
	return es
}

// AppendBinary appends the renewal's encoding to b.
func (r *Renewal) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, Version)
	b, err := r.Retention.AppendBinary(b)
	if err != nil {
		return nil, err
	}
	return appendEntries(b, r.Retention.Count, r.Entries)
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (r *Renewal) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// ParseRenewal decodes a renewal that fills b exactly. It checks the
// form, not the signature.
func ParseRenewal(b []byte) (*Renewal, error) {
	rd := wire.NewReader(b, ErrBadStatement)
	readVersion(rd, "renewal")
	r := &Renewal{Retention: readRetention(rd)}
	if rd.Err() == nil {
		r.Entries = readEntries(rd, r.Retention.Count)
	}
	rd.Done()
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	return r, wire.Canonical(b, r, ErrBadStatement)
}

// AppendBinary appends the releasing's encoding to b.
func (r *Releasing) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, Version)
	b, err := r.Release.AppendBinary(b)
	if err != nil {
		return nil, err
	}
	return appendEntries(b, r.Release.Count, r.Entries)
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (r *Releasing) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// ParseReleasing decodes a releasing that fills b exactly. It checks the
// form, not the signature.
func ParseReleasing(b []byte) (*Releasing, error) {
	rd := wire.NewReader(b, ErrBadStatement)
	readVersion(rd, "releasing")
	r := &Releasing{Release: readRelease(rd)}
	if rd.Err() == nil {
		r.Entries = readEntries(rd, r.Release.Count)
	}
	rd.Done()
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	return r, wire.Canonical(b, r, ErrBadStatement)
}

// SignRenewal is SignRetention over the set of ids, returning the
// retention and every stripe's entry, ready to be split among holders.
func SignRenewal(key ed25519.PrivateKey, issued, until time.Time, ids []ID) (Retention, map[ID]Entry, error) {
	set, err := NewSet(ids)
	if err != nil {
		return Retention{}, nil, err
	}
	ret, err := SignRetention(key, issued, until, set)
	if err != nil {
		return Retention{}, nil, err
	}
	return ret, entryMap(set, ids), nil
}

// SignReleasing is SignRelease over the set of ids, returning the release
// and every stripe's entry.
func SignReleasing(key ed25519.PrivateKey, issued time.Time, ids []ID) (Release, map[ID]Entry, error) {
	set, err := NewSet(ids)
	if err != nil {
		return Release{}, nil, err
	}
	rel, err := SignRelease(key, issued, set)
	if err != nil {
		return Release{}, nil, err
	}
	return rel, entryMap(set, ids), nil
}

func entryMap(set *Set, ids []ID) map[ID]Entry {
	m := make(map[ID]Entry, len(ids))
	for _, id := range ids {
		if p, ok := set.Path(id); ok {
			m[id] = Entry{id, p}
		}
	}
	return m
}
