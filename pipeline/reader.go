package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Reader reads one file back. ReadAt and ReadAtContext may be called
// concurrently; Read, Seek and WriteTo share a position and must not be.
type Reader struct {
	cfg    Config
	m      *Manifest
	store  store.ShardGetter
	sealer *crypt.Sealer
	ctx    context.Context

	starts []int64 // starts[i] is the file offset of chunk i; starts[len] = Size
	shared map[shardKey]bool

	chunks *cache[int]             // opened chunks, by index
	shards *cache[erasure.ShardID] // packed and rebuilt data shards

	pos int64
}

type shardKey struct{ stripe, shard int }

// NewReader returns a Reader for the file m describes, fetching shards from
// st. ctx bounds the fetches of the methods without a context of their own
// (ReadAt, Read, WriteTo); ReadAtContext takes one per call.
func NewReader(ctx context.Context, cfg Config, st store.ShardGetter, m *Manifest) (*Reader, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	r := &Reader{
		cfg: cfg, m: m, store: st, ctx: ctx,
		sealer: cfg.Keys.Sealer(crypt.PurposeChunk),
		starts: make([]int64, len(m.Chunks)+1),
		shared: map[shardKey]bool{},
		chunks: newCache[int](cfg.CacheBytes / 2),
		shards: newCache[erasure.ShardID](cfg.CacheBytes / 2),
	}
	seen := map[shardKey]bool{}
	for i, c := range m.Chunks {
		r.starts[i+1] = r.starts[i] + int64(c.Size)
		k := shardKey{c.Stripe, c.Shard}
		r.shared[k] = seen[k]
		seen[k] = true
	}
	return r, nil
}

// Size returns the file's length.
func (r *Reader) Size() int64 { return r.m.Size }

// ReadAt implements io.ReaderAt under the Reader's context.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) { return r.ReadAtContext(r.ctx, p, off) }

// ReadAtContext is ReadAt bounded by ctx. It fetches only the chunks that
// overlap [off, off+len(p)), in parallel.
func (r *Reader) ReadAtContext(ctx context.Context, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("pipeline: read at negative offset %d", off)
	}
	if off >= r.m.Size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.m.Size)
	first := sort.Search(len(r.m.Chunks), func(i int) bool { return r.starts[i+1] > off })
	last := sort.Search(len(r.m.Chunks), func(i int) bool { return r.starts[i+1] >= end })
	errs := make([]error, last-first+1)
	sem := make(chan struct{}, r.cfg.Workers)
	var wg sync.WaitGroup
	for i := first; i <= last; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			plain, err := r.chunks.get(ctx, i, true, func(ctx context.Context) ([]byte, error) { return r.open(ctx, i) })
			if err != nil {
				errs[i-first] = err
				return
			}
			lo, hi := max(off, r.starts[i]), min(end, r.starts[i+1])
			copy(p[lo-off:hi-off], plain[lo-r.starts[i]:hi-r.starts[i]])
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.m.Size
	default:
		return r.pos, fmt.Errorf("pipeline: seek with unknown whence %d", whence)
	}
	if offset < 0 {
		return r.pos, errors.New("pipeline: seek to a negative offset")
	}
	r.pos = offset
	return offset, nil
}

// WriteTo implements io.WriterTo: it streams the file from the current
// position to its end, fetching and opening chunks in parallel ahead of
// the writer.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	if r.pos >= r.m.Size {
		return 0, nil
	}
	i := sort.Search(len(r.m.Chunks), func(i int) bool { return r.starts[i+1] > r.pos })
	var written int64
	next := func() (int, bool, error) {
		if i >= len(r.m.Chunks) {
			return 0, false, nil
		}
		i++
		return i - 1, true, nil
	}
	load := func(ctx context.Context, i int) (indexed, error) {
		b, err := r.open(ctx, i)
		return indexed{i, b}, err
	}
	emit := func(c indexed) error {
		b := c.b[max(0, r.pos-r.starts[c.i]):]
		n, err := w.Write(b)
		written += int64(n)
		r.pos += int64(n)
		return err
	}
	return written, orderedMap(r.ctx, r.cfg.Workers, next, load, emit)
}

type indexed struct {
	i int
	b []byte
}

