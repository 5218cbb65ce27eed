package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/murmur-cloud/murmur/backup"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store"
)

// backupBenchResult is what bench backup measures. Times are seconds;
// each ratio is restic's time over Murmur's (above 1: Murmur is faster).
type backupBenchResult struct {
	Tree      string `json:"tree"`
	Files     uint64 `json:"files"`
	TreeBytes uint64 `json:"tree_bytes"`
	Nodes     int    `json:"nodes"`
	Code      string `json:"code"`

	FirstS    float64 `json:"first_s"`
	NoChangeS float64 `json:"nochange_s"`
	ChangedS  float64 `json:"changed_s"`
	RestoreS  float64 `json:"restore_s"`
	// StoredBytes is the data shards stored for the set (sealed,
	// compressed chunks packed into shards: before erasure coding).
	StoredBytes uint64 `json:"stored_bytes"`
	PeakRSS     int64  `json:"peak_rss_bytes"` // the whole process: the cloud's nodes too
	Identical   *bool  `json:"restore_identical,omitempty"`

	Restic          string  `json:"restic"` // its version, or why it did not run
	ResticFirstS    float64 `json:"restic_first_s,omitempty"`
	ResticNoChangeS float64 `json:"restic_nochange_s,omitempty"`
	ResticChangedS  float64 `json:"restic_changed_s,omitempty"`
	ResticRestoreS  float64 `json:"restic_restore_s,omitempty"`
	ResticRepoBytes uint64  `json:"restic_repo_bytes,omitempty"`
	ResticPeakRSS   int64   `json:"restic_peak_rss_bytes,omitempty"`

	FirstRatio    float64 `json:"first_ratio,omitempty"`
	NoChangeRatio float64 `json:"nochange_ratio,omitempty"`
	ChangedRatio  float64 `json:"changed_ratio,omitempty"`
	RestoreRatio  float64 `json:"restore_ratio,omitempty"`
	StoredRatio   float64 `json:"stored_ratio,omitempty"` // stored_bytes / restic_repo_bytes
}

// dataBytes counts the data shards stored through a cloud.
type dataBytes struct {
	drive.Cloud
	n atomic.Int64
}

func (c *dataBytes) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	for _, s := range shards[:d.K] {
		c.n.Add(int64(len(s)))
	}
	return c.Cloud.PutStripe(ctx, d, shards)
}

func benchBackupCommand() *cli.Command {
	var (
		tree, dir string
		nodes     int
		asJSON    bool
		settle    time.Duration
		useRestic bool
		profile   string
		rprofile  string
	)
	return &cli.Command{
		Name:    "backup",
		Summary: "back up a tree through a local cloud (first, unchanged, 1% of files changed, restore), beside restic over the same tree",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&tree, "tree", runtime.GOROOT(), "the tree to back up (copied first, since the bench changes files)")
			fs.StringVar(&dir, "dir", "", "where to work (default: a temporary folder, removed after)")
			fs.IntVar(&nodes, "nodes", 6, "nodes in the local cloud")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.DurationVar(&settle, "settle", 2*time.Minute, "the longest wait for gossip to vet the new cloud's members, so backups use a settled cloud's code (0: at once)")
			fs.BoolVar(&useRestic, "restic", true, "measure restic too, if it is on PATH")
			fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of Murmur's first backup (the backup and the cloud's nodes: one process) to this file")
			fs.StringVar(&rprofile, "restore-cpuprofile", "", "write a CPU profile of Murmur's restore to this file")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, out io.Writer) error {
			if fl.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fl.Arg(0))
			}
			if dir == "" {
				tmp, err := os.MkdirTemp("", "murmur-bench-backup-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				dir = tmp
			}
			progress := io.Writer(os.Stderr)
			if asJSON {
				progress = io.Discard
			}
			res, err := runBackupBench(ctx, tree, dir, nodes, settle, useRestic, [2]string{profile, rprofile}, progress)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			printBackupBench(out, res)
			return nil
		},
	}
}

