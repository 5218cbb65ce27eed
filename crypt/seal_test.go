package crypt_test

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

func TestSealOpenRoundTrip(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	id := []byte("chunk-id")
	for _, n := range []int{0, 1, 31, 1 << 20} {
		pt := pattern(n)
		prefix := []byte("prefix")
		sealed := s.Seal(bytes.Clone(prefix), id, pt)
		if !bytes.HasPrefix(sealed, prefix) {
			t.Fatalf("size %d: Seal did not append to dst", n)
		}
		sealed = sealed[len(prefix):]
		if len(sealed) != n+crypt.Overhead {
			t.Fatalf("size %d: sealed is %d bytes, want %d", n, len(sealed), n+crypt.Overhead)
		}
		if sealed[0] != crypt.Version {
			t.Fatalf("size %d: first byte %d, want version %d", n, sealed[0], crypt.Version)
		}
		got, err := s.Open(bytes.Clone(prefix), id, sealed)
		if err != nil {
			t.Fatalf("size %d: Open: %v", n, err)
		}
		if !bytes.Equal(got, append(bytes.Clone(prefix), pt...)) {
			t.Fatalf("size %d: Open returned different bytes", n)
		}
	}
}

func TestSealIsRandomized(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeManifest)
	a := s.Seal(nil, []byte("x"), []byte("same plaintext"))
	b := s.Seal(nil, []byte("x"), []byte("same plaintext"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	if bytes.Equal(a[1:1+crypt.NonceSize], b[1:1+crypt.NonceSize]) {
		t.Fatal("two seals used the same nonce")
	}
}

func TestOpenWrongContext(t *testing.T) {
	mk := crypt.NewMasterKey()
	drive := crypt.NewDriveID()
	keys := mk.Keys(drive)
	s := keys.Sealer(crypt.PurposeChunk)
	id := []byte("chunk-0")
	sealed := s.Seal(nil, id, []byte("some chunk content"))

	var rawKey [32]byte // one key, so only the associated data differs
	raw := crypt.NewSealer(rawKey, drive, crypt.PurposeManifest)
	rawSealed := raw.Seal(nil, id, []byte("some metadata"))

	cases := []struct {
		name   string
		s      *crypt.Sealer
		id     []byte
		sealed []byte
	}{
		{"wrong id", s, []byte("chunk-1"), sealed},
		{"id prefix", s, id[:len(id)-1], sealed},
		{"empty id", s, nil, sealed},
		{"wrong purpose", keys.Sealer(crypt.PurposeManifest), id, sealed},
		{"wrong drive", mk.Keys(crypt.NewDriveID()).Sealer(crypt.PurposeChunk), id, sealed},
		{"wrong key", crypt.NewMasterKey().Keys(drive).Sealer(crypt.PurposeChunk), id, sealed},
		{"same key, wrong purpose", crypt.NewSealer(rawKey, drive, crypt.PurposeDirectory), id, rawSealed},
		{"same key, wrong drive", crypt.NewSealer(rawKey, crypt.NewDriveID(), crypt.PurposeManifest), id, rawSealed},
		{"same key, wrong id", raw, []byte("other"), rawSealed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.s.Open(nil, c.id, c.sealed)
			wantErr(t, err, crypt.ErrAuth, "Open")
			if got != nil {
				t.Fatalf("Open returned %d bytes with an error", len(got))
			}
		})
	}
	if _, err := raw.Open(nil, id, rawSealed); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestSealedFlipEveryByte(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeDirectory)
	id := []byte("dir-object")
	sealed := s.Seal(nil, id, pattern(300))
	for i := range sealed {
		for _, m := range flipMasks() {
			_, err := s.Open(nil, id, flipped(sealed, i, m))
			wantErr(t, err, crypt.ErrAuth, "Open after flipping a byte")
		}
	}
}

