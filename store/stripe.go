package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/murmur-cloud/murmur/erasure"
)

// Holder names where a shard was stored, as the store that put it names
// it (the cloud store uses peer IDs). The data path keeps holders in
// manifests as hints for reading and never interprets them.
type Holder string

// MaxHolderLen bounds a holder's name.
const MaxHolderLen = 128

// StripePutter is the optional ability to store a whole stripe at once,
// for stores that place its shards on distinct holders (a different peer
// per shard, as placement does). Identical shards of one stripe (with k=1
// every parity shard is a copy of the data shard) are then still kept by
// distinct holders, which a Put by ID alone cannot express.
type StripePutter interface {
	// PutStripe stores every shard of the stripe d describes that has
	// bytes (shards[i] for d.Shards[i]), and returns once all are stored,
	// with where each went: holders[i] for d.Shards[i], "" for an empty
	// slot. Like Put it does not retain the shards: when it returns,
	// successfully or not, nothing of it may still read them (the caller
	// recycles the buffers at once), so an implementation that fails early
	// must first stop or wait for the transfers it started.
	PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) (holders []Holder, err error)
}

// HintedGetter is the optional ability to read a shard from holders a
// StripePutter reported, before looking for it elsewhere.
type HintedGetter interface {
	// GetHinted is GetVerified (it returns only bytes that hash to id),
	// asking the hinted holders first. Hints are only hints: a shard that
	// moved is still found.
	GetHinted(ctx context.Context, id erasure.ShardID, hints []Holder) ([]byte, error)
}

// PutStripe stores a stripe's shards in p: with PutStripe when p has that
// ability, else with one Put per stored shard, in parallel. Holders are
// returned only by a StripePutter; otherwise they are nil.
func PutStripe(ctx context.Context, p ShardPutter, d *erasure.Descriptor, shards [][]byte) ([]Holder, error) {
	if sp, ok := p.(StripePutter); ok {
		return sp.PutStripe(ctx, d, shards)
	}
	if len(shards) != len(d.Shards) {
		return nil, fmt.Errorf("store: %d shards for a stripe of %d", len(shards), len(d.Shards))
	}
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, b := range shards {
		if !d.Stored(i) {
			continue
		}
		wg.Go(func() {
			if err := p.Put(ctx, d.Shards[i].ID, b); err != nil {
				errs[i] = fmt.Errorf("put shard %d (%s): %w", i, d.Shards[i].ID.Short(), err)
			}
		})
	}
	wg.Wait()
	return nil, errors.Join(errs...)
}
