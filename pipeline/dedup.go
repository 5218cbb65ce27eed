package pipeline

import (
	"runtime"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Index finds chunks already stored, for a Writer to refer to instead of
// storing them again (Config.Index). Lookup is called from the Writer's
// workers concurrently. A Writer trusts what it is told: an Index must
// only hold chunks sealed the way the Writer seals (its Config's keys
// and Sealing) whose stripes are still stored.
type Index interface {
	Lookup(id chunk.ID) (Located, bool)
}

// Located is where a stored chunk lies: its ref (whose Stripe is not
// used), the descriptor of its stripe and, if known, its stripe's
// holders (one per shard, as Manifest.Holders).
type Located struct {
	Ref     ChunkRef
	Stripe  *erasure.Descriptor
	Holders []store.Holder
}

// MemIndex is an Index in memory, filled from manifests. It is safe for
// concurrent use.
type MemIndex struct {
	mu     sync.RWMutex
	chunks map[chunk.ID]Located
}

// NewMemIndex returns an index of the chunks of ms.
func NewMemIndex(ms ...*Manifest) *MemIndex {
	x := &MemIndex{chunks: make(map[chunk.ID]Located)}
	for _, m := range ms {
		x.Add(m)
	}
	return x
}

// Add indexes the chunks of m; a chunk already indexed keeps its place.
func (x *MemIndex) Add(m *Manifest) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range m.Chunks {
		if _, ok := x.chunks[c.ID]; ok {
			continue
		}
		loc := Located{Ref: c, Stripe: m.Stripes[c.Stripe]}
		if m.Holders != nil {
			loc.Holders = m.Holders[c.Stripe]
		}
		x.chunks[c.ID] = loc
	}
}

// Lookup implements Index.
func (x *MemIndex) Lookup(id chunk.ID) (Located, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	loc, ok := x.chunks[id]
	return loc, ok
}

// Len returns the number of chunks indexed.
func (x *MemIndex) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.chunks)
}

// zstd's encoder and decoder are safe for concurrent EncodeAll and
// DecodeAll; one of each serves every Writer and Reader.
var (
	zstdOnce sync.Once
	zstdEnc  *zstd.Encoder
	zstdDec  *zstd.Decoder
)

func zstdCodec() (*zstd.Encoder, *zstd.Decoder) {
	zstdOnce.Do(func() {
		var err error
		// EncodeAll takes one of Concurrency encoders: as many as cores,
		// or the seal workers would compress one at a time.
		zstdEnc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
		if err != nil {
			panic("pipeline: zstd encoder: " + err.Error())
		}
		zstdDec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxChunkSize+1<<20))
		if err != nil {
			panic("pipeline: zstd decoder: " + err.Error())
		}
	})
	return zstdEnc, zstdDec
}

// compress returns plain compressed into dst when that saves at least a
// sixteenth of it, else nil.
func compress(dst, plain []byte) []byte {
	enc, _ := zstdCodec()
	out := enc.EncodeAll(plain, dst[:0])
	if len(out) > len(plain)-len(plain)/16 || len(out) == 0 {
		return nil
	}
	return out
}

// Walk calls fn for every chunk indexed, in no particular order; fn must
// not call x's other methods.
func (x *MemIndex) Walk(fn func(Located)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, loc := range x.chunks {
		fn(loc)
	}
}
