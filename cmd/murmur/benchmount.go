package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/cmd/murmur/clientcmd"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// mountBench is what `murmur bench mount` measures, on the mount, on a
// plain directory of the same disk, on a second device reading what the
// mount put in the cloud, and on a gocryptfs mount of the same disk when
// gocryptfs is installed. Speeds are MB/s or operations per second;
// ratios are the mount's over the plain directory's (or gocryptfs's), so
// above 1 is the mount doing better.
type mountBench struct {
	Bytes     int64 `json:"bytes"`
	Files     int   `json:"files"`
	TreeFiles int   `json:"tree_files"`
	TreeBytes int64 `json:"tree_bytes"`

	Plain  benchSide `json:"plain"`
	Mount  benchSide `json:"mount"`
	Second benchSide `json:"second_device"`
	// Gocryptfs is measured when gocryptfs is on PATH; GocryptfsNote
	// says why it was not, if it was not.
	Gocryptfs     *benchSide `json:"gocryptfs,omitempty"`
	GocryptfsNote string     `json:"gocryptfs_note,omitempty"`

	SeqWriteRatio float64 `json:"seq_write_ratio"`
	SeqReadRatio  float64 `json:"seq_read_ratio"`
	ColdReadRatio float64 `json:"cold_read_ratio"`
	CreateRatio   float64 `json:"create_ratio"`
	StatRatio     float64 `json:"stat_ratio"`
	UntarRatio    float64 `json:"untar_ratio"` // extract and read back
	UntarOnly     float64 `json:"untar_only_ratio"`
	ReadTreeRatio float64 `json:"read_tree_ratio"`

	// Until in the cloud: the plain directory's time to write and sync
	// over the mount's time from the first write until the commit
	// holding the data has published its root.
	SeqWriteCloudRatio float64 `json:"seq_write_cloud_ratio"`
	CreateCloudRatio   float64 `json:"create_cloud_ratio"`
	UntarCloudRatio    float64 `json:"untar_cloud_ratio"`
	// A second device (a read-only mount with an empty state directory)
	// reading the big file and the tree: the plain directory's cold read
	// time over the second device's.
	SecondDeviceReadRatio float64 `json:"second_device_read_ratio"`
	SecondDeviceTreeRatio float64 `json:"second_device_tree_ratio"`
	// gocryptfs's time over the mount's, for the same work.
	VsGocryptfsWrite  float64 `json:"vs_gocryptfs_write,omitempty"`
	VsGocryptfsRead   float64 `json:"vs_gocryptfs_read,omitempty"` // warm
	VsGocryptfsCreate float64 `json:"vs_gocryptfs_create,omitempty"`
	VsGocryptfsStat   float64 `json:"vs_gocryptfs_stat,omitempty"`
	VsGocryptfsTree   float64 `json:"vs_gocryptfs_tree,omitempty"` // untar and read back

	CommitSeconds float64 `json:"commit_seconds"` // the mount: from the end of the writes until in the cloud, all parts
}

type benchSide struct {
	SeqWriteMBps float64 `json:"seq_write_mbps,omitempty"`
	SeqReadMBps  float64 `json:"seq_read_mbps,omitempty"`
	ColdReadMBps float64 `json:"cold_read_mbps,omitempty"`
	CreatesPerS  float64 `json:"creates_per_s,omitempty"`
	StatsPerS    float64 `json:"stats_per_s,omitempty"`
	UntarSeconds float64 `json:"untar_seconds,omitempty"`
	ReadTreeSecs float64 `json:"read_tree_seconds,omitempty"`

	SeqWriteSecs float64 `json:"seq_write_seconds,omitempty"` // write and fsync
	// The plain directory: creates, and the untar, with a syncfs after.
	CreateSyncSecs float64 `json:"create_sync_seconds,omitempty"`
	UntarSyncSecs  float64 `json:"untar_sync_seconds,omitempty"`
	// The mount: from the first write until the commit holding the data
	// has published its root.
	SeqWriteCloudSecs float64 `json:"seq_write_cloud_seconds,omitempty"`
	// SeqCode is the erasure code of the commit that put the big file in
	// the cloud: the node chooses it from what gossip knows of the
	// members, k=2 m=3 (2.5 bytes stored per byte) in a cloud's first
	// minute, k=4 m=2 (1.5, bench cluster's) once they are vetted.
	SeqCode         string  `json:"seq_code,omitempty"`
	CreateCloudSecs float64 `json:"create_cloud_seconds,omitempty"`
	UntarCloudSecs  float64 `json:"untar_cloud_seconds,omitempty"`
	// The plain directory and the second device: the tree read with
	// empty caches; and the second device's open (loading the tree of
	// the drive's latest commit from the cloud), before each read.
	ColdTreeSecs float64 `json:"cold_tree_seconds,omitempty"`
	OpenSecs     float64 `json:"open_seconds,omitempty"`
}

