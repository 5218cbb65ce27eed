package crypt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

// FuzzOpen checks that Open never panics on arbitrary input, fails only
// with ErrAuth, and that whatever opens seals and opens again unchanged.
func FuzzOpen(f *testing.F) {
	f.Add(goldenSealed())
	s := goldenKeys().Sealer(crypt.PurposeChunk)
	id := []byte(goldenID)
	f.Fuzz(func(t *testing.T, sealed []byte) {
		pt, err := s.Open(nil, id, sealed)
		if err != nil {
			if !errors.Is(err, crypt.ErrAuth) {
				t.Fatalf("Open error %v does not wrap ErrAuth", err)
			}
			return
		}
		if len(pt) != len(sealed)-crypt.Overhead {
			t.Fatalf("opened %d bytes from a %d-byte object", len(pt), len(sealed))
		}
		again, err := s.Open(nil, id, s.Seal(nil, id, pt))
		if err != nil || !bytes.Equal(again, pt) {
			t.Fatalf("re-seal round trip: %v", err)
		}
	})
}

// FuzzParseKeyFile checks that ParseKeyFile never panics, fails only with
// ErrKeyFile, and that whatever parses marshals back to the same bytes. It
// does not Unlock: argon2id with fuzzed parameters could take gigabytes.
func FuzzParseKeyFile(f *testing.F) {
	f.Add(goldenKeyFile(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, err := crypt.ParseKeyFile(b)
		if err != nil {
			if !errors.Is(err, crypt.ErrKeyFile) {
				t.Fatalf("ParseKeyFile error %v does not wrap ErrKeyFile", err)
			}
			return
		}
		if err := kf.KDF.Validate(); err != nil {
			t.Fatalf("parsed KDF parameters out of bounds: %v", err)
		}
		m, err := kf.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of a parsed key file: %v", err)
		}
		if !bytes.Equal(m, b) {
			t.Fatalf("MarshalBinary(ParseKeyFile(b)) != b\n got %x\nwant %x", m, b)
		}
	})
}

// FuzzDecryptName checks that Decrypt and DecryptString never panic, fail
// only with ErrAuth, and that a name that decrypts encrypts back to the
// same ciphertext.
func FuzzDecryptName(f *testing.F) {
	f.Add(goldenNameCT(f))
	nc := goldenKeys().Names()
	dir := []byte(goldenDir)
	f.Fuzz(func(t *testing.T, ct []byte) {
		if _, err := nc.DecryptString(dir, string(ct)); err != nil && !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("DecryptString error %v does not wrap ErrAuth", err)
		}
		name, err := nc.Decrypt(dir, ct)
		if err != nil {
			if !errors.Is(err, crypt.ErrAuth) {
				t.Fatalf("Decrypt error %v does not wrap ErrAuth", err)
			}
			return
		}
		again, err := nc.Encrypt(dir, name)
		if err != nil || !bytes.Equal(again, ct) {
			t.Fatalf("Encrypt(Decrypt(ct)) = %x, %v; want %x", again, err, ct)
		}
	})
}

// FuzzParseObjectKey: any input parses to a key that re-encodes to the
// same bytes, or fails with ErrMalformedKey; no panic.
func FuzzParseObjectKey(f *testing.F) {
	s := crypt.NewMasterKey().Keys(crypt.NewDriveID()).Sealer(crypt.PurposeChunk)
	n, _ := crypt.KeyNonce(s.Seal(nil, nil, []byte("x")))
	k, _ := s.ObjectKey(n)
	b, _ := k.MarshalBinary()
	f.Add(b)
	f.Add([]byte{})
	f.Add(make([]byte, crypt.ObjectKeyLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := crypt.ParseObjectKey(b)
		if err != nil {
			if !errors.Is(err, crypt.ErrMalformedKey) {
				t.Fatalf("error %v does not wrap ErrMalformedKey", err)
			}
			return
		}
		out, _ := k.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoded %x, parsed %x", out, b)
		}
		_, _ = k.Open(nil, nil, b)
	})
}
