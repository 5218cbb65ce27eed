package stripe

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/murmur-cloud/murmur/internal/wire"
)

// Version is the first byte of every encoding of this package.
const Version byte = 1

// MaxTerm bounds a retention's term, from its signing to its end, so
// that a tombstone need be kept only MaxTerm after its release.
const MaxTerm = 366 * 24 * time.Hour

// The signature domains: the prefix of every signed message.
const (
	retentionDomain = "murmur stripe retention v1\x00"
	releaseDomain   = "murmur stripe release v1\x00"
)

// The fixed lengths of the statements' encodings (docs/format.md).
const (
	RetentionLen = 1 + 32 + 8 + 8 + 4 + 32 + ed25519.SignatureSize // 149
	ReleaseLen   = 1 + 32 + 8 + 4 + 32 + ed25519.SignatureSize     // 141
)

// ErrBadStatement reports a retention or release that is malformed, whose
// signature does not verify, or that does not cover the stripe it is
// shown for.
var ErrBadStatement = errors.New("stripe: invalid retention or release")

// Retention is an owner's signed promise to the holders of a set of
// stripes: keep them until Until unless released. Times have one-second
// resolution.
type Retention struct {
	Owner  Owner
	Issued time.Time // when the owner signed it
	Until  time.Time
	Count  int      // the number of stripes in the set
	Root   [32]byte // the set's root
	Sig    [ed25519.SignatureSize]byte
}

// Release is an owner's signed order to delete a set of stripes. It
// overrides every retention of those stripes the owner signed up to
// Issued.
type Release struct {
	Owner  Owner
	Issued time.Time
	Count  int
	Root   [32]byte
	Sig    [ed25519.SignatureSize]byte
}

// SignRetention signs a retention of set from issued until until with
// the owner's key. until must be after issued by at most MaxTerm.
func SignRetention(key ed25519.PrivateKey, issued, until time.Time, set *Set) (Retention, error) {
	r := Retention{Owner: OwnerOf(key), Issued: seconds(issued), Until: seconds(until), Count: set.Len(), Root: set.Root()}
	if err := r.check(); err != nil {
		return Retention{}, fmt.Errorf("%w: %w", ErrBadStatement, err)
	}
	copy(r.Sig[:], ed25519.Sign(key, r.signed()))
	return r, nil
}

// SignRelease signs a release of set at issued with the owner's key.
func SignRelease(key ed25519.PrivateKey, issued time.Time, set *Set) (Release, error) {
	r := Release{Owner: OwnerOf(key), Issued: seconds(issued), Count: set.Len(), Root: set.Root()}
	if err := r.check(); err != nil {
		return Release{}, fmt.Errorf("%w: %w", ErrBadStatement, err)
	}
	copy(r.Sig[:], ed25519.Sign(key, r.signed()))
	return r, nil
}

// seconds truncates t to the encoding's resolution, in UTC without a
// monotonic reading, so that equal times compare equal.
func seconds(t time.Time) time.Time { return time.Unix(t.Unix(), 0).UTC() }

func checkTime(t time.Time, what string) error {
	if t.Unix() < 0 || t.Nanosecond() != 0 {
		return fmt.Errorf("%s %v is not whole seconds since 1970", what, t)
	}
	return nil
}

func checkCount(n int) error {
	if n < 1 || n > MaxSet {
		return fmt.Errorf("a set of %d stripes, want 1..%d", n, MaxSet)
	}
	return nil
}

func (r *Retention) check() error {
	if err := errors.Join(checkTime(r.Issued, "issued"), checkTime(r.Until, "until"), checkCount(r.Count)); err != nil {
		return err
	}
	if !r.Until.After(r.Issued) || r.Until.Sub(r.Issued) > MaxTerm {
		return fmt.Errorf("a term from %v to %v, want one of at most %v", r.Issued, r.Until, MaxTerm)
	}
	return nil
}

func (r *Release) check() error {
	return errors.Join(checkTime(r.Issued, "issued"), checkCount(r.Count))
}

// unsigned encodes the fields before the signature.
func (r *Retention) unsigned(b []byte) []byte {
	b = append(b, Version)
	b = append(b, r.Owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Issued.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Until.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Count))
	return append(b, r.Root[:]...)
}

func (r *Release) unsigned(b []byte) []byte {
	b = append(b, Version)
	b = append(b, r.Owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Issued.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(r.Count))
	return append(b, r.Root[:]...)
}

func (r *Retention) signed() []byte { return r.unsigned([]byte(retentionDomain)) }
func (r *Release) signed() []byte   { return r.unsigned([]byte(releaseDomain)) }

