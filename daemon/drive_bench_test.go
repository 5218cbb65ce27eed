package daemon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/cloudtest"
	fsdrive "github.com/murmur-cloud/murmur/fs/drive"
)

// BenchmarkDrive compares the drive's shard throughput through the
// daemon's API (client.Client's Drive, over the unix socket) with the node's own
// DriveCloud (Server.Drive) behind it, in one run: every iteration moves a
// shard through each, alternating which goes first, and the benchmark
// reports each one's MB/s and their ratio (api/inproc: 1 means the API
// costs nothing).
//
// PutStripe moves a stripe of four 1 MiB shards (the cloud has four
// nodes), the drive's upload path.
//
//	go test -run '^$' -bench Drive -benchtime 40x ./daemon/
func BenchmarkDrive(b *testing.B) {
	ctx := context.Background()
	srv, c := serveDrive(b)
	clouds := [2]fsdrive.Cloud{srv.Drive(), c.Drive()}
	b.Run("PutStripe/2+2x1MiB", func(b *testing.B) {
		// The drive's upload path: a stripe of k=2 m=2 with 1 MiB shards
		// (the default chunking), as a commit puts it.
		var spent [2]time.Duration
		n := 0
		for b.Loop() {
			for j := range 2 {
				i := (n + j) % 2
				b.StopTimer()
				d, shards := cloudtest.Stripe(2, 2, 1<<20, 1<<20)
				b.StartTimer()
				start := time.Now()
				if _, err := clouds[i].PutStripe(ctx, d, shards); err != nil {
					b.Fatal(err)
				}
				spent[i] += time.Since(start)
			}
			n++
		}
		report(b, int64(n)*4<<20, spent)
	})
	for _, size := range []int{1 << 20, 4 << 20} {
		b.Run(fmt.Sprintf("Put/%dMiB", size>>20), func(b *testing.B) {
			var spent [2]time.Duration
			n := 0
			for b.Loop() {
				for j := range 2 {
					i := (n + j) % 2
					id, data := cloudtest.Shard(size)
					start := time.Now()
					if err := clouds[i].Put(ctx, id, data); err != nil {
						b.Fatal(err)
					}
					spent[i] += time.Since(start)
				}
				n++
			}
			report(b, int64(n)*int64(size), spent)
		})
		b.Run(fmt.Sprintf("Get/%dMiB", size>>20), func(b *testing.B) {
			const held = 16
			ids := make([]erasure.ShardID, held)
			for k := range ids {
				id, data := cloudtest.Shard(size)
				if err := clouds[0].Put(ctx, id, data); err != nil {
					b.Fatal(err)
				}
				ids[k] = id
			}
			var spent [2]time.Duration
			n := 0
			for b.Loop() {
				for j := range 2 {
					i := (n + j) % 2
					start := time.Now()
					got, err := clouds[i].Get(ctx, ids[n%held])
					if err != nil || len(got) != size {
						b.Fatalf("got %d bytes: %v", len(got), err)
					}
					spent[i] += time.Since(start)
				}
				n++
			}
			report(b, int64(n)*int64(size), spent)
		})
	}
}

// report reports the throughput of the in-process and API paths, each
// having moved bytes in the time spent, and their ratio.
func report(b *testing.B, bytes int64, spent [2]time.Duration) {
	mbps := func(d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }
	in, api := mbps(spent[0]), mbps(spent[1])
	b.ReportMetric(in, "inproc-MB/s")
	b.ReportMetric(api, "api-MB/s")
	b.ReportMetric(api/in, "api/inproc")
}
