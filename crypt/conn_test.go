package crypt_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

// connGolden: secret 0x00..0x1f, A's nonce 0x40..0x5f, B's 0x80..0x9f; the
// first 64 bytes of each direction's key stream, computed independently
// with OpenSSL 3.0 (openssl kdf HKDF, then openssl enc -aes-256-ctr over
// zeros) from the format in docs/format.md.
const (
	connGoldenAtoB = "7182dbc8d90c94a9ad83db9d3c37e9b57b41751b226fdb49be7ec18c03462327" +
		"ed45c0b5baf7aeb9afe9bd537ea92e1f340db95780d1aea356a00cf1c0038a71"
	connGoldenBtoA = "eb8f780f9fc8f293725df97430a5eea748e6b2d108aa33378b2270217db6e96a" +
		"091ad9464acfeaa3ca22806bca74d24d91e44205fb71a6e83ee596d7dc5ce5db"
)

func connGoldenInputs() (secret [32]byte, a, b [crypt.ConnNonceSize]byte) {
	return [32]byte(seq(0x00, 32)), [crypt.ConnNonceSize]byte(seq(0x40, crypt.ConnNonceSize)), [crypt.ConnNonceSize]byte(seq(0x80, crypt.ConnNonceSize))
}

func keyStream(c *crypt.ConnCipher, n int) []byte {
	b := make([]byte, n)
	c.XORKeyStream(b, b)
	return b
}

func TestConnCiphersGolden(t *testing.T) {
	secret, a, b := connGoldenInputs()
	aSend, aRecv, err := crypt.ConnCiphers(&secret, &a, &b)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(keyStream(aSend, 64)); got != connGoldenAtoB {
		t.Errorf("A to B key stream = %s, want %s", got, connGoldenAtoB)
	}
	if got := hex.EncodeToString(keyStream(aRecv, 64)); got != connGoldenBtoA {
		t.Errorf("B to A key stream = %s, want %s", got, connGoldenBtoA)
	}
}

// TestConnCiphersPair: what one side sends, the other reads, in pieces of
// any size; the two directions and other secrets give unrelated streams.
func TestConnCiphersPair(t *testing.T) {
	secret, a, b := connGoldenInputs()
	aSend, aRecv, err := crypt.ConnCiphers(&secret, &a, &b)
	if err != nil {
		t.Fatal(err)
	}
	bSend, bRecv, err := crypt.ConnCiphers(&secret, &b, &a)
	if err != nil {
		t.Fatal(err)
	}
	msg := pattern(100_000)
	wire := make([]byte, len(msg))
	aSend.XORKeyStream(wire, msg)
	if bytes.Equal(wire[:64], msg[:64]) {
		t.Fatal("the stream is not encrypted")
	}
	got := make([]byte, len(wire))
	for off, step := 0, 1; off < len(wire); off, step = off+step, step*3+1 {
		end := min(off+step, len(wire))
		bRecv.XORKeyStream(got[off:end], wire[off:end])
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("B did not read what A sent")
	}
	back := make([]byte, 1000)
	bSend.XORKeyStream(back, msg[:1000])
	aRecv.XORKeyStream(back, back)
	if !bytes.Equal(back, msg[:1000]) {
		t.Fatal("A did not read what B sent")
	}

	other := secret
	other[0] ^= 1
	oSend, _, err := crypt.ConnCiphers(&other, &a, &b)
	if err != nil {
		t.Fatal(err)
	}
	_, fresh, _ := crypt.ConnCiphers(&secret, &a, &b)
	if bytes.Equal(keyStream(oSend, 64), keyStream(fresh, 64)) {
		t.Fatal("another secret gives the same stream")
	}
}

func TestConnCiphersRefuseReflection(t *testing.T) {
	secret, a, _ := connGoldenInputs()
	if _, _, err := crypt.ConnCiphers(&secret, &a, &a); !errors.Is(err, crypt.ErrReflectedNonce) {
		t.Fatalf("equal nonces: %v, want ErrReflectedNonce", err)
	}
}

// BenchmarkConnCipher is the private network's cost per byte and
// direction (libp2p's pnet, which it replaces, uses pure-Go XSalsa20).
func BenchmarkConnCipher(b *testing.B) {
	secret, x, y := connGoldenInputs()
	send, _, _ := crypt.ConnCiphers(&secret, &x, &y)
	buf := make([]byte, 16<<10) // a TLS record
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		send.XORKeyStream(buf, buf)
	}
}