// Verify checks the retention's fields and signature.
func (r *Retention) Verify() error {
	if err := r.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStatement, err)
	}
	if !ed25519.Verify(r.Owner.PublicKey(), r.signed(), r.Sig[:]) {
		return fmt.Errorf("%w: the retention's signature does not verify", ErrBadStatement)
	}
	return nil
}

// Verify checks the release's fields and signature.
func (r *Release) Verify() error {
	if err := r.check(); err != nil {
		return fmt.Errorf("%w: %w", ErrBadStatement, err)
	}
	if !ed25519.Verify(r.Owner.PublicKey(), r.signed(), r.Sig[:]) {
		return fmt.Errorf("%w: the release's signature does not verify", ErrBadStatement)
	}
	return nil
}

// Covers reports whether p shows stripe id in the retention's set. It
// does not check the signature.
func (r *Retention) Covers(id ID, p Path) bool { return p.leadsTo(id, r.Count, r.Root) }

// Covers reports whether p shows stripe id in the release's set. It does
// not check the signature.
func (r *Release) Covers(id ID, p Path) bool { return p.leadsTo(id, r.Count, r.Root) }

// Live reports whether the retention still keeps its stripes at now.
func (r *Retention) Live(now time.Time) bool { return now.Before(r.Until) }

// Outlasts reports whether r should replace o as a stripe's retention:
// it keeps the stripe longer, or as long but was signed later; between
// two as long and as recent, the greater signature, so that every holder
// makes the same choice.
func (r *Retention) Outlasts(o *Retention) bool {
	if !r.Until.Equal(o.Until) {
		return r.Until.After(o.Until)
	}
	if !r.Issued.Equal(o.Issued) {
		return r.Issued.After(o.Issued)
	}
	return bytes.Compare(r.Sig[:], o.Sig[:]) > 0
}

// AppendBinary appends the retention's encoding (RetentionLen bytes) to b.
func (r *Retention) AppendBinary(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadStatement, err)
	}
	return append(r.unsigned(b), r.Sig[:]...), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (r *Retention) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// AppendBinary appends the release's encoding (ReleaseLen bytes) to b.
func (r *Release) AppendBinary(b []byte) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadStatement, err)
	}
	return append(r.unsigned(b), r.Sig[:]...), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (r *Release) MarshalBinary() ([]byte, error) { return r.AppendBinary(nil) }

// ParseRetention decodes a retention that fills b exactly. It checks the
// fields, not the signature (Verify).
func ParseRetention(b []byte) (Retention, error) {
	rd := wire.NewReader(b, ErrBadStatement)
	r := readRetention(rd)
	rd.Done()
	return r, rd.Err()
}

// ParseRelease decodes a release that fills b exactly. It checks the
// fields, not the signature (Verify).
func ParseRelease(b []byte) (Release, error) {
	rd := wire.NewReader(b, ErrBadStatement)
	r := readRelease(rd)
	rd.Done()
	return r, rd.Err()
}

func readVersion(rd *wire.Reader, what string) {
	if v := rd.Byte(); rd.Err() == nil && v != Version {
		rd.Fail("unknown %s version %d", what, v)
	}
}

func readTime(rd *wire.Reader) time.Time {
	s := rd.Bytes(8)
	if s == nil {
		return time.Time{}
	}
	v := binary.BigEndian.Uint64(s)
	if v > 1<<62 {
		rd.Fail("time %d out of range", v)
	}
	return time.Unix(int64(v), 0).UTC()
}

func readUint32(rd *wire.Reader) int {
	if s := rd.Bytes(4); s != nil {
		return int(binary.BigEndian.Uint32(s))
	}
	return 0
}

// readRetention reads a retention's fixed encoding; the fields are
// checked, so a parsed retention always encodes again.
func readRetention(rd *wire.Reader) Retention {
	readVersion(rd, "retention")
	var r Retention
	copy(r.Owner[:], rd.Bytes(32))
	r.Issued, r.Until = readTime(rd), readTime(rd)
	r.Count = readUint32(rd)
	copy(r.Root[:], rd.Bytes(32))
	copy(r.Sig[:], rd.Bytes(ed25519.SignatureSize))
	if rd.Err() == nil {
		if err := r.check(); err != nil {
			rd.Fail("%v", err)
		}
	}
	return r
}

func readRelease(rd *wire.Reader) Release {
	readVersion(rd, "release")
	var r Release
	copy(r.Owner[:], rd.Bytes(32))
	r.Issued = readTime(rd)
	r.Count = readUint32(rd)
	copy(r.Root[:], rd.Bytes(32))
	copy(r.Sig[:], rd.Bytes(ed25519.SignatureSize))
	if rd.Err() == nil {
		if err := r.check(); err != nil {
			rd.Fail("%v", err)
		}
	}
	return r
}
