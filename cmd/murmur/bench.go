package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/murmur-cloud/murmur/pipeline"
)

func benchCommand() *command {
	return &command{
		name:    "bench",
		summary: "measure Murmur's speed on this machine",
		sub:     []*command{benchPipelineCommand()},
	}
}

func benchPipelineCommand() *command {
	var (
		size   = sizeFlag(256 << 20)
		asJSON bool
		rounds int
		k, m   int
	)
	return &command{
		name:    "pipeline",
		summary: "write and read path (chunk, seal, erasure-code) against single-core AES-256-GCM, in memory",
		flags: func(fs *flag.FlagSet) {
			fs.Var(&size, "size", "bytes of random data (suffixes KiB, MiB, GiB, KB, MB, GB)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.IntVar(&rounds, "rounds", 3, "runs of each measurement; the best counts")
			fs.IntVar(&k, "k", pipeline.DefaultK, "data shards per stripe")
			fs.IntVar(&m, "m", pipeline.DefaultM, "parity shards per stripe")
		},
		run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
			if fs.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
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
				formatSize(res.Bytes), res.K, res.M, res.Workers, rounds)
			fmt.Fprintf(out, "  write (chunk+ID+seal+encode)   %8.0f MB/s   %.2fx baseline\n", res.WriteMBps, res.WriteRatio)
			fmt.Fprintf(out, "  read  (verify+decode+open)     %8.0f MB/s   %.2fx baseline\n", res.ReadMBps, res.ReadRatio)
			fmt.Fprintf(out, "  baseline (AES-256-GCM, 1 core) %8.0f MB/s\n", res.BaselineMBps)
			return nil
		},
	}
}
