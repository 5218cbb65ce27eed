package drive

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/fs/state"
	"github.com/murmur-cloud/murmur/pipeline"
)

// Commit uploads every change since the last commit and publishes a new
// root: contents through the pipeline, in parallel and packed; then the
// changed pages of the inode table; then a super naming them and the
// previous commit. It returns fs.ErrReadOnly on a read-only drive and
// ErrLeaseLost if the lease went to another mount.
func (d *Drive) Commit(ctx context.Context) error {
	return d.commit(ctx, true)
}

// Quiet is how long a file open for writing must go unwritten before the
// background commit uploads it (a file being written would be uploaded
// only to be uploaded again); MaxDirty bounds how long that can delay it.
const (
	Quiet    = 2 * time.Second
	MaxDirty = time.Minute
)

// commit commits; all=false leaves out files open and written within
// Quiet, unless they have waited MaxDirty.
func (d *Drive) commit(ctx context.Context, all bool) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	writing := d.writing
	d.mu.Unlock()
	if !writing {
		return fs.ErrReadOnly
	}
	err := d.commitLocked(ctx, all)
	d.mu.Lock()
	d.lastErr = err
	if err == nil {
		d.lastAt = d.cfg.Clock()
	}
	d.mu.Unlock()
	return err
}

// pending is a file whose contents a commit uploads.
type pending struct {
	ino  fs.Ino
	f    *state.File
	gen  uint64
	size int64
}

// chooseCode asks Config.Code for k and m.
func (d *Drive) chooseCode(ctx context.Context) {
	if d.cfg.Code == nil {
		return
	}
	k, m, err := d.cfg.Code(ctx)
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && k >= 1 && m >= 0 {
		d.pipe.K, d.pipe.M = k, m
	} else if err != nil {
		d.log.Warn("fs: choose a code; keeping the last", "k", d.pipe.K, "m", d.pipe.M, "err", err)
	}
}

// commitLocked is a commit, in the order that keeps every crash safe
// (docs/drive.md, "Commits"):
//
//  1. take the changed inodes (the epoch the commit covers);
//  2. upload the contents of the changed files that differ from their
//     bases, and make each upload its file's base if the file did not
//     change while it was read;
//  3. encode the changed pages, as the tree is at that instant, and
//     upload them, then the super;
//  4. save the state, synced, with the commit as an intent;
//  5. publish the root;
//  6. save the state again, at the commit.
func (d *Drive) commitLocked(ctx context.Context, all bool) (err error) {
	d.sched.begin()
	defer d.sched.end()
	t := d.t
	d.chooseCode(ctx)
	d.mu.Lock()
	first := d.ref == nil
	d.mu.Unlock()
	if !t.Pending() && !first {
		return nil
	}
	now := d.cfg.Clock().UnixNano()
	epoch, inos := t.BeginCommit(func(_ fs.Ino, _ *fs.Node, f fs.File) bool {
		sf, ok := f.(*state.File)
		return ok && !all && sf.Busy(now, int64(Quiet), int64(MaxDirty))
	})
	published := false
	defer func() { t.EndCommit(published) }()

	files := d.changedFiles(inos)
	ms, err := d.uploadFiles(ctx, files)
	if err != nil {
		return fmt.Errorf("fs: upload contents: %w", err)
	}
	ups := make([]upload, len(files))
	for i, p := range files {
		if ups[i].enc, err = ms[i].MarshalBinary(); err != nil {
			return err
		}
		ups[i].pending, ups[i].m = p, ms[i]
	}
	touched, encoded, next, err := d.encodePages(inos, ups, first)
	if err != nil {
		return err
	}
	nums := slices.Sorted(maps.Keys(encoded))
	readers := make([]io.Reader, len(nums))
	for i, p := range nums {
		readers[i] = bytes.NewReader(encoded[p])
	}
	pms, err := d.upload(ctx, readers, nil)
	if err != nil {
		return fmt.Errorf("fs: upload pages: %w", err)
	}
	d.mu.Lock()
	pages := maps.Clone(d.pages)
	prev, gen := d.ref, d.gen+1
	d.mu.Unlock()
	for _, p := range touched {
		delete(pages, p) // a page left with no inode goes
	}
	for i, p := range nums {
		if pages[p], err = pms[i].MarshalBinary(); err != nil {
			return err
		}
	}
	s := &format.Super{Gen: gen, Time: d.cfg.Clock(), Next: next, Writer: d.writer, Prev: prev, Pages: pages}
	sms, err := d.upload(ctx, []io.Reader{bytes.NewReader(s.Marshal())}, nil)
	if err != nil {
		return fmt.Errorf("fs: upload super: %w", err)
	}
	ref, err := d.sealRef(sms[0])
	if err != nil {
		return err
	}
	if len(ref) > MaxRootValue/2 {
		return fmt.Errorf("fs: the super's reference is %d bytes, past %d", len(ref), MaxRootValue/2)
	}
	// Whatever the state held of the tree this commit stores is synced
	// before the root names it: a crash after the publish finds the state
	// at the commit, or past it.
	if err := d.save(d.meta(false, &intent{Ref: ref, Gen: gen, Epoch: epoch}), true); err != nil {
		return err
	}
	if err := d.publish(ctx, ref, gen); err != nil {
		d.mu.Lock()
		d.unresolved = &intent{Ref: ref, Gen: gen, Epoch: epoch}
		d.mu.Unlock()
		return err
	}
	published = true
	d.mu.Lock()
	d.pages, d.epoch = pages, epoch
	d.mu.Unlock()
	return d.save(d.meta(false, nil), false)
}

