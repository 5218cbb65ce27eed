package crypt

// BaselinePass seals data with plain AES-256-GCM, 1 MiB at a time, on the
// calling goroutine, and throws the ciphertext away. It is the yardstick
// the benchmarks measure Murmur's paths against (the same work as one
// sealing pass, with nothing of Murmur's around it). It returns nothing a
// caller could mistake for protected data, so the raw cipher stays inside
// this package.
func BaselinePass(data []byte) {
	var key [32]byte
	randomBytes(key[:])
	aead := newAESGCM(key[:])
	var nonce [12]byte
	out := make([]byte, 0, 1<<20+aead.Overhead())
	for len(data) > 0 {
		n := min(len(data), 1<<20)
		out = aead.Seal(out[:0], nonce[:], data[:n], nil)
		data = data[n:]
	}
}
