package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// Pruning gives back the space of stripes no snapshot uses, without a lock
// that would stop backups: in two steps. A prune condemns the stripes no
// kept snapshot uses (recording when, in the set's prune list); from then
// on backups do not deduplicate against them (they still renew them). A
// later prune, once Grace has passed, releases those still unused (a
// backup that began before they were condemned may have come to use
// them: then they are kept), and backups stop renewing them. A backup
// that finds, once it has published, that a prune released a stripe it
// used says so (it ran longer than the grace). A stripe with one chunk
// still used is kept whole.
//
// The node a machine talks to owns the stripes it stored, so a prune
// releases at once only what its own node stored; the rest, neither used
// nor renewed any more, goes when its leases and retention run out.

// DefaultPruneGrace is how long a condemned stripe waits before a prune
// releases it: longer than any backup runs.
const DefaultPruneGrace = 24 * time.Hour

// Releaser is what a cloud that can release stripes at once offers
// (the daemon's, a node's in process): it gives up the caller's leases
// on the shards, and holders delete a shard no lease is left on.
type Releaser interface {
	Release(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error
}

// StripeKey names a stripe in the prune list: the SHA-256 of its
// descriptor's encoding.
type StripeKey [32]byte

func stripeKey(d *erasure.Descriptor) StripeKey {
	b, _ := d.MarshalBinary()
	return sha256.Sum256(b)
}

// pruneList is the set's prune list: version(1) | condemned count |
// { key(32) | zigzag unix seconds }... | released count | { key(32) }...,
// each sorted by key. Stripe keys do not repeat: a backup salts each data
// shard, so content stored again is another stripe.
type pruneList struct {
	condemned map[StripeKey]time.Time
	released  map[StripeKey]bool
}

// condemnedAt returns when k was condemned, if it is.
func (p *pruneList) condemnedAt(k StripeKey) (time.Time, bool) {
	if p == nil {
		return time.Time{}, false
	}
	t, ok := p.condemned[k]
	return t, ok
}

const pruneVersion = 1

func keyCmp(a, b StripeKey) int { return bytes.Compare(a[:], b[:]) }

func (p *pruneList) encode() []byte {
	b := []byte{pruneVersion}
	b = binary.AppendUvarint(b, uint64(len(p.condemned)))
	for _, k := range slices.SortedFunc(maps.Keys(p.condemned), keyCmp) {
		b = append(b, k[:]...)
		b = binary.AppendVarint(b, p.condemned[k].Unix())
	}
	b = binary.AppendUvarint(b, uint64(len(p.released)))
	for _, k := range slices.SortedFunc(maps.Keys(p.released), keyCmp) {
		b = append(b, k[:]...)
	}
	return b
}

func parsePruneList(b []byte) (*pruneList, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != pruneVersion {
		r.Fail("prune list version %d", v)
	}
	p := &pruneList{condemned: map[StripeKey]time.Time{}, released: map[StripeKey]bool{}}
	n := r.Count(maxEntries, 33)
	for range n {
		var k StripeKey
		copy(k[:], r.Bytes(32))
		p.condemned[k] = time.Unix(format.Varint(r), 0)
	}
	n = r.Count(maxEntries, 32)
	for range n {
		var k StripeKey
		copy(k[:], r.Bytes(32))
		p.released[k] = true
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return p, canonical(b, p.encode())
}

// gone reports whether a stripe is condemned or released: not to be
// used or renewed.
func (p *pruneList) gone(k StripeKey) bool {
	if p == nil {
		return false
	}
	_, c := p.condemned[k]
	return c || p.released[k]
}

// readPruneList returns the set's prune list (empty before any prune).
func readPruneList(ctx context.Context, cloud Cloud, keys *Keys, root *SetRoot) (*pruneList, error) {
	if len(root.Pruned) == 0 {
		return &pruneList{condemned: map[StripeKey]time.Time{}, released: map[StripeKey]bool{}}, nil
	}
	m, err := Ref(root.Pruned).open(keys.Data)
	if err != nil {
		return nil, fmt.Errorf("backup: the prune list: %w", err)
	}
	b, err := readFile(ctx, cloud, keys.Data, m)
	if err != nil {
		return nil, fmt.Errorf("backup: read the prune list: %w", err)
	}
	return parsePruneList(b)
}

// PruneOptions are a prune's.
type PruneOptions struct {
	Grace  time.Duration // 0: release what is unused at once (only safe when no backup runs)
	DryRun bool          // count, change nothing
	Now    func() time.Time
}

// PruneStats is what a prune did.
type PruneStats struct {
	Used                 int    // stripes some kept snapshot uses
	UsedBytes            uint64 // their stored bytes (data and parity)
	Condemned            int    // stripes condemned by this prune
	CondemnedBytes       uint64
	Released             int // stripes released by this prune
	ReleasedBytes        uint64
	Waiting              int // condemned before, not yet past the grace
	Spared               int // condemned before, used again since, kept
	NotReleased          int // released from the list, but the cloud could not release them at once (another node's: they expire)
	ReleaseErrors        int
	Snapshots, Forgotten int // kept snapshots walked, forgotten ones passed
	// Dropped counts the snapshots a writer's own log no longer lists,
	// which the admin's archive keeps (listed, used, restorable): a key
	// that did this is not to be trusted.
	Dropped int
}

// Prune frees the space of stripes no kept snapshot uses (see above).
// Only the admin key may.
func Prune(ctx context.Context, cloud Cloud, keys *Keys, opt PruneOptions) (*PruneStats, error) {
	if keys.AppendOnly() {
		return nil, fmt.Errorf("%w: pruning needs the admin key", ErrAppendOnly)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	state, err := readState(ctx, cloud, keys)
	if err != nil {
		return nil, err
	}
	seq, root, ls, gone, pl := state.seq, state.root, state.ls, state.gone, state.pl
	st := &PruneStats{}
	used := map[StripeKey]bool{}
	mark := func(m *pipeline.Manifest) {
		for _, d := range m.Stripes {
			used[stripeKey(d)] = true
		}
	}
	markRef := func(ref []byte) error {
		if len(ref) == 0 {
			return nil
		}
		m, err := Ref(ref).open(keys.Data)
		if err != nil {
			return err
		}
		mark(m)
		return nil
	}
	for _, ref := range [][]byte{root.Forgotten, root.Pruned, root.Archive} {
		if err := markRef(ref); err != nil {
			return nil, err
		}
	}
	for _, l := range ls {
		st.Dropped += l.dropped
		if err := markRef(l.log); err != nil {
			return nil, err
		}
		for _, e := range l.entries {
			if err := markRef(e.Index); err != nil {
				return nil, err
			}
			if gone[sha256.Sum256(e.Box)] {
				st.Forgotten++
				continue
			}
			plain, err := keys.Set.OpenBox(e.Box)
			if err != nil {
				return nil, fmt.Errorf("backup: prune: a snapshot: %w", err)
			}
			s, err := parseSnapshot(plain)
			if err != nil {
				return nil, err
			}
			st.Snapshots++
			if err := markTree(ctx, cloud, keys, s, mark); err != nil {
				return nil, err
			}
		}
	}
	// Every stripe the set keeps, by key.
	v, err := loadView(ctx, cloud, keys, ls, root, pl)
	if err != nil {
		return nil, err
	}
	now := opt.Now()
	for k, at := range v.stripes {
		d := at.d
		if pl.released[k] {
			continue // loadView leaves them out; a listing of one is stale
		}
		switch {
		case used[k]:
			st.Used++
			st.UsedBytes += stripeBytes(d)
			if _, ok := pl.condemned[k]; ok {
				delete(pl.condemned, k)
				st.Spared++
			}
		default:
			if _, ok := pl.condemned[k]; !ok {
				pl.condemned[k] = now
				st.Condemned++
				st.CondemnedBytes += stripeBytes(d)
			}
		}
	}
	var ids []erasure.ShardID
	var hs []store.Holder
	for _, k := range slices.SortedFunc(maps.Keys(pl.condemned), keyCmp) {
		if at := pl.condemned[k]; now.Sub(at) < opt.Grace {
			if !at.Equal(now) {
				st.Waiting++ // condemned by an earlier prune
			}
			continue
		}
		at, listed := v.stripes[k]
		delete(pl.condemned, k)
		pl.released[k] = true
		if !listed {
			continue // no longer listed anywhere: nothing to release
		}
		st.Released++
		st.ReleasedBytes += stripeBytes(at.d)
		for j, sh := range at.d.Shards {
			if sh.Size == 0 {
				continue
			}
			ids = append(ids, sh.ID)
			var h store.Holder
			if at.holders != nil {
				h = at.holders[j]
			}
			hs = append(hs, h)
		}
	}

	if opt.DryRun {
		return st, nil
	}
	if err := archive(ctx, cloud, keys, root, ls); err != nil {
		return nil, err
	}
	// The list first: once it says released, no backup uses or renews
	// them, whether or not the release below gets through.
	m, err := pipeline.Write(ctx, pipeline.Config{Keys: keys.Data, Sealing: pipeline.SealContent, Compress: true}, cloud, bytes.NewReader(pl.encode()))
	if err != nil {
		return nil, fmt.Errorf("backup: store the prune list: %w", err)
	}
	if root.Pruned, err = makeRef(keys.Data, m); err != nil {
		return nil, err
	}
	if len(root.Marshal()) > drive.MaxRootValue {
		return nil, errors.New("backup: the set's root is full")
	}
	if err := cloud.PublishRoot(ctx, keys.Set, seq+1, root.Marshal()); err != nil {
		return nil, fmt.Errorf("backup: publish the set's root: %w", err)
	}
	if len(ids) > 0 {
		if rel, ok := cloud.(Releaser); ok {
			if err := rel.Release(ctx, ids, hs); err != nil {
				st.ReleaseErrors++
				return st, fmt.Errorf("backup: release %d shards: %w (they are no longer renewed, and expire)", len(ids), err)
			}
		} else {
			st.NotReleased = st.Released
		}
	}
	return st, nil
}

// stripeBytes is what a stripe stores: its shards, parity included.
func stripeBytes(d *erasure.Descriptor) uint64 {
	var n uint64
	for _, sh := range d.Shards {
		n += uint64(sh.Size)
	}
	return n
}

// markTree marks the stripes of a snapshot's tree: its super, its pages
// and every file's contents.
func markTree(ctx context.Context, cloud Cloud, keys *Keys, s *Snapshot, mark func(*pipeline.Manifest)) error {
	sm, err := pipeline.ParseManifest(s.Super)
	if err != nil {
		return err
	}
	mark(sm)
	t, err := openTree(ctx, cloud, keys, s)
	if err != nil {
		return err
	}
	for i, enc := range t.super.Pages {
		m, err := pipeline.ParseManifest(enc)
		if err != nil {
			return fmt.Errorf("%w: page %d: %w", ErrDamaged, i, err)
		}
		mark(m)
		b, err := readFile(ctx, cloud, keys.Data, m)
		if err != nil {
			return fmt.Errorf("backup: read page %d of a tree: %w", i, err)
		}
		err = format.ParsePage(b, i, func(r *format.Record) error {
			if r.Attr.Kind != fs.Regular || len(r.Manifest) == 0 {
				return nil
			}
			fm, err := pipeline.ParseManifest(r.Manifest)
			if err != nil {
				return err
			}
			mark(fm)
			return nil
		})
		if err != nil {
			return fmt.Errorf("backup: page %d of a tree: %w", i, err)
		}
	}
	return nil
}
