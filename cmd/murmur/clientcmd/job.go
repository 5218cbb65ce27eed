package clientcmd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
)

// ErrJobFailed reports a job that ended without an output.
var ErrJobFailed = errors.New("job failed")

// JobCommand is `murmur job`: run, list, status and cancel compute jobs.
func JobCommand() *cli.Command {
	return &cli.Command{
		Name: "job", Summary: "run WebAssembly jobs next to the data they read (docs/compute.md)",
		Sub: []*cli.Command{jobRunCommand(), jobListCommand(), jobStatusCommand(), jobCancelCommand()},
	}
}

func jobRunCommand() *cli.Command {
	var replicas int
	var reduce, fold, detach bool
	var args stringList
	var outFile string
	var deadline time.Duration
	var memory cli.Size
	var dj driveJob
	c := clientCommand("run", "MODULE.wasm INPUT...", "run a module over stored files (by ID or name), or with --drive over a drive's files and folders, in order",
		func(ctx context.Context, c *client.Client, fs *flag.FlagSet, out io.Writer, asJSON bool) error {
			if fs.NArg() < 2 {
				return fmt.Errorf("%w: murmur job run MODULE.wasm INPUT...", cli.ErrUsage)
			}
			onDrive := dj.f.drive != ""
			if onDrive && detach {
				return fmt.Errorf("%w: a job over a drive's files needs this command running to answer its keys: no --detach", cli.ErrUsage)
			}
			wasm, err := os.ReadFile(fs.Arg(0))
			if err != nil {
				return err
			}
			req := client.JobRequest{Module: wasm, Args: args,
				Fold: fold, Reduce: reduce, Replicas: replicas, Deadline: deadline, Memory: int64(memory)}
			if onDrive {
				dj.f.dir = fs.Lookup("dir").Value.String()
				if err := dj.open(ctx, fs.Args()[1:], os.Stderr); err != nil {
					return err
				}
				req.Files = dj.files
			} else {
				req.Inputs = fs.Args()[1:]
			}
			j, err := c.StartJob(ctx, req)
			if err != nil {
				return err
			}
			var keysDone <-chan error
			if onDrive {
				kctx, stopKeys := context.WithCancel(ctx)
				defer stopKeys()
				keysDone = dj.serve(kctx, c, j.ID)
			}
			if detach {
				if asJSON {
					return cli.PrintJSON(out, j)
				}
				fmt.Fprintf(out, "job %s started: %d tasks\n", j.ID, j.Tasks)
				return nil
			}
			bar := newJobProgress()
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for !j.Finished() {
				select {
				case <-ctx.Done():
					// Ctrl-C cancels the job it started.
					cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					c.CancelJob(cctx, j.ID)
					cancel()
					bar.finish(j, ctx.Err())
					return ctx.Err()
				case err := <-keysDone:
					// The node ends the stream when the job ends; an
					// error means the job lost its keys.
					keysDone = nil
					if err != nil {
						fmt.Fprintf(os.Stderr, "murmur: job %s: %v\n", j.ID[:12], err)
					}
				case <-tick.C:
				}
				if j, err = c.Job(ctx, j.ID); err != nil {
					return err
				}
				bar.draw(j)
			}
			if j.State != "done" {
				bar.finish(j, ErrJobFailed)
				return fmt.Errorf("%w: job %s %s: %s", ErrJobFailed, j.ID[:12], j.State, j.Error)
			}
			bar.finish(j, nil)
			if outFile != "" {
				var buf bytes.Buffer // at most the job's output bound
				if _, err := c.JobOutput(ctx, j.ID, &buf); err != nil {
					return err
				}
				if err := atomicfile.WriteFile(outFile, buf.Bytes(), 0o644); err != nil {
					return err
				}
			} else if !asJSON {
				if _, err := c.JobOutput(ctx, j.ID, out); err != nil {
					return err
				}
			}
			if asJSON {
				return cli.PrintJSON(out, j)
			}
			return nil
		})
	flags := c.Flags
	c.Flags = func(fs *flag.FlagSet) {
		flags(fs)
		fs.IntVar(&replicas, "replicas", 0, "runs of each task on distinct peers that must agree (0: 2)")
		fs.BoolVar(&reduce, "reduce", false, "run the module's reduce over the map outputs, here")
		fs.BoolVar(&fold, "fold", false, "run the module file by file, chunk after chunk (as sha256sum), not line by line")
		fs.Var(&args, "arg", "an argument for the module (repeatable), as grep's pattern")
		fs.StringVar(&outFile, "out", "", "write the output to this file (default: standard output)")
		fs.DurationVar(&deadline, "deadline", 0, "each task's deadline (0: 60s; at most 1h)")
		fs.Var(&memory, "memory", "each task's memory (0: 256MiB); a node offering less does not run it")
		fs.BoolVar(&detach, "detach", false, "start the job and return its ID at once")
		fs.StringVar(&dj.f.drive, "drive", "", "run over this drive's files and folders (paths in the drive), as its last commit has them; the drive's keys stay in this command, which answers the job's key requests")
		fs.StringVar(&dj.f.keyFile, "key-file", "", "with --drive: unlock it with this key file instead of the one the drive's root keeps")
		fs.StringVar(&dj.f.passFile, "passphrase-file", "", "with --drive: read its passphrase from this file (else $MURMUR_PASSPHRASE, else the terminal)")
	}
	return c
}

