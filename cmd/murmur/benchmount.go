package main

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/cmd/murmur/clientcmd"
	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/daemon"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/mount"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/placement"
)

// mountBench is what `murmur bench mount` measures, on the mount and on a
// plain directory of the same disk. Speeds are MB/s or operations per
// second; ratios are the mount's over the plain directory's.
type mountBench struct {
	Bytes     int64 `json:"bytes"`
	Files     int   `json:"files"`
	TreeFiles int   `json:"tree_files"`
	TreeBytes int64 `json:"tree_bytes"`

	Plain benchSide `json:"plain"`
	Mount benchSide `json:"mount"`

	SeqWriteRatio float64 `json:"seq_write_ratio"`
	SeqReadRatio  float64 `json:"seq_read_ratio"`
	ColdReadRatio float64 `json:"cold_read_ratio"`
	CreateRatio   float64 `json:"create_ratio"`
	StatRatio     float64 `json:"stat_ratio"`
	UntarRatio    float64 `json:"untar_ratio"` // extract and read back
	UntarOnly     float64 `json:"untar_only_ratio"`
	ReadTreeRatio float64 `json:"read_tree_ratio"`

	CommitSeconds float64 `json:"commit_seconds"` // the upload of everything written, after the writes
}

type benchSide struct {
	SeqWriteMBps float64 `json:"seq_write_mbps"`
	SeqReadMBps  float64 `json:"seq_read_mbps"`
	ColdReadMBps float64 `json:"cold_read_mbps"`
	CreatesPerS  float64 `json:"creates_per_s"`
	StatsPerS    float64 `json:"stats_per_s"`
	UntarSeconds float64 `json:"untar_seconds"`
	ReadTreeSecs float64 `json:"read_tree_seconds"`
}

