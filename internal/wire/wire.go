// Package wire holds the bounded decoder shared by every parser of Murmur's
// binary formats (stripe descriptors, manifests, wire messages). It never
// allocates based on a length it has not checked against the input left,
// never panics on short or garbage input, and reports the first error,
// wrapped in the caller's sentinel so callers keep their own error classes.
package wire

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"fmt"
)

// Reader decodes fields from the front of a byte slice. After the first
// error every method returns a zero value and Err reports that error.
type Reader struct {
	b        []byte
	sentinel error
	err      error
}

// NewReader returns a Reader over b whose errors wrap sentinel.
func NewReader(b []byte, sentinel error) *Reader { return &Reader{b: b, sentinel: sentinel} }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Len returns the number of bytes not yet read.
func (r *Reader) Len() int { return len(r.b) }

// Fail records an error (the first one wins) wrapping the sentinel.
func (r *Reader) Fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{r.sentinel}, args...)...)
	}
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	b := r.Bytes(1)
	if b == nil {
		return 0
	}
	return b[0]
}

// Bytes returns the next n bytes, aliasing the input.
func (r *Reader) Bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.Fail("truncated: need %d bytes, have %d", n, len(r.b))
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

// Uvarint reads an unsigned varint no larger than limit.
func (r *Reader) Uvarint(limit uint64) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.Fail("truncated or overlong varint")
		return 0
	}
	if v > limit {
		r.Fail("value %d exceeds the limit %d", v, limit)
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Int reads an unsigned varint no larger than limit as an int.
func (r *Reader) Int(limit int) int { return int(r.Uvarint(uint64(limit))) }

// Count reads an element count no larger than limit and checks that the
// input left can hold that many elements of at least minSize bytes each,
// so a forged count cannot make the caller allocate unboundedly.
func (r *Reader) Count(limit, minSize int) int {
	n := r.Int(limit)
	if r.err == nil && minSize > 0 && n > len(r.b)/minSize {
		r.Fail("truncated: %d elements need at least %d bytes, have %d", n, n*minSize, len(r.b))
		return 0
	}
	return n
}

// LenBytes reads a uvarint length no larger than limit followed by that
// many bytes, aliasing the input.
func (r *Reader) LenBytes(limit int) []byte {
	n := r.Int(limit)
	return r.Bytes(n)
}

// Done records an error if input is left over.
func (r *Reader) Done() {
	if r.err == nil && len(r.b) > 0 {
		r.Fail("%d trailing bytes", len(r.b))
	}
}

// Canonical checks that v, parsed from b, encodes back to b exactly, so
// that each value has one byte form (a non-minimal varint, for one, does
// not). The error wraps sentinel, and the encoder's error if it fails.
func Canonical(b []byte, v encoding.BinaryMarshaler, sentinel error) error {
	again, err := v.MarshalBinary()
	if err != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	if !bytes.Equal(again, b) {
		return fmt.Errorf("%w: non-canonical encoding", sentinel)
	}
	return nil
}
