package node

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// dhtCounter counts the DHT requests a cloud's members receive, by type.
type dhtCounter struct{ findNode, getProviders, addProvider, other atomic.Int64 }

func (c *dhtCounter) count(t pb.Message_MessageType) {
	switch t {
	case pb.Message_FIND_NODE:
		c.findNode.Add(1)
	case pb.Message_GET_PROVIDERS:
		c.getProviders.Add(1)
	case pb.Message_ADD_PROVIDER:
		c.addProvider.Add(1)
	default:
		c.other.Add(1)
	}
}

func (c *dhtCounter) snapshot() [4]int64 {
	return [4]int64{c.findNode.Load(), c.getProviders.Load(), c.addProvider.Load(), c.other.Load()}
}

// heapPeak samples the heap in use until stop is called and returns the
// highest value seen.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

func heapAfterGC() (inuse, totalAlloc uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, ms.TotalAlloc
}

// BenchmarkProviders announces every shard of one member of a six-node
// cloud on loopback (real hosts, real badger) with a sweep, and, in the
// same run, a sample of them the old way (kad-dht's Provide, one walk per
// shard, four at a time), and reports per shard: time, DHT walks, DHT
// requests the members received, and memory.
//
//	go test -run '^$' -bench Providers -benchtime 1x ./node/
func BenchmarkProviders(b *testing.B) {
	for _, shards := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) { benchProviders(b, shards, 2000) })
	}
}

