package pipeline_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// The benchmarks the README's stage figures come from; murmur bench
// pipeline reports the same paths as ratios against AES-256-GCM.

func BenchmarkWrite(b *testing.B) {
	cfg := pipeline.Config{Keys: testKeys(40)}
	data := pipeline.BenchData(64<<20, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := pipeline.Write(context.Background(), cfg, discard{}, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRead(b *testing.B) {
	cfg := pipeline.Config{Keys: testKeys(41)}
	data := pipeline.BenchData(64<<20, 1)
	st := store.NewMem(0)
	m, err := pipeline.Write(context.Background(), cfg, st, bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		r, _ := pipeline.NewReader(context.Background(), cfg, st, m)
		if _, err := r.WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// discard accepts shards and keeps nothing.
type discard struct{}

func (discard) Put(context.Context, erasure.ShardID, []byte) error { return nil }
