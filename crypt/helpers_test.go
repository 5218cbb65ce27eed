package crypt_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
)

// goldenMasterKey is the fixed master key of the golden vectors:
// bytes 0x00..0x1f.
func goldenMasterKey() crypt.MasterKey {
	var mk crypt.MasterKey
	for i := range mk {
		mk[i] = byte(i)
	}
	return mk
}

// goldenDrive is the fixed drive ID of the golden vectors: 0xa0..0xaf.
func goldenDrive() crypt.DriveID {
	var d crypt.DriveID
	for i := range d {
		d[i] = 0xa0 + byte(i)
	}
	return d
}

// goldenKeys returns the keys of the golden drive.
func goldenKeys() *crypt.Keys { return goldenMasterKey().Keys(goldenDrive()) }

// newTestKeys returns the keys of a fresh random drive.
func newTestKeys(t testing.TB) *crypt.Keys {
	t.Helper()
	return crypt.NewMasterKey().Keys(crypt.NewDriveID())
}

// pattern returns n deterministic, non-repeating-looking bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// wantErr fails the test unless err matches target.
func wantErr(t testing.TB, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// flipped returns a copy of b with byte i XORed with mask.
func flipped(b []byte, i int, mask byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= mask
	return c
}

// flipMasks are the two XOR masks applied to every byte in tamper tests:
// the lowest and the highest bit.
func flipMasks() []byte { return []byte{0x01, 0x80} }