func TestSealedTruncateAndExtend(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeRoot)
	id := []byte("root")
	sealed := s.Seal(nil, id, pattern(200))
	for n := range len(sealed) {
		_, err := s.Open(nil, id, sealed[:n])
		wantErr(t, err, crypt.ErrAuth, "Open of a truncated object")
	}
	_, err := s.Open(nil, id, append(bytes.Clone(sealed), 0))
	wantErr(t, err, crypt.ErrAuth, "Open of an extended object")
}

func TestOpenGarbage(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	for n := range 200 {
		garbage := pattern(n)
		if n > 0 {
			garbage[0] = crypt.Version // get past the version check
		}
		_, err := s.Open(nil, nil, garbage)
		wantErr(t, err, crypt.ErrAuth, "Open of garbage")
	}
	_, err := s.Open(nil, nil, nil)
	wantErr(t, err, crypt.ErrAuth, "Open(nil)")
}

func TestOpenUnknownVersion(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	sealed := s.Seal(nil, nil, []byte("x"))
	sealed[0] = crypt.Version + 1
	_, err := s.Open(nil, nil, sealed)
	wantErr(t, err, crypt.ErrAuth, "Open of version 2")
	if !strings.Contains(err.Error(), "version") {
		t.Fatalf("error %q does not mention the version", err)
	}
}

func TestIDLength(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	longest := pattern(crypt.MaxIDLen)
	sealed := s.Seal(nil, longest, []byte("x"))
	if _, err := s.Open(nil, longest, sealed); err != nil {
		t.Fatalf("Open with a %d-byte id: %v", len(longest), err)
	}
	tooLong := pattern(crypt.MaxIDLen + 1)
	_, err := s.Open(nil, tooLong, sealed)
	wantErr(t, err, crypt.ErrAuth, "Open with an over-long id")
	defer func() {
		if recover() == nil {
			t.Fatal("Seal with an over-long id did not panic")
		}
	}()
	s.Seal(nil, tooLong, []byte("x"))
}

func TestSealerConcurrent(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			id := []byte{byte(g)}
			pt := pattern(1000 + g)
			for range 50 {
				got, err := s.Open(nil, id, s.Seal(nil, id, pt))
				if err == nil && !bytes.Equal(got, pt) {
					err = errors.New("round trip changed the plaintext")
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestPurpose(t *testing.T) {
	want := map[crypt.Purpose]string{
		crypt.PurposeChunk:     "chunk",
		crypt.PurposeManifest:  "manifest",
		crypt.PurposeDirectory: "directory",
		crypt.PurposeRoot:      "root",
		crypt.PurposeKeyWrap:   "keywrap",
		0:                      "purpose(0)",
		6:                      "purpose(6)",
	}
	for p, name := range want {
		if got := p.String(); got != name {
			t.Errorf("Purpose(%d).String() = %q, want %q", byte(p), got, name)
		}
	}
	for _, p := range []crypt.Purpose{0, crypt.PurposeKeyWrap + 1, 255} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewSealer with %v did not panic", p)
				}
			}()
			crypt.NewSealer([32]byte{}, crypt.DriveID{}, p)
		}()
	}
}

func TestSealAllocations(t *testing.T) {
	s := newTestKeys(t).Sealer(crypt.PurposeChunk)
	pt := pattern(4096)
	dst := make([]byte, 0, len(pt)+crypt.Overhead)
	out := make([]byte, 0, len(pt))
	id := []byte("id")
	sealAllocs := testing.AllocsPerRun(100, func() { dst = s.Seal(dst[:0], id, pt) })
	openAllocs := testing.AllocsPerRun(100, func() {
		var err error
		if out, err = s.Open(out[:0], id, dst); err != nil {
			t.Fatal(err)
		}
	})
	// The per-object AES and GCM state (2 today); never the payload, the
	// HMAC or the associated data, which reuse pooled buffers.
	const limit = 4
	if sealAllocs > limit || openAllocs > limit {
		t.Fatalf("Seal allocates %v times, Open %v; want at most %d", sealAllocs, openAllocs, limit)
	}
	t.Logf("allocations per call: Seal %v, Open %v", sealAllocs, openAllocs)
}