func benchProviders(b *testing.B, shards, oldSample int) {
	const members = 6
	ctx := context.Background()
	var counter dhtCounter
	secret := NewCloudSecret()
	var nodes []*Node
	for range members {
		n, err := New(Config{Dir: b.TempDir(), Secret: secret, onDHTRequest: counter.count})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { n.Close() })
		nodes = append(nodes, n)
	}
	for i, a := range nodes {
		for _, c := range nodes[i+1:] {
			if err := a.Connect(ctx, c.AddrInfo()); err != nil {
				b.Fatal(err)
			}
		}
	}
	holder := nodes[0]
	// Wait for the (empty) first sweep, so the measured one is alone.
	for holder.AnnounceStats().Sweeps == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	// Fill the holder's store with small shards, many puts at a time so
	// they share fsyncs.
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(shards); i = next.Add(1) - 1 {
				id, data := storetest.Shard(uint64(i), 16)
				if err := holder.store.Put(ctx, id, data); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	a := holder.announce

	for b.Loop() {
		// The sweep: every shard to every other member.
		heap0, alloc0 := heapAfterGC()
		msgs0, st0 := counter.snapshot(), holder.AnnounceStats()
		start := time.Now()
		if !a.pass(ctx, nil) {
			b.Fatal("the sweep did not get through the store")
		}
		took := time.Since(start)
		// ADD_PROVIDER messages are not answered: wait until every
		// receiver has handled them before reading counts and memory.
		want := msgs0[2] + int64((members-1)*shards)
		for deadline := time.Now().Add(time.Minute); counter.addProvider.Load() < want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		took2 := time.Since(start)
		heap1, alloc1 := heapAfterGC()
		msgs1, st1 := counter.snapshot(), holder.AnnounceStats()
		if st1.SweepShards != shards || st1.Failed != st0.Failed {
			b.Fatalf("swept %d of %d shards, %d records failed", st1.SweepShards, shards, st1.Failed-st0.Failed)
		}
		// A refresh: the same sweep again, the records only renewed, with
		// the collector kept within 1 % of the live heap, so the peak above
		// the heap before it is what a sweep holds while it runs (the
		// announcer's page, the messages in flight, that 1 %).
		// Page through the store once first, so badger's caches (16 MiB
		// at most) are as full as the sweep leaves them.
		page, from := make([]erasure.ShardID, sweepPage), erasure.ShardID{}
		for {
			got, err := holder.store.IDsFrom(ctx, from, page)
			if err != nil {
				b.Fatal(err)
			}
			if len(got) < len(page) {
				break
			}
			from, _ = badgerstore.Next(got[len(got)-1])
		}
		heapR, _ := heapAfterGC()
		gc := debug.SetGCPercent(1)
		stopPeak := heapPeak()
		startR := time.Now()
		if !a.pass(ctx, nil) {
			b.Fatal("the refresh did not get through the store")
		}
		tookR := time.Since(startR)
		peakR := stopPeak()
		debug.SetGCPercent(gc)
		want += int64((members - 1) * shards)
		for deadline := time.Now().Add(time.Minute); counter.addProvider.Load() < want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		n := float64(shards)
		records := float64(st1.Records - st0.Records)
		newNs := float64(took2.Nanoseconds()) / n
		newWalks := float64(st1.Walks-st0.Walks) / n
		newMsgs := float64(msgs1[0]-msgs0[0]+msgs1[1]-msgs0[1]+msgs1[2]-msgs0[2]+msgs1[3]-msgs0[3]) / n
		retained := float64(int64(heap1)-int64(heap0)) / n
		transient := float64(int64(peakR)-int64(heapR)) / (1 << 20)

		// The old way, on a sample of other shards (records of the same
		// ones would only be refreshed, and hold no new memory).
		ids := make([]erasure.ShardID, oldSample)
		for i := range ids {
			ids[i], _ = storetest.Shard(uint64(shards+i), 16)
		}
		heap0, alloc0old := heapAfterGC()
		msgs0 = counter.snapshot()
		start = time.Now()
		var next atomic.Int64
		for range 4 {
			wg.Go(func() {
				for i := next.Add(1) - 1; i < int64(len(ids)); i = next.Add(1) - 1 {
					pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					if err := holder.dht.Provide(pctx, shardCID(ids[i]), true); err != nil {
						b.Error(err)
					}
					cancel()
				}
			})
		}
		wg.Wait()
		oldTook := time.Since(start)
		// Provide returns once each ADD_PROVIDER is written, not handled.
		want = msgs0[2] + int64((members-1)*len(ids))
		for deadline := time.Now().Add(time.Minute); counter.addProvider.Load() < want && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		heap1, alloc1old := heapAfterGC()
		msgs1 = counter.snapshot()
		m := float64(len(ids))
		oldNs := float64(oldTook.Nanoseconds()) / m
		oldMsgs := float64(msgs1[0]-msgs0[0]+msgs1[1]-msgs0[1]+msgs1[2]-msgs0[2]+msgs1[3]-msgs0[3]) / m
		oldFindNode := float64(msgs1[0]-msgs0[0]) / m
		oldRetained := float64(int64(heap1)-int64(heap0)) / m

		b.ReportMetric(newNs, "ns/shard")
		b.ReportMetric(newWalks, "walks/shard")
		b.ReportMetric(newMsgs, "dht-msgs/shard")
		b.ReportMetric(records/n, "records/shard")
		b.ReportMetric(float64(alloc1-alloc0)/n, "alloc-B/shard")
		b.ReportMetric(retained, "held-B/shard")
		b.ReportMetric(transient, "sweep-MiB")
		b.ReportMetric(oldNs, "old-ns/shard")
		b.ReportMetric(1, "old-walks/shard")
		b.ReportMetric(oldMsgs, "old-dht-msgs/shard")
		b.ReportMetric(float64(alloc1old-alloc0old)/m, "old-alloc-B/shard")
		b.ReportMetric(oldRetained, "old-held-B/shard")
		b.ReportMetric(oldNs/newNs, "time-ratio")
		b.ReportMetric(oldMsgs/newMsgs, "msgs-ratio")
		b.Logf("%d shards, %d members: sweep %v (%v until all handled), %.0f records; "+
			"old way on %d: %v, %.1f FIND_NODE/shard; heap held after the sweep %.0f B/shard (old way %.0f); a refresh sweep took %v and %.1f MiB of heap above the heap before it",
			shards, members, took, took2, records, len(ids), oldTook, oldFindNode, retained, oldRetained, tookR, transient)
	}
}
