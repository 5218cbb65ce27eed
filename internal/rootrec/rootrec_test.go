package rootrec_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"math"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/rootrec"
)

func driveKeys() *crypt.Keys {
	var mk crypt.MasterKey
	rand.Read(mk[:])
	return mk.Keys(crypt.NewDriveID())
}

func TestRoundTrip(t *testing.T) {
	keys := driveKeys()
	for _, v := range [][]byte{nil, []byte("root"), make([]byte, rootrec.MaxValueLen)} {
		r, err := rootrec.New(keys, 1<<40+3, v)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > rootrec.MaxLen {
			t.Fatalf("a record of %d bytes exceeds MaxLen %d", len(b), rootrec.MaxLen)
		}
		if len(v) == rootrec.MaxValueLen {
			longest, _ := rootrec.New(keys, math.MaxUint64, v)
			lb, _ := longest.MarshalBinary()
			if len(lb) != 8301 || len(lb) > rootrec.MaxLen {
				t.Fatalf("the longest record is %d bytes (docs/format.md says 8301), MaxLen %d", len(lb), rootrec.MaxLen)
			}
		}
		got, err := rootrec.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Drive, keys.PublicKey()) || got.Seq != r.Seq || !bytes.Equal(got.Value, v) {
			t.Fatalf("parsed %+v", got)
		}
	}
	if _, err := rootrec.New(keys, 1, make([]byte, rootrec.MaxValueLen+1)); !errors.Is(err, rootrec.ErrBad) {
		t.Fatalf("an oversized value: %v", err)
	}
}

// TestHostile: every flipped byte and every truncation is refused.
func TestHostile(t *testing.T) {
	r, _ := rootrec.New(driveKeys(), 300, []byte("root value"))
	b, _ := r.MarshalBinary()
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x80
		if _, err := rootrec.Parse(bad); !errors.Is(err, rootrec.ErrBad) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for n := range len(b) {
		if _, err := rootrec.Parse(b[:n]); !errors.Is(err, rootrec.ErrBad) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
}

// TestNonCanonical: a record re-encoded with a non-minimal varint keeps
// its signature (the signed bytes hold seq as 8 fixed bytes) but is
// another byte form, and is refused.
func TestNonCanonical(t *testing.T) {
	r, _ := rootrec.New(driveKeys(), 7, []byte("root"))
	b, _ := r.MarshalBinary()
	const seqAt = 1 + 32
	for name, bad := range map[string][]byte{
		"seq":    append(append(append([]byte{}, b[:seqAt]...), 0x87, 0x00), b[seqAt+1:]...),
		"length": append(append(append([]byte{}, b[:seqAt+1]...), 0x84, 0x00), b[seqAt+2:]...),
	} {
		if _, err := rootrec.Parse(bad); !errors.Is(err, rootrec.ErrBad) {
			t.Fatalf("non-minimal %s varint: %v", name, err)
		}
	}
}

func TestCheckNewer(t *testing.T) {
	keys := driveKeys()
	r1, _ := rootrec.New(keys, 1, []byte("one"))
	r2, _ := rootrec.New(keys, 2, []byte("two"))
	other2, _ := rootrec.New(keys, 2, []byte("another two"))
	if err := rootrec.CheckNewer(r1, nil); err != nil {
		t.Fatalf("first record: %v", err)
	}
	if err := rootrec.CheckNewer(r2, r1); err != nil {
		t.Fatalf("newer record: %v", err)
	}
	for _, r := range []*rootrec.Record{r1, r2, other2} {
		if err := rootrec.CheckNewer(r, r2); !errors.Is(err, rootrec.ErrStale) {
			t.Fatalf("seq %d over seq 2: %v", r.Seq, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	r, _ := rootrec.New(driveKeys(), 7, []byte("root"))
	b, _ := r.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := rootrec.Parse(b)
		if err != nil {
			return
		}
		again, err := r.MarshalBinary()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a valid record does not re-encode to itself: %v", err)
		}
	})
}
