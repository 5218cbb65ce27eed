package node

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"strings"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/rootrec"
)

// A drive's root record is how any device finds the drive's latest root:
// a signed, sequence-numbered pointer (internal/rootrec) kept in the DHT
// under the drive's public key, so it is self-certifying. Any peer can
// check a record without a secret; no peer can forge one, and a record
// with a lower sequence number than one already held is refused (the
// validator's Select), so a stale root cannot be replayed over a newer one.
// Each node keeps the records it holds in its database
// (badgerstore.Records) and never lets them expire (node.go), so a drive
// outlives a restart of every node and a week, or a year, unwritten.
//
//	key:    "/murmur-root/" + the drive's Ed25519 public key (32 raw bytes)
//	value:  the record's encoding, rootrec.Record.MarshalBinary
const (
	RootNamespace   = "murmur-root"
	MaxRootValueLen = rootrec.MaxValueLen
)

// ErrBadRecord reports a root record that is malformed, forged, or filed
// under another drive's key.
var ErrBadRecord = rootrec.ErrBad

// RootRecord is a signed pointer to a drive's root.
type RootRecord = rootrec.Record

// RootKey returns the DHT key of a drive's root record.
func RootKey(drive ed25519.PublicKey) string { return "/" + RootNamespace + "/" + string(drive) }

// NewRootRecord signs a root record with the drive's keys.
func NewRootRecord(keys *crypt.Keys, seq uint64, value []byte) (*RootRecord, error) {
	return rootrec.New(keys, seq, value)
}

// ParseRootRecord decodes a record and checks its signature.
func ParseRootRecord(b []byte) (*RootRecord, error) { return rootrec.Parse(b) }

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
