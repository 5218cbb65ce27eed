package drive

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/state"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// Status is what `murmur status` shows of a mounted drive.
type Status struct {
	Drive        string    `json:"drive"`
	Writer       bool      `json:"writer"`
	ReadOnlyWhy  string    `json:"read_only_why,omitempty"`
	Seq          uint64    `json:"seq"`
	Snapshot     uint64    `json:"snapshot"`
	PendingBytes int64     `json:"pending_bytes"`
	PendingFiles int       `json:"pending_files"`
	CachedBytes  int64     `json:"cached_bytes"`
	LastCommit   time.Time `json:"last_commit"`
	LastError    string    `json:"last_error,omitempty"`
	// UploadDone and UploadTotal are the running commit's contents: bytes
	// uploaded so far, and in all; zeros when no commit uploads.
	UploadDone  int64 `json:"upload_done"`
	UploadTotal int64 `json:"upload_total"`
	// StateError is the last failure to write the state directory, until
	// a write succeeds; changes are kept in memory meanwhile.
	StateError string `json:"state_error,omitempty"`
}

// Status reports the drive's state: whether it writes, and what is not
// yet in the cloud.
func (d *Drive) Status() Status {
	var st Status
	d.t.Inspect(func(v fs.View) {
		for n, f := range v.All() {
			sf, ok := f.(*state.File)
			if !ok {
				continue
			}
			if dirty, _ := sf.Dirty(); dirty {
				st.PendingBytes += int64(n.Attr.Size)
				st.PendingFiles++
			} else {
				local, _, _ := sf.Usage(int64(n.Attr.Size))
				st.CachedBytes += local
			}
		}
	})
	st.UploadTotal = d.upTotal.Load()
	if st.UploadTotal > 0 {
		st.UploadDone = min(d.upDone.Load(), st.UploadTotal)
	}
	if e := d.saveErr.Load(); e != nil {
		st.StateError = (*e).Error()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st.Drive = d.cfg.Keys.Drive().String()
	st.Writer = d.writing
	if !d.writing {
		st.ReadOnlyWhy = d.why
	}
	st.Seq, st.Snapshot, st.LastCommit = d.seq, d.gen, d.lastAt
	if d.lastErr != nil {
		st.LastError = d.lastErr.Error()
	}
	return st
}

// Pending reports whether changes wait to be committed.
func (d *Drive) Pending() bool { return d.t.Pending() }

// space is the tree's StatFS: the cloud's usable capacity, the bytes it
// stores (Used: those of every drive and file it holds) and what can
// still be written, each scaled by the code's overhead. Before gossip has
// an estimate, these are what the cloud's node knows itself (its disk or
// quota, and the members it sees there); a cloud that cannot say at all
// gives zeros, which leave StatFS its nominal figures.
func (d *Drive) space() fs.Space {
	sp, ok := d.remote.space()
	if !ok || sp.Total == 0 {
		return fs.Space{}
	}
	return fs.Space{Total: sp.Total, Used: min(sp.Stored, sp.Total), Avail: sp.Free}
}

// DropCache empties the local cache of uploaded contents, keeping what is
// not uploaded and what is open; it returns the bytes given back.
func (d *Drive) DropCache() int64 { return d.shrinkCache(0) }

// evict drops the least recently used clean contents until the cache is
// within CacheBytes.
func (d *Drive) evict() { d.shrinkCache(d.cfg.CacheBytes) }

// shrinkCache drops the local copies of uploaded contents, least recently
// used first, until what stays is within bound; contents not uploaded, and
// open ones, stay. It returns the bytes given back.
func (d *Drive) shrinkCache(bound int64) int64 {
	type item struct {
		f          *state.File
		size, used int64
	}
	var items []item
	var total int64
	d.t.Inspect(func(v fs.View) {
		for n, f := range v.All() {
			sf, ok := f.(*state.File)
			if !ok {
				continue
			}
			local, clean, used := sf.Usage(int64(n.Attr.Size))
			if clean {
				total += local
				items = append(items, item{sf, int64(n.Attr.Size), used})
			}
		}
	})
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(a.used, b.used) })
	var freed int64
	for _, it := range items {
		if total-freed <= bound {
			break
		}
		freed += it.f.Drop(it.size)
	}
	return freed
}

// RenewShards renews the cloud's leases on every shard of the current
// tree: contents, pages and super.
func (d *Drive) RenewShards(ctx context.Context) error {
	var ids []erasure.ShardID
	var hints []store.Holder
	add := func(m *pipeline.Manifest) {
		for i, s := range m.Stripes {
			for j, sh := range s.Shards {
				if !s.Stored(j) {
					continue
				}
				ids = append(ids, sh.ID)
				var h store.Holder
				if m.Holders != nil {
					h = m.Holders[i][j]
				}
				hints = append(hints, h)
			}
		}
	}
	d.t.Inspect(func(v fs.View) {
		for _, f := range v.All() {
			if sf, ok := f.(*state.File); ok {
				if _, m := sf.Base(); m != nil {
					add(m)
				}
			}
		}
	})
	d.mu.Lock()
	for _, enc := range d.pages {
		if m, err := pipeline.ParseManifest(enc); err == nil {
			add(m)
		}
	}
	ref := d.ref
	d.mu.Unlock()
	if m, err := d.openRef(ref); err == nil {
		add(m)
	}
	const batch = 4096
	for len(ids) > 0 {
		n := min(batch, len(ids))
		if err := d.cfg.Cloud.Renew(ctx, ids[:n], hints[:n]); err != nil {
			return err
		}
		ids, hints = ids[n:], hints[n:]
	}
	return nil
}
