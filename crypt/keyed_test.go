package crypt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

func testObjectKey(b byte) *[32]byte {
	var k [32]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return &k
}

// TestSealKeyedRoundTrip: an object sealed under its own key opens with
// that key, and sealing is deterministic.
func TestSealKeyedRoundTrip(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	key, id := testObjectKey(1), []byte("chunk-id")
	for _, n := range []int{0, 1, 31, 1 << 20} {
		pt := pattern(n)
		sealed := s.SealKeyed([]byte("pre"), key, id, pt)
		if !bytes.HasPrefix(sealed, []byte("pre")) || len(sealed) != 3+n+crypt.Overhead {
			t.Fatalf("n=%d: sealed %d bytes", n, len(sealed))
		}
		if again := s.SealKeyed([]byte("pre"), key, id, pt); !bytes.Equal(again, sealed) {
			t.Fatalf("n=%d: two seals of one plaintext differ", n)
		}
		got, err := s.OpenKeyed(nil, key, id, sealed[3:])
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: open: %v", n, err)
		}
	}
}

// TestSealKeyedNonceFollowsPlaintext: two plaintexts sealed under one
// key get different nonces (a chunk's body compressed or not), the same
// plaintext the same.
func TestSealKeyedNonceFollowsPlaintext(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	key, id := testObjectKey(5), []byte("id")
	a, b := s.SealKeyed(nil, key, id, []byte("one body")), s.SealKeyed(nil, key, id, []byte("another body"))
	if bytes.Equal(a[1:25], b[1:25]) {
		t.Fatal("two plaintexts under one key share a nonce")
	}
	if !bytes.Equal(a, s.SealKeyed(nil, key, id, []byte("one body"))) {
		t.Fatal("sealing is not deterministic")
	}
	if !bytes.Equal(a[1:13], make([]byte, 12)) {
		t.Fatal("the nonce field's first half is not zero")
	}
}

// TestOpenKeyedWrongContext: another key, id, purpose or drive, or the
// other kind of seal, fails with ErrAuth.
func TestOpenKeyedWrongContext(t *testing.T) {
	keys := newTestKeys(t)
	s := keys.Sealer(crypt.PurposeChunk)
	key, id, pt := testObjectKey(1), []byte("id"), pattern(1000)
	sealed := s.SealKeyed(nil, key, id, pt)
	other := newTestKeys(t)
	cases := map[string]func() ([]byte, error){
		"key":     func() ([]byte, error) { return s.OpenKeyed(nil, testObjectKey(2), id, sealed) },
		"id":      func() ([]byte, error) { return s.OpenKeyed(nil, key, []byte("di"), sealed) },
		"purpose": func() ([]byte, error) { return keys.Sealer(crypt.PurposeManifest).OpenKeyed(nil, key, id, sealed) },
		"drive":   func() ([]byte, error) { return other.Sealer(crypt.PurposeChunk).OpenKeyed(nil, key, id, sealed) },
		"as Open": func() ([]byte, error) { return s.Open(nil, id, sealed) },
		"Seal's":  func() ([]byte, error) { return s.OpenKeyed(nil, key, id, s.Seal(nil, id, pt)) },
	}
	for name, open := range cases {
		if b, err := open(); !errors.Is(err, crypt.ErrAuth) || b != nil {
			t.Errorf("%s: %v, %d bytes", name, err, len(b))
		}
	}
}

// TestSealedKeyedFlipEveryByte: any byte changed fails with ErrAuth, and
// so do truncated objects.
func TestSealedKeyedFlipEveryByte(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	key, id := testObjectKey(7), []byte("id")
	sealed := s.SealKeyed(nil, key, id, pattern(100))
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x40
		if _, err := s.OpenKeyed(nil, key, id, b); !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := range len(sealed) {
		if _, err := s.OpenKeyed(nil, key, id, sealed[:n]); !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
}

// FuzzOpenKeyed: OpenKeyed never panics and fails only with ErrAuth.
func FuzzOpenKeyed(f *testing.F) {
	s := goldenKeys().Sealer(crypt.PurposeChunk)
	key, id := testObjectKey(3), []byte(goldenID)
	f.Add(s.SealKeyed(nil, key, id, []byte("golden plaintext")))
	f.Add([]byte{crypt.VersionKeyed})
	f.Fuzz(func(t *testing.T, sealed []byte) {
		pt, err := s.OpenKeyed(nil, key, id, sealed)
		if err != nil {
			if !errors.Is(err, crypt.ErrAuth) {
				t.Fatalf("OpenKeyed error %v does not wrap ErrAuth", err)
			}
			return
		}
		if !bytes.Equal(s.SealKeyed(nil, key, id, pt), sealed) {
			t.Fatal("an object that opens is not what sealing its plaintext gives")
		}
	})
}

// TestBox: a box sealed to one drive's box key opens with that drive's
// keys only, and any byte changed fails with ErrAuth.
func TestBox(t *testing.T) {
	a, b := newTestKeys(t), newTestKeys(t)
	sealed, err := crypt.SealBox(a.BoxPublic(), []byte("snapshot"))
	if err != nil || len(sealed) != 1+crypt.BoxOverhead+8 {
		t.Fatalf("seal: %v, %d bytes", err, len(sealed))
	}
	if got, err := a.OpenBox(sealed); err != nil || string(got) != "snapshot" {
		t.Fatalf("open: %q, %v", got, err)
	}
	if _, err := b.OpenBox(sealed); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("another drive opened it: %v", err)
	}
	for i := range sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		if _, err := a.OpenBox(c); !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	if *a.BoxPublic() == *b.BoxPublic() {
		t.Fatal("two drives share a box key")
	}
}

// TestDerive: derived keys differ by name and drive and from the master.
func TestDerive(t *testing.T) {
	var mk crypt.MasterKey
	mk[0] = 1
	d1, d2 := crypt.DriveID{1}, crypt.DriveID{2}
	x, y, z := mk.Derive(d1, "data"), mk.Derive(d1, "writer"), mk.Derive(d2, "data")
	if x == y || x == z || x == mk || x != mk.Derive(d1, "data") {
		t.Fatal("derived keys collide or are not deterministic")
	}
}

// FuzzOpenBox: OpenBox never panics and fails only with ErrAuth.
func FuzzOpenBox(f *testing.F) {
	k := goldenKeys()
	seed, _ := crypt.SealBox(k.BoxPublic(), []byte("golden"))
	f.Add(seed)
	f.Add([]byte{crypt.Version})
	f.Fuzz(func(t *testing.T, sealed []byte) {
		if _, err := k.OpenBox(sealed); err != nil && !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("OpenBox error %v does not wrap ErrAuth", err)
		}
	})
}
