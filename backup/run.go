package backup

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// Options are one backup's.
type Options struct {
	Paths         []string // what to back up: absolute paths
	Host          string   // the machine's name, kept in the snapshot
	Tags          []string
	Exclude       func(path string, isDir bool) bool // path is absolute
	OneFileSystem bool
	// CacheDir keeps this machine's cache of its last snapshot and the
	// index of what a backup that did not finish stored ("": none, so
	// every file is read and an interrupted backup's chunks are stored
	// again).
	CacheDir string
	K, M     int // the erasure code (0: the pipeline's default)
	// Progress, if set, is called as the backup goes.
	Progress func(Progress)
	// Warn, if set, hears of each entry not backed up faithfully: not
	// readable (left out of the snapshot) or changed while it was read.
	Warn func(path string, err error)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Progress is how far a backup is.
type Progress struct {
	Files, Dirs, Others uint64
	Bytes               uint64 // regular files' bytes seen
	Read                uint64 // of them, read (the rest unchanged since the parent)
	Stored              uint64 // plaintext bytes of new chunks, stored
	Warnings            uint64
	Path                string // the entry last seen
}

// Result is a finished backup.
type Result struct {
	ID       SnapshotID
	Snapshot *Snapshot
	Warnings uint64 // entries not backed up faithfully (exit code 3)
}

// ErrChanged reports a file that changed while it was read: what is in
// the snapshot may mix its old and new bytes.
var ErrChanged = errors.New("backup: changed while it was read")

// Batches: a batch of files is finished (its stripes stored, its files'
// manifests known) when it holds this much.
const (
	batchBytes = 128 << 20
	batchFiles = 4096
)

// A run is one backup in progress.
type run struct {
	ctx   context.Context
	cloud Cloud
	keys  *Keys
	opt   Options
	pcfg  pipeline.Config
	idx   *pipeline.MemIndex
	view  *view
	pl    *pruneList
	w     *pipeline.Writer
	tree  *treeBuilder

	parent *cacheReader
	cache  *cacheWriter
	// pending is the batch's files and pages awaiting their manifests;
	// held is the cache entries since the batch began, in scan order.
	pending    []pend
	held       []*cacheEntry
	batchBytes int64
	pages      map[uint64][]byte

	// What this backup stored (mu guards them, stored and the stats'
	// new-chunk figures: the Writer's goroutines report stored stripes):
	// fresh, each chunk's first place; segs, every stripe with its
	// chunks, for the snapshot's index segment; storedKeys, the stripes.
	mu         sync.Mutex
	fresh      map[chunk.ID]pipeline.Located
	segs       []*pipeline.Manifest
	storedKeys map[StripeKey]bool
	stored     uint64
	pendIdx    *os.File // the local index of what an unfinished backup stored

	prog  Progress
	stats Stats
}

// pend is a file of the batch (page < 0) or a page, the Writer's file n.
type pend struct {
	n     int
	ino   fs.Ino
	page  int64
	entry *cacheEntry
}

// Run backs up opt.Paths into the set and returns the new snapshot.
func Run(ctx context.Context, cloud Cloud, keys *Keys, opt Options) (*Result, error) {
	if len(opt.Paths) == 0 {
		return nil, errors.New("backup: nothing to back up")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	paths, err := cleanPaths(opt.Paths)
	if err != nil {
		return nil, err
	}
	if err := checkOptions(opt, paths); err != nil {
		return nil, err
	}
	r := &run{ctx: ctx, cloud: cloud, keys: keys, opt: opt, pages: map[uint64][]byte{}, fresh: map[chunk.ID]pipeline.Located{}, storedKeys: map[StripeKey]bool{}}
	ls, root, err := logs(ctx, cloud, keys)
	if err != nil {
		return nil, err
	}
	// What a prune condemned is neither used nor renewed: it may go.
	pl, err := readPruneList(ctx, cloud, keys, root)
	if err != nil {
		return nil, err
	}
	if r.view, err = loadView(ctx, cloud, keys, ls, root, pl); err != nil {
		return nil, err
	}
	r.idx, r.pl = r.view.idx, pl
	var mine *writerLog
	var me [32]byte
	copy(me[:], keys.Writer.PublicKey())
	for _, l := range ls {
		if l.writer == me {
			mine = l
		}
	}
	if mine == nil {
		return nil, errors.New("backup: this key is not a writer of the set")
	}
	if err := r.openLocal(mine); err != nil {
		return nil, err
	}
	defer r.parent.close()
	r.pcfg = pipeline.Config{Keys: keys.Data, K: opt.K, M: opt.M, Workers: 8, Sealing: pipeline.SealContent, Compress: true, Index: r.idx, OnStored: r.onStored}
	if r.w, err = pipeline.NewWriter(r.pcfg, cloud); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.w.Abort()
			r.cache.abort()
		}
		if r.pendIdx != nil {
			r.pendIdx.Close()
		}
	}()
	r.tree = newTreeBuilder(r.addPage)
	started := opt.Now()
	if err := r.scan(paths); err != nil {
		return nil, err
	}
	if err := r.finishBatch(); err != nil {
		return nil, err
	}
	if err := r.tree.Close(); err != nil {
		return nil, err
	}
	if err := r.finishBatch(); err != nil {
		return nil, err
	}
	super := &format.Super{Gen: 1, Time: started, Next: r.tree.Next(), Pages: r.pages}
	superM, err := r.store(super.Marshal())
	if err != nil {
		return nil, err
	}
	superEnc, err := superM.MarshalBinary()
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Time: started, Host: opt.Host, Paths: paths, Tags: slices.Clone(opt.Tags), Super: superEnc}
	if r.parent != nil {
		snap.Parent = r.parent.parent
	}
	r.stats.Files, r.stats.Dirs, r.stats.Others = r.prog.Files, r.prog.Dirs, r.prog.Others
	r.stats.Bytes, r.stats.Read, r.stats.Errors = r.prog.Bytes, r.prog.Read, r.prog.Warnings
	r.mu.Lock()
	snap.Stats = r.stats
	r.mu.Unlock()
	id, err := r.publish(mine, snap)
	if err != nil {
		return nil, err
	}
	ok = true
	if r.cache != nil {
		if err := r.cache.commit(id); err != nil {
			r.warn(r.opt.CacheDir, fmt.Errorf("the cache for the next backup: %w", err))
		}
	}
	if r.pendIdx != nil {
		os.Remove(r.pendIdx.Name())
	}
	r.renew()
	return &Result{ID: id, Snapshot: snap, Warnings: r.prog.Warnings}, nil
}