// changedFiles returns the files among inos whose contents differ from
// their bases, sorted by inode.
func (d *Drive) changedFiles(inos []fs.Ino) []pending {
	var files []pending
	d.t.Inspect(func(v fs.View) {
		for _, ino := range inos {
			n, f, ok := v.Get(ino)
			if !ok || f == nil || n.Attr.Nlink == 0 {
				continue
			}
			sf := f.(*state.File)
			if dirty, gen := sf.Dirty(); dirty {
				files = append(files, pending{ino, sf, gen, int64(n.Attr.Size)})
			}
		}
	})
	return files
}

// uploadFiles uploads files' contents in one batch, counting the bytes
// for Status.
func (d *Drive) uploadFiles(ctx context.Context, files []pending) ([]*pipeline.Manifest, error) {
	var total int64
	for _, p := range files {
		total += p.size
	}
	d.upDone.Store(0)
	d.upTotal.Store(total)
	defer d.upTotal.Store(0)
	readers := make([]io.Reader, len(files))
	var bases []*pipeline.Manifest
	for i, p := range files {
		readers[i] = &counting{io.NewSectionReader(contentReaderAt{p.f}, 0, p.size), &d.upDone}
		if _, m := p.f.Base(); m != nil {
			bases = append(bases, m)
		}
	}
	// The chunks of the files' uploaded versions are not stored again:
	// an edit of one byte of a large file uploads about one chunk. Those
	// stripes stay in the tree through the new manifests, and are renewed
	// with it.
	return d.upload(ctx, readers, pipeline.NewMemIndex(bases...))
}

// upload is a file's contents as a commit uploaded them.
type upload struct {
	pending
	m   *pipeline.Manifest
	enc []byte
}

// encodePages makes each upload its file's base if the file did not
// change while it was read, and encodes, at that same instant, every page
// holding an inode of inos or one changed since (so no page names an
// inode another page lost), with each file's contents as its base holds
// them. It returns the pages it looked at, the encodings of those that
// still hold an inode, and the next inode number.
func (d *Drive) encodePages(inos []fs.Ino, ups []upload, first bool) ([]uint64, map[uint64][]byte, fs.Ino, error) {
	touched := map[uint64]bool{}
	for _, ino := range inos {
		touched[format.PageOf(ino)] = true
	}
	if first {
		touched[format.PageOf(fs.RootIno)] = true
	}
	byPage := map[uint64][]format.Record{}
	var next fs.Ino
	d.t.Inspect(func(v fs.View) {
		// Under the tree's lock: a write's second half (Tree.finishWrite,
		// which bumps the generation) cannot fall between the check and
		// the pages.
		for _, u := range ups {
			u.f.Uploaded(u.enc, u.m, u.gen)
		}
		next = v.Next()
		for n := range v.All() {
			if v.Changed(n.Attr.Ino) {
				touched[format.PageOf(n.Attr.Ino)] = true
			}
		}
		for n, f := range v.All() {
			p := format.PageOf(n.Attr.Ino)
			if !touched[p] || (n.Attr.Nlink == 0 && n.Attr.Ino != fs.RootIno) {
				continue
			}
			byPage[p] = append(byPage[p], committed(n, f))
		}
	})
	for _, u := range ups {
		d.t.MarkDirty(u.ino) // its base, for the state
	}
	encoded := map[uint64][]byte{}
	for p, recs := range byPage {
		b, err := format.EncodePage(p, recs)
		if err != nil {
			return nil, nil, 0, err
		}
		encoded[p] = b
	}
	return slices.Sorted(maps.Keys(touched)), encoded, next, nil
}

// committed returns n's record as a commit stores it: a regular file with
// its base, and the base's size.
func committed(n *fs.Node, f fs.File) format.Record {
	r := format.Record{Node: *n}
	if sf, ok := f.(*state.File); ok {
		enc, m := sf.Base()
		r.Manifest, r.Attr.Size = enc, 0
		if m != nil {
			r.Attr.Size = uint64(m.Size)
		}
	}
	return r
}

// contentReaderAt reads a file's contents through its cache file, for an
// upload.
type contentReaderAt struct{ f *state.File }

func (r contentReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := r.f.ReadAt(context.Background(), p, off); err != nil {
		return 0, err
	}
	return len(p), nil
}

// counting counts the bytes read through it.
type counting struct {
	r io.Reader
	n *atomic.Int64
}

func (c *counting) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
