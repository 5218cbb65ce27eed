package erasure

import (
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// ShardID names a shard: the BLAKE3-256 hash of its bytes.
type ShardID [32]byte

// ErrBadShardID reports a shard ID that is not 64 hex digits.
var ErrBadShardID = errors.New("erasure: malformed shard ID")

// SumShard returns the ID of a shard's bytes.
func SumShard(b []byte) ShardID { return ShardID(blake3.Sum256(b)) }

// Verify reports whether b is the shard named id.
func (id ShardID) Verify(b []byte) bool { return SumShard(b) == id }

// String returns the ID in lowercase hex.
func (id ShardID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs and messages.
func (id ShardID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is the zero value.
func (id ShardID) IsZero() bool { return id == ShardID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ShardID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ShardID) UnmarshalText(b []byte) error {
	v, err := ParseShardID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseShardID parses the hex form of a shard ID.
func ParseShardID(s string) (ShardID, error) {
	var id ShardID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: %d characters, want %d", ErrBadShardID, len(s), 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: %v", ErrBadShardID, err)
	}
	return id, nil
}
