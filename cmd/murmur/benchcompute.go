package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/compute/examples"
	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/node"
)

// computeBenchResult is what bench compute measures: a word count over
// input_bytes of text stored in a local cloud, as a job with one replica
// and with two, and, as the baseline, the same module run at the owner
// over the file fetched with get. Times are seconds.
type computeBenchResult struct {
	Nodes         int     `json:"nodes"`
	Slots         int     `json:"slots_per_node"`
	InputBytes    int64   `json:"input_bytes"`
	Tasks         int     `json:"tasks"`
	LocalFraction float64 `json:"local_fraction"`
	NetworkBytes  int64   `json:"network_bytes"` // moved for the replicas-1 job, results excluded
	NetworkRatio  float64 `json:"network_ratio"` // network_bytes / input_bytes
	JobSeconds    float64 `json:"job_seconds"`
	JobR2Seconds  float64 `json:"job_r2_seconds"`
	R2Network     int64   `json:"job_r2_network_bytes"`
	R2Local       float64 `json:"job_r2_local_fraction"`
	R2Runs        float64 `json:"job_r2_runs_per_task"` // adaptive replication lowers it from 2
	GetSeconds    float64 `json:"get_seconds"`
	BaseSeconds   float64 `json:"baseline_seconds"` // get + the module over the whole file, here
	Speedup       float64 `json:"speedup"`          // baseline_seconds / job_seconds
	Identical     bool    `json:"outputs_identical"`
}

func benchComputeCommand() *cli.Command {
	var (
		size   cli.Size = 256 << 20
		nodes  int
		slots  int
		dir    string
		asJSON bool
	)
	return &cli.Command{
		Name: "compute", Summary: "a word count as a job next to its data, against fetching the file and counting here",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&size, "size", "bytes of text to count")
			fs.IntVar(&nodes, "nodes", 6, "nodes in the local cloud")
			fs.IntVar(&slots, "slots", 2, "compute slots per node")
			fs.StringVar(&dir, "dir", "", "where to work (default: a temporary folder, removed after)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, out io.Writer) error {
			if fl.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fl.Arg(0))
			}
			if dir == "" {
				tmp, err := os.MkdirTemp("", "murmur-bench-compute-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			progress := io.Writer(os.Stderr) // the JSON goes to standard output
			res, err := runComputeBench(ctx, dir, int64(size), nodes, slots, progress)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			fmt.Fprintf(out, "word count over %s on %d nodes (%d slots each), %d tasks\n", cli.HumanBytes(res.InputBytes), res.Nodes, res.Slots, res.Tasks)
			fmt.Fprintf(out, "  job, 1 replica    %6.2fs  %.0f%% of tasks where their data lay, %s moved (%.3f of the input)\n", res.JobSeconds, 100*res.LocalFraction, cli.HumanBytes(res.NetworkBytes), res.NetworkRatio)
			fmt.Fprintf(out, "  job, 2 replicas   %6.2fs  %.2f runs a task, %s moved\n", res.JobR2Seconds, res.R2Runs, cli.HumanBytes(res.R2Network))
			fmt.Fprintf(out, "  get + count here  %6.2fs  (get %.2fs)\n", res.BaseSeconds, res.GetSeconds)
			fmt.Fprintf(out, "  speedup %.2f; outputs identical: %v\n", res.Speedup, res.Identical)
			return nil
		},
	}
}

