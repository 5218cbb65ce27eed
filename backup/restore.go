package backup

import (
	"bytes"
	"container/list"
	"context"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/murmur-cloud/murmur/backup/fstree"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/pipeline"
)

// RestoreOptions are one restore's.
type RestoreOptions struct {
	// Target is the directory the snapshot's tree is restored into, each
	// entry at its path in the snapshot below it (as restic does).
	Target string
	// Include, if not empty, restores only the entry at this path of the
	// snapshot (absolute), with what it holds, and its directories above.
	Include string
	// Progress, if set, hears of each entry restored.
	Progress func(RestoreProgress)
	// Warn, if set, hears of each entry that could not be restored; the
	// restore goes on. Without it the first such error ends the restore.
	Warn func(path string, err error)
}

// RestoreProgress is how far a restore is.
type RestoreProgress struct {
	Entries, Bytes uint64
	Warnings       uint64
	Path           string
}

// tree reads a snapshot's tree: its super, and its pages as they are
// needed (inodes were numbered in scan order, so a walk in that order
// reads each page about once; a few recent pages are kept).
type tree struct {
	ctx   context.Context
	cloud Cloud
	keys  *Keys
	super *format.Super
	pages map[uint64]*list.Element
	lru   *list.List
}

type treePage struct {
	i       uint64
	records map[fs.Ino]*format.Record
}

const treePagesKept = 64

func openTree(ctx context.Context, cloud Cloud, keys *Keys, s *Snapshot) (*tree, error) {
	m, err := pipeline.ParseManifest(s.Super)
	if err != nil {
		return nil, fmt.Errorf("%w: the snapshot's super: %w", ErrDamaged, err)
	}
	b, err := readFile(ctx, cloud, keys.Data, m)
	if err != nil {
		return nil, fmt.Errorf("backup: read the snapshot's tree: %w", err)
	}
	super, err := format.ParseSuper(b)
	if err != nil {
		return nil, fmt.Errorf("backup: the snapshot's tree: %w", err)
	}
	return &tree{ctx: ctx, cloud: cloud, keys: keys, super: super, pages: map[uint64]*list.Element{}, lru: list.New()}, nil
}

// record returns inode ino's record.
func (t *tree) record(ino fs.Ino) (*format.Record, error) {
	i := format.PageOf(ino)
	if e, ok := t.pages[i]; ok {
		t.lru.MoveToFront(e)
		if rec := e.Value.(*treePage).records[ino]; rec != nil {
			return rec, nil
		}
		return nil, fmt.Errorf("%w: inode %d is not in its page", ErrDamaged, ino)
	}
	enc, ok := t.super.Pages[i]
	if !ok {
		return nil, fmt.Errorf("%w: inode %d has no page", ErrDamaged, ino)
	}
	m, err := pipeline.ParseManifest(enc)
	if err != nil {
		return nil, err
	}
	b, err := readFile(t.ctx, t.cloud, t.keys.Data, m)
	if err != nil {
		return nil, fmt.Errorf("backup: read page %d of the tree: %w", i, err)
	}
	pg := &treePage{i: i, records: map[fs.Ino]*format.Record{}}
	if err := format.ParsePage(b, i, func(r *format.Record) error { pg.records[r.Attr.Ino] = r; return nil }); err != nil {
		return nil, fmt.Errorf("backup: page %d of the tree: %w", i, err)
	}
	t.pages[i] = t.lru.PushFront(pg)
	for t.lru.Len() > treePagesKept {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.pages, old.Value.(*treePage).i)
	}
	if rec := pg.records[ino]; rec != nil {
		return rec, nil
	}
	return nil, fmt.Errorf("%w: inode %d is not in its page", ErrDamaged, ino)
}

