package stripe_test

import (
	"bytes"
	"testing"

	"github.com/murmur-cloud/murmur/stripe"
)

// fuzzParse fuzzes a parser: whatever parses encodes back to the same
// bytes, and check, given what parsed, never panics.
func fuzzParse[T interface{ MarshalBinary() ([]byte, error) }](f *testing.F, parse func([]byte) (T, error), check func(T)) {
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parse(b)
		if err != nil {
			return
		}
		if again, err := v.MarshalBinary(); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("a parsed value does not re-encode to itself: %v", err)
		}
		check(v)
	})
}

func FuzzParseRecord(f *testing.F) {
	fuzzParse(f, stripe.ParseRecord, func(r *stripe.Record) {
		if r.Verify() == nil {
			_, _ = stripe.Receive(r, r, nil, t0)
		}
		_ = r.ID()
	})
}

func FuzzParseRetention(f *testing.F) {
	fuzzParse(f, func(b []byte) (*stripe.Retention, error) {
		r, err := stripe.ParseRetention(b)
		return &r, err
	}, func(r *stripe.Retention) { _ = r.Verify() })
}

func FuzzParseRelease(f *testing.F) {
	fuzzParse(f, func(b []byte) (*stripe.Release, error) {
		r, err := stripe.ParseRelease(b)
		return &r, err
	}, func(r *stripe.Release) { _ = r.Verify() })
}

func FuzzParseTombstone(f *testing.F) {
	fuzzParse(f, stripe.ParseTombstone, func(t *stripe.Tombstone) { _ = t.Verify() })
}

func FuzzParseRenewal(f *testing.F) {
	fuzzParse(f, stripe.ParseRenewal, func(r *stripe.Renewal) {
		for _, e := range r.Entries {
			_ = r.Retention.Covers(e.Stripe, e.Path)
		}
	})
}

func FuzzParseReleasing(f *testing.F) {
	fuzzParse(f, stripe.ParseReleasing, func(r *stripe.Releasing) {
		for _, e := range r.Entries {
			_, _ = stripe.NewTombstone(e.Stripe, r.Release, e.Path)
		}
	})
}
