package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/erasure"
)

var (
	// ErrNotFound reports a shard the store does not hold.
	ErrNotFound = errors.New("store: shard not found")
	// ErrBadShard reports bytes that do not hash to the ID they were put under.
	ErrBadShard = errors.New("store: shard bytes do not match their ID")
	// ErrFull reports a store that refused a shard for lack of capacity.
	ErrFull = errors.New("store: no capacity left")
)

// ShardGetter reads shards.
type ShardGetter interface {
	// Get returns the bytes of shard id, or an error matching ErrNotFound.
	// The returned slice belongs to the caller.
	Get(ctx context.Context, id erasure.ShardID) ([]byte, error)
}

// VerifiedGetter is the optional ability of a ShardGetter to return only
// bytes that hash to the ID asked for, having checked them itself. A store
// that reads from peers must check, to tell a lying peer from a good one;
// this lets its caller skip hashing the same bytes again.
type VerifiedGetter interface {
	// GetVerified is Get, except that it returns bytes only if they hash
	// to id.
	GetVerified(ctx context.Context, id erasure.ShardID) ([]byte, error)
}

// GetVerified returns the bytes of shard id from g, checked against id:
// by g if it is a HintedGetter given hints or a VerifiedGetter, else here,
// where bytes that do not hash to id are an error matching
// erasure.ErrCorrupt.
func GetVerified(ctx context.Context, g ShardGetter, id erasure.ShardID, hints []Holder) ([]byte, error) {
	if hg, ok := g.(HintedGetter); ok && len(hints) > 0 {
		return hg.GetHinted(ctx, id, hints)
	}
	if vg, ok := g.(VerifiedGetter); ok {
		return vg.GetVerified(ctx, id)
	}
	b, err := g.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if !id.Verify(b) {
		return nil, fmt.Errorf("%w: shard %s", erasure.ErrCorrupt, id.Short())
	}
	return b, nil
}

// ShardPutter writes shards.
type ShardPutter interface {
	// Put stores data under id after checking that id names data
	// (ErrBadShard otherwise). It returns once the store would return the
	// shard to a later Get; how durable that is depends on the store. Put
	// does not retain data.
	Put(ctx context.Context, id erasure.ShardID, data []byte) error
}

// ShardStatter answers which shards a store holds.
type ShardStatter interface {
	// Has reports, for each ID, whether the store holds it.
	Has(ctx context.Context, ids []erasure.ShardID) ([]bool, error)
}

// ShardDeleter removes shards.
type ShardDeleter interface {
	// Delete removes shard id. Deleting an absent shard is not an error.
	Delete(ctx context.Context, id erasure.ShardID) error
}

// ShardWalker lists shards.
type ShardWalker interface {
	// Walk calls fn for every shard held, in no particular order, until fn
	// returns an error, which Walk then returns.
	Walk(ctx context.Context, fn func(id erasure.ShardID, size int) error) error
}

// ShardStore is a complete store.
type ShardStore interface {
	ShardGetter
	ShardPutter
	ShardStatter
	ShardDeleter
	ShardWalker
}

// CheckPut is the check every ShardPutter makes before storing data.
func CheckPut(id erasure.ShardID, data []byte) error {
	if got := erasure.SumShard(data); got != id {
		return fmt.Errorf("%w: put as %s, bytes hash to %s", ErrBadShard, id.Short(), got.Short())
	}
	return nil
}
