package client_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
)

var update = flag.Bool("update", false, "rewrite the committed fuzz seed corpus")

// stripeBody returns the body of a stripe as the client sends it.
func stripeBody(t testing.TB, d *erasure.Descriptor, shards [][]byte) []byte {
	t.Helper()
	b, err := client.StripeHead(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range shards {
		b = append(b, s...)
	}
	return b
}

// headOf returns what the server reads before it knows a body's length.
func headOf(b []byte) []byte { return b[:min(len(b), client.MaxStripeHead)] }

func TestStripeBody(t *testing.T) {
	for _, sizes := range [][]int{{5000, 3000}, {2000}, {1, 1, 1, 1}} {
		k := max(len(sizes), 3)
		d, shards := cloudtest.Stripe(k, 2, sizes...)
		b := stripeBody(t, d, shards)
		if n, err := client.StripeLen(headOf(b)); err != nil || n != int64(len(b)) {
			t.Fatalf("StripeLen = %d, %v; the body is %d bytes", n, err, len(b))
		}
		got, gotShards, err := client.ParseStripe(b)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(d) {
			t.Fatalf("descriptor %v, want %v", got, d)
		}
		for i := range shards {
			if !bytes.Equal(gotShards[i], shards[i]) || (shards[i] == nil) != (gotShards[i] == nil) {
				t.Fatalf("shard %d: %d bytes, want %d", i, len(gotShards[i]), len(shards[i]))
			}
		}
		// Truncated or extended, it is refused.
		for n := range len(b) {
			if _, _, err := client.ParseStripe(b[:n]); !errors.Is(err, client.ErrBadStripe) {
				t.Fatalf("truncated to %d of %d bytes: %v", n, len(b), err)
			}
		}
		if _, _, err := client.ParseStripe(append(b, 0)); !errors.Is(err, client.ErrBadStripe) {
			t.Fatalf("a byte too many: %v", err)
		}
	}
}

// TestLargestDescriptor: the bound on a descriptor's length is that of the
// largest valid one, exactly.
func TestLargestDescriptor(t *testing.T) {
	d := &erasure.Descriptor{K: 128, M: 128, ShardSize: erasure.MaxShardSize, Shards: make([]erasure.Shard, 256)}
	for i := range d.Shards {
		d.Shards[i] = erasure.Shard{ID: erasure.ShardID{byte(i)}, Size: erasure.MaxShardSize}
	}
	b, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != client.MaxDescriptorLen {
		t.Fatalf("the largest descriptor is %d bytes, the bound %d", len(b), client.MaxDescriptorLen)
	}
	head, err := client.StripeHead(d)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := client.StripeLen(head); err != nil || n != int64(len(head))+256*erasure.MaxShardSize || n > client.MaxStripeBody {
		t.Fatalf("the largest stripe: StripeLen = %d, %v; MaxStripeBody = %d", n, err, int64(client.MaxStripeBody))
	}
}

// TestWriteFuzzSeeds refreshes testdata/fuzz when run with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	d, shards := cloudtest.Stripe(3, 1, 40, 25)
	full := stripeBody(t, d, shards)
	d1, shards1 := cloudtest.Stripe(1, 2, 16)
	copies := stripeBody(t, d1, shards1)
	wrongVersion := append([]byte{2}, full[1:]...)
	for name, b := range map[string][]byte{
		"k3m1-empty-slot": full, "k1m2": copies, "truncated": full[:len(full)-1],
		"wrong-version": wrongVersion, "huge-descriptor-length": {1, 0xff, 0xff, 0x03},
	} {
		p := filepath.Join("testdata/fuzz/FuzzParseStripe", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzParseStripe: a body that parses is the one encoding of what it
// parses to, and the length the server computes from its head is its own.
func FuzzParseStripe(f *testing.F) {
	d, shards := cloudtest.Stripe(2, 1, 9)
	b, _ := client.StripeHead(d)
	for _, s := range shards {
		b = append(b, s...)
	}
	f.Add(b)
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, lerr := client.StripeLen(headOf(b))
		d, shards, err := client.ParseStripe(b)
		if err != nil {
			if !errors.Is(err, client.ErrBadStripe) {
				t.Fatalf("an error that is not ErrBadStripe: %v", err)
			}
			return
		}
		if lerr != nil || n != int64(len(b)) {
			t.Fatalf("a body of %d bytes parses, but its head says %d, %v", len(b), n, lerr)
		}
		again, err := client.StripeHead(d)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range shards {
			if len(s) != d.Shards[i].Size {
				t.Fatalf("shard %d has %d bytes, its descriptor says %d", i, len(s), d.Shards[i].Size)
			}
			again = append(again, s...)
		}
		if !bytes.Equal(again, b) {
			t.Fatal("a body that parses does not re-encode to itself")
		}
	})
}
