package crypt

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// VersionKeyed is the first byte of an object sealed under its own key
// (SealKeyed) rather than under the Sealer's subkey.
const VersionKeyed byte = 2

// SealKeyed seals plaintext under key, a key that belongs to this object
// alone and is derived from its plaintext (chunk.Hasher.SumKey), so the
// same plaintext always seals to the same bytes and only someone who
// holds the plaintext, or was handed the key, can open it. This is how a
// backup set's chunks are sealed: every machine writing into the set can
// store and recognise a chunk (by its keyed ID) without being able to
// read the chunks it did not write (docs/security.md, "Backup sets").
//
// The layout is Seal's, with VersionKeyed first and, in the nonce field,
// 12 zero bytes and then the GCM nonce, HMAC-SHA256 of the plaintext
// under a key derived from key (SIV-style): the same key and plaintext
// seal to the same bytes, while two different plaintexts under one key
// (a chunk's body compressed or not, by another zstd) get different
// nonces. The associated data binds the purpose, the Sealer's drive
// (here: the set) and id, as for Seal. Seal's rules for id and plaintext
// lengths apply.
func (s *Sealer) SealKeyed(dst []byte, key *[32]byte, id, plaintext []byte) []byte {
	if len(id) > MaxIDLen {
		panic(fmt.Sprintf("crypt: seal %s object: id is %d bytes, longer than %d", s.purpose, len(id), MaxIDLen))
	}
	ret, out := sliceForAppend(dst, len(plaintext)+Overhead)
	out[0] = VersionKeyed
	clear(out[1 : 1+gcmNonceOffset])
	keyedNonce(out[1+gcmNonceOffset:headerLen], key, plaintext)
	ad := s.appendKeyedAD(make([]byte, 0, adPrefixLen+len(id)), id)
	newAESGCM(key[:]).Seal(out[headerLen:headerLen], out[1+gcmNonceOffset:headerLen], plaintext, ad)
	return ret
}

// OpenKeyed opens what SealKeyed sealed, with the same key, purpose, drive
// and id; any other input fails with an error wrapping ErrAuth, as Open.
func (s *Sealer) OpenKeyed(dst []byte, key *[32]byte, id, sealed []byte) ([]byte, error) {
	if len(sealed) < Overhead {
		return nil, fmt.Errorf("%w: open %s object: %d bytes, shorter than the %d-byte overhead",
			ErrAuth, s.purpose, len(sealed), Overhead)
	}
	var zero [gcmNonceOffset]byte
	if sealed[0] != VersionKeyed || subtle.ConstantTimeCompare(sealed[1:1+gcmNonceOffset], zero[:]) != 1 {
		return nil, fmt.Errorf("%w: open %s object: not sealed under its own key (version %d)", ErrAuth, s.purpose, sealed[0])
	}
	if len(id) > MaxIDLen {
		return nil, fmt.Errorf("%w: open %s object: id is %d bytes, longer than %d", ErrAuth, s.purpose, len(id), MaxIDLen)
	}
	ad := s.appendKeyedAD(make([]byte, 0, adPrefixLen+len(id)), id)
	out, err := newAESGCM(key[:]).Open(dst, sealed[1+gcmNonceOffset:headerLen], sealed[headerLen:], ad)
	if err != nil {
		return nil, fmt.Errorf("%w: open %s object", ErrAuth, s.purpose)
	}
	return out, nil
}

// keyedNonceLabel derives, from an object's own key, the key of the HMAC
// that gives its GCM nonce.
const keyedNonceLabel = "murmur/keyed-nonce/v1"

// keyedNonce fills dst (12 bytes) with the GCM nonce of plaintext under
// key: HMAC-SHA256(HMAC-SHA256(key, label), plaintext), truncated.
func keyedNonce(dst []byte, key *[32]byte, plaintext []byte) {
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(keyedNonceLabel))
	nk := m.Sum(nil)
	m = hmac.New(sha256.New, nk)
	m.Write(plaintext)
	copy(dst, m.Sum(nil))
	clear(nk)
}

// appendKeyedAD is appendAD with VersionKeyed in Version's place, so an
// object of one kind never opens as the other.
func (s *Sealer) appendKeyedAD(b, id []byte) []byte {
	n := len(b)
	b = s.appendAD(b, id)
	b[n+len(adLabel)] = VersionKeyed
	return b
}
