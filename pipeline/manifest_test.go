package pipeline_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

func testManifest(t *testing.T) *pipeline.Manifest {
	t.Helper()
	cfg := pipeline.Config{Keys: testKeys(20), Chunking: small, K: 3, M: 2}
	return write(t, cfg, store.NewMem(0), randData(20, 90<<10))
}

func TestManifestSealOpen(t *testing.T) {
	keys := testKeys(20)
	m := testManifest(t)
	id, sealed, err := pipeline.SealManifest(keys, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pipeline.OpenManifest(keys, id, sealed)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.MarshalBinary()
	b, _ := got.MarshalBinary()
	if !bytes.Equal(a, b) {
		t.Fatal("manifest changed in a seal/open round trip")
	}
	if pid, err := pipeline.ParseManifestID(id.String()); err != nil || pid != id {
		t.Fatalf("ParseManifestID(String) = %v, %v", pid, err)
	}
	// Every byte flipped: ErrAuth, no panic.
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= bit
			if _, err := pipeline.OpenManifest(keys, id, bad); !errors.Is(err, crypt.ErrAuth) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrAuth", i, bit, err)
			}
		}
	}
	for n := range len(sealed) {
		if _, err := pipeline.OpenManifest(keys, id, sealed[:n]); !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("truncated to %d: err = %v", n, err)
		}
	}
	other := id
	other[0] ^= 1
	if _, err := pipeline.OpenManifest(keys, other, sealed); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("opened under another ID: %v", err)
	}
	if _, err := pipeline.OpenManifest(testKeys(21), id, sealed); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("opened with another drive's keys: %v", err)
	}
}

