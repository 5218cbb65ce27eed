package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/pipeline"
)

// The scan and the tree: one goroutine walks the paths and, in scan
// order, decides for each regular file whether the parent's cache has it
// or it must be read; a pool reads and seals the small files (one chunk
// each) ahead, several at once; and the run's goroutine takes the
// entries in scan order into the tree and the Writer. Large files are
// read by the run's goroutine through Writer.Add, which seals their
// chunks in parallel itself.

// job is one scanned entry on its way to the tree.
type job struct {
	root, at   string // the snapshot path of the scan's root, and of the entry
	base, rel  string // where to open it: rel under base
	e          *fstree.Entry
	warn       error              // a scan error at at: no entry, a warning
	hit        *cacheEntry        // unchanged since the parent: its manifest is reused
	hitM       *pipeline.Manifest // hit's manifest, parsed
	done       chan struct{}
	sealed     *pipeline.Sealed // a small file, read and sealed
	readErr    error            // it could not be read: left out
	changed    bool             // it changed while it was read
	read       uint64           // the bytes read
	small, big bool             // read ahead, or by the run's goroutine
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// join returns the snapshot path of a scanned path under root.
func join(root, p string) string {
	switch {
	case p == "." || p == "":
		return root
	case root == "":
		return p
	}
	return root + "/" + p
}

// scanAhead bounds the entries between the scan and the tree, and so the
// small files read and held in memory (at most scanAhead of 512 KiB).
const scanAhead = 256

// scan walks every path, with its ancestors first, feeding jobs in scan
// order, and takes them into the tree.
func (r *run) scan(paths []string) error {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	jobs := make(chan *job, scanAhead)
	scanErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		scanErr <- r.produce(ctx, paths, jobs)
	}()
	for j := range jobs {
		if j.done != nil {
			<-j.done
		}
		if err := r.item(j); err != nil {
			cancel()
			for j := range jobs { // let the producer end
				if j.done != nil {
					<-j.done
				}
			}
			<-scanErr
			return err
		}
	}
	return <-scanErr
}

