package crypt

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"crypto/hkdf"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// BoxOverhead is what SealBox adds to a plaintext: an ephemeral X25519
// public key and a Poly1305 tag (NaCl's sealed box).
const BoxOverhead = box.AnonymousOverhead

// infoBox names the drive's box key (X25519) in the HKDF derivation.
const infoBox = hkdfInfoPrefix + "box"

// BoxPublic returns the public half of the keys' X25519 box key: what
// anyone may seal to (SealBox) and only these keys open (OpenBox). A
// backup set's machines seal their snapshots to the set's admin key this
// way, so an append-only key can write snapshots it cannot read back.
func (k *Keys) BoxPublic() *[32]byte {
	pub := k.boxPub
	return &pub
}

// SealBox seals plaintext so that only the holder of the private key of
// pub opens it: NaCl's anonymous sealed box (X25519 with a fresh
// ephemeral key, XSalsa20-Poly1305), prefixed with Version. The sealer
// keeps no secret that could open it again.
func SealBox(pub *[32]byte, plaintext []byte) ([]byte, error) {
	out, err := box.SealAnonymous([]byte{Version}, plaintext, pub, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("crypt: seal box: %w", err)
	}
	return out, nil
}

// OpenBox opens what SealBox sealed to these keys' BoxPublic; anything
// else fails with an error wrapping ErrAuth.
func (k *Keys) OpenBox(sealed []byte) ([]byte, error) {
	if len(sealed) < 1+BoxOverhead || sealed[0] != Version {
		return nil, fmt.Errorf("%w: open box: %d bytes, not a sealed box", ErrAuth, len(sealed))
	}
	out, ok := box.OpenAnonymous(nil, sealed[1:], &k.boxPub, &k.boxPriv)
	if !ok {
		return nil, fmt.Errorf("%w: open box", ErrAuth)
	}
	return out, nil
}

// boxKeys derives the X25519 key pair from prk.
func boxKeys(prk []byte) (pub, priv [32]byte) {
	priv = expand(prk, infoBox)
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		panic("crypt: x25519: " + err.Error()) // unreachable: a 32-byte scalar times the base point
	}
	copy(pub[:], p)
	return pub, priv
}

// Derive returns the master key named name under mk for drive: HKDF-SHA256
// of mk (salt: the drive ID, info "murmur v1 derive " + name). A backup
// set's admin key derives the set's data key and its own writer key this
// way; knowing a derived key tells nothing of mk.
func (mk MasterKey) Derive(drive DriveID, name string) MasterKey {
	prk, err := hkdf.Extract(sha256.New, mk[:], drive[:])
	if err != nil {
		panic("crypt: hkdf: " + err.Error())
	}
	defer clear(prk)
	return MasterKey(expand(prk, hkdfInfoPrefix+"derive "+name))
}