func jobListCommand() *cli.Command {
	return clientCommand("list", "", "list this node's jobs",
		func(ctx context.Context, c *client.Client, fs *flag.FlagSet, out io.Writer, asJSON bool) error {
			js, err := c.Jobs(ctx)
			if err != nil {
				return err
			}
			if asJSON {
				return cli.PrintJSON(out, js)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tTASKS\tLOCAL\tVERIFIED\tINPUT\tSECONDS")
			for _, j := range js {
				fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%d\t%d\t%s\t%.1f\n", j.ID, j.State, j.Done, j.Tasks, j.Local, j.Verified, cli.HumanBytes(j.InputBytes), j.Seconds)
			}
			return tw.Flush()
		})
}

func jobStatusCommand() *cli.Command {
	return jobShowCommand("status", "show a job's progress", (*client.Client).Job)
}

func jobCancelCommand() *cli.Command {
	return jobShowCommand("cancel", "cancel a running job", (*client.Client).CancelJob)
}

// jobShowCommand is a command that does op to the job ID and shows it.
func jobShowCommand(name, summary string, op func(*client.Client, context.Context, string) (*client.Job, error)) *cli.Command {
	return clientCommand(name, "ID", summary,
		func(ctx context.Context, c *client.Client, fs *flag.FlagSet, out io.Writer, asJSON bool) error {
			if fs.NArg() != 1 {
				return fmt.Errorf("%w: murmur job %s ID", cli.ErrUsage, name)
			}
			j, err := op(c, ctx, fs.Arg(0))
			if err != nil {
				return err
			}
			if asJSON {
				return cli.PrintJSON(out, j)
			}
			printJob(out, j)
			return nil
		})
}

func printJob(out io.Writer, j *client.Job) {
	fmt.Fprintf(out, "job       %s\nstate     %s\n", j.ID, j.State)
	if j.Error != "" {
		fmt.Fprintf(out, "error     %s\n", j.Error)
	}
	fmt.Fprintf(out, "input     %d files, %s\ntasks     %d of %d done, %d ran where their data lay, %d verified by agreeing peers\n",
		j.Inputs, cli.HumanBytes(j.InputBytes), j.Done, j.Tasks, j.Local, j.Verified)
	fmt.Fprintf(out, "runs      %d (%d outvoted), replicas %d\n", j.Runs, j.Wrong, j.Replicas)
	if j.State == "running" {
		fmt.Fprintf(out, "slice     %d compute peers, %d tasks waiting\n", j.Slice, j.Backlog)
	}
	fmt.Fprintf(out, "network   %s moved\nseconds   %.1f\n", cli.HumanBytes(j.Network), j.Seconds)
}

// jobProgress draws a job's progress on standard error when it is a
// terminal: tasks done, local, verified, and an estimate of the rest.
type jobProgress struct{ tty bool }

func newJobProgress() *jobProgress {
	fi, err := os.Stderr.Stat()
	return &jobProgress{tty: err == nil && fi.Mode()&os.ModeCharDevice != 0}
}

func (p *jobProgress) draw(j *client.Job) {
	if !p.tty {
		return
	}
	eta := ""
	if j.Done > 0 && j.Done < j.Tasks {
		left := time.Duration(j.Seconds / float64(j.Done) * float64(j.Tasks-j.Done) * float64(time.Second))
		eta = "  ETA " + left.Round(time.Second).String()
	}
	fmt.Fprintf(os.Stderr, "\rjob %d/%d tasks  %d local  %d verified%s   ", j.Done, j.Tasks, j.Local, j.Verified, eta)
}

func (p *jobProgress) finish(j *client.Job, err error) {
	if !p.tty {
		return
	}
	p.draw(j)
	if err != nil {
		fmt.Fprintln(os.Stderr, " failed")
	} else {
		fmt.Fprintf(os.Stderr, " done in %.1fs\n", j.Seconds)
	}
}
