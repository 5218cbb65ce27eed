package drive

import (
	"bytes"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
)

// FuzzParseMeta feeds the drive's local metadata parser: never a panic,
// ErrDamaged for what does not parse, and what parses encodes back the
// same.
func FuzzParseMeta(f *testing.F) {
	f.Add((&meta{Seq: 9, Gen: 3, Ref: []byte("ref"), Next: 400, Epoch: 5}).marshal())
	f.Add((&meta{Seq: 1, Clean: true, Pending: &intent{Ref: []byte("pending"), Gen: 4, Epoch: 6}}).marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMeta(b)
		if err != nil {
			if !errors.Is(err, fs.ErrDamaged) {
				t.Fatalf("error not ErrDamaged: %v", err)
			}
			return
		}
		m2, err := parseMeta(m.marshal())
		if err != nil || !bytes.Equal(m2.marshal(), m.marshal()) {
			t.Fatalf("meta does not survive a round trip: %v", err)
		}
	})
}
