package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/murmur-cloud/murmur/cmd/murmur/internal/cli"
)

// side is one of the places bench mount measures: the plain directory, the
// mount, gocryptfs.
type side struct {
	name string
	dir  string
	s    *benchSide
	// cold empties the caches before the cold reads; nil: no cold read.
	cold func() error
	// inCloud, on the mount, returns once everything written is in the
	// cloud; the writes are then timed until it returns, too.
	inCloud func(ctx context.Context) error
	// durable: the writes are timed until they are synced, too (a syncfs
	// after the creates and the untar; the big file is fsynced anyway).
	durable bool
	// afterWrites adds up, on the mount, the time from the end of the
	// writes until they are in the cloud.
	afterWrites *time.Duration
	// code, on the mount, is the erasure code of its last commit.
	code func() string
}

// workload is the work of each part, the same on every side.
type workload struct {
	size     int64
	files    int
	tree     []byte
	progress io.Writer
}

func (w *workload) run(ctx context.Context, sd *side, part string) error {
	var err error
	s := sd.s
	// done times what was written from start until it is kept: on the
	// mount, in the cloud; on the plain directory, synced.
	done := func(start time.Time, cloud, synced *float64) error {
		end := time.Now()
		switch {
		case sd.inCloud != nil:
			if err := sd.inCloud(ctx); err != nil {
				return fmt.Errorf("%s: wait until in the cloud: %w", sd.name, err)
			}
			*sd.afterWrites += time.Since(end)
			*cloud = time.Since(start).Seconds()
		case sd.durable && synced != nil:
			if err := syncDir(sd.dir); err != nil {
				return fmt.Errorf("%s: sync: %w", sd.name, err)
			}
			*synced = time.Since(start).Seconds()
		}
		return nil
	}
	switch part {
	case "seq":
		fmt.Fprintf(w.progress, "%s: sequential write and read of %s\n", sd.name, cli.FormatSize(w.size))
		big := filepath.Join(sd.dir, "big")
		start := time.Now()
		if err := writeBig(ctx, big, w.size); err != nil {
			return fmt.Errorf("%s: write: %w", sd.name, err)
		}
		s.SeqWriteSecs = time.Since(start).Seconds()
		s.SeqWriteMBps = float64(w.size) / 1e6 / s.SeqWriteSecs
		if err := done(start, &s.SeqWriteCloudSecs, nil); err != nil {
			return err
		}
		if sd.code != nil {
			s.SeqCode = sd.code()
		}
		secs, err := timed(func() error { return readAll(big) })
		if err != nil {
			return fmt.Errorf("%s: read: %w", sd.name, err)
		}
		s.SeqReadMBps = float64(w.size) / 1e6 / secs
		if sd.cold == nil {
			return nil
		}
		if err := sd.cold(); err != nil {
			return fmt.Errorf("%s: empty the caches: %w", sd.name, err)
		}
		if secs, err = timed(func() error { return readAll(big) }); err != nil {
			return fmt.Errorf("%s: cold read: %w", sd.name, err)
		}
		s.ColdReadMBps = float64(w.size) / 1e6 / secs
	case "small":
		fmt.Fprintf(w.progress, "%s: %d creates and stats\n", sd.name, w.files)
		small := filepath.Join(sd.dir, "small")
		start := time.Now()
		if err := createFiles(ctx, small, w.files); err != nil {
			return fmt.Errorf("%s: create: %w", sd.name, err)
		}
		s.CreatesPerS = float64(w.files) / time.Since(start).Seconds()
		if err := done(start, &s.CreateCloudSecs, &s.CreateSyncSecs); err != nil {
			return err
		}
		secs, err := timed(func() error { return statFiles(small, w.files) })
		if err != nil {
			return fmt.Errorf("%s: stat: %w", sd.name, err)
		}
		s.StatsPerS = float64(w.files) / secs
	case "tree":
		fmt.Fprintf(w.progress, "%s: untar and read back of Go's src\n", sd.name)
		src := filepath.Join(sd.dir, "src")
		start := time.Now()
		if err := untar(ctx, w.tree, src); err != nil {
			return fmt.Errorf("%s: untar: %w", sd.name, err)
		}
		s.UntarSeconds = time.Since(start).Seconds()
		if err := done(start, &s.UntarCloudSecs, &s.UntarSyncSecs); err != nil {
			return err
		}
		if s.ReadTreeSecs, err = timed(func() error { return readTree(src) }); err != nil {
			return fmt.Errorf("%s: read back: %w", sd.name, err)
		}
		if sd.durable && sd.cold != nil {
			// The plain directory's cold read, for the second device's.
			if err := dropCaches(src); err != nil {
				return err
			}
			if s.ColdTreeSecs, err = timed(func() error { return readTree(src) }); err != nil {
				return fmt.Errorf("%s: cold read back: %w", sd.name, err)
			}
		}
	}
	return nil
}

// settle writes back what the disk holds dirty and lets it rest, so one
// measurement does not pay for the last one's writes.
func settle(rest time.Duration) {
	unix.Sync()
	time.Sleep(rest)
}

// syncDir syncs the filesystem holding dir (syncfs).
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

func timed(fn func() error) (float64, error) {
	start := time.Now()
	err := fn()
	return time.Since(start).Seconds(), err
}

// writeBig writes size bytes in 1 MiB writes, then fsyncs.
func writeBig(ctx context.Context, path string, size int64) error {
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
		if err := ctx.Err(); err != nil {
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
// (posix_fadvise DONTNEED, file by file, rather than
// /proc/sys/vm/drop_caches: that is not writable in every container, and
// would empty the caches of everything else the machine runs).
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

func createFiles(ctx context.Context, dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data := bytes.Repeat([]byte("murmur!\n"), 512)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
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

// goSourceTar returns a tarball of Go's own src, in memory: its first
// limit regular files in walk order (0: all of them) and the directories
// and symlinks met on the way.
func goSourceTar(limit int) ([]byte, int, int64, error) {
	root := filepath.Join(runtime.GOROOT(), "src")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files, total := 0, int64(0)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if limit > 0 && files >= limit {
			return fs.SkipAll
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
func untar(ctx context.Context, tarball []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
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