func TestParseManifestRejects(t *testing.T) {
	m := testManifest(t)
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pipeline.ParseManifest(b); err != nil {
		t.Fatal(err)
	}
	for n := range len(b) {
		if _, err := pipeline.ParseManifest(b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: parsed", n)
		}
	}
	if _, err := pipeline.ParseManifest(append(bytes.Clone(b), 0)); !errors.Is(err, pipeline.ErrManifest) {
		t.Fatalf("trailing byte: %v", err)
	}
	// A count far beyond the input is refused before allocating.
	huge := []byte{pipeline.ManifestV1, 0, 0xff, 0xff, 0xff, 0xff, 0x03}
	if _, err := pipeline.ParseManifest(huge); !errors.Is(err, pipeline.ErrManifest) {
		t.Fatalf("huge stripe count: %v", err)
	}
	for name, mutate := range map[string]func(m *pipeline.Manifest){
		"size":          func(m *pipeline.Manifest) { m.Size++ },
		"stripe index":  func(m *pipeline.Manifest) { m.Chunks[0].Stripe = len(m.Stripes) },
		"parity shard":  func(m *pipeline.Manifest) { m.Chunks[0].Shard = m.Stripes[0].K },
		"overrun":       func(m *pipeline.Manifest) { m.Chunks[0].Offset = m.Stripes[0].ShardSize },
		"empty chunk":   func(m *pipeline.Manifest) { m.Size -= int64(m.Chunks[0].Size); m.Chunks[0].Size = 0 },
		"nil stripe":    func(m *pipeline.Manifest) { m.Stripes[0] = nil },
		"negative size": func(m *pipeline.Manifest) { m.Size = -1 },
		"huge offset":   func(m *pipeline.Manifest) { m.Chunks[0].Offset = math.MaxInt - 10 },
		"one ID, two sizes": func(m *pipeline.Manifest) {
			// A second stripe claiming the first one's shard 0 is longer.
			d := *m.Stripes[0]
			d.Shards = append([]erasure.Shard(nil), d.Shards...)
			d.Shards[0].Size, d.ShardSize = d.ShardSize+100, d.ShardSize+100
			for j := d.K; j < len(d.Shards); j++ {
				d.Shards[j].Size = d.ShardSize
			}
			m.Stripes = append(m.Stripes, &d)
		},
	} {
		c := testManifest(t)
		mutate(c)
		if err := c.Validate(); !errors.Is(err, pipeline.ErrManifest) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

// hintedManifest writes a file through spread, which reports where each
// shard went, so its manifest carries holder hints.
func hintedManifest(t *testing.T) (*pipeline.Manifest, *spread, []byte) {
	t.Helper()
	cfg := pipeline.Config{Keys: testKeys(20), Chunking: small, K: 3, M: 2}
	st := newSpread(5)
	data := randData(21, 90<<10)
	return write(t, cfg, st, data), st, data
}

func TestManifestHolderHints(t *testing.T) {
	m, _, _ := hintedManifest(t)
	if len(m.Holders) != len(m.Stripes) {
		t.Fatalf("%d hint rows for %d stripes", len(m.Holders), len(m.Stripes))
	}
	for i, d := range m.Stripes {
		for j := range d.Shards {
			want := store.Holder("")
			if d.Stored(j) {
				want = store.Holder(fmt.Sprintf("peer-%d", j))
			}
			if m.Holders[i][j] != want {
				t.Fatalf("stripe %d shard %d: hint %q, want %q", i, j, m.Holders[i][j], want)
			}
		}
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != pipeline.ManifestV2 {
		t.Fatalf("hinted manifest written as version %d", b[0])
	}
	got, err := pipeline.ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Holders, m.Holders) {
		t.Fatal("holder hints changed in a marshal/parse round trip")
	}
	for n := range len(b) {
		if _, err := pipeline.ParseManifest(b[:n]); err == nil {
			t.Fatalf("truncated to %d bytes: parsed", n)
		}
	}
	// Without hints the same manifest is version 1, as before hints.
	m.Holders = nil
	if v1, _ := m.MarshalBinary(); v1[0] != pipeline.ManifestV1 || len(v1) >= len(b) {
		t.Fatalf("unhinted manifest: version %d, %d bytes (hinted %d)", v1[0], len(v1), len(b))
	}
}

// The hint section of a one-stripe manifest, byte by byte: the holder
// table in order of first use, then one reference per shard.
func TestManifestHolderEncoding(t *testing.T) {
	m := testManifest(t) // k=3 m=2
	m.Stripes, m.Chunks = m.Stripes[:1], m.Chunks[:0]
	m.Size = 0
	d := m.Stripes[0]
	for j := range d.K {
		if !d.Stored(j) {
			t.Fatal("test needs a full stripe")
		}
	}
	// Chunks must cover the stripe's data for Validate; keep none and use
	// a stripe-only manifest.
	m.Holders = [][]store.Holder{{"b", "a", "", "b", "c"}}
	v1 := *m
	v1.Holders = nil
	base, err := v1.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte{pipeline.ManifestV2}, base[1:]...)
	want = append(want, 3, 1, 'b', 1, 'a', 1, 'c', 1, 2, 0, 1, 3)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n got %x\nwant %x", b, want)
	}
	// The same hints with the table in another order, or an unused or
	// empty entry, are not canonical.
	hints := len(base)
	for name, tail := range map[string][]byte{
		"table order":   {3, 1, 'a', 1, 'b', 1, 'c', 2, 1, 0, 2, 3},
		"unused entry":  {4, 1, 'b', 1, 'a', 1, 'c', 1, 'd', 1, 2, 0, 1, 3},
		"empty entry":   {4, 1, 'b', 1, 'a', 1, 'c', 0, 1, 2, 0, 1, 3},
		"bad reference": {3, 1, 'b', 1, 'a', 1, 'c', 1, 2, 0, 1, 4},
		"short":         {3, 1, 'b', 1, 'a', 1, 'c', 1, 2, 0, 1},
	} {
		bad := append(bytes.Clone(b[:hints]), tail...)
		if _, err := pipeline.ParseManifest(bad); !errors.Is(err, pipeline.ErrManifest) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, hs := range map[string][][]store.Holder{
		"rows":        {},
		"columns":     {{"a", "b"}},
		"long holder": {{store.Holder(bytes.Repeat([]byte{'x'}, store.MaxHolderLen+1)), "", "", "", ""}},
	} {
		c := *m
		c.Holders = hs
		if err := c.Validate(); !errors.Is(err, pipeline.ErrManifest) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
}

// A reader goes to the hinted holder first, and a wrong or stale hint
// costs a lookup, not the read.
func TestReaderFollowsHints(t *testing.T) {
	m, st, data := hintedManifest(t)
	cfg := pipeline.Config{Keys: testKeys(20), Chunking: small, K: 3, M: 2}
	got, err := readAll(t, cfg, st, m)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v", err)
	}
	if st.hinted.Load() == 0 {
		t.Fatal("no shard was read from its hinted holder")
	}
	// Point every hint at the wrong peer: the bytes still come back.
	for _, hs := range m.Holders {
		for j, h := range hs {
			if h != "" {
				hs[j] = store.Holder(fmt.Sprintf("peer-%d", (j+1)%len(hs)))
			}
		}
	}
	st.hinted.Store(0)
	got, err = readAll(t, cfg, st, m)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read with wrong hints: %v", err)
	}
}
