package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
)

// A connection of a cloud's private network starts with each side sending
// ConnNonceSize random bytes; everything after them is encrypted with
// AES-256-CTR, each direction under its own key and IV derived from the
// cloud secret and both nonces (ConnCiphers). The layout is in
// docs/format.md, the reasoning in docs/security.md.

// ConnNonceSize is the length of the nonce each side of a private-network
// connection sends before anything else.
const ConnNonceSize = 32

// connInfo is the HKDF info of a direction's key and IV. A later format
// changes it: a node of another version then cannot connect, as if it had
// another secret.
const connInfo = "murmur private network v1"

// ErrReflectedNonce reports a private-network peer that sent back the nonce
// this side sent, which would make both directions share one key stream.
var ErrReflectedNonce = errors.New("crypt: private network: the peer sent our own nonce back")

// ConnCipher encrypts or decrypts one direction of a private-network
// connection. It keeps the position in the key stream, so it is not safe
// for concurrent use.
type ConnCipher struct{ s cipher.Stream }

// XORKeyStream XORs src with the next len(src) bytes of the key stream into
// dst. dst and src must overlap entirely or not at all.
func (c *ConnCipher) XORKeyStream(dst, src []byte) { c.s.XORKeyStream(dst, src) }

// ConnCiphers returns the two ciphers of a private-network connection:
// send for what this side writes, recv for what it reads. local is the
// nonce this side sent, remote the one it received. The sender's side
// of a direction keys it as send, the receiver as recv: for the direction
// from A to B, both compute HKDF-SHA256(ikm = secret, salt = nonce_A ||
// nonce_B, info = "murmur private network v1") and take 32 bytes of key
// and 16 of initial counter.
func ConnCiphers(secret *[32]byte, local, remote *[ConnNonceSize]byte) (send, recv *ConnCipher, err error) {
	if *local == *remote {
		return nil, nil, ErrReflectedNonce
	}
	return connCipher(secret, local, remote), connCipher(secret, remote, local), nil
}

func connCipher(secret *[32]byte, from, to *[ConnNonceSize]byte) *ConnCipher {
	salt := make([]byte, 0, 2*ConnNonceSize)
	salt = append(append(salt, from[:]...), to[:]...)
	okm, err := hkdf.Key(sha256.New, secret[:], salt, connInfo, 32+aes.BlockSize)
	if err != nil {
		panic("crypt: hkdf: " + err.Error()) // unreachable: 48 bytes is far below the limit
	}
	defer clear(okm)
	block, err := aes.NewCipher(okm[:32])
	if err != nil {
		panic("crypt: aes: " + err.Error()) // unreachable: the key is 32 bytes
	}
	return &ConnCipher{cipher.NewCTR(block, okm[32:])}
}
