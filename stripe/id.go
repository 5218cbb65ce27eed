package stripe

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// idContext is the BLAKE3 derive-key context of stripe IDs.
const idContext = "murmur stripe id v1"

// ID names a stripe: a hash of its descriptor and its shards' proof roots.
type ID [32]byte

// ErrBadID reports a stripe ID or owner key that is not 64 hex digits.
var ErrBadID = errors.New("stripe: malformed ID")

// IDOf returns the ID of the stripe d describes, whose shards have the
// proof roots given (roots[i] for d.Shards[i]).
func IDOf(d *erasure.Descriptor, roots []proof.Root) (ID, error) {
	b, err := d.MarshalBinary()
	if err != nil {
		return ID{}, fmt.Errorf("%w: %w", ErrBadRecord, err)
	}
	if len(roots) != len(d.Shards) {
		return ID{}, fmt.Errorf("%w: %d roots for %d shards", ErrBadRecord, len(roots), len(d.Shards))
	}
	h := blake3.NewDeriveKey(idContext)
	_, _ = h.Write(b)
	for _, r := range roots {
		_, _ = h.Write(r[:])
	}
	var id ID
	h.Sum(id[:0])
	return id, nil
}

// String returns the ID in lowercase hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs and messages.
func (id ID) Short() string { return hex.EncodeToString(id[:6]) }

// IsZero reports whether id is the zero value.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText implements encoding.TextMarshaler.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseID parses the hex form of a stripe ID.
func ParseID(s string) (ID, error) {
	var id ID
	return id, parseHex(id[:], s)
}

func parseHex(dst []byte, s string) error {
	if len(s) != 2*len(dst) {
		return fmt.Errorf("%w: %d characters, want %d", ErrBadID, len(s), 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s)); err != nil {
		return fmt.Errorf("%w: %v", ErrBadID, err)
	}
	return nil
}

// Owner is a stripe owner's Ed25519 public key.
type Owner [ed25519.PublicKeySize]byte

// OwnerOf returns the owner of a private key.
func OwnerOf(key ed25519.PrivateKey) Owner {
	return Owner(key.Public().(ed25519.PublicKey))
}

// PublicKey returns the key as the standard library's type.
func (o Owner) PublicKey() ed25519.PublicKey { return o[:] }

// String returns the key in lowercase hex.
func (o Owner) String() string { return hex.EncodeToString(o[:]) }

// ParseOwner parses the hex form of an owner key.
func ParseOwner(s string) (Owner, error) {
	var o Owner
	return o, parseHex(o[:], s)
}
