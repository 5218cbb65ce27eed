package rebuild_test

import (
	"context"
	"testing"
	"time"
)

// BenchmarkRebuild is one repair of a k=4 m=2 stripe of 1 MiB shards that
// lost a data shard, run by a holder of another (one source its own): the
// fetches, their checks against the record, the rebuild and its checks,
// and the store, over in-memory stores. Its bytes are the lost shard's.
func BenchmarkRebuild(b *testing.B) {
	f := newFixtureSized(b, 4, 2, 4, 8, 1<<20)
	lost := []int{0}
	plan := f.plan(lost, 4, time.Time{})
	r := f.rebuilder(b, peer(1))
	b.SetBytes(int64(len(f.shards[0])))
	for b.Loop() {
		b.StopTimer()
		clear(f.cloud.records) // each run places on a fresh holder's record
		for _, s := range f.cloud.stores {
			s.Delete(context.Background(), f.rec.Descriptor.Shards[0].ID)
		}
		b.StartTimer()
		if out := r.Run(context.Background(), plan, f.rec); out.Result.Err != nil {
			b.Fatal(out.Result.Err)
		}
	}
}
