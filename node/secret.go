package node

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/zeebo/blake3"
)

// CloudSecret is the secret every member of a cloud shares. It keys the
// cloud's private network (private.go): a host without it cannot complete
// a connection to any member. Nodes use TCP only.
type CloudSecret [32]byte

// ErrBadSecret reports a malformed cloud secret.
var ErrBadSecret = errors.New("node: malformed cloud secret")

// NewCloudSecret returns a fresh random secret.
func NewCloudSecret() CloudSecret {
	var s CloudSecret
	if _, err := rand.Read(s[:]); err != nil {
		panic("node: crypto/rand failed: " + err.Error())
	}
	return s
}

// String returns the secret in hex. It is a secret: print it only to its owner.
func (s CloudSecret) String() string { return hex.EncodeToString(s[:]) }

// ParseCloudSecret parses the hex form of a secret.
func ParseCloudSecret(v string) (CloudSecret, error) {
	var s CloudSecret
	if len(v) != 2*len(s) {
		return s, fmt.Errorf("%w: %d characters, want %d", ErrBadSecret, len(v), 2*len(s))
	}
	if _, err := hex.Decode(s[:], []byte(v)); err != nil {
		return s, fmt.Errorf("%w: %v", ErrBadSecret, err)
	}
	return s, nil
}

// CloudID names the cloud publicly: a hash of the secret that reveals
// nothing of it. It prefixes the cloud's protocol IDs, so the DHT and the
// shard protocol of one cloud never answer another's.
func (s CloudSecret) CloudID() string {
	sum := blake3.Sum256(append([]byte("murmur cloud id v1\x00"), s[:]...))
	return hex.EncodeToString(sum[:8])
}

// Protocol returns the full protocol ID of sub (e.g. "/shard/1") in this cloud.
func (s CloudSecret) Protocol(sub string) protocol.ID {
	return protocol.ID("/murmur/" + s.CloudID() + sub)
}
