package backup

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/zeebo/blake3"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// ErrCheck reports a set that check found damaged: a stripe a kept
// snapshot uses is released or not indexed, or a shard of it could not be
// read or did not verify.
var ErrCheck = errors.New("backup: the set is damaged")

// CheckOptions are a check's.
type CheckOptions struct {
	// ReadData is the share (0 to 1) of the stripes the kept snapshots
	// use whose every shard is fetched from its holder and verified:
	// exactly ⌈ReadData × stripes⌉ of them.
	ReadData float64
	// Seed picks which stripes (the same seed and set, the same stripes).
	Seed uint64
}

// CheckStats is what a check found.
type CheckStats struct {
	Snapshots int        // kept snapshots whose trees were read whole
	Stripes   int        // stripes they use
	Missing   int        // of them, released or in no index segment
	Read      int        // stripes whose shards were all fetched
	Shards    int        // shards fetched and verified
	Bad       []BadShard // shards that could not be read or did not verify
}

// BadShard is a shard check could not read or verify.
type BadShard struct {
	ID     erasure.ShardID
	Holder store.Holder // where its stripe's manifest says it is
	Err    error
}

// Check reads every kept snapshot's tree (so every record, page and
// manifest is read and verified), checks that every stripe they use is
// still stored (in the index, not released by a prune) and, for a share
// of them, fetches every shard from its holder and checks it against its
// ID: a corrupted or lost shard is named, though a read would mend it
// from the rest of its stripe. Only the admin key may.
func Check(ctx context.Context, cloud Cloud, keys *Keys, opt CheckOptions) (*CheckStats, error) {
	if keys.AppendOnly() {
		return nil, fmt.Errorf("%w: checking needs the admin key", ErrAppendOnly)
	}
	state, err := readState(ctx, cloud, keys)
	if err != nil {
		return nil, err
	}
	ls, root, gone, pl := state.ls, state.root, state.gone, state.pl
	type used struct {
		d       *erasure.Descriptor
		holders []store.Holder
	}
	stripes := map[StripeKey]used{}
	mark := func(m *pipeline.Manifest) {
		for i, d := range m.Stripes {
			k := stripeKey(d)
			u := stripes[k]
			u.d = d
			if m.Holders != nil && u.holders == nil {
				u.holders = m.Holders[i]
			}
			stripes[k] = u
		}
	}
	st := &CheckStats{}
	for _, l := range ls {
		for _, e := range l.entries {
			if gone[sha256.Sum256(e.Box)] {
				continue
			}
			plain, err := keys.Set.OpenBox(e.Box)
			if err != nil {
				return nil, fmt.Errorf("backup: check: a snapshot: %w", err)
			}
			s, err := parseSnapshot(plain)
			if err != nil {
				return nil, fmt.Errorf("backup: check: a snapshot: %w", err)
			}
			if err := markTree(ctx, cloud, keys, s, mark); err != nil {
				return nil, fmt.Errorf("backup: check: the snapshot of %v: %w", s.Time, err)
			}
			st.Snapshots++
		}
	}
	v, err := loadView(ctx, cloud, keys, ls, root, pl)
	if err != nil {
		return nil, err
	}
	st.Stripes = len(stripes)
	keysSorted := slices.SortedFunc(maps.Keys(stripes), keyCmp)
	for _, k := range keysSorted {
		if _, kept := v.stripes[k]; !kept {
			st.Missing++
		}
	}
	for _, k := range subset(opt.Seed, keysSorted, opt.ReadData) {
		u := stripes[k]
		st.Read++
		for j, sh := range u.d.Shards {
			if sh.Size == 0 {
				continue
			}
			var hints []store.Holder
			var h store.Holder
			if u.holders != nil && u.holders[j] != "" {
				h = u.holders[j]
				hints = []store.Holder{h}
			}
			st.Shards++
			b, err := cloud.GetHinted(ctx, sh.ID, hints)
			switch {
			case ctx.Err() != nil:
				return nil, ctx.Err()
			case err == nil && (len(b) != sh.Size || !sh.ID.Verify(b)):
				err = fmt.Errorf("%w: %d bytes that do not hash to the shard's ID", erasure.ErrCorrupt, len(b))
			}
			if err != nil {
				st.Bad = append(st.Bad, BadShard{ID: sh.ID, Holder: h, Err: err})
			}
		}
	}
	if st.Missing > 0 || len(st.Bad) > 0 {
		return st, fmt.Errorf("%w: %d of %d stripes in use are no longer stored, %d of %d shards read are bad", ErrCheck, st.Missing, st.Stripes, len(st.Bad), st.Shards)
	}
	return st, nil
}

// subset is the share p of the stripes keys (sorted) that the seed picks,
// at least one when p > 0: the stripes with the lowest seeded hashes, so
// the same seed over the same set reads the same stripes and different
// seeds spread over the whole set.
func subset(seed uint64, keys []StripeKey, p float64) []StripeKey {
	switch {
	case p >= 1:
		return keys
	case p <= 0:
		return nil
	}
	n := int(math.Ceil(p * float64(len(keys))))
	rank := make(map[StripeKey]uint64, len(keys))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	for _, k := range keys {
		h := blake3.New()
		h.Write(b[:])
		h.Write(k[:])
		rank[k] = binary.LittleEndian.Uint64(h.Sum(nil))
	}
	picked := slices.Clone(keys)
	slices.SortFunc(picked, func(a, b StripeKey) int {
		if c := cmp.Compare(rank[a], rank[b]); c != 0 {
			return c
		}
		return keyCmp(a, b)
	})
	picked = picked[:n]
	slices.SortFunc(picked, keyCmp)
	return picked
}
