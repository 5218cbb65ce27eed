package backup

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

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
		r.uses(ms[p.n])
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

// uses notes the stripes the snapshot uses, for the check after publish.
func (r *run) uses(m *pipeline.Manifest) {
	for _, d := range m.Stripes {
		r.used[stripeKey(d)] = true
	}
}

// usedReleased reports how many of the stripes the snapshot uses the set's
// prune list now says were released: a prune that ran while this backup
// did, longer than its grace, released what the backup had deduplicated
// against.
func (r *run) usedReleased() (int, error) {
	_, root, err := setRoot(r.ctx, r.cloud, r.keys.Public)
	if err != nil {
		return 0, err
	}
	pl, err := readPruneList(r.ctx, r.cloud, r.keys, root)
	if err != nil {
		return 0, err
	}
	n := 0
	for k := range r.used {
		if pl.released[k] {
			n++
		}
	}
	return n, nil
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
