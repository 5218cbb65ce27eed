package rootrec

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// The encoding (docs/format.md, "Network formats"):
//
//	version(1) | public key(32) | uvarint seq | uvarint len | value | signature(64)
//	signed: public key | seq (8 bytes, big-endian) | value, with crypt.SignRoot's domain prefix
const (
	// Version is the first byte of an encoded record.
	Version = 1
	// MaxValueLen bounds a record's value.
	MaxValueLen = 8 << 10
	// MaxLen bounds an encoded record.
	MaxLen = 1 + ed25519.PublicKeySize + binary.MaxVarintLen64 + binary.MaxVarintLen16 + MaxValueLen + ed25519.SignatureSize
)

var (
	// ErrBad reports a record that is malformed or forged.
	ErrBad = errors.New("rootrec: invalid drive-root record")
	// ErrStale reports a record refused because one of the same drive
	// with an equal or higher sequence number is held.
	ErrStale = errors.New("rootrec: a root record as new or newer is held")
)

// Record is a signed pointer to a drive's root.
type Record struct {
	Drive ed25519.PublicKey
	Seq   uint64
	Value []byte // opaque to the network: the drive's sealed root reference
	Sig   []byte
}

// New signs a record of seq and value with the drive's keys.
func New(keys *crypt.Keys, seq uint64, value []byte) (*Record, error) {
	if len(value) > MaxValueLen {
		return nil, fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBad, len(value), MaxValueLen)
	}
	r := &Record{Drive: keys.PublicKey(), Seq: seq, Value: bytes.Clone(value)}
	r.Sig = keys.SignRoot(r.signed())
	return r, nil
}

func (r *Record) signed() []byte {
	b := append([]byte(nil), r.Drive...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	return append(b, r.Value...)
}

// MarshalBinary encodes the record. It does not check the signature.
func (r *Record) MarshalBinary() ([]byte, error) {
	if len(r.Drive) != ed25519.PublicKeySize || len(r.Sig) != ed25519.SignatureSize || len(r.Value) > MaxValueLen {
		return nil, fmt.Errorf("%w: incomplete record", ErrBad)
	}
	b := []byte{Version}
	b = append(b, r.Drive...)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	b = append(b, r.Value...)
	return append(b, r.Sig...), nil
}

// Parse decodes a record and checks its signature against the public key
// it names. The record does not alias b.
func Parse(b []byte) (*Record, error) {
	rd := wire.NewReader(b, ErrBad)
	if v := rd.Byte(); rd.Err() == nil && v != Version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrBad, v)
	}
	r := &Record{}
	r.Drive = bytes.Clone(rd.Bytes(ed25519.PublicKeySize))
	r.Seq = rd.Uvarint(1<<64 - 1)
	r.Value = bytes.Clone(rd.LenBytes(MaxValueLen))
	r.Sig = bytes.Clone(rd.Bytes(ed25519.SignatureSize))
	rd.Done()
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	// One record, one byte form: a non-minimal varint would give a
	// signed record another encoding that the DHT stores as a new value.
	if canon, err := r.MarshalBinary(); err != nil || !bytes.Equal(canon, b) {
		return nil, fmt.Errorf("%w: non-canonical encoding", ErrBad)
	}
	if err := crypt.VerifyRoot(r.Drive, r.signed(), r.Sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBad, err)
	}
	return r, nil
}

// CheckNewer returns nil if r may replace held, the newest record of the
// same drive held (nil: none), and otherwise an error matching ErrStale:
// a drive's records only move forward, and one sequence number names one
// record.
func CheckNewer(r, held *Record) error {
	if held != nil && r.Seq <= held.Seq {
		return fmt.Errorf("%w: seq %d, the newest held is seq %d", ErrStale, r.Seq, held.Seq)
	}
	return nil
}