// cleanPaths returns the paths cleaned, sorted in scan order, without
// those inside another.
func cleanPaths(in []string) ([]string, error) {
	var ps []string
	for _, p := range in {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("backup: %q is not an absolute path", p)
		}
		p = filepath.Clean(p)
		// The folders above a path are the snapshot's too, as the
		// folders they are: a symlink among them is followed (the path
		// itself, if a symlink, is backed up as one).
		if dir := filepath.Dir(p); dir != p {
			real, err := filepath.EvalSymlinks(dir)
			if err != nil {
				return nil, fmt.Errorf("backup: %w", err)
			}
			p = filepath.Join(real, filepath.Base(p))
		}
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b string) int {
		if pathLess(strings.TrimPrefix(a, "/"), strings.TrimPrefix(b, "/")) {
			return -1
		}
		if a == b {
			return 0
		}
		return 1
	})
	var out []string
	for _, p := range ps {
		if n := len(out); n > 0 && (out[n-1] == p || out[n-1] == "/" || strings.HasPrefix(p, out[n-1]+"/")) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// local names this machine's files for the set, its writer and host.
func (r *run) local(kind string) string {
	w := hex.EncodeToString(r.keys.Writer.PublicKey()[:8])
	h := sha256.Sum256([]byte(r.opt.Host))
	return filepath.Join(r.opt.CacheDir, r.keys.ID.String(), fmt.Sprintf("%s-%x.%s", w, h[:4], kind))
}

// openLocal opens the parent's cache, if it is this writer's last
// snapshot, and the index an interrupted backup left.
func (r *run) openLocal(mine *writerLog) error {
	if r.opt.CacheDir == "" {
		return nil
	}
	if c := openCache(r.local("cache")); c != nil {
		known := slices.ContainsFunc(mine.entries, func(e LogEntry) bool { return sha256.Sum256(e.Box) == c.parent })
		if known {
			r.parent = c
		} else {
			c.close()
		}
	}
	var err error
	if r.cache, err = createCache(r.local("cache")); err != nil {
		return fmt.Errorf("backup: the cache: %w", err)
	}
	name := r.local("pending")
	if b, err := os.ReadFile(name); err == nil {
		for _, m := range parsePendingIndex(b) {
			r.resume(m)
		}
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("backup: the index of what this backup stores: %w", err)
	}
	r.pendIdx = f
	return nil
}

// resume takes up a stripe a backup that did not finish stored (m lists
// it and its chunks), unless a prune has condemned it since or it is no
// longer stored: its leases are renewed first, so what the snapshot will
// use is there for another term.
func (r *run) resume(m *pipeline.Manifest) {
	for i, d := range m.Stripes {
		if r.pl.gone(stripeKey(d)) {
			return
		}
		var ids []erasure.ShardID
		var hints []store.Holder
		for j, sh := range d.Shards {
			if sh.Size > 0 {
				ids = append(ids, sh.ID)
				var h store.Holder
				if m.Holders != nil {
					h = m.Holders[i][j]
				}
				hints = append(hints, h)
			}
		}
		if err := r.cloud.Renew(r.ctx, ids, hints); err != nil {
			return // gone (a lease term passed), or not reachable: stored again if needed
		}
	}
	r.idx.Add(m)
	r.segs = append(r.segs, m)
	for _, d := range m.Stripes {
		r.storedKeys[stripeKey(d)] = true
	}
	for _, c := range m.Chunks {
		if _, ok := r.fresh[c.ID]; !ok {
			r.fresh[c.ID] = pipeline.Located{Ref: c, Stripe: m.Stripes[c.Stripe]}
		}
	}
}

// checkOptions refuses what a snapshot could not hold (its parser's
// bounds), before anything is stored.
func checkOptions(opt Options, paths []string) error {
	switch {
	case len(opt.Host) > maxName:
		return fmt.Errorf("backup: a host name of %d bytes (at most %d)", len(opt.Host), maxName)
	case len(opt.Tags) > maxTags:
		return fmt.Errorf("backup: %d tags (at most %d)", len(opt.Tags), maxTags)
	case len(paths) > maxPaths:
		return fmt.Errorf("backup: %d paths (at most %d)", len(paths), maxPaths)
	}
	for _, t := range opt.Tags {
		if len(t) == 0 || len(t) > maxName {
			return fmt.Errorf("backup: a tag of %d bytes (1 to %d)", len(t), maxName)
		}
	}
	for _, p := range paths {
		if len(p) > maxPath {
			return fmt.Errorf("backup: a path of %d bytes (at most %d)", len(p), maxPath)
		}
	}
	return nil
}

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
	warn       error       // a scan error at at: no entry, a warning
	hit        *cacheEntry // unchanged since the parent: its manifest is reused
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
		c.mtime == e.Attr.Mtime && c.ctime == e.Attr.Ctime && r.indexed(c.manifest) {
		j.hit = c
		return j
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

// indexed reports whether every stripe a cached manifest points at is
// still kept by the set and not condemned by a prune (or was stored by
// this backup), so the manifest may be used again as it is.
func (r *run) indexed(enc []byte) bool {
	m, err := pipeline.ParseManifest(enc)
	if err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range m.Stripes {
		k := stripeKey(d)
		if r.storedKeys[k] {
			continue
		}
		if _, kept := r.view.stripes[k]; !kept {
			return false
		}
		if _, condemned := r.pl.condemnedAt(k); condemned {
			return false
		}
	}
	return true
}

// hold queues a cache entry in scan order: written at once when nothing
// of the batch is pending before it.
func (r *run) hold(e *cacheEntry) {
	if r.cache == nil {
		return
	}
	r.held = append(r.held, e)
	if len(r.pending) == 0 {
		r.writeHeld()
	}
}

func (r *run) writeHeld() {
	if r.cache == nil {
		r.held = r.held[:0] // no cache kept (no CacheDir, or it failed)
		return
	}
	for _, e := range r.held {
		if e.manifest == nil && e.size > 0 {
			continue // not stored after all
		}
		if err := r.cache.add(e); err != nil {
			r.warn(r.opt.CacheDir, fmt.Errorf("the cache for the next backup: %w", err))
			r.cache.abort()
			r.cache = nil
			break
		}
	}
	r.held = r.held[:0]
}

// addPage is the tree's flush: a complete page joins the batch.
func (r *run) addPage(i uint64, recs []format.Record) error {
	b, err := format.EncodePage(i, recs)
	if err != nil {
		return err
	}
	n, err := r.w.Add(r.ctx, strings.NewReader(string(b)))
	if err != nil {
		return fmt.Errorf("backup: store page %d of the tree: %w", i, err)
	}
	r.pending = append(r.pending, pend{n: n, page: int64(i)})
	return nil
}

// finishBatch stores the batch and completes what waited for it.
func (r *run) finishBatch() error {
	if len(r.pending) == 0 {
		r.writeHeld()
		return nil
	}
	ms, err := r.w.Finish(r.ctx)
	if err != nil {
		return fmt.Errorf("backup: store: %w", err)
	}
	pending, held := r.pending, r.held
	r.pending, r.held, r.batchBytes = nil, nil, 0
	r.noteFresh(ms)
	for _, p := range pending {
		enc, err := ms[p.n].MarshalBinary()
		if err != nil {
			return err
		}
		if p.page >= 0 {
			r.pages[uint64(p.page)] = enc
			continue
		}
		p.entry.manifest = enc
		if err := r.tree.SetContents(p.ino, enc, uint64(ms[p.n].Size)); err != nil {
			return err
		}
	}
	// The cache entries of the batch, in order, before any queued since.
	r.held = append(held, r.held...)
	if len(r.pending) == 0 {
		r.writeHeld()
	}
	return nil
}

// noteFresh indexes a finished batch's chunks, for the next batches.
func (r *run) noteFresh(ms []*pipeline.Manifest) {
	for _, m := range ms {
		r.idx.Add(m)
	}
}

// onStored records the chunks of a stripe the Writer stored, in memory
// and in the local index an interrupted backup leaves for the next: a
// backup killed at any point stores none of them again. It runs on the
// Writer's goroutines.
func (r *run) onStored(d *erasure.Descriptor, holders []store.Holder, chunks []pipeline.ChunkRef) {
	// Every stripe stored goes into the snapshot's segment, whether or
	// not its chunks are stored elsewhere too, so that it is renewed and
	// pruned like any other.
	seg := &pipeline.Manifest{}
	stripes := map[*erasure.Descriptor]int{}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range chunks {
		loc := pipeline.Located{Ref: c, Stripe: d, Holders: holders}
		if _, ok := r.fresh[c.ID]; !ok {
			r.fresh[c.ID] = loc
		}
		r.stats.NewChunks++
		r.stats.NewBytes += uint64(c.Size)
		r.stored += uint64(c.Size)
		addLocated(seg, stripes, loc, false)
	}
	if len(seg.Chunks) > 0 {
		r.segs = append(r.segs, seg)
		r.storedKeys[stripeKey(d)] = true
	}
	if r.pendIdx != nil && len(seg.Chunks) > 0 {
		if enc, err := seg.MarshalBinary(); err == nil {
			r.pendIdx.Write(appendBytes(nil, enc))
			r.pendIdx.Sync()
		}
	}
}

// addLocated adds a located chunk to a manifest of chunks (an index
// segment), with its key unless strip.
func addLocated(seg *pipeline.Manifest, stripes map[*erasure.Descriptor]int, loc pipeline.Located, strip bool) {
	n, ok := stripes[loc.Stripe]
	if !ok {
		n = len(seg.Stripes)
		stripes[loc.Stripe] = n
		seg.Stripes = append(seg.Stripes, loc.Stripe)
		if loc.Holders != nil || seg.Holders != nil {
			for len(seg.Holders) < n {
				seg.Holders = append(seg.Holders, make([]store.Holder, len(seg.Stripes[len(seg.Holders)].Shards)))
			}
			hs := loc.Holders
			if hs == nil {
				hs = make([]store.Holder, len(loc.Stripe.Shards))
			}
			seg.Holders = append(seg.Holders, hs)
		}
	}
	c := loc.Ref
	c.Stripe = n
	if strip {
		c.Key = [32]byte{}
	}
	seg.Chunks = append(seg.Chunks, c)
	seg.Size += int64(c.Size)
}

// parsePendingIndex reads the local index an interrupted backup left: a
// sequence of length-prefixed manifests; it stops at the first damaged one
// (a write the kill cut short).
func parsePendingIndex(b []byte) []*pipeline.Manifest {
	var out []*pipeline.Manifest
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			break
		}
		m, err := pipeline.ParseManifest(b[k : k+int(n)])
		if err != nil {
			break
		}
		out = append(out, m)
		b = b[k+int(n):]
	}
	return out
}

