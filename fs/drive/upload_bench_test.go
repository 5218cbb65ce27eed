package drive_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/placement"
)

var (
	uploadSize    = flag.Int64("upload.size", 1<<30, "bytes of the file BenchmarkCommitVsPut commits and puts")
	uploadWorkers = flag.Int("upload.workers", 0, "BenchmarkCommitVsPut's pipeline workers, the drive's and the put's (0: the default)")
)

// BenchmarkCommitVsPut measures, in one run through one local cloud of six
// real nodes (as `murmur bench cluster` and `murmur bench mount` start
// it), the drive's commit of a big file against a plain put of the same
// number of bytes through the same node (pipeline.Write into its Cloud,
// bench cluster's path). Each iteration writes a new file of fresh random
// bytes into the drive and fsyncs it (untimed), then times the commit that
// uploads it, and times a put of other fresh bytes; the order alternates.
// It reports both rates and commit/put: 1 means the drive's upload runs
// at the cloud's put rate, which holds on a loaded machine where the
// rates themselves do not. It also reports write+commit, the time from
// the first write until the commit is published, over the put's.
//
//	go test -run '^$' -bench CommitVsPut -benchtime 2x ./fs/drive/
//	go test -run '^$' -bench CommitVsPut -benchtime 4x ./fs/drive/ -upload.size 268435456
func BenchmarkCommitVsPut(b *testing.B) {
	ctx := context.Background()
	size := *uploadSize
	dir := b.TempDir()
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: filepath.Join(dir, "cloud"), Nodes: 6, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	n := l.Nodes[0]
	placer, err := placement.NewReliable(placement.ReliableConfig{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	cloud := daemon.NewDriveCloud(n, n.Cloud(placer))
	// The code as `murmur mount` and bench mount choose it (nodeCode):
	// from the node's view of the cloud, which changes as gossip learns
	// the members' availability (k=2 m=3 at first, k=4 m=2 within about
	// a minute). As bench mount does, wait for that (at most 2 min), so
	// the figures are a running cloud's; the code is still chosen once
	// per iteration, for the commit and the put alike.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		c, err := placement.ChooseCode(n.CodeParams(placement.DefaultTarget))
		if err == nil && c.Params.Availability != node.AssumedAvailability {
			break
		}
	}
	var k, m int
	code := func(context.Context) (int, int, error) { return k, m, nil }
	var codes []string

	cfg := drive.Config{
		Keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), Cloud: cloud, StateDir: filepath.Join(dir, "state"),
		Logger: slog.New(slog.DiscardHandler), Code: code, Pipeline: pipeline.Config{Workers: *uploadWorkers},
		// The test commits by hand.
		CommitEvery: time.Hour,
	}
	if err := drive.Create(ctx, drive.Config{Keys: cfg.Keys, Cloud: cloud}); err != nil {
		b.Fatal(err)
	}
	d, err := drive.Open(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close(ctx)
	tr := d.Tree()
	putCfg := pipeline.Config{Keys: crypt.NewMasterKey().Keys(crypt.NewDriveID()), Workers: *uploadWorkers}

	var commitT, writeT, putT time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		c, err := placement.ChooseCode(n.CodeParams(placement.DefaultTarget))
		if err != nil {
			b.Fatal(err)
		}
		k, m = c.K, c.M
		codes = append(codes, fmt.Sprintf("k=%d m=%d", k, m))
		// Fresh bytes each time: the cloud must not hold any shard of
		// them already.
		data := pipeline.BenchData(size, uint64(2*i+1))
		other := pipeline.BenchData(size, uint64(2*i+2))
		b.StartTimer()
		commit := func() {
			start := time.Now()
			a, err := tr.Create(fs.RootIno, fmt.Sprint("big", i), 0o644, 0, 0)
			if err != nil {
				b.Fatal(err)
			}
			tr.Open(a.Ino)
			for off := int64(0); off < size; off += 1 << 20 {
				if _, err := tr.WriteAt(a.Ino, data[off:min(off+1<<20, size)], off); err != nil {
					b.Fatal(err)
				}
			}
			if err := tr.Fsync(a.Ino); err != nil {
				b.Fatal(err)
			}
			tr.Release(a.Ino)
			written := time.Now()
			if err := d.Commit(ctx); err != nil {
				b.Fatal(err)
			}
			commitT += time.Since(written)
			writeT += written.Sub(start)
		}
		put := func() {
			putCfg.K, putCfg.M = k, m
			start := time.Now()
			if _, err := pipeline.Write(ctx, putCfg, cloud, bytes.NewReader(other)); err != nil {
				b.Fatal(err)
			}
			putT += time.Since(start)
		}
		if i%2 == 0 {
			commit()
			put()
		} else {
			put()
			commit()
		}
		i++
	}
	b.Logf("%d MiB a file, codes %v", size>>20, codes)
	mbps := func(d time.Duration) float64 { return float64(size) * float64(i) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(commitT), "commit-MB/s")
	b.ReportMetric(mbps(putT), "put-MB/s")
	b.ReportMetric(mbps(writeT), "write-MB/s")
	b.ReportMetric(putT.Seconds()/commitT.Seconds(), "commit/put")
	b.ReportMetric(putT.Seconds()/(writeT+commitT).Seconds(), "write+commit/put")
}
