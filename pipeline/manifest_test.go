package pipeline_test

import (
	"bytes"
	"errors"
	"math"
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
	huge := []byte{pipeline.ManifestVersion, 0, 0xff, 0xff, 0xff, 0xff, 0x03}
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
