package erasure

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpus")

// TestWriteFuzzSeeds refreshes testdata/fuzz when run with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	c, _ := NewCoder(4, 2)
	d, _, _ := c.Encode([][]byte{[]byte("murmur"), []byte("stripe descriptor"), nil})
	full, _ := d.MarshalBinary()
	c1, _ := NewCoder(1, 1)
	d1, _, _ := c1.Encode([][]byte{[]byte("k=1")})
	one, _ := d1.MarshalBinary()
	for name, b := range map[string][]byte{"k4m2": full, "k1m1": one, "truncated": full[:40], "huge-k": {1, 0xff, 0x01, 1, 1}} {
		p := filepath.Join("testdata/fuzz/FuzzParseDescriptor", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

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
