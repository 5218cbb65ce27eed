package pipeline

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Default erasure code: any 2 of 6 shards may be lost, at 1.5x storage.
const (
	DefaultK = 4
	DefaultM = 2
)

// Config holds what both directions of the pipeline need.
type Config struct {
	Keys     *crypt.Keys  // required
	Chunking chunk.Params // zero: chunk.DefaultParams()
	K, M     int          // zero: DefaultK, DefaultM
	// PackSize is the size up to which consecutive sealed chunks share one
	// data shard. Zero: the chunking average. A chunk is never split.
	PackSize int
	// Workers is the number of goroutines sealing, opening and coding in
	// parallel. Zero: GOMAXPROCS.
	Workers int
	// CacheBytes bounds a Reader's cache of opened chunks and rebuilt
	// shards. Zero: 64 MiB.
	CacheBytes int
	// Sealing is how a Writer seals chunks: SealDrive (the zero value)
	// or SealContent. A Reader opens either, as each chunk's ref says.
	Sealing Sealing
	// Compress makes a Writer compress each chunk with zstd before
	// sealing it, and keep the compressed form when it saves at least
	// a sixteenth.
	Compress bool
	// Index, if not nil, names chunks already stored: a Writer refers
	// to a chunk it knows where it lies instead of storing it again.
	// Chunks repeated within one batch are stored once either way.
	Index Index
	// OnStored, if set, is told of each stripe a Writer stored, with the
	// chunks packed in it (their Stripe fields are not indexes of any
	// manifest), as soon as the stripe is stored and before Finish: a
	// caller that must not store chunks twice after a crash records them
	// here. It is called from the Writer's background goroutines, maybe
	// concurrently.
	OnStored func(stripe *erasure.Descriptor, holders []store.Holder, chunks []ChunkRef)
	Logger   *slog.Logger // nil: discard
}

// Sealing is how chunks are sealed.
type Sealing uint8

const (
	// SealDrive seals a chunk under the drive's chunk key, with a random
	// nonce (crypt.Sealer.Seal): whoever holds the drive key opens it.
	SealDrive Sealing = iota
	// SealContent seals a chunk under its own key, drawn from its
	// plaintext with its ID (chunk.Hasher.SumKey) and kept in its
	// manifest ref (crypt.Sealer.SealKeyed): the same plaintext seals to
	// the same bytes, and the drive's keys alone do not open it. Backup
	// sets seal this way, so machines writing into one set cannot read
	// one another's chunks.
	SealContent
)

// withDefaults returns a copy of c with its zero fields filled in, or an
// error naming the first invalid field.
func (c Config) withDefaults() (Config, error) {
	if c.Keys == nil {
		return c, errors.New("pipeline: Config.Keys is required")
	}
	if c.Chunking == (chunk.Params{}) {
		c.Chunking = chunk.DefaultParams()
	}
	if err := c.Chunking.Validate(); err != nil {
		return c, fmt.Errorf("pipeline: %w", err)
	}
	if c.Chunking.Max > MaxChunkSize {
		return c, fmt.Errorf("pipeline: chunk maximum %d exceeds %d", c.Chunking.Max, MaxChunkSize)
	}
	if c.K == 0 && c.M == 0 {
		c.K, c.M = DefaultK, DefaultM
	}
	if c.K < 1 || c.M < 1 || c.K+c.M > erasure.MaxShards {
		return c, fmt.Errorf("pipeline: invalid code k=%d m=%d: need k>=1, m>=1, k+m<=%d", c.K, c.M, erasure.MaxShards)
	}
	if c.PackSize == 0 {
		c.PackSize = c.Chunking.Avg
	}
	if c.PackSize < 0 || c.PackSize > erasure.MaxShardSize {
		return c, fmt.Errorf("pipeline: pack size %d out of range 0..%d", c.PackSize, erasure.MaxShardSize)
	}
	if c.Workers <= 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.CacheBytes <= 0 {
		c.CacheBytes = 64 << 20
	}
	if c.Sealing > SealContent {
		return c, fmt.Errorf("pipeline: unknown sealing %d", c.Sealing)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}
