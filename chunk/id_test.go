package chunk_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"lukechampine.com/blake3"

	"github.com/murmur-cloud/murmur/chunk"
)

// TestHasherVectors checks Sum against the keyed_hash values of the official
// BLAKE3 test vectors (test_vectors.json in the BLAKE3 repository): the key is
// "whats the Elvish word for friend" and input byte i is i % 251.
func TestHasherVectors(t *testing.T) {
	var key [32]byte
	copy(key[:], "whats the Elvish word for friend")
	h := chunk.NewHasher(key)
	input := make([]byte, 100000)
	for i := range input {
		input[i] = byte(i % 251)
	}
	for _, tt := range []struct {
		n    int
		want string
	}{
		{0, "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26"},
		{1, "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b"},
		{1023, "c951ecdf03288d0fcc96ee3413563d8a6d3589547f2c2fb36d9786470f1b9d6e"},
		{1024, "75c46f6f3d9eb4f55ecaaee480db732e6c2105546f1e675003687c31719c7ba4"},
		{1025, "357dc55de0c7e382c900fd6e320acc04146be01db6a8ce7210b7189bd664ea69"},
		{2048, "879cf1fa2ea0e79126cb1063617a05b6ad9d0b696d0d757cf053439f60a99dd1"},
		{8193, "954a2a75420c8d6547e3ba5b98d963e6fa6491addc8c023189cc519821b4a1f5"},
		{16384, "9e9fc4eb7cf081ea7c47d1807790ed211bfec56aa25bb7037784c13c4b707b0d"},
		{31744, "efa53b389ab67c593dba624d898d0f7353ab99e4ac9d42302ee64cbf9939a419"},
		{100000, "74c836d008247adebbc032d1bced2e71d19050b5c39fa03c43d4160ad8d17073"},
	} {
		if got := h.Sum(input[:tt.n]).String(); got != tt.want {
			t.Errorf("keyed hash of %d bytes = %s, want %s", tt.n, got, tt.want)
		}
	}
}

// TestHasherMatchesBlake3 checks Sum against blake3.New(32, key) at lengths
// around every BLAKE3 chunk and subtree size that Sum treats specially.
func TestHasherMatchesBlake3(t *testing.T) {
	var key [32]byte
	copy(key[:], randBytes("hasher key", 32))
	h := chunk.NewHasher(key)
	data := randBytes("hasher data", 4<<20+3)
	lens := []int{len(data), 3 << 20, 1 << 20, 1<<20 + 1}
	for _, base := range []int{64, 1024, 2048, 16 << 10, 17 << 10, 32 << 10, 48 << 10, 64 << 10, 256 << 10} {
		for d := -2; d <= 2; d++ {
			lens = append(lens, base+d)
		}
	}
	for _, n := range lens {
		ref := blake3.New(32, key[:])
		ref.Write(data[:n])
		if got, want := h.Sum(data[:n]).String(), hex.EncodeToString(ref.Sum(nil)); got != want {
			t.Errorf("Sum of %d bytes = %s, blake3 says %s", n, got, want)
		}
	}
}

func TestHasherKeyed(t *testing.T) {
	data := randBytes("keyed", 300<<10)
	a := chunk.NewHasher([32]byte{1}).Sum(data)
	b := chunk.NewHasher([32]byte{2}).Sum(data)
	if a == b {
		t.Fatalf("two keys gave the same ID %v", a)
	}
	if unkeyed := chunk.ID(blake3.Sum256(data)); a == unkeyed {
		t.Fatalf("keyed ID equals the unkeyed hash")
	}
	if a != chunk.NewHasher([32]byte{1}).Sum(data) {
		t.Fatalf("one key gave two IDs")
	}
}

func TestHasherConcurrent(t *testing.T) {
	h := chunk.NewHasher([32]byte{7})
	data := randBytes("concurrent", 1<<20)
	want := h.Sum(data)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10 {
				if got := h.Sum(data); got != want {
					t.Errorf("concurrent Sum = %v, want %v", got, want)
				}
			}
		})
	}
	wg.Wait()
}

func TestIDText(t *testing.T) {
	id := chunk.NewHasher([32]byte{}).Sum([]byte("hello"))
	s := id.String()
	if len(s) != 64 || strings.ToLower(s) != s {
		t.Fatalf("String() = %q, want 64 lowercase hex digits", s)
	}
	back, err := chunk.ParseID(s)
	if err != nil || back != id {
		t.Fatalf("ParseID(String()) = %v, %v; want %v", back, err, id)
	}
	if id.IsZero() || !(chunk.ID{}).IsZero() {
		t.Fatalf("IsZero wrong")
	}
	if id.Short() != s[:12] {
		t.Fatalf("Short() = %q, want %q", id.Short(), s[:12])
	}

	// JSON uses the text form, also as a map key.
	in := map[chunk.ID][]chunk.ID{id: {id, {}}}
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"`+s+`"`) {
		t.Fatalf("JSON %s does not hold %s", js, s)
	}
	var out map[chunk.ID][]chunk.ID
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || len(out[id]) != 2 || out[id][0] != id || !out[id][1].IsZero() {
		t.Fatalf("JSON round trip gave %v, want %v", out, in)
	}
}

func TestParseIDErrors(t *testing.T) {
	good := strings.Repeat("ab", 32)
	for _, s := range []string{
		"",
		"ab",
		good[:63],
		good + "a",
		good + "ab",
		"zz" + good[2:],
		good[:62] + "g0",
		" " + good[1:],
		good[:63] + "\x00",
	} {
		id, err := chunk.ParseID(s)
		if !errors.Is(err, chunk.ErrBadID) {
			t.Errorf("ParseID(%q) error = %v, want ErrBadID", s, err)
		}
		if !id.IsZero() {
			t.Errorf("ParseID(%q) returned non-zero ID %v with error", s, id)
		}
		var u chunk.ID
		if err := u.UnmarshalText([]byte(s)); !errors.Is(err, chunk.ErrBadID) {
			t.Errorf("UnmarshalText(%q) error = %v, want ErrBadID", s, err)
		}
	}
}

// TestSumKey: SumKey's ID is Sum's, its key the second half of BLAKE3's
// 64-byte keyed output, and neither repeats across plaintexts.
func TestSumKey(t *testing.T) {
	var key [32]byte
	copy(key[:], "the chunk-ID key of some drive..")
	h := chunk.NewHasher(key)
	seen := map[[32]byte]bool{}
	for _, p := range [][]byte{nil, []byte("a"), []byte("b"), make([]byte, 1<<20)} {
		id, k := h.SumKey(p)
		if id != h.Sum(p) {
			t.Fatalf("%d bytes: SumKey's ID differs from Sum", len(p))
		}
		ref := blake3.New(64, key[:])
		ref.Write(p)
		out := ref.Sum(nil)
		if !bytes.Equal(out[:32], id[:]) || !bytes.Equal(out[32:], k[:]) {
			t.Fatalf("%d bytes: not BLAKE3's keyed 64-byte output", len(p))
		}
		if seen[k] || seen[id] || k == [32]byte(id) {
			t.Fatalf("%d bytes: a key or ID repeats", len(p))
		}
		seen[k], seen[id] = true, true
	}
}