// mountBenchConfig is what a run measures.
type mountBenchConfig struct {
	Base      string // holds the cloud, the mounts and the plain directory
	Size      int64  // bytes of the sequential write
	Files     int    // 4 KiB files created and statted
	TreeFiles int    // files of Go's src in the tree; 0: all
	Nodes     int
	Parts     []string      // seq, small, tree
	Gocryptfs bool          // measure gocryptfs too, if it is on PATH
	Rest      time.Duration // between measurements, after a sync
	Workers   int           // the drive's pipeline workers; 0: its default
	Settle    time.Duration // the longest wait for the cloud's code to settle; 0: none
	Progress  io.Writer
}

func (c mountBenchConfig) want(p string) bool { return slices.Contains(c.Parts, p) }

func benchMountCommand() *cli.Command {
	var (
		size      = cli.Size(1 << 30)
		files     int
		treeFiles int
		asJSON    bool
		dir       string
		nodes     int
		parts     string
		gocrypt   bool
		rest      time.Duration
		profile   string
		workers   int
		settle    time.Duration
	)
	return &cli.Command{
		Name:    "mount",
		Summary: "the drive mounted over a local cloud against a plain directory of the same disk (and gocryptfs, if installed)",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&size, "size", "bytes of the sequential write and read")
			fs.IntVar(&files, "files", 10000, "4 KiB files to create and stat")
			fs.IntVar(&treeFiles, "tree-files", 0, "files of Go's src in the tree to extract and read (0: all)")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.StringVar(&dir, "dir", "", "where to put the cloud, the mounts and the plain directory (default: a temporary directory)")
			fs.IntVar(&nodes, "nodes", 6, "nodes in the local cloud")
			fs.StringVar(&parts, "parts", "seq,small,tree", "which measurements: seq (write, warm and cold read), small (creates, stats), tree (untar and read back)")
			fs.BoolVar(&gocrypt, "gocryptfs", true, "measure a gocryptfs mount of the same disk too, if gocryptfs is on PATH")
			fs.DurationVar(&rest, "rest", 2*time.Second, "rest between measurements, after a sync")
			fs.IntVar(&workers, "workers", 0, "the drive's pipeline workers: stripes sealed and stored at once (0: the drive's default)")
			fs.DurationVar(&settle, "settle", 2*time.Minute, "the longest wait for gossip to vet a new cloud's members, so the drive writes with the code a settled cloud uses (0: measure at once)")
			fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of the whole run (the cloud, the mount and the second device: one process) to this file")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, out io.Writer) error {
			if fl.NArg() > 0 {
				return fmt.Errorf("%w: unexpected argument %q", cli.ErrUsage, fl.Arg(0))
			}
			if err := clientcmd.CheckFUSE(); err != nil {
				return err
			}
			if os.Getenv("GOMEMLIMIT") == "" {
				debug.SetMemoryLimit(1 << 30)
			}
			base := dir
			if base == "" {
				var err error
				if base, err = os.MkdirTemp("", "murmur-bench-mount-"); err != nil {
					return err
				}
				defer os.RemoveAll(base)
			}
			cfg := mountBenchConfig{Base: base, Size: int64(size), Files: files, TreeFiles: treeFiles, Nodes: nodes,
				Parts: splitList(parts), Gocryptfs: gocrypt, Rest: rest, Workers: workers, Settle: settle, Progress: out}
			if asJSON {
				cfg.Progress = os.Stderr
			}
			for _, p := range cfg.Parts {
				if !slices.Contains([]string{"seq", "small", "tree"}, p) {
					return fmt.Errorf("%w: --parts: no part %q (seq, small, tree)", cli.ErrUsage, p)
				}
			}
			if profile != "" {
				f, err := os.Create(profile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			res, err := runMountBench(ctx, cfg)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(res)
			}
			printMountBench(out, res)
			return nil
		},
	}
}

