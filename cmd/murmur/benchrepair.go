package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/repair"
)

func benchRepairCommand() *cli.Command {
	var (
		size    = cli.Size(32 << 20)
		rate    = cli.Size(repair.DefaultBandwidth)
		nodes   int
		asJSON  bool
		dir     string
		timeout time.Duration
		profile string
	)
	return &cli.Command{
		Name:    "repair",
		Summary: "put through a local cloud, remove one node for good, and time the repairs until every stripe is whole",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&size, "size", "bytes of random data")
			fs.IntVar(&nodes, "nodes", 8, "nodes in the local cloud")
			fs.Var(&rate, "rate", "each node's repair cap, bytes a second (0: no cap)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.StringVar(&dir, "dir", "", "where the nodes keep their data (default: a temporary folder, removed after)")
			fs.DurationVar(&timeout, "timeout", 30*time.Minute, "give up when the stripes are not whole by then")
			fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the repairs (from the removal until every stripe is whole; the whole cloud is one process) to this file")
		},
		Run: func(ctx context.Context, fs *flag.FlagSet, out io.Writer) error {
			if fs.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fs.Arg(0))
			}
			if dir == "" {
				tmp, err := os.MkdirTemp("", "murmur-bench-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			var prof io.Writer
			if profile != "" {
				f, err := os.Create(profile)
				if err != nil {
					return err
				}
				defer f.Close()
				prof = f
			}
			res, err := node.BenchRepair(ctx, dir, nodes, int64(size), repairRateOf(rate), timeout, prof)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			capped := "no cap"
			if res.RateCap > 0 {
				capped = cli.HumanBytes(res.RateCap) + "/s a node"
			}
			fmt.Fprintf(out, "repair bench: %s through %d nodes on loopback, k=%d m=%d, repairs capped at %s\n", cli.FormatSize(res.Bytes), res.Nodes, res.K, res.M, capped)
			fmt.Fprintf(out, "  checks     every %v, grace %v (the node's --repair-check-period, --repair-grace)\n",
				time.Duration(res.CheckPeriodSeconds*float64(time.Second)), time.Duration(res.GraceSeconds*float64(time.Second)))
			fmt.Fprintf(out, "  put        %8.1f MB/s\n", res.PutMBps)
			fmt.Fprintf(out, "  lost       %d shards, %s, with one node\n", res.LostShards, cli.HumanBytes(res.LostBytes))
			fmt.Fprintf(out, "  whole in   %8.1f s (%.0f s of it the grace), %.1f MB/s rebuilt, %.2fx the put\n", res.RepairSeconds, res.GraceSeconds, res.RepairMBps, res.RepairRatio)
			fmt.Fprintf(out, "  traffic    %s fetched (%.2f per byte rebuilt), %s stored; %d repairs, %d failed, %d shards rebuilt twice\n",
				cli.HumanBytes(res.RepairReadBytes), res.ReadAmplification, cli.HumanBytes(res.RepairWrittenBytes), res.Repairs, res.Failed, res.DuplicateRepairs)
			fmt.Fprintf(out, "  read back  %v\n", res.ReadableAfter)
			return nil
		},
	}
}
