package crypt

import "fmt"

// ObjectKey opens one sealed object and nothing else. A compute job's
// owner hands one to the peer that runs a task over a chunk (package
// compute), so that the peer reads that chunk's plaintext and no other
// object of the drive: it is never the drive key nor a Sealer's subkey.
//
// For an object sealed by Seal it is the per-object key,
// HMAC-SHA256(purpose key, sealLabel || N[0:12]), which a Sealer derives
// from the 12 key-selecting bytes of the object's nonce (KeyNonce): other
// objects have other nonces, so other keys. For an object sealed by
// SealKeyed it is the object's own key, which opens only objects of that
// content. Either way the key is bound to a purpose and a drive: it opens
// an object only under the same identity, purpose and drive as Open.
//
// Its binary form (MarshalBinary, ObjectKeyLen bytes) is
// version (1 or VersionKeyed) || purpose || drive (16) || key (32).
type ObjectKey struct {
	version byte
	purpose Purpose
	drive   DriveID
	key     [32]byte
}

// The layout of a sealed object's key nonce: the bytes of its nonce that
// select its per-object key (Seal) or are zero (SealKeyed).
const (
	KeyNonceOffset = 1              // after the version byte
	KeyNonceLen    = gcmNonceOffset // 12
)

// ObjectKeyLen is the length of an ObjectKey's binary form.
const ObjectKeyLen = 1 + 1 + len(DriveID{}) + 32

// KeyNonce returns the bytes of sealed, an object sealed by Seal, that
// select its per-object key: sealed[KeyNonceOffset:KeyNonceOffset+
// KeyNonceLen]. It aliases sealed. Malformed input gives an error
// wrapping ErrAuth.
func KeyNonce(sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte overhead", ErrAuth, len(sealed), Overhead)
	}
	if sealed[0] != Version {
		return nil, fmt.Errorf("%w: version %d has no per-object key nonce", ErrAuth, sealed[0])
	}
	return sealed[KeyNonceOffset : KeyNonceOffset+KeyNonceLen], nil
}

// ObjectKey returns the key of the object Seal sealed with the given key
// nonce (KeyNonce of the sealed object), which must be KeyNonceLen bytes.
// Whoever asks for it must have proved that the nonce is the object's
// (package compute checks a proof of storage of those bytes): a key for
// a nonce is a key for whatever object has that nonce.
func (s *Sealer) ObjectKey(nonce []byte) (ObjectKey, error) {
	if len(nonce) != KeyNonceLen {
		return ObjectKey{}, fmt.Errorf("crypt: a key nonce is %d bytes, not %d", KeyNonceLen, len(nonce))
	}
	k := ObjectKey{version: Version, purpose: s.purpose, drive: s.drive}
	sc := s.getScratch()
	copy(sc.kdfInput[len(sealLabel):], nonce)
	sc.mac.Reset()
	sc.mac.Write(sc.kdfInput[:])
	sc.mac.Sum(k.key[:0])
	s.putScratch(sc)
	return k, nil
}

// KeyedObjectKey returns the ObjectKey of objects SealKeyed sealed under
// key for this Sealer's purpose and drive.
func (s *Sealer) KeyedObjectKey(key *[32]byte) ObjectKey {
	return ObjectKey{version: VersionKeyed, purpose: s.purpose, drive: s.drive, key: *key}
}

// Open authenticates sealed as the object with identity id that k belongs
// to and appends its plaintext to dst, as Sealer.Open and OpenKeyed do;
// any other object, a tampered one or garbage fails with an error
// wrapping ErrAuth.
func (k *ObjectKey) Open(dst, id, sealed []byte) ([]byte, error) {
	if !k.purpose.valid() {
		return nil, fmt.Errorf("%w: open with an empty object key", ErrAuth)
	}
	s := &Sealer{purpose: k.purpose, drive: k.drive} // for its AD only: no key
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: open %s object: %d bytes, shorter than the %d-byte overhead",
			ErrAuth, k.purpose, len(sealed), Overhead)
	}
	if len(id) > MaxIDLen {
		return nil, fmt.Errorf("%w: open %s object: id is %d bytes, longer than %d", ErrAuth, k.purpose, len(id), MaxIDLen)
	}
	if sealed[0] != k.version {
		return nil, fmt.Errorf("%w: open %s object: version %d, the key is for version %d", ErrAuth, k.purpose, sealed[0], k.version)
	}
	var ad []byte
	if k.version == VersionKeyed {
		ad = s.appendKeyedAD(make([]byte, 0, adPrefixLen+len(id)), id)
	} else {
		ad = s.appendAD(make([]byte, 0, adPrefixLen+len(id)), id)
	}
	out, err := newAESGCM(k.key[:]).Open(dst, sealed[1+gcmNonceOffset:headerLen], sealed[headerLen:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s object", ErrAuth, k.purpose)
	}
	return out, nil
}

// IsZero reports whether k is the zero ObjectKey, which opens nothing.
func (k *ObjectKey) IsZero() bool { return *k == ObjectKey{} }

// AppendBinary appends k's binary form to b.
func (k *ObjectKey) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, k.version, byte(k.purpose))
	b = append(b, k.drive[:]...)
	return append(b, k.key[:]...), nil
}

// MarshalBinary returns k's binary form.
func (k *ObjectKey) MarshalBinary() ([]byte, error) { return k.AppendBinary(nil) }

// ParseObjectKey parses an ObjectKey's binary form; anything else gives
// an error wrapping ErrMalformedKey.
func ParseObjectKey(b []byte) (ObjectKey, error) {
	var k ObjectKey
	if len(b) != ObjectKeyLen {
		return k, fmt.Errorf("%w: an object key is %d bytes, not %d", ErrMalformedKey, ObjectKeyLen, len(b))
	}
	k.version, k.purpose = b[0], Purpose(b[1])
	if k.version != Version && k.version != VersionKeyed {
		return ObjectKey{}, fmt.Errorf("%w: object key version %d", ErrMalformedKey, k.version)
	}
	if !k.purpose.valid() {
		return ObjectKey{}, fmt.Errorf("%w: object key purpose %d", ErrMalformedKey, b[1])
	}
	copy(k.drive[:], b[2:])
	copy(k.key[:], b[2+len(k.drive):])
	return k, nil
}

// String describes the key without revealing it.
func (k ObjectKey) String() string {
	return fmt.Sprintf("crypt.ObjectKey{%s %s v%d}", k.drive, k.purpose, k.version)
}

// GoString describes the key without revealing it.
func (k ObjectKey) GoString() string { return k.String() }
