package pipeline

import (
	"container/list"
	"context"
	"sync"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// PackedCache keeps the packed data shards that readers of many files
// fetched lately, across files. A Writer packs small files' chunks
// together into shards of about a chunk's average size (1 MiB), so
// reading a directory of small files reads the same shard once per file:
// each file has a Reader of its own, whose cache dies with it. This
// cache, shared by all of them (a drive's readers, a restore), fetches
// such a shard once. Only shards packed with more
// than one chunk are kept (a big file's shards are read once, and would
// only push them out); it is bounded in bytes, least recently used first.
// A fetch under way is shared by every reader that asks for the same
// shard.
type PackedCache struct {
	bound int64

	mu       sync.Mutex
	size     int64
	lru      *list.List // of *packedEntry, most recent first
	byID     map[erasure.ShardID]*list.Element
	inflight map[erasure.ShardID]*packedFetch
}

type packedEntry struct {
	id erasure.ShardID
	b  []byte
}

type packedFetch struct {
	done chan struct{}
	b    []byte
	err  error
}

// NewPackedCache returns a cache of at most bound bytes of shards.
func NewPackedCache(bound int64) *PackedCache {
	return &PackedCache{bound: bound, lru: list.New(), byID: map[erasure.ShardID]*list.Element{}, inflight: map[erasure.ShardID]*packedFetch{}}
}

// get returns shard id's bytes, verified, from the cache or from fetch,
// which must return verified bytes; what fetch returns is kept. The bytes
// are shared with the cache and every other caller: nobody may write to
// them.
func (c *PackedCache) get(ctx context.Context, id erasure.ShardID, fetch func(context.Context) ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.byID[id]; ok {
		c.lru.MoveToFront(e)
		b := e.Value.(*packedEntry).b
		c.mu.Unlock()
		return b, nil
	}
	if f, ok := c.inflight[id]; ok {
		c.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return fetch(ctx) // its fetcher's failure, maybe its context: try ours
		}
		return f.b, nil
	}
	f := &packedFetch{done: make(chan struct{})}
	c.inflight[id] = f
	c.mu.Unlock()

	f.b, f.err = fetch(ctx)
	c.mu.Lock()
	delete(c.inflight, id)
	if f.err == nil && int64(len(f.b)) <= c.bound {
		c.byID[id] = c.lru.PushFront(&packedEntry{id, f.b})
		c.size += int64(len(f.b))
		for c.size > c.bound {
			e := c.lru.Back()
			old := e.Value.(*packedEntry)
			c.lru.Remove(e)
			delete(c.byID, old.id)
			c.size -= int64(len(old.b))
		}
	}
	c.mu.Unlock()
	close(f.done)
	return f.b, f.err
}

// packedShards returns the data shards of m that hold more than one
// sealed chunk (or a chunk that does not fill them: another file's
// chunks share it).
func packedShards(m *Manifest) map[erasure.ShardID]bool {
	var packed map[erasure.ShardID]bool
	for _, ch := range m.Chunks {
		if ch.Stripe < 0 || ch.Stripe >= len(m.Stripes) {
			continue
		}
		d := m.Stripes[ch.Stripe]
		if ch.Shard < 0 || ch.Shard >= len(d.Shards) {
			continue
		}
		// A chunk alone in its shard (after a salt, maybe) is read once.
		if (ch.Offset == 0 || ch.Offset == ShardSalt) && ch.Offset+ch.SealedSize() >= d.Shards[ch.Shard].Size {
			continue
		}
		if packed == nil {
			packed = map[erasure.ShardID]bool{}
		}
		packed[d.Shards[ch.Shard].ID] = true
	}
	return packed
}

// Getter returns the store a Reader of the file m describes should fetch
// through: m's packed shards through the cache, the others from st. Every
// shard it returns is verified (see cachedGetter).
func (c *PackedCache) Getter(st store.ShardGetter, m *Manifest) store.ShardGetter {
	return cachedGetter{st, c, packedShards(m)}
}

// cachedGetter is the store a Reader of one file fetches through: its
// packed shards through the shared cache, the others from the store.
// Every shard it returns is verified, as a HintedGetter's and a
// VerifiedGetter's are. Unlike a ShardGetter's, a packed shard's bytes are
// shared, not the caller's: it is only handed to pipeline readers, which
// never write to a shard (they open chunks out of it into buffers of
// their own), and a copy of a 1 MiB shard per small file read cost more
// than the rest of the cache's work.
type cachedGetter struct {
	cloud  store.ShardGetter
	cache  *PackedCache
	packed map[erasure.ShardID]bool
}

var (
	_ store.HintedGetter   = cachedGetter{}
	_ store.VerifiedGetter = cachedGetter{}
)

// Get implements store.ShardGetter; the bytes are verified.
func (g cachedGetter) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return g.GetVerified(ctx, id)
}

// GetVerified implements store.VerifiedGetter.
func (g cachedGetter) GetVerified(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return g.get(ctx, id, nil)
}

// GetHinted implements store.HintedGetter.
func (g cachedGetter) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	return g.get(ctx, id, hints)
}

func (g cachedGetter) get(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	fetch := func(ctx context.Context) ([]byte, error) { return store.GetVerified(ctx, g.cloud, id, hints) }
	if !g.packed[id] {
		return fetch(ctx)
	}
	return g.cache.get(ctx, id, fetch)
}
