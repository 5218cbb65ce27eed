package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
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
	used       map[StripeKey]bool // the stripes the snapshot uses (the run's goroutine)
	pendIdx    *os.File           // the local index of what an unfinished backup stored

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
	r := &run{ctx: ctx, cloud: cloud, keys: keys, opt: opt, pages: map[uint64][]byte{}, fresh: map[chunk.ID]pipeline.Located{}, storedKeys: map[StripeKey]bool{}, used: map[StripeKey]bool{}}
	state, err := readState(ctx, cloud, keys)
	if err != nil {
		return nil, err
	}
	// What a prune condemned is not deduplicated against: it may go.
	ls, root, pl := state.ls, state.root, state.pl
	if r.view, err = loadView(ctx, cloud, keys, ls, root, pl); err != nil {
		return nil, err
	}
	r.idx, r.pl = r.view.idx, pl
	var mine *writerLog
	var me [32]byte
	copy(me[:], keys.Writer.PublicKey())
	if slices.ContainsFunc(root.Removed, func(k RemovedKey) bool { return k.Key == me }) {
		return nil, errors.New("backup: this key was removed from the set: it can add no more snapshots")
	}
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
	r.uses(superM)
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
	if n, err := r.usedReleased(); err == nil && n > 0 {
		return nil, fmt.Errorf("%w: snapshot %s uses %d stripes a prune released while it ran (it ran longer than the prune's grace): forget it and back up again", ErrDamaged, id.Short(), n)
	}
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

// ErrIncomplete reports a backup that finished, but without some entries
// (unreadable) or with some that changed while they were read.
var ErrIncomplete = errors.New("backup: the snapshot is incomplete")