func printMountBench(out io.Writer, r *mountBench) {
	fmt.Fprintf(out, "\nbench mount: %s sequential, %d files of 4 KiB, Go's src (%d files, %s)\n", cli.FormatSize(r.Bytes), r.Files, r.TreeFiles, cli.FormatSize(r.TreeBytes))
	row := func(name, unit string, plain, mnt, ratio float64) {
		fmt.Fprintf(out, "  %-30s %10.2f %-5s %10.2f %-5s %6.2fx\n", name, plain, unit, mnt, unit, ratio)
	}
	fmt.Fprintf(out, "  %-30s %16s %16s %7s\n", "", "plain", "mount", "ratio")
	row("write+fsync", "MB/s", r.Plain.SeqWriteMBps, r.Mount.SeqWriteMBps, r.SeqWriteRatio)
	row("read, warm", "MB/s", r.Plain.SeqReadMBps, r.Mount.SeqReadMBps, r.SeqReadRatio)
	row("read, cold", "MB/s", r.Plain.ColdReadMBps, r.Mount.ColdReadMBps, r.ColdReadRatio)
	row("create 4 KiB files", "/s", r.Plain.CreatesPerS, r.Mount.CreatesPerS, r.CreateRatio)
	row("stat", "/s", r.Plain.StatsPerS, r.Mount.StatsPerS, r.StatRatio)
	row("untar Go's src", "s", r.Plain.UntarSeconds, r.Mount.UntarSeconds, r.UntarOnly)
	row("read it back", "s", r.Plain.ReadTreeSecs, r.Mount.ReadTreeSecs, r.ReadTreeRatio)
	row("untar + read back", "s", r.Plain.UntarSeconds+r.Plain.ReadTreeSecs, r.Mount.UntarSeconds+r.Mount.ReadTreeSecs, r.UntarRatio)
	fmt.Fprintf(out, "  until in the cloud (plain: written and synced)\n")
	row("write 1 file", "s", r.Plain.SeqWriteSecs, r.Mount.SeqWriteCloudSecs, r.SeqWriteCloudRatio)
	if r.Mount.SeqCode != "" {
		fmt.Fprintf(out, "  %-30s %s\n", "  its commit's code", r.Mount.SeqCode)
	}
	row("create files", "s", r.Plain.CreateSyncSecs, r.Mount.CreateCloudSecs, r.CreateCloudRatio)
	row("untar", "s", r.Plain.UntarSyncSecs, r.Mount.UntarCloudSecs, r.UntarCloudRatio)
	fmt.Fprintf(out, "  a second device, cold (plain: cold read)   %16s\n", "second device")
	row("read the big file", "MB/s", r.Plain.ColdReadMBps, r.Second.ColdReadMBps, r.SecondDeviceReadRatio)
	row("read the tree", "s", r.Plain.ColdTreeSecs, r.Second.ColdTreeSecs, r.SecondDeviceTreeRatio)
	if g := r.Gocryptfs; g != nil {
		fmt.Fprintf(out, "  against gocryptfs %29s %16s\n", "gocryptfs", "mount")
		row("write+fsync", "MB/s", g.SeqWriteMBps, r.Mount.SeqWriteMBps, r.VsGocryptfsWrite)
		row("read, warm", "MB/s", g.SeqReadMBps, r.Mount.SeqReadMBps, r.VsGocryptfsRead)
		row("create 4 KiB files", "/s", g.CreatesPerS, r.Mount.CreatesPerS, r.VsGocryptfsCreate)
		row("stat", "/s", g.StatsPerS, r.Mount.StatsPerS, r.VsGocryptfsStat)
		row("untar + read back", "s", g.UntarSeconds+g.ReadTreeSecs, r.Mount.UntarSeconds+r.Mount.ReadTreeSecs, r.VsGocryptfsTree)
	} else if r.GocryptfsNote != "" {
		fmt.Fprintf(out, "  gocryptfs: %s\n", r.GocryptfsNote)
	}
	fmt.Fprintf(out, "  the mount's uploads after the writes: %.1f s in all\n", r.CommitSeconds)
}

