package node_test

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

// BenchmarkCluster puts 64 MiB through a local cloud of six real nodes and
// gets it back, as murmur bench cluster does (a fresh Cloud for each get,
// on another node, so it must find the holders), for profiling the cloud:
//
//	go test -run '^$' -bench Cluster/Put -benchtime 6x -cpuprofile put.prof ./node/
func BenchmarkCluster(b *testing.B) {
	ctx := context.Background()
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: b.TempDir(), Nodes: 6})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	data := pipeline.BenchData(64<<20, 3)
	var mk crypt.MasterKey
	copy(mk[:], data)
	cfg := pipeline.Config{Keys: mk.Keys(crypt.DriveID{1})}
	put := func(b *testing.B) *pipeline.Manifest {
		m, err := pipeline.Write(ctx, cfg, l.Nodes[0].Cloud(placement.NewRandom(1)), bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		return m
	}
	b.Run("Put", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			put(b)
		}
	})
	b.Run("Get", func(b *testing.B) {
		m := put(b)
		b.SetBytes(int64(len(data)))
		b.ResetTimer()
		for b.Loop() {
			r, err := pipeline.NewReader(ctx, cfg, l.Nodes[len(l.Nodes)-1].Cloud(placement.NewRandom(2)), m)
			if err != nil {
				b.Fatal(err)
			}
			if n, err := r.WriteTo(io.Discard); err != nil || n != int64(len(data)) {
				b.Fatalf("got %d of %d bytes: %v", n, len(data), err)
			}
		}
	})
}
