package crypt_test

import (
	"crypto/rand"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/murmur-cloud/murmur/crypt"
)

const benchSize = 1 << 20

// BenchmarkSeal1MiB measures Seal of a 1 MiB chunk: per-object key
// derivation, AES-256-GCM key schedule and the seal itself.
func BenchmarkSeal1MiB(b *testing.B) {
	s := newTestKeys(b).Sealer(crypt.PurposeChunk)
	pt := pattern(benchSize)
	id := pattern(32)
	dst := make([]byte, 0, benchSize+crypt.Overhead)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		dst = s.Seal(dst[:0], id, pt)
	}
}

// BenchmarkOpen1MiB measures Open of a sealed 1 MiB chunk.
func BenchmarkOpen1MiB(b *testing.B) {
	s := newTestKeys(b).Sealer(crypt.PurposeChunk)
	id := pattern(32)
	sealed := s.Seal(nil, id, pattern(benchSize))
	dst := make([]byte, 0, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if dst, err = s.Open(dst[:0], id, sealed); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealXChaCha1MiB measures the rejected alternative,
// XChaCha20-Poly1305 with a random 24-byte nonce and the same associated
// data size, so the choice of AES-256-GCM can be re-checked on new
// hardware.
func BenchmarkSealXChaCha1MiB(b *testing.B) {
	var key [chacha20poly1305.KeySize]byte
	rand.Read(key[:])
	pt := pattern(benchSize)
	ad := pattern(58)
	dst := make([]byte, 0, benchSize+crypt.Overhead)
	var nonce [chacha20poly1305.NonceSizeX]byte
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		aead, err := chacha20poly1305.NewX(key[:])
		if err != nil {
			b.Fatal(err)
		}
		rand.Read(nonce[:])
		dst = aead.Seal(dst[:0], nonce[:], pt, ad)
	}
}

// BenchmarkAESGCMBaseline1MiB measures plain single-core AES-256-GCM with
// one key and no per-object work: the ceiling Seal is measured against.
func BenchmarkAESGCMBaseline1MiB(b *testing.B) {
	pt := pattern(benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		crypt.BaselinePass(pt)
	}
}

// BenchmarkKDFDefault measures one argon2id run with DefaultKDF(), as made by
// NewKeyFile (and paid again by every Unlock).
func BenchmarkKDFDefault(b *testing.B) {
	drive, mk := crypt.NewDriveID(), crypt.NewMasterKey()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := crypt.NewKeyFile(drive, mk, []byte("correct horse battery staple"), crypt.DefaultKDF()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncryptName measures encrypting one typical file name.
func BenchmarkEncryptName(b *testing.B) {
	nc := newTestKeys(b).Names()
	dir := pattern(32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := nc.Encrypt(dir, "IMG_20250101_120000.jpg"); err != nil {
			b.Fatal(err)
		}
	}
}
