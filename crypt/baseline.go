package crypt

import "crypto/cipher"

// Baseline is plain single-core AES-256-GCM under a random key with a fixed
// all-zero nonce. It exists only so benchmarks outside this package (the
// pipeline bench) can compare against the raw cipher without importing
// crypto/cipher. It reuses its nonce on every call and must never protect
// data.
type Baseline struct {
	aead  cipher.AEAD
	nonce [12]byte
}

// NewBaseline returns a Baseline under a fresh random key.
func NewBaseline() *Baseline {
	var key [32]byte
	randomBytes(key[:])
	return &Baseline{aead: newAESGCM(key[:])}
}

// Seal appends the AES-256-GCM sealing of p (ciphertext and 16-byte tag) to
// dst. Benchmark use only: the nonce never changes.
func (b *Baseline) Seal(dst, p []byte) []byte {
	return b.aead.Seal(dst, b.nonce[:], p, nil)
}
