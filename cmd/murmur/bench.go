package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/pipeline"
)

func benchCommand() *cli.Command {
	return &cli.Command{
		Name:    "bench",
		Summary: "measure Murmur's speed on this machine",
		Sub:     []*cli.Command{benchPipelineCommand(), benchClusterCommand(), benchRepairCommand(), benchMountCommand(), benchBackupCommand(), benchComputeCommand()},
	}
}

func benchPipelineCommand() *cli.Command {
	var (
		size   = cli.Size(256 << 20)
		asJSON bool
		rounds int
		k, m   int
	)
	return &cli.Command{
		Name:    "pipeline",
		Summary: "write and read path (chunk, seal, erasure-code) against single-core AES-256-GCM, in memory",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&size, "size", "bytes of random data (suffixes KiB, MiB, GiB, KB, MB, GB)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.IntVar(&rounds, "rounds", 3, "runs of each measurement; the best counts")
			fs.IntVar(&k, "k", pipeline.DefaultK, "data shards per stripe")
			fs.IntVar(&m, "m", pipeline.DefaultM, "parity shards per stripe")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
			if fs.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fs.Arg(0))
			}
			data := pipeline.BenchData(int64(size), 1)
			res, err := pipeline.Bench(ctx, pipeline.Config{K: k, M: m}, data, rounds)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "pipeline bench: %s of random data, k=%d m=%d, %d workers, best of %d\n",
				cli.FormatSize(res.Bytes), res.K, res.M, res.Workers, rounds)
			fmt.Fprintf(out, "  write (chunk+ID+seal+encode)   %8.0f MB/s   %.2fx baseline\n", res.WriteMBps, res.WriteRatio)
			fmt.Fprintf(out, "  read  (verify+decode+open)     %8.0f MB/s   %.2fx baseline\n", res.ReadMBps, res.ReadRatio)
			fmt.Fprintf(out, "  baseline (AES-256-GCM, 1 core) %8.0f MB/s\n", res.BaselineMBps)
			return nil
		},
	}
}

// memoryLimit is the soft memory limit of a process that runs a whole
// local cloud (bench cluster, and murmur up): without it the Go heap of
// six nodes grows to twice what they hold before collecting.
const memoryLimit = 640 << 20

func benchClusterCommand() *cli.Command {
	var (
		size   = cli.Size(256 << 20)
		nodes  int
		asJSON bool
		dir    string
	)
	return &cli.Command{
		Name:    "cluster",
		Summary: "put and get through a local cloud of real nodes, against the pipeline alone",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&size, "size", "bytes of random data")
			fs.IntVar(&nodes, "nodes", 6, "nodes in the local cloud")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.StringVar(&dir, "dir", "", "where the nodes keep their data (default: a temporary folder, removed after)")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
			if fs.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fs.Arg(0))
			}
			var limit int64
			if os.Getenv("GOMEMLIMIT") == "" {
				limit = memoryLimit // a soft limit: the GC works harder near it
			}
			if dir == "" {
				tmp, err := os.MkdirTemp("", "murmur-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			res, err := node.BenchCluster(ctx, dir, nodes, int64(size), limit)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "cluster bench: %s through %d nodes on loopback, k=%d m=%d\n", cli.FormatSize(res.Bytes), res.Nodes, res.K, res.M)
			fmt.Fprintf(out, "  put  %8.0f MB/s   %.2fx the pipeline's write (%.0f MB/s)\n", res.PutMBps, res.PutRatio, res.PipelineWrite)
			fmt.Fprintf(out, "  get  %8.0f MB/s   %.2fx the pipeline's read  (%.0f MB/s)\n", res.GetMBps, res.GetRatio, res.PipelineRead)
			fmt.Fprintf(out, "  peak RSS %d MiB, including the %d MiB of benchmark data; at the end %d MiB anonymous, %d MiB mapped files\n",
				res.PeakRSSBytes>>20, res.BenchDataBytes>>20, res.RSSAnonBytes>>20, res.RSSFileBytes>>20)
			fmt.Fprintf(out, "  CPU per byte: put %.1f ns (%.1f cores busy), get %.1f ns (%.1f cores busy); the pipeline alone: write %.1f ns, read %.1f ns\n",
				res.PutCPUNsPerByte, res.PutCPUs, res.GetCPUNsPerByte, res.GetCPUs, res.PipelineWriteCPU, res.PipelineReadCPU)
			fmt.Fprintf(out, "  %.2f bytes stored per byte written\n", res.StoredPerByte)
			return nil
		},
	}
}