// walk calls fn for every entry of the tree in scan order: a directory
// before its entries, entries by name; within reports whether a path is
// to be visited (and, for a directory, descended into).
func (t *tree) walk(within func(p string) bool, fn func(p string, rec *format.Record) error) error {
	var visit func(p string, ino fs.Ino, depth int) error
	visit = func(p string, ino fs.Ino, depth int) error {
		if depth > 4096 {
			return fmt.Errorf("%w: the tree is deeper than 4096 directories", ErrDamaged)
		}
		rec, err := t.record(ino)
		if err != nil {
			return err
		}
		if err := fn(p, rec); err != nil {
			return err
		}
		if rec.Attr.Kind != fs.Directory {
			return nil
		}
		for _, name := range slices.Sorted(maps.Keys(rec.Entries)) {
			cp := name
			if p != "" {
				cp = p + "/" + name
			}
			if !within(cp) {
				continue
			}
			child := rec.Entries[name]
			if child == ino || child == rec.Parent {
				return fmt.Errorf("%w: directory %q names itself or its parent", ErrDamaged, p)
			}
			if err := visit(cp, child, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return visit("", fs.RootIno, 0)
}

// Restore writes snapshot s of the set into opt.Target.
func Restore(ctx context.Context, cloud Cloud, keys *Keys, s *Snapshot, opt RestoreOptions) (RestoreProgress, error) {
	var prog RestoreProgress
	if keys.AppendOnly() {
		return prog, fmt.Errorf("%w: restoring needs the admin key", ErrAppendOnly)
	}
	t, err := openTree(ctx, cloud, keys, s)
	if err != nil {
		return prog, err
	}
	include := strings.Trim(path.Clean("/"+opt.Include), "/")
	within := func(p string) bool {
		return include == "" || p == include || strings.HasPrefix(p, include+"/") || strings.HasPrefix(include, p+"/")
	}
	warn := func(p string, err error) error {
		prog.Warnings++
		if opt.Warn == nil {
			return fmt.Errorf("restore /%s: %w", p, err)
		}
		opt.Warn("/"+p, err)
		return nil
	}
	rs, err := fstree.NewRestorer(fstree.RestoreOptions{Target: opt.Target, OnError: warn})
	if err != nil {
		return prog, err
	}
	packed := pipeline.NewPackedCache(64 << 20)
	pcfg := pipeline.Config{Keys: keys.Data}
	// The walk runs ahead of the restorer, and small files' contents are
	// fetched by a pool meanwhile (a file's shards are a round trip away
	// each), so the restorer, which writes in scan order, seldom waits.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *restoreJob, restoreAhead)
	walkErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		sem := make(chan struct{}, restoreFetchers)
		first := map[fs.Ino]string{} // hard-linked inodes: their first path
		walkErr <- t.walk(within, func(p string, rec *format.Record) error {
			j := &restoreJob{p: p, rec: rec, e: &fstree.Entry{Path: orDot(p), Attr: rec.Attr, Target: rec.Target, Xattrs: rec.Xattrs}}
			if rec.Attr.Kind != fs.Directory && rec.Attr.Nlink > 1 {
				if f, ok := first[rec.Attr.Ino]; ok {
					j.e.Link = f
				} else {
					first[rec.Attr.Ino] = j.e.Path
				}
			}
			if rec.Attr.Kind == fs.Regular && j.e.Link == "" && len(rec.Manifest) > 0 {
				if j.m, j.err = pipeline.ParseManifest(rec.Manifest); j.err == nil && j.m.Size <= restoreSmall {
					j.done = make(chan struct{})
					select {
					case sem <- struct{}{}:
					case <-ctx.Done():
						return ctx.Err()
					}
					go func() {
						defer func() { <-sem; close(j.done) }()
						j.data, j.err = readFile(ctx, packed.Getter(cloud, j.m), keys.Data, j.m)
					}()
				}
			}
			select {
			case jobs <- j:
				return nil
			case <-ctx.Done():
				if j.done != nil {
					<-j.done // its fetch ends before Restore does
				}
				return ctx.Err()
			}
		})
	}()
	drain := func() {
		cancel()
		for j := range jobs {
			if j.done != nil {
				<-j.done
			}
		}
		<-walkErr
	}
	for j := range jobs {
		if j.done != nil {
			<-j.done
		}
		if err := restoreOne(ctx, rs, j, pcfg, packed, cloud, &prog, warn); err != nil {
			drain()
			return prog, err
		}
		if opt.Progress != nil {
			opt.Progress(prog)
		}
	}
	err = <-walkErr
	if err != nil {
		return prog, err
	}
	return prog, rs.Finish()
}

// Restores run ahead: restoreAhead entries between the walk and the
// restorer, restoreFetchers small files (at most restoreSmall bytes each)
// fetched at once.
const (
	restoreAhead    = 256
	restoreFetchers = 8
	restoreSmall    = 1 << 20
)

// restoreJob is one entry of the tree on its way to the restorer.
type restoreJob struct {
	p    string
	rec  *format.Record
	e    *fstree.Entry
	m    *pipeline.Manifest // a regular file's contents
	done chan struct{}      // closed once data (a small file) is fetched
	data []byte
	err  error
}

// restoreOne writes one entry.
func restoreOne(ctx context.Context, rs *fstree.Restorer, j *restoreJob, pcfg pipeline.Config, packed *pipeline.PackedCache, cloud Cloud, prog *RestoreProgress, warn func(string, error) error) error {
	rec, e := j.rec, j.e
	prog.Entries++
	prog.Path = "/" + j.p
	if rec.Attr.Kind != fs.Regular || e.Link != "" {
		return rs.Restore(e, nil)
	}
	if len(rec.Manifest) == 0 {
		if rec.Attr.Size > 0 {
			return warn(j.p, fmt.Errorf("%w: a file of %d bytes without contents", ErrDamaged, rec.Attr.Size))
		}
		return rs.Restore(e, strings.NewReader(""))
	}
	if j.err != nil {
		return warn(j.p, j.err)
	}
	var contents io.Reader
	if j.done != nil {
		contents = bytes.NewReader(j.data)
	} else {
		r, err := pipeline.NewReader(ctx, pcfg, packed.Getter(cloud, j.m), j.m)
		if err != nil {
			return warn(j.p, err)
		}
		contents = r
	}
	if err := rs.Restore(e, contents); err != nil {
		return err
	}
	prog.Bytes += uint64(j.m.Size)
	return nil
}
