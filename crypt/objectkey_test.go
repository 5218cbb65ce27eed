package crypt_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

// An ObjectKey opens its own object, under its id, and nothing else: not
// another object of the same Sealer, not the same object under another
// id, not a tampered copy; and it never prints its key.
func TestObjectKeyOpensOneObject(t *testing.T) {
	keys := newTestKeys(t)
	s := keys.Sealer(crypt.PurposeChunk)
	a := s.Seal(nil, []byte("id-a"), []byte("the plaintext of a"))
	b := s.Seal(nil, []byte("id-b"), []byte("the plaintext of b"))

	nonce, err := crypt.KeyNonce(a)
	if err != nil {
		t.Fatal(err)
	}
	k, err := s.ObjectKey(nonce)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Open(nil, []byte("id-a"), a)
	if err != nil || string(got) != "the plaintext of a" {
		t.Fatalf("Open(a) = %q, %v", got, err)
	}
	for name, try := range map[string]func() ([]byte, error){
		"another object": func() ([]byte, error) { return k.Open(nil, []byte("id-b"), b) },
		"another id":     func() ([]byte, error) { return k.Open(nil, []byte("id-b"), a) },
		"tampered": func() ([]byte, error) {
			c := bytes.Clone(a)
			c[len(c)-1] ^= 1
			return k.Open(nil, []byte("id-a"), c)
		},
		"truncated": func() ([]byte, error) { return k.Open(nil, []byte("id-a"), a[:10]) },
		"another purpose": func() ([]byte, error) {
			m := keys.Sealer(crypt.PurposeManifest)
			mn, _ := crypt.KeyNonce(m.Seal(nil, []byte("id-a"), []byte("x")))
			mk, _ := m.ObjectKey(mn)
			return mk.Open(nil, []byte("id-a"), a)
		},
	} {
		if got, err := try(); !errors.Is(err, crypt.ErrAuth) {
			t.Errorf("%s: Open = %q, %v; want ErrAuth", name, got, err)
		}
	}
	if s := k.String() + k.GoString(); strings.Contains(s, "0x") || len(s) > 200 {
		t.Errorf("String shows too much: %s", s)
	}
}

// A keyed object's ObjectKey is its own key; it opens that object (and
// only objects of that content), and a Seal'd object's key does not open
// a keyed one.
func TestKeyedObjectKey(t *testing.T) {
	keys := newTestKeys(t)
	s := keys.Sealer(crypt.PurposeChunk)
	var ck [32]byte
	ck[0] = 7
	sealed := s.SealKeyed(nil, &ck, []byte("id"), []byte("content"))
	k := s.KeyedObjectKey(&ck)
	if got, err := k.Open(nil, []byte("id"), sealed); err != nil || string(got) != "content" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := crypt.KeyNonce(sealed); !errors.Is(err, crypt.ErrAuth) {
		t.Errorf("KeyNonce of a keyed object: %v, want ErrAuth", err)
	}
	plain := s.Seal(nil, []byte("id"), []byte("content"))
	if _, err := k.Open(nil, []byte("id"), plain); !errors.Is(err, crypt.ErrAuth) {
		t.Errorf("a keyed key opened a Seal'd object: %v", err)
	}
	var zero crypt.ObjectKey
	if _, err := zero.Open(nil, []byte("id"), plain); !errors.Is(err, crypt.ErrAuth) || !zero.IsZero() {
		t.Errorf("the zero key: %v", err)
	}
}

// The binary form round-trips and rejects every malformed input.
func TestObjectKeyBinary(t *testing.T) {
	keys := newTestKeys(t)
	s := keys.Sealer(crypt.PurposeChunk)
	sealed := s.Seal(nil, []byte("id"), []byte("body"))
	n, _ := crypt.KeyNonce(sealed)
	k, _ := s.ObjectKey(n)
	b, err := k.MarshalBinary()
	if err != nil || len(b) != crypt.ObjectKeyLen {
		t.Fatalf("MarshalBinary: %d bytes, %v", len(b), err)
	}
	k2, err := crypt.ParseObjectKey(b)
	if err != nil || k2 != k {
		t.Fatalf("ParseObjectKey: %v, equal %v", err, k2 == k)
	}
	if got, err := k2.Open(nil, []byte("id"), sealed); err != nil || string(got) != "body" {
		t.Fatalf("parsed key: %q, %v", got, err)
	}
	for name, bad := range map[string][]byte{
		"short":   b[:len(b)-1],
		"long":    append(bytes.Clone(b), 0),
		"version": append([]byte{9}, b[1:]...),
		"purpose": append([]byte{b[0], 0}, b[2:]...),
	} {
		if _, err := crypt.ParseObjectKey(bad); !errors.Is(err, crypt.ErrMalformedKey) {
			t.Errorf("%s: %v, want ErrMalformedKey", name, err)
		}
	}
	if _, err := s.ObjectKey(n[:5]); err == nil {
		t.Error("ObjectKey took a short nonce")
	}
}

// The per-object key is pinned: the golden chunk's key nonce gives the
// same key as the Sealer's own Open uses (checked by opening the golden
// object with it).
func TestObjectKeyOpensGolden(t *testing.T) {
	s := goldenKeys().Sealer(crypt.PurposeChunk)
	for i := range 4 {
		plain := pattern(100 * (i + 1))
		sealed := s.Seal(nil, []byte{byte(i)}, plain)
		n, _ := crypt.KeyNonce(sealed)
		k, _ := s.ObjectKey(n)
		if got, err := k.Open(nil, []byte{byte(i)}, sealed); err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("object %d: %v", i, err)
		}
	}
}