// runMountBench runs the parts asked for, part by part: the plain
// directory, then the mount (and the second device reading what it put
// in the cloud), then gocryptfs, each after the disk has written back
// what came before, so the sides of a ratio meet the disk in the same
// state.
func runMountBench(ctx context.Context, cfg mountBenchConfig) (*mountBench, error) {
	tree, treeFiles, treeBytes, err := goSourceTar(cfg.TreeFiles)
	if err != nil {
		return nil, err
	}
	r := &mountBench{Bytes: cfg.Size, Files: cfg.Files, TreeFiles: treeFiles, TreeBytes: treeBytes}
	w := &workload{size: cfg.Size, files: cfg.Files, tree: tree, progress: cfg.Progress}

	plain := filepath.Join(cfg.Base, "plain")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		return nil, err
	}
	bd, err := startBenchDrive(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer bd.close()
	sides := []*side{
		{name: "plain", dir: plain, s: &r.Plain, durable: true, cold: func() error { return dropCaches(plain) }},
		bd.side(&r.Mount),
	}
	var gc *gocryptfsMount
	switch {
	case !cfg.Gocryptfs:
		r.GocryptfsNote = "not measured (--gocryptfs=false)"
	default:
		gc, err = startGocryptfs(cfg.Base)
		if err != nil {
			r.GocryptfsNote = err.Error()
			fmt.Fprintf(cfg.Progress, "gocryptfs: %v\n", err)
			break
		}
		defer gc.close()
		r.Gocryptfs = &benchSide{}
		sides = append(sides, &side{name: "gocryptfs", dir: gc.dir, s: r.Gocryptfs})
	}
	for _, part := range []string{"seq", "small", "tree"} {
		if !cfg.want(part) {
			continue
		}
		for _, sd := range sides {
			settle(cfg.Rest)
			if err := ctx.Err(); err != nil { // Ctrl-C: unmount and clean up
				return nil, err
			}
			if err := w.run(ctx, sd, part); err != nil {
				return nil, err
			}
			if sd.s == &r.Mount && part != "small" {
				// The mount's data is in the cloud: a second device reads it.
				settle(cfg.Rest)
				if err := bd.secondDevice(ctx, w, &r.Second, part); err != nil {
					return nil, err
				}
			}
			if part == "seq" {
				if err := os.Remove(filepath.Join(sd.dir, "big")); err != nil {
					return nil, err
				}
				if sd.inCloud != nil { // not to upload during the next measurement
					if err := sd.inCloud(ctx); err != nil {
						return nil, err
					}
				}
			}
		}
	}
	r.CommitSeconds = bd.afterWrites.Seconds()
	r.ratios()
	return r, nil
}

// ratio is a/b, or 0 when either is unknown (a part not run).
func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}

func (r *mountBench) ratios() {
	p, m, s := &r.Plain, &r.Mount, &r.Second
	r.SeqWriteRatio = ratio(m.SeqWriteMBps, p.SeqWriteMBps)
	r.SeqReadRatio = ratio(m.SeqReadMBps, p.SeqReadMBps)
	r.ColdReadRatio = ratio(m.ColdReadMBps, p.ColdReadMBps)
	r.CreateRatio = ratio(m.CreatesPerS, p.CreatesPerS)
	r.StatRatio = ratio(m.StatsPerS, p.StatsPerS)
	// As the drive issue defines it: extracting and then reading back.
	r.UntarRatio = ratio(p.UntarSeconds+p.ReadTreeSecs, m.UntarSeconds+m.ReadTreeSecs)
	r.ReadTreeRatio = ratio(p.ReadTreeSecs, m.ReadTreeSecs)
	r.UntarOnly = ratio(p.UntarSeconds, m.UntarSeconds)

	r.SeqWriteCloudRatio = ratio(p.SeqWriteSecs, m.SeqWriteCloudSecs)
	r.CreateCloudRatio = ratio(p.CreateSyncSecs, m.CreateCloudSecs)
	r.UntarCloudRatio = ratio(p.UntarSyncSecs, m.UntarCloudSecs)
	r.SecondDeviceReadRatio = ratio(s.ColdReadMBps, p.ColdReadMBps)
	r.SecondDeviceTreeRatio = ratio(p.ColdTreeSecs, s.ColdTreeSecs)
	if g := r.Gocryptfs; g != nil {
		r.VsGocryptfsWrite = ratio(m.SeqWriteMBps, g.SeqWriteMBps)
		r.VsGocryptfsRead = ratio(m.SeqReadMBps, g.SeqReadMBps)
		r.VsGocryptfsCreate = ratio(m.CreatesPerS, g.CreatesPerS)
		r.VsGocryptfsStat = ratio(m.StatsPerS, g.StatsPerS)
		r.VsGocryptfsTree = ratio(g.UntarSeconds+g.ReadTreeSecs, m.UntarSeconds+m.ReadTreeSecs)
	}
}
