package compute

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// JobID names a job: 16 random bytes.
type JobID [16]byte

// NewJobID returns a fresh random job ID.
func NewJobID() JobID {
	var id JobID
	_, _ = rand.Read(id[:])
	return id
}

// String returns the ID in hex.
func (id JobID) String() string { return hex.EncodeToString(id[:]) }

// ParseJobID parses a job ID's hex form.
func ParseJobID(s string) (JobID, error) {
	var id JobID
	if hex.DecodedLen(len(s)) != len(id) {
		return id, fmt.Errorf("compute: job ID %q is not %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return JobID{}, fmt.Errorf("compute: job ID %q: %w", s, err)
	}
	return id, nil
}

// ModuleID names a module: the SHA-256 of its bytes.
type ModuleID [32]byte

// ModuleIDOf returns the ID of a module.
func ModuleIDOf(wasm []byte) ModuleID { return sha256.Sum256(wasm) }

// String returns the ID in hex.
func (id ModuleID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits.
func (id ModuleID) Short() string { return hex.EncodeToString(id[:6]) }
