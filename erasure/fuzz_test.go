package erasure

import (
	"bytes"
	"testing"
)

func FuzzParseDescriptor(f *testing.F) {
	c, _ := NewCoder(3, 2)
	d, _, _ := c.Encode([][]byte{[]byte("murmur"), []byte("mur")})
	b, _ := d.MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 1, 1, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDescriptor(b)
		if err != nil {
			return
		}
		again, err := d.MarshalBinary()
		if err != nil {
			t.Fatalf("parsed descriptor does not marshal: %v", err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("parse/marshal is not the identity")
		}
	})
}