// open fetches, verifies and decrypts chunk i.
func (r *Reader) open(ctx context.Context, i int) ([]byte, error) {
	c := r.m.Chunks[i]
	shard, err := r.shard(ctx, c.Stripe, c.Shard)
	if err != nil {
		return nil, fmt.Errorf("chunk %d: %w", i, err)
	}
	if c.Offset+c.SealedSize() > len(shard) {
		// Validate rules this out; a bug elsewhere must not become a panic.
		return nil, fmt.Errorf("%w: chunk %d overruns its %d-byte shard", ErrManifest, i, len(shard))
	}
	sealed := shard[c.Offset : c.Offset+c.SealedSize()]
	var plain []byte
	if c.Keyed() {
		plain, err = r.sealer.OpenKeyed(make([]byte, 0, c.SealedSize()-crypt.Overhead), &c.Key, c.ID[:], sealed)
	} else {
		plain, err = r.sealer.Open(make([]byte, 0, c.SealedSize()-crypt.Overhead), c.ID[:], sealed)
	}
	if err != nil {
		// The shard matched its ID, so the bytes are what was written:
		// a wrong key or a forged manifest, not a bad peer.
		return nil, fmt.Errorf("chunk %d (%s): %w", i, c.ID.String()[:12], err)
	}
	if c.Compressed() {
		_, dec := zstdCodec()
		if plain, err = dec.DecodeAll(plain, make([]byte, 0, c.Size)); err != nil || len(plain) != c.Size {
			// It opened, so it is what its writer sealed.
			return nil, fmt.Errorf("%w: chunk %d (%s) does not decompress to its %d bytes: %v", ErrManifest, i, c.ID.String()[:12], c.Size, err)
		}
	}
	return plain, nil
}

// shard returns data shard sh of stripe si, verified: from the cache, else
// from the store, else rebuilt from the rest of its stripe.
func (r *Reader) shard(ctx context.Context, si, sh int) ([]byte, error) {
	d := r.m.Stripes[si]
	id := d.Shards[sh].ID
	keep := r.shared[shardKey{si, sh}]
	return r.shards.get(ctx, id, keep, func(ctx context.Context) ([]byte, error) {
		b, err := r.fetch(ctx, si, sh)
		if err == nil {
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err() // the caller gave up: nothing is lost
		}
		r.cfg.Logger.Warn("shard unavailable, rebuilding from its stripe", "shard", id.Short(), "err", err)
		return r.rebuild(ctx, si, sh)
	})
}

// fetch gets shard i of stripe si from the store, from its hinted holder
// first if the manifest names one, and verifies it.
func (r *Reader) fetch(ctx context.Context, si, i int) ([]byte, error) {
	d := r.m.Stripes[si]
	if !d.Stored(i) {
		return []byte{}, nil
	}
	var hints []store.Holder
	if r.m.Holders != nil && r.m.Holders[si][i] != "" {
		hints = r.m.Holders[si][i : i+1]
	}
	b, err := store.GetVerified(ctx, r.store, d.Shards[i].ID, hints)
	if err != nil {
		return nil, err
	}
	if len(b) != d.Shards[i].Size {
		return nil, fmt.Errorf("%w: shard %d is %d bytes, its descriptor says %d", erasure.ErrCorrupt, i, len(b), d.Shards[i].Size)
	}
	return b, nil
}

// rebuild fetches intact shards of stripe si, other than the failed shard
// bad, until k are in hand (fetching another for every one that fails),
// rebuilds the data shards, caches them and returns shard bad.
func (r *Reader) rebuild(ctx context.Context, si, bad int) ([]byte, error) {
	d := r.m.Stripes[si]
	shards := make([][]byte, d.K+d.M)
	have, need := 0, d.K
	var candidates []int
	for i := range shards {
		switch {
		case i < d.K && !d.Stored(i):
			have++ // an empty slot is known without fetching
		case i != bad:
			candidates = append(candidates, i)
		}
	}
	type result struct {
		i   int
		b   []byte
		err error
	}
	results := make(chan result, len(candidates))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	running := 0
	launch := func() {
		i := candidates[0]
		candidates = candidates[1:]
		running++
		go func() {
			b, err := r.fetch(ctx, si, i)
			results <- result{i, b, err}
		}()
	}
	for have+running < need && len(candidates) > 0 {
		launch()
	}
	var errs []error
	for have < need && running > 0 {
		res := <-results
		running--
		if res.err != nil {
			errs = append(errs, fmt.Errorf("shard %d: %w", res.i, res.err))
			if len(candidates) > 0 {
				launch()
			}
			continue
		}
		shards[res.i] = res.b
		have++
	}
	if have < need {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("stripe %d: %w", si,
			errors.Join(&erasure.TooFewShardsError{Found: have, Need: need}, errors.Join(errs...)))
	}
	if _, err := erasure.Reconstruct(d, shards, false); err != nil {
		return nil, fmt.Errorf("stripe %d: %w", si, err)
	}
	for i := range d.K {
		if i != bad && r.shared[shardKey{si, i}] {
			r.shards.put(d.Shards[i].ID, shards[i])
		}
	}
	return shards[bad], nil
}