// store writes one object (the super, a segment, a log) as its own batch.
func (r *run) store(b []byte) (*pipeline.Manifest, error) {
	if _, err := r.w.Add(r.ctx, strings.NewReader(string(b))); err != nil {
		return nil, err
	}
	ms, err := r.w.Finish(r.ctx)
	if err != nil {
		return nil, fmt.Errorf("backup: store: %w", err)
	}
	r.noteFresh(ms)
	return ms[0], nil
}

// publish stores the snapshot's box and index segment in the writer's
// log and publishes the log.
func (r *run) publish(mine *writerLog, snap *Snapshot) (SnapshotID, error) {
	box, err := crypt.SealBox(r.boxKey(), snap.marshal())
	if err != nil {
		return SnapshotID{}, err
	}
	seg := &pipeline.Manifest{}
	stripes := map[*erasure.Descriptor]int{}
	r.mu.Lock()
	for _, m := range r.segs {
		for _, c := range m.Chunks {
			loc := pipeline.Located{Ref: c, Stripe: m.Stripes[c.Stripe]}
			if m.Holders != nil {
				loc.Holders = m.Holders[c.Stripe]
			}
			addLocated(seg, stripes, loc, true)
		}
	}
	r.mu.Unlock()
	entry := LogEntry{Box: box}
	if len(seg.Chunks) > 0 {
		enc, err := seg.MarshalBinary()
		if err != nil {
			return SnapshotID{}, err
		}
		m, err := r.store(enc)
		if err != nil {
			return SnapshotID{}, err
		}
		if entry.Index, err = makeRef(r.keys.Data, m); err != nil {
			return SnapshotID{}, err
		}
	}
	entries := append(slices.Clone(mine.entries), entry)
	logM, err := r.store(encodeLog(entries))
	if err != nil {
		return SnapshotID{}, err
	}
	ref, err := makeRef(r.keys.Data, logM)
	if err != nil {
		return SnapshotID{}, err
	}
	root := &WriterRoot{Set: r.keys.ID, Log: ref}
	if err := r.cloud.PublishRoot(r.ctx, r.keys.Writer, mine.seq+1, root.Marshal()); err != nil {
		return SnapshotID{}, fmt.Errorf("backup: publish the snapshot: %w", err)
	}
	return sha256.Sum256(box), nil
}

