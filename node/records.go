package node

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/wire"
)

// A drive's root record is how any device finds the drive's latest root:
// a signed, sequence-numbered pointer kept in the DHT under the drive's
// public key, so it is self-certifying. Any peer can check a record
// without a secret; no peer can forge one, and a record with a lower
// sequence number than one already held is refused (the validator's
// Select), so a stale root cannot be replayed over a newer one.
//
//	key:    "/murmur-root/" + the drive's Ed25519 public key (32 raw bytes)
//	value:  version(1) | public key(32) | uvarint seq | uvarint len | value | signature(64)
//	signed: public key | seq (8 bytes, big-endian) | value, with crypt.SignRoot's domain prefix
const (
	RootNamespace   = "murmur-root"
	rootVersion     = 1
	MaxRootValueLen = 8 << 10
)

// ErrBadRecord reports a root record that is malformed, forged, or filed
// under another drive's key.
var ErrBadRecord = errors.New("node: invalid drive-root record")

// RootRecord is a signed pointer to a drive's root.
type RootRecord struct {
	Drive ed25519.PublicKey
	Seq   uint64
	Value []byte // opaque to the network: the drive's sealed root reference
	Sig   []byte
}

// RootKey returns the DHT key of a drive's root record.
func RootKey(drive ed25519.PublicKey) string { return "/" + RootNamespace + "/" + string(drive) }

// NewRootRecord signs a root record with the drive's keys.
func NewRootRecord(keys *crypt.Keys, seq uint64, value []byte) (*RootRecord, error) {
	if len(value) > MaxRootValueLen {
		return nil, fmt.Errorf("%w: value of %d bytes exceeds %d", ErrBadRecord, len(value), MaxRootValueLen)
	}
	r := &RootRecord{Drive: keys.PublicKey(), Seq: seq, Value: bytes.Clone(value)}
	r.Sig = keys.SignRoot(r.signed())
	return r, nil
}

func (r *RootRecord) signed() []byte {
	b := append([]byte(nil), r.Drive...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	return append(b, r.Value...)
}

// MarshalBinary encodes the record.
func (r *RootRecord) MarshalBinary() ([]byte, error) {
	if len(r.Drive) != ed25519.PublicKeySize || len(r.Sig) != ed25519.SignatureSize || len(r.Value) > MaxRootValueLen {
		return nil, fmt.Errorf("%w: incomplete record", ErrBadRecord)
	}
	b := []byte{rootVersion}
	b = append(b, r.Drive...)
	b = binary.AppendUvarint(b, r.Seq)
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	b = append(b, r.Value...)
	return append(b, r.Sig...), nil
}

// ParseRootRecord decodes a record and checks its signature.
func ParseRootRecord(b []byte) (*RootRecord, error) {
	rd := wire.NewReader(b, ErrBadRecord)
	if v := rd.Byte(); rd.Err() == nil && v != rootVersion {
		return nil, fmt.Errorf("%w: unknown version %d", ErrBadRecord, v)
	}
	r := &RootRecord{}
	r.Drive = bytes.Clone(rd.Bytes(ed25519.PublicKeySize))
	r.Seq = rd.Uvarint(1<<64 - 1)
	r.Value = bytes.Clone(rd.LenBytes(MaxRootValueLen))
	r.Sig = bytes.Clone(rd.Bytes(ed25519.SignatureSize))
	rd.Done()
	if rd.Err() != nil {
		return nil, rd.Err()
	}
	if err := crypt.VerifyRoot(r.Drive, r.signed(), r.Sig); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	return r, nil
}

// RootValidator is the DHT validator of the root namespace.
type RootValidator struct{}

// Validate accepts a record only if it parses, its signature verifies,
// and it is filed under its own drive's key.
func (RootValidator) Validate(key string, value []byte) error {
	drive, ok := strings.CutPrefix(key, "/"+RootNamespace+"/")
	if !ok || len(drive) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: key is not a drive key", ErrBadRecord)
	}
	r, err := ParseRootRecord(value)
	if err != nil {
		return err
	}
	if !bytes.Equal(r.Drive, []byte(drive)) {
		return fmt.Errorf("%w: signed by another drive than its key names", ErrBadRecord)
	}
	return nil
}

// Select picks the valid record with the highest sequence number (the
// first of equals), which is how the DHT refuses to replace a newer root
// with an older one.
func (v RootValidator) Select(key string, values [][]byte) (int, error) {
	best, bestSeq := -1, uint64(0)
	for i, b := range values {
		if v.Validate(key, b) != nil {
			continue
		}
		r, _ := ParseRootRecord(b)
		if best < 0 || r.Seq > bestSeq {
			best, bestSeq = i, r.Seq
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("%w: no valid record among %d", ErrBadRecord, len(values))
	}
	return best, nil
}
