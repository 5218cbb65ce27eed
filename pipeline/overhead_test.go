package pipeline_test

import (
	"testing"

	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// TestStorageOverhead bounds the bytes stored per byte written with the
// default k=4, m=2 and default chunking: the ideal is (k+m)/k = 1.5; padding
// each stripe's data shards to its largest shard adds to the parity.
func TestStorageOverhead(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(50)}
	st := store.NewMem(0)
	data := randData(50, 64<<20)
	write(t, cfg, st, data)
	ratio := float64(st.Used()) / float64(len(data))
	t.Logf("stored %.3f bytes per byte written (ideal 1.5)", ratio)
	if ratio > 1.57 {
		t.Fatalf("stored %.3f bytes per byte written, more than 1.57", ratio)
	}
}