// boxKey is the set's box key, from its root.
func (r *run) boxKey() *[32]byte {
	if r.keys.Set != nil {
		return r.keys.Set.BoxPublic()
	}
	return &r.keys.box
}

func sortedIDs(m map[chunk.ID]pipeline.Located) []chunk.ID {
	ids := make([]chunk.ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b chunk.ID) int { return strings.Compare(string(a[:]), string(b[:])) })
	return ids
}

// renew extends the leases of every stripe the set keeps (every place of
// every chunk the segments list, the set's own files, what this backup
// stored; condemned stripes too, until a prune releases them), so each
// backup keeps the whole set alive. A shard that cannot be renewed is a warning: repair and
// the next backup's renewal deal with it.
func (r *run) renew() {
	seen := map[erasure.ShardID]bool{}
	var ids []erasure.ShardID
	var hints []store.Holder
	flush := func() {
		if len(ids) == 0 {
			return
		}
		if err := r.cloud.Renew(r.ctx, ids, hints); err != nil {
			r.warn("(leases)", err)
		}
		ids, hints = ids[:0], hints[:0]
	}
	add := func(d *erasure.Descriptor, holders []store.Holder) {
		for j, sh := range d.Shards {
			if sh.Size == 0 || seen[sh.ID] {
				continue
			}
			seen[sh.ID] = true
			ids = append(ids, sh.ID)
			var h store.Holder
			if holders != nil {
				h = holders[j]
			}
			hints = append(hints, h)
			if len(ids) >= 4096 {
				flush()
			}
		}
	}
	for _, at := range r.view.stripes {
		add(at.d, at.holders)
	}
	r.mu.Lock()
	segs := slices.Clone(r.segs)
	r.mu.Unlock()
	for _, m := range segs {
		for i, d := range m.Stripes {
			var hs []store.Holder
			if m.Holders != nil {
				hs = m.Holders[i]
			}
			add(d, hs)
		}
	}
	flush()
}

func (r *run) warn(p string, err error) {
	r.prog.Warnings++
	if r.opt.Warn != nil {
		r.opt.Warn(p, err)
	}
}

func (r *run) progress() {
	if r.opt.Progress != nil {
		r.mu.Lock()
		r.prog.Stored = r.stored
		r.mu.Unlock()
		r.opt.Progress(r.prog)
	}
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

// ErrIncomplete reports a backup that finished, but without some entries
// (unreadable) or with some that changed while they were read.
var ErrIncomplete = errors.New("backup: the snapshot is incomplete")