func runBackupBench(ctx context.Context, tree, dir string, nodes int, settle time.Duration, useRestic bool, profiles [2]string, progress io.Writer) (*backupBenchResult, error) {
	src := filepath.Join(dir, "tree")
	fmt.Fprintf(progress, "copying %s to %s\n", tree, src)
	if out, err := exec.CommandContext(ctx, "cp", "-a", tree, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("copy the tree: %v: %s", err, out)
	}
	res := &backupBenchResult{Tree: tree, Nodes: nodes}
	files := regularFiles(src, &res.TreeBytes)
	res.Files = uint64(len(files))

	fmt.Fprintf(progress, "starting a cloud of %d nodes\n", nodes)
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: filepath.Join(dir, "cloud"), Nodes: nodes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if err := settleCode(ctx, l.Nodes[0], settle, progress); err != nil {
		return nil, err
	}
	dc, err := cloudOf(l.Nodes[0])
	if err != nil {
		return nil, err
	}
	cloud := &dataBytes{Cloud: dc}
	k, m, err := nodeCode(l.Nodes[0], placement.DefaultTarget)(ctx)
	if err != nil {
		return nil, err
	}
	res.Code = fmt.Sprintf("k=%d m=%d", k, m)
	keys, err := backup.Init(ctx, cloud, []byte("bench"), crypt.TestKDF())
	if err != nil {
		return nil, err
	}
	opt := backup.Options{Paths: []string{src}, Host: "bench", CacheDir: filepath.Join(dir, "cache"), K: k, M: m}
	murmur := func(what string, dst *float64) (*backup.Result, error) {
		fmt.Fprintf(progress, "murmur: %s backup\n", what)
		start := time.Now()
		r, err := backup.Run(ctx, cloud, keys, opt)
		*dst = time.Since(start).Seconds()
		return r, err
	}
	restic := newResticBench(ctx, filepath.Join(dir, "restic"), useRestic, progress)
	res.Restic = restic.version
	stop, err := startProfile(profiles[0])
	if err != nil {
		return nil, err
	}
	_, err = murmur("first", &res.FirstS)
	stop()
	if err != nil {
		return nil, err
	}
	if err := restic.backup(src, &res.ResticFirstS); err != nil {
		return nil, err
	}
	if _, err := murmur("unchanged", &res.NoChangeS); err != nil {
		return nil, err
	}
	if err := restic.backup(src, &res.ResticNoChangeS); err != nil {
		return nil, err
	}
	// A line appended to 1% of the files.
	for i := 0; i < len(files); i += 100 {
		f, err := os.OpenFile(files[i], os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		_, err = f.WriteString("a line appended by murmur bench backup\n")
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	last, err := murmur("changed", &res.ChangedS)
	if err != nil {
		return nil, err
	}
	if err := restic.backup(src, &res.ResticChangedS); err != nil {
		return nil, err
	}
	res.StoredBytes = uint64(cloud.n.Load())

	fmt.Fprintf(progress, "murmur: restore\n")
	target := filepath.Join(dir, "restored")
	if err := os.Mkdir(target, 0o700); err != nil {
		return nil, err
	}
	if stop, err = startProfile(profiles[1]); err != nil {
		return nil, err
	}
	start := time.Now()
	_, err = backup.Restore(ctx, cloud, keys, last.Snapshot, backup.RestoreOptions{Target: target})
	res.RestoreS = time.Since(start).Seconds()
	stop()
	if err != nil {
		return nil, err
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		res.PeakRSS = ru.Maxrss << 10
	}
	if same, ok := rsyncSame(ctx, src, filepath.Join(target, src)); ok {
		res.Identical = &same
	}
	if err := restic.restore(filepath.Join(dir, "restic-restored"), &res.ResticRestoreS); err != nil {
		return nil, err
	}
	if restic.ok {
		res.ResticRepoBytes = treeBytes(restic.repo)
		res.ResticPeakRSS = restic.peak
		ratio := func(r, m float64) float64 {
			if m == 0 {
				return 0
			}
			return r / m
		}
		res.FirstRatio = ratio(res.ResticFirstS, res.FirstS)
		res.NoChangeRatio = ratio(res.ResticNoChangeS, res.NoChangeS)
		res.ChangedRatio = ratio(res.ResticChangedS, res.ChangedS)
		res.RestoreRatio = ratio(res.ResticRestoreS, res.RestoreS)
		res.StoredRatio = ratio(float64(res.StoredBytes), float64(res.ResticRepoBytes))
	}
	return res, nil
}

// startProfile starts a CPU profile into name ("": none) and returns
// what stops it.
func startProfile(name string) (func(), error) {
	if name == "" {
		return func() {}, nil
	}
	f, err := os.Create(name)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// regularFiles lists the regular files under dir, sorted, adding their
// sizes to *total.
func regularFiles(dir string, total *uint64) []string {
	var files []string
	filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
			if info, err := d.Info(); err == nil {
				*total += uint64(info.Size())
			}
		}
		return nil
	})
	sort.Strings(files)
	return files
}

func treeBytes(dir string) uint64 {
	var n uint64
	regularFiles(dir, &n)
	return n
}