// benchText writes n bytes of seeded text: lines of words from a
// vocabulary of a few thousand, as prose has.
func benchText(w io.Writer, n int64) error {
	rng := rand.New(rand.NewPCG(42, 42))
	vocab := make([]string, 5000)
	for i := range vocab {
		l := 2 + rng.IntN(9)
		b := make([]byte, l)
		for j := range b {
			b[j] = 'a' + byte(rng.IntN(26))
		}
		vocab[i] = string(b)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var line []byte
	for written := int64(0); written < n; {
		line = line[:0]
		for range 3 + rng.IntN(14) {
			// Zipf-like: small indices far more often.
			line = append(line, vocab[int(float64(len(vocab))*rng.Float64()*rng.Float64()*rng.Float64())]...)
			line = append(line, ' ')
		}
		line[len(line)-1] = '\n'
		if left := n - written; int64(len(line)) > left {
			line = line[:left]
		}
		if _, err := bw.Write(line); err != nil {
			return err
		}
		written += int64(len(line))
	}
	return bw.Flush()
}

func runComputeBench(ctx context.Context, dir string, size int64, nodes, slots int, progress io.Writer) (*computeBenchResult, error) {
	log := slog.New(slog.DiscardHandler)
	fmt.Fprintf(progress, "building the word count module\n")
	wasmPath, err := examples.Build(ctx, "wordcount", dir)
	if err != nil {
		return nil, err
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		return nil, err
	}
	input := filepath.Join(dir, "input.txt")
	f, err := os.Create(input)
	if err != nil {
		return nil, err
	}
	if err := benchText(f, size); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}

	fmt.Fprintf(progress, "starting a cloud of %d nodes with %d compute slots each\n", nodes, slots)
	home := filepath.Join(dir, "cloud")
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: home, Nodes: nodes, ComputeSlots: slots, Logger: log})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	srv, err := daemon.NewServer(l.Nodes[0], home, log)
	if err != nil {
		return nil, err
	}
	stopW, err := srv.StartCompute(ctx)
	if err != nil {
		return nil, err
	}
	defer stopW()
	for _, n := range l.Nodes[1:] {
		stop, err := daemon.StartWorker(ctx, n, log)
		if err != nil {
			return nil, err
		}
		defer stop()
	}
	sock := filepath.Join(dir, "api", "murmur.sock")
	sctx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	ready := make(chan error, 1)
	go func() {
		err := srv.ServeReady(sctx, sock, func() error { ready <- nil; return nil })
		if err != nil {
			select {
			case ready <- err:
			default:
			}
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	c := client.New(sock)
	// Every node's slots known to the owner.
	for deadline := time.Now().Add(2 * time.Minute); len(l.Nodes[0].ComputePeers()) < nodes; {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the owner learnt of %d compute nodes of %d in 2 minutes", len(l.Nodes[0].ComputePeers()), nodes)
		}
		cycles := l.Nodes[0].GossipStatus().Cycles
		for l.Nodes[0].GossipStatus().Cycles == cycles {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	fmt.Fprintf(progress, "storing %s of text\n", cli.HumanBytes(size))
	in, err := os.Open(input)
	if err != nil {
		return nil, err
	}
	e, err := c.Put(ctx, "input.txt", in)
	in.Close()
	if err != nil {
		return nil, err
	}
	// A warm-up job over a file of a few stripes, so every node has the
	// module compiled before anything is timed (the baseline compiles
	// first too).
	var warm bytes.Buffer
	if err := benchText(&warm, 16<<20); err != nil {
		return nil, err
	}
	small, err := c.Put(ctx, "warmup.txt", &warm)
	if err != nil {
		return nil, err
	}
	if _, err := runBenchJob(ctx, c, wasm, small.ID, 2); err != nil {
		return nil, err
	}
	res := &computeBenchResult{Nodes: nodes, Slots: slots, InputBytes: e.Size}

	// Two replicas first: the cloud is busiest just after the put
	// (announcing, auditing the new stripes), and one replica is the
	// figure compared with the baseline.
	fmt.Fprintf(progress, "job, 2 replicas\n")
	j2, out2, err := runBenchJobOutput(ctx, c, wasm, e.ID, 2)
	if err != nil {
		return nil, err
	}
	res.JobR2Seconds, res.R2Network = j2.Seconds, j2.Network
	fmt.Fprintf(progress, "  %.2fs, %d tasks, %d runs, %d local, %d bytes moved\n", j2.Seconds, j2.Tasks, j2.Runs, j2.Local, j2.Network)
	res.R2Local = float64(j2.Local) / float64(max(j2.Tasks, 1))
	res.R2Runs = float64(j2.Runs) / float64(max(j2.Tasks, 1))

	fmt.Fprintf(progress, "job, 1 replica\n")
	j1, out1, err := runBenchJobOutput(ctx, c, wasm, e.ID, 1)
	if err != nil {
		return nil, err
	}
	res.Tasks, res.JobSeconds, res.NetworkBytes = j1.Tasks, j1.Seconds, j1.Network
	res.LocalFraction = float64(j1.Local) / float64(max(j1.Tasks, 1))
	res.NetworkRatio = float64(j1.Network) / float64(max(e.Size, 1))
	fmt.Fprintf(progress, "  %.2fs, %d tasks, %d runs, %d local, %d bytes moved\n", j1.Seconds, j1.Tasks, j1.Runs, j1.Local, j1.Network)

	fmt.Fprintf(progress, "baseline: get, then the module here\n")
	// The module over the whole file in one run: a heap for all of it
	// (Go's runtime grows it ahead of its collections), not a task's.
	rt, err := sandbox.New(ctx, sandbox.Config{MemoryLimit: 4 << 30})
	if err != nil {
		return nil, err
	}
	defer rt.Close(context.Background())
	id, err := rt.Compile(ctx, wasm)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var got bytes.Buffer
	got.Grow(int(e.Size))
	if _, err := c.Get(ctx, e.ID, &got, nil); err != nil {
		return nil, err
	}
	res.GetSeconds = time.Since(start).Seconds()
	mapped, err := rt.Run(ctx, sandbox.Task{Module: id, Args: []string{"map"}, Stdin: &got, Limits: sandbox.Limits{Deadline: time.Hour}})
	if err != nil {
		return nil, err
	}
	reduced, err := rt.Run(ctx, sandbox.Task{Module: id, Args: []string{"reduce"}, Stdin: bytes.NewReader(mapped.Stdout), Limits: sandbox.Limits{Deadline: time.Hour}})
	if err != nil {
		return nil, err
	}
	res.BaseSeconds = time.Since(start).Seconds()
	res.Speedup = res.BaseSeconds / res.JobSeconds
	res.Identical = bytes.Equal(out1, reduced.Stdout) && bytes.Equal(out2, reduced.Stdout)
	if !res.Identical {
		return res, fmt.Errorf("the job's output (%d bytes, %d with 2 replicas) differs from the baseline's (%d)", len(out1), len(out2), len(reduced.Stdout))
	}
	return res, nil
}

func runBenchJob(ctx context.Context, c *client.Client, wasm []byte, id string, replicas int) (*client.Job, error) {
	j, err := c.StartJob(ctx, client.JobRequest{Module: wasm, Inputs: []string{id}, Reduce: true, Replicas: replicas})
	if err != nil {
		return nil, err
	}
	for !j.Finished() {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if j, err = c.Job(ctx, j.ID); err != nil {
			return nil, err
		}
	}
	if j.State != "done" {
		return nil, fmt.Errorf("job %s: %s", j.State, j.Error)
	}
	return j, nil
}

func runBenchJobOutput(ctx context.Context, c *client.Client, wasm []byte, id string, replicas int) (*client.Job, []byte, error) {
	j, err := runBenchJob(ctx, c, wasm, id, replicas)
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	_, err = c.JobOutput(ctx, j.ID, &out)
	return j, out.Bytes(), err
}