// produce walks the paths and sends a job for each entry, starting the
// reads of small files.
func (r *run) produce(ctx context.Context, paths []string, jobs chan<- *job) error {
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	send := func(j *job) error {
		select {
		case jobs <- j:
			return nil
		case <-ctx.Done():
			if j.done != nil {
				<-j.done // its read ahead ends before the Writer does
			}
			return ctx.Err()
		}
	}
	seen := map[string]bool{}
	for _, p := range paths {
		// The ancestors, from "/" down: directories of the snapshot too.
		tp := strings.TrimPrefix(p, "/")
		var anc []string
		for d := tp; d != ""; {
			d = path.Dir(d)
			if d == "." {
				d = ""
			}
			anc = append(anc, d)
			if d == "" {
				break
			}
		}
		for i := len(anc) - 1; i >= 0; i-- {
			if seen[anc[i]] {
				continue
			}
			seen[anc[i]] = true
			e, err := fstree.Stat("/", orDot(anc[i]))
			if err != nil {
				return fmt.Errorf("backup: %w", err)
			}
			if err := send(r.plan(ctx, sem, &job{root: tp, at: anc[i], base: "/", rel: orDot(anc[i]), e: e})); err != nil {
				return err
			}
		}
		opt := fstree.ScanOptions{
			OneFileSystem: r.opt.OneFileSystem,
			OnError: func(at string, err error) error {
				return send(&job{at: join(tp, at), warn: err})
			},
		}
		if r.opt.Exclude != nil {
			opt.Exclude = func(at string, isDir bool) bool { return r.opt.Exclude(filepath.Join(p, at), isDir) }
		}
		err := fstree.Scan(ctx, p, opt, func(e *fstree.Entry) error {
			return send(r.plan(ctx, sem, &job{root: tp, at: join(tp, e.Path), base: p, rel: e.Path, e: e}))
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// plan decides, in scan order, how a regular file's contents come: from
// the parent's cache, read ahead now (a small file), or read later by the
// run's goroutine.
func (r *run) plan(ctx context.Context, sem chan struct{}, j *job) *job {
	e := j.e
	if e.Attr.Kind != fs.Regular || e.Link != "" || e.Attr.Size == 0 {
		return j
	}
	if c := r.parent.lookup(j.at); c != nil && c.dev == e.Dev && c.ino == uint64(e.Attr.Ino) && c.size == e.Attr.Size &&
		c.mtime == e.Attr.Mtime && c.ctime == e.Attr.Ctime {
		if m := r.reusable(c.manifest); m != nil {
			j.hit, j.hitM = c, m
			return j
		}
	}
	if e.Attr.Size > uint64(r.w.SmallFile()) {
		j.big = true
		return j
	}
	j.small, j.done = true, make(chan struct{})
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		j.readErr = ctx.Err()
		close(j.done)
		return j
	}
	go func() {
		defer func() { <-sem; close(j.done) }()
		r.readSmall(j)
	}()
	return j
}

// readSmall reads and seals a small file: as many bytes as the scan
// found it to have (a file that grows meanwhile is read no further, and
// reported changed; one that is appended to without end cannot hold the
// backup up).
func (r *run) readSmall(j *job) {
	f, err := fstree.Open(j.base, j.rel)
	if err != nil {
		j.readErr = err
		return
	}
	b, err := io.ReadAll(io.LimitReader(f, int64(j.e.Attr.Size)))
	f.Close()
	if err != nil {
		j.readErr = err
		return
	}
	j.read = uint64(len(b))
	if after, err := fstree.Stat(j.base, j.rel); err != nil || fstree.Changed(j.e, after) {
		j.changed = true
	}
	if len(b) == 0 {
		return // emptied since the scan: an empty file
	}
	j.sealed, j.readErr = r.w.SealChunk(b)
}

// item takes one job into the tree, in scan order.
func (r *run) item(j *job) error {
	if j.warn != nil {
		r.warn("/"+j.at, j.warn)
		return nil
	}
	e := j.e
	it := &Item{Path: j.at, Node: fs.Node{Attr: e.Attr, Target: e.Target, Xattrs: e.Xattrs}}
	if e.Link != "" {
		it.Link = join(j.root, e.Link)
	}
	r.prog.Path = "/" + j.at
	switch {
	case e.Attr.Kind == fs.Directory:
		r.prog.Dirs++
	case e.Attr.Kind == fs.Regular:
		r.prog.Files++
	default:
		r.prog.Others++
	}
	if e.Attr.Kind != fs.Regular || it.Link != "" {
		_, err := r.tree.Add(it)
		r.progress()
		return r.treeErr(j.at, err)
	}
	r.prog.Bytes += e.Attr.Size
	entry := &cacheEntry{path: j.at, dev: e.Dev, ino: uint64(e.Attr.Ino), size: e.Attr.Size, mtime: e.Attr.Mtime, ctime: e.Attr.Ctime}
	if j.small && j.sealed == nil && j.readErr == nil {
		// Emptied between the scan and the read.
		it.Node.Attr.Size, entry.size = 0, 0
	}
	if e.Attr.Size == 0 || it.Node.Attr.Size == 0 {
		ino, err := r.tree.Add(it)
		if err != nil {
			return r.treeErr(j.at, err)
		}
		if j.changed {
			r.warn("/"+j.at, ErrChanged)
		}
		r.hold(entry)
		return r.tree.SetContents(ino, nil, 0)
	}
	if c := j.hit; c != nil {
		ino, err := r.tree.Add(it)
		if err != nil {
			return r.treeErr(j.at, err)
		}
		entry.manifest = c.manifest
		r.uses(j.hitM)
		r.hold(entry)
		r.progress()
		return r.tree.SetContents(ino, c.manifest, c.size)
	}
	var n int
	switch {
	case j.readErr != nil:
		r.warn("/"+j.at, j.readErr)
		return nil
	case j.small:
		var err error
		if n, err = r.w.AddSealed(j.sealed); err != nil {
			return fmt.Errorf("backup: store /%s: %w", j.at, err)
		}
	default:
		f, err := fstree.Open(j.base, j.rel)
		if err != nil {
			r.warn("/"+j.at, err)
			return nil
		}
		// As many bytes as the scan found, as for small files.
		n, err = r.w.Add(r.ctx, &readErrs{io.LimitReader(f, int64(e.Attr.Size))})
		f.Close()
		var re *readError
		switch {
		case errors.As(err, &re):
			r.warn("/"+j.at, re.err)
			return nil
		case err != nil:
			return fmt.Errorf("backup: store /%s: %w", j.at, err)
		}
		j.read = e.Attr.Size // at most; the manifest has what was read
		if after, err := fstree.Stat(j.base, j.rel); err != nil || fstree.Changed(e, after) {
			j.changed = true
		}
	}
	if j.changed {
		r.warn("/"+j.at, ErrChanged)
	}
	ino, err := r.tree.Add(it)
	if err != nil {
		return r.treeErr(j.at, err)
	}
	r.prog.Read += j.read
	r.pending = append(r.pending, pend{n: n, ino: ino, page: -1, entry: entry})
	r.held = append(r.held, entry)
	r.batchBytes += int64(e.Attr.Size)
	r.progress()
	if r.batchBytes >= batchBytes || len(r.pending) >= batchFiles {
		return r.finishBatch()
	}
	return nil
}

// treeErr turns a tree error on one entry into a warning: the entry is
// left out (a link to a file not in the snapshot, a name met twice).
func (r *run) treeErr(at string, err error) error {
	if err != nil {
		r.warn("/"+at, err)
	}
	return nil
}

// reusable returns a cached manifest, parsed, if every stripe it points at
// is still kept by the set and not condemned by a prune (or was stored by
// this backup), so that it may be used again as it is; nil if not.
func (r *run) reusable(enc []byte) *pipeline.Manifest {
	m, err := pipeline.ParseManifest(enc)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range m.Stripes {
		k := stripeKey(d)
		if r.storedKeys[k] {
			continue
		}
		if _, kept := r.view.stripes[k]; !kept {
			return nil
		}
		if _, condemned := r.pl.condemnedAt(k); condemned {
			return nil
		}
	}
	return m
}

// readError marks an error reading a file's bytes, as opposed to storing.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

type readErrs struct{ r io.Reader }

func (x *readErrs) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}