// rsyncSame reports whether rsync finds dst the same as src (contents by
// checksum and metadata); ok is false when rsync is not there.
func rsyncSame(ctx context.Context, src, dst string) (same, ok bool) {
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		return false, false
	}
	out, err := exec.CommandContext(ctx, rsync, "-n", "-a", "-c", "-X", "-H", "-i", "--delete", src+"/", dst+"/").Output()
	return err == nil && len(out) == 0, true
}

// resticBench runs restic over the same tree, with a local repository on
// the same disk, when it is installed.
type resticBench struct {
	ctx      context.Context
	repo     string
	ok       bool
	version  string
	peak     int64
	progress io.Writer
}

func newResticBench(ctx context.Context, repo string, use bool, progress io.Writer) *resticBench {
	r := &resticBench{ctx: ctx, repo: repo, progress: progress}
	if !use {
		r.version = "not run (--restic=false)"
		return r
	}
	bin, err := exec.LookPath("restic")
	if err != nil {
		r.version = "not installed: no baseline (apt-get install restic)"
		return r
	}
	out, err := exec.CommandContext(ctx, bin, "version").Output()
	if err != nil {
		r.version = "restic version failed: " + err.Error()
		return r
	}
	if err := r.run("init"); err != nil {
		r.version = "restic init failed: " + err.Error()
		return r
	}
	r.ok, r.version = true, string(trimNewline(out))
	return r
}

func trimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (r *resticBench) run(args ...string) error {
	cmd := exec.CommandContext(r.ctx, "restic", append([]string{"--repo", r.repo, "--quiet"}, args...)...)
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD=bench", "RESTIC_CACHE_DIR="+r.repo+"-cache")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("restic %s: %w", args[0], err)
	}
	// restic's peak RSS: its VmHWM, read until it exits (the rusage of a
	// child started from this process counts this process's pages too).
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
	for {
		if hwm := vmHWM(status); hwm > r.peak {
			r.peak = hwm
		}
		select {
		case err := <-exited:
			if err != nil {
				return fmt.Errorf("restic %s: %v: %s", args[0], err, out.String())
			}
			return nil
		case <-tick.C:
		}
	}
}

// vmHWM returns a process's peak resident set (VmHWM in its
// /proc/PID/status), 0 if it cannot be read.
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb << 10
		}
	}
	return 0
}

func (r *resticBench) backup(src string, dst *float64) error {
	if !r.ok {
		return nil
	}
	fmt.Fprintf(r.progress, "restic: backup\n")
	start := time.Now()
	err := r.run("backup", src)
	*dst = time.Since(start).Seconds()
	return err
}

func (r *resticBench) restore(target string, dst *float64) error {
	if !r.ok {
		return nil
	}
	fmt.Fprintf(r.progress, "restic: restore\n")
	start := time.Now()
	err := r.run("restore", "latest", "--target", target)
	*dst = time.Since(start).Seconds()
	return err
}

func printBackupBench(out io.Writer, r *backupBenchResult) {
	fmt.Fprintf(out, "backup bench: %s (%d files, %s) through %d nodes on loopback, %s\n", r.Tree, r.Files, cli.HumanBytes(int64(r.TreeBytes)), r.Nodes, r.Code)
	fmt.Fprintf(out, "  restic: %s\n", r.Restic)
	row := func(name string, m, rs, ratio float64) {
		if rs == 0 {
			fmt.Fprintf(out, "  %-10s murmur %7.2f s\n", name, m)
			return
		}
		fmt.Fprintf(out, "  %-10s murmur %7.2f s   restic %7.2f s   restic/murmur %5.2f\n", name, m, rs, ratio)
	}
	row("first", r.FirstS, r.ResticFirstS, r.FirstRatio)
	row("unchanged", r.NoChangeS, r.ResticNoChangeS, r.NoChangeRatio)
	row("1% changed", r.ChangedS, r.ResticChangedS, r.ChangedRatio)
	row("restore", r.RestoreS, r.ResticRestoreS, r.RestoreRatio)
	fmt.Fprintf(out, "  stored     murmur %s before erasure coding", cli.HumanBytes(int64(r.StoredBytes)))
	if r.ResticRepoBytes > 0 {
		fmt.Fprintf(out, "   restic repository %s   ratio %.2f", cli.HumanBytes(int64(r.ResticRepoBytes)), r.StoredRatio)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "  peak RSS   murmur %s (the whole process, nodes included)", cli.HumanBytes(r.PeakRSS))
	if r.ResticPeakRSS > 0 {
		fmt.Fprintf(out, "   restic %s", cli.HumanBytes(r.ResticPeakRSS))
	}
	fmt.Fprintln(out)
	if r.Identical != nil {
		fmt.Fprintf(out, "  restored tree identical to rsync: %v\n", *r.Identical)
	}
}