func benchMountCommand() *cli.Command {
	var (
		size   = cli.Size(1 << 30)
		files  int
		asJSON bool
		dir    string
		nodes  int
		parts  string
	)
	return &cli.Command{
		Name:    "mount",
		Summary: "the drive mounted over a local cloud against a plain directory of the same disk",
		Flags: func(fs *flag.FlagSet) {
			fs.Var(&size, "size", "bytes of the sequential write and read")
			fs.IntVar(&files, "files", 10000, "4 KiB files to create and stat")
			fs.BoolVar(&asJSON, "json", false, "print one JSON object")
			fs.StringVar(&dir, "dir", "", "where to put the cloud, the mount and the plain directory (default: a temporary directory)")
			fs.IntVar(&nodes, "nodes", 6, "nodes in the local cloud")
			fs.StringVar(&parts, "parts", "seq,small,tree", "which measurements: seq (write, warm and cold read), small (creates, stats), tree (untar and read back)")
		},
		Run: func(ctx context.Context, fl *flag.FlagSet, out io.Writer) error {
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
			progress := io.Discard
			if asJSON {
				progress = os.Stderr
			} else {
				progress = out
			}
			res, err := runMountBench(ctx, base, int64(size), files, nodes, splitList(parts), progress)
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
		fmt.Fprintf(out, "  %-22s %10.1f %-7s %10.1f %-7s %5.2fx\n", name, plain, unit, mnt, unit, ratio)
	}
	fmt.Fprintf(out, "  %-22s %18s %18s %6s\n", "", "plain", "mount", "ratio")
	row("write+fsync", "MB/s", r.Plain.SeqWriteMBps, r.Mount.SeqWriteMBps, r.SeqWriteRatio)
	row("read, warm", "MB/s", r.Plain.SeqReadMBps, r.Mount.SeqReadMBps, r.SeqReadRatio)
	row("read, cold", "MB/s", r.Plain.ColdReadMBps, r.Mount.ColdReadMBps, r.ColdReadRatio)
	row("create 4 KiB files", "/s", r.Plain.CreatesPerS, r.Mount.CreatesPerS, r.CreateRatio)
	row("stat", "/s", r.Plain.StatsPerS, r.Mount.StatsPerS, r.StatRatio)
	row("untar Go's src", "s", r.Plain.UntarSeconds, r.Mount.UntarSeconds, r.Plain.UntarSeconds/r.Mount.UntarSeconds)
	row("read it back", "s", r.Plain.ReadTreeSecs, r.Mount.ReadTreeSecs, r.ReadTreeRatio)
	row("untar + read back", "s", r.Plain.UntarSeconds+r.Plain.ReadTreeSecs, r.Mount.UntarSeconds+r.Mount.ReadTreeSecs, r.UntarRatio)
	fmt.Fprintf(out, "  upload of it all after the writes: %.1f s\n", r.CommitSeconds)
}

func runMountBench(ctx context.Context, base string, size int64, files, nodes int, parts []string, progress io.Writer) (*mountBench, error) {
	want := func(p string) bool { return slices.Contains(parts, p) }
	plain := filepath.Join(base, "plain")
	mnt := filepath.Join(base, "mnt")
	for _, d := range []string{plain, mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	log := slog.New(slog.DiscardHandler)
	fmt.Fprintf(progress, "starting a cloud of %d nodes in %s\n", nodes, base)
	l, err := node.StartLocal(ctx, node.LocalConfig{Dir: filepath.Join(base, "cloud"), Nodes: nodes, Logger: log})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	placer, err := placement.NewReliable(placement.ReliableConfig{Seed: 1})
	if err != nil {
		return nil, err
	}
	cloud := daemon.NewDriveCloud(l.Nodes[0], l.Nodes[0].Cloud(placer))
	pass := []byte("bench")
	pub, raw, err := clientcmd.CreateDrive(ctx, cloud, pass, crypt.TestKDF())
	if err != nil {
		return nil, err
	}
	keys, err := clientcmd.UnlockKeyFile(raw, pub, pass)
	if err != nil {
		return nil, err
	}
	d, err := drive.Open(ctx, drive.Config{Keys: keys, Cloud: cloud, KeyFile: raw, StateDir: filepath.Join(base, "state"), Logger: log, Code: nodeCode(l.Nodes[0], placement.DefaultTarget)})
	if err != nil {
		return nil, err
	}
	srv, err := mount.Mount(mnt, d.Tree(), mount.Options{Logger: log, EntryTimeout: clientcmd.WriterTimeout, AttrTimeout: clientcmd.WriterTimeout, NegativeTimeout: clientcmd.WriterTimeout})
	if err != nil {
		d.Close(ctx)
		return nil, err
	}
	defer func() {
		srv.Unmount()
		d.Close(context.Background())
	}()

	tree, treeFiles, treeBytes, err := goSourceTar()
	if err != nil {
		return nil, err
	}
	r := &mountBench{Bytes: size, Files: files, TreeFiles: treeFiles, TreeBytes: treeBytes}
	sides := []struct {
		name string
		dir  string
		s    *benchSide
		cold func() error
	}{
		{"plain", plain, &r.Plain, func() error { return dropCaches(plain) }},
		{"mount", mnt, &r.Mount, func() error {
			start := time.Now()
			if err := d.Commit(ctx); err != nil {
				return err
			}
			r.CommitSeconds = time.Since(start).Seconds()
			d.DropCache()
			return errors.Join(dropCaches(mnt), dropCaches(filepath.Join(base, "cloud")), dropCaches(filepath.Join(base, "state")))
		}},
	}
	// Part by part, the plain directory then the mount, each after the
	// disk has written back what came before: the two sides of a ratio
	// meet the disk in the same state.
	for _, part := range []string{"seq", "small", "tree"} {
		if !want(part) {
			continue
		}
		for _, sd := range sides {
			settle()
			if err := benchSideRun(sd.name, sd.dir, sd.s, sd.cold, size, files, tree, func(p string) bool { return p == part }, progress); err != nil {
				return nil, err
			}
		}
	}
	ratio := func(m, p float64) float64 { return m / p }
	r.SeqWriteRatio = ratio(r.Mount.SeqWriteMBps, r.Plain.SeqWriteMBps)
	r.SeqReadRatio = ratio(r.Mount.SeqReadMBps, r.Plain.SeqReadMBps)
	r.ColdReadRatio = ratio(r.Mount.ColdReadMBps, r.Plain.ColdReadMBps)
	r.CreateRatio = ratio(r.Mount.CreatesPerS, r.Plain.CreatesPerS)
	r.StatRatio = ratio(r.Mount.StatsPerS, r.Plain.StatsPerS)
	// As the drive issue defines it: extracting and then reading back.
	r.UntarRatio = ratio(r.Plain.UntarSeconds+r.Plain.ReadTreeSecs, r.Mount.UntarSeconds+r.Mount.ReadTreeSecs)
	r.ReadTreeRatio = ratio(r.Plain.ReadTreeSecs, r.Mount.ReadTreeSecs)
	r.UntarOnly = ratio(r.Plain.UntarSeconds, r.Mount.UntarSeconds)
	return r, nil
}

// settle writes back what the disk holds dirty and lets it rest, so one
// measurement does not pay for the last one's writes.
func settle() {
	unix.Sync()
	time.Sleep(2 * time.Second)
}

func timed(fn func() error) (float64, error) {
	start := time.Now()
	err := fn()
	return time.Since(start).Seconds(), err
}

// writeBig writes size bytes in 1 MiB writes, then fsyncs.
func writeBig(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	block := pipelineBenchBlock()
	for off := int64(0); off < size; off += int64(len(block)) {
		block[0], block[1], block[2] = byte(off>>20), byte(off>>28), byte(off>>36) // no two blocks alike
		n := min(int64(len(block)), size-off)
		if _, err := f.Write(block[:n]); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func pipelineBenchBlock() []byte {
	b := make([]byte, 1<<20)
	x := uint64(0x9E3779B97F4A7C15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func readAll(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		_, err := f.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// dropCaches drops the kernel's cached pages of every file under dir
// (posix_fadvise DONTNEED, file by file: /proc/sys/vm/drop_caches is not
// writable in containers).
func dropCaches(dir string) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	})
}

func createFiles(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data := bytes.Repeat([]byte("murmur!\n"), 512)
	for i := range n {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func statFiles(dir string, n int) error {
	for i := range n {
		if _, err := os.Lstat(filepath.Join(dir, fmt.Sprintf("f%05d", i))); err != nil {
			return err
		}
	}
	return nil
}

// goSourceTar returns a tarball of Go's own src, in memory.
func goSourceTar() ([]byte, int, int64, error) {
	root := filepath.Join(runtime.GOROOT(), "src")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files, total := 0, int64(0)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tw.Write(b)
			files++
			total += int64(len(b))
		}
		return nil
	})
	if err == nil {
		err = tw.Close()
	}
	return buf.Bytes(), files, total, err
}

// untar extracts a tarball into dir, as tar x does: files, directories
// and symlinks, with their modes and times.
func untar(tarball []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)) {
			return fmt.Errorf("tar entry %q leaves %s", h.Name, dir)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, fs.FileMode(h.Mode).Perm()|0o700); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fs.FileMode(h.Mode).Perm())
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			if err := os.Chtimes(p, h.ModTime, h.ModTime); err != nil {
				return err
			}
		}
	}
}

func readTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() {
			_, err := os.ReadFile(p)
			return err
		}
		return nil
	})
}

// benchSideRun measures one side, the plain directory or the mount, in
// dir; cold empties the caches between the warm and the cold read.
func benchSideRun(name, dir string, s *benchSide, cold func() error, size int64, files int, tree []byte, want func(string) bool, progress io.Writer) error {
	var err error
	if want("seq") {
		fmt.Fprintf(progress, "%s: sequential write and read of %s\n", name, cli.FormatSize(size))
		big := filepath.Join(dir, "big")
		secs, err := timed(func() error { return writeBig(big, size) })
		if err != nil {
			return fmt.Errorf("%s: write: %w", name, err)
		}
		s.SeqWriteMBps = float64(size) / 1e6 / secs
		if secs, err = timed(func() error { return readAll(big) }); err != nil {
			return fmt.Errorf("%s: read: %w", name, err)
		}
		s.SeqReadMBps = float64(size) / 1e6 / secs
		if err := cold(); err != nil {
			return fmt.Errorf("%s: empty the caches: %w", name, err)
		}
		if secs, err = timed(func() error { return readAll(big) }); err != nil {
			return fmt.Errorf("%s: cold read: %w", name, err)
		}
		s.ColdReadMBps = float64(size) / 1e6 / secs
		os.Remove(big)
	}
	if want("small") {
		fmt.Fprintf(progress, "%s: %d creates and stats\n", name, files)
		small := filepath.Join(dir, "small")
		secs, err := timed(func() error { return createFiles(small, files) })
		if err != nil {
			return fmt.Errorf("%s: create: %w", name, err)
		}
		s.CreatesPerS = float64(files) / secs
		if secs, err = timed(func() error { return statFiles(small, files) }); err != nil {
			return fmt.Errorf("%s: stat: %w", name, err)
		}
		s.StatsPerS = float64(files) / secs
	}
	if want("tree") {
		fmt.Fprintf(progress, "%s: untar and read back of Go's src\n", name)
		src := filepath.Join(dir, "src")
		if s.UntarSeconds, err = timed(func() error { return untar(tree, src) }); err != nil {
			return fmt.Errorf("%s: untar: %w", name, err)
		}
		if s.ReadTreeSecs, err = timed(func() error { return readTree(src) }); err != nil {
			return fmt.Errorf("%s: read back: %w", name, err)
		}
	}
	return nil
}
