package stripe_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/murmur-cloud/murmur/stripe"
)

// TestHostileRecord: a flipped byte of a record's signed parts (its
// descriptor, roots, retention and path) makes it fail to parse or to
// verify; one in the unsigned hints either fails to parse or changes only
// the hints. No truncation parses.
func TestHostileRecord(t *testing.T) {
	recs, _, _ := covered(t, ownerKey(20), 3, t0, 30*day)
	r, _ := recs[1].WithHolders(0, []string{"holder-a", "holder-b"}, t0)
	r, _ = r.WithHolders(2, []string{"holder-c"}, t0)
	b := encode(t, r)
	d := encode(t, r.Descriptor)
	hintsFrom := 1 + len(binary.AppendUvarint(nil, uint64(len(d)))) + len(d) + 32*len(r.Roots)
	hintsTo := len(b) - stripe.RetentionLen - len(r.Path.AppendBinary(nil))
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x24
		got, err := stripe.ParseRecord(bad)
		if err != nil {
			if !errors.Is(err, stripe.ErrBadRecord) {
				t.Fatalf("byte %d: %v", i, err)
			}
			continue
		}
		err = got.Verify()
		switch {
		case i < hintsFrom || i >= hintsTo:
			if !errors.Is(err, stripe.ErrBadRecord) {
				t.Fatalf("signed byte %d flipped: %v", i, err)
			}
		case err != nil || got.ID() != r.ID() || got.Retention != r.Retention:
			t.Fatalf("hint byte %d flipped: %v", i, err)
		}
	}
	for n := range len(b) {
		if _, err := stripe.ParseRecord(b[:n]); !errors.Is(err, stripe.ErrBadRecord) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// A non-minimal Seq is another byte form of the same record.
	seq := binary.AppendUvarint(nil, r.Seq)
	seq[len(seq)-1] |= 0x80
	long := append(append(bytes.Clone(b[:hintsFrom]), append(seq, 0)...), b[hintsFrom+len(seq):]...)
	if _, err := stripe.ParseRecord(long); !errors.Is(err, stripe.ErrBadRecord) {
		t.Fatalf("a non-minimal seq: %v", err)
	}
}

// TestHostileStatements: every flipped byte of a retention, release or
// tombstone fails to parse or to verify; no truncation parses.
func TestHostileStatements(t *testing.T) {
	key := ownerKey(21)
	recs, set, ret := covered(t, key, 3, t0, 30*day)
	rel, _ := stripe.SignRelease(key, t0.Add(day), set)
	p, _ := set.Path(recs[0].ID())
	tomb, _ := recs[0].Release(rel, p)
	check := map[string]struct {
		b      []byte
		verify func([]byte) error
	}{
		"retention": {encode(t, &ret), func(b []byte) error {
			r, err := stripe.ParseRetention(b)
			if err == nil {
				err = r.Verify()
			}
			return err
		}},
		"release": {encode(t, &rel), func(b []byte) error {
			r, err := stripe.ParseRelease(b)
			if err == nil {
				err = r.Verify()
			}
			return err
		}},
		"tombstone": {encode(t, tomb), func(b []byte) error {
			r, err := stripe.ParseTombstone(b)
			if err == nil {
				err = r.Verify()
			}
			return err
		}},
	}
	for name, c := range check {
		if err := c.verify(c.b); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range c.b {
			bad := bytes.Clone(c.b)
			bad[i] ^= 0x24
			if err := c.verify(bad); !errors.Is(err, stripe.ErrBadStatement) && !errors.Is(err, stripe.ErrBadRecord) {
				t.Fatalf("%s byte %d flipped: %v", name, i, err)
			}
		}
		for n := range len(c.b) {
			if err := c.verify(c.b[:n]); err == nil {
				t.Fatalf("%s truncated to %d parses", name, n)
			}
		}
	}
	if len(encode(t, &ret)) != stripe.RetentionLen || len(encode(t, &rel)) != stripe.ReleaseLen {
		t.Fatal("statement lengths")
	}
}
