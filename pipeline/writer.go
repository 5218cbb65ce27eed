package pipeline

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Writer writes a batch of files. Files added to one Writer share stripes;
// their manifests are complete once Finish returns. Add and Finish must not
// be called concurrently with each other.
//
// A failed Add (the input could not be read, or its context ended) drops
// that file only; the batch goes on. A failure to store a stripe fails the
// batch: every later Add and Finish returns it. Stripes are stored in the
// background under the Writer's own context, which only Finish's context
// (or a failure) cancels, so a short-lived context given to Add does not
// cut off the stores it started.
type Writer struct {
	cfg    Config
	store  store.ShardPutter
	hasher *chunk.Hasher
	sealer *crypt.Sealer
	coder  *erasure.Coder

	files []*pendingFile

	// Packing state: the data shard being filled with sealed chunks, and
	// closed data shards waiting to be grouped into stripes.
	open    pendingShard
	pending []pendingShard
	stripes int // stripes dispatched so far

	// Stripes being encoded and stored; results by stripe number.
	bg       context.Context // bounds background stores
	cancel   context.CancelCauseFunc
	bufs     *bufPool
	inflight chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	descs    map[int]*erasure.Descriptor
	holders  map[int][]store.Holder // where each stripe's shards went, if the store says
	err      error

	// Chunks not stored again: the stripes of chunks the Index knew, by
	// writer-wide stripe number; the first place of each chunk packed in
	// this batch; and later refs to one of those, filled in by Finish.
	known   map[*erasure.Descriptor]int
	batch   map[chunk.ID]chunkPos
	repeats []repeat
}

// repeat is a chunk of the batch that was packed before, at first.
type repeat struct{ at, first chunkPos }

// chunkPos names one chunk of one file of the batch.
type chunkPos struct {
	file *pendingFile
	i    int
}

func (p chunkPos) ref() *ChunkRef { return &p.file.chunks[p.i] }

// pendingShard is a data shard being packed or waiting for a stripe.
type pendingShard struct {
	pieces [][]byte        // the sealed chunks in it
	size   int             // their total length
	hash   erasure.ShardID // of pieces[0]; the shard's ID while it is alone
	chunks []chunkPos      // the chunks in it, to learn their stripe and slot
}

// pendingFile is a file whose chunk refs still carry writer-wide stripe
// numbers; Finish rewrites them as indexes into its Manifest.Stripes.
type pendingFile struct {
	size   int64
	chunks []ChunkRef
}

// NewWriter returns a Writer that stores shards in st.
func NewWriter(cfg Config, st store.ShardPutter) (*Writer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	coder, err := erasure.NewCoder(cfg.K, cfg.M)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		cfg:      cfg,
		store:    st,
		hasher:   chunk.NewHasher(cfg.Keys.ChunkIDKey()),
		sealer:   cfg.Keys.Sealer(crypt.PurposeChunk),
		coder:    coder,
		bufs:     buffers,
		inflight: make(chan struct{}, cfg.Workers),
	}
	w.reset()
	return w, nil
}

// Write stores one file and returns its manifest.
func Write(ctx context.Context, cfg Config, st store.ShardPutter, r io.Reader) (*Manifest, error) {
	w, err := NewWriter(cfg, st)
	if err != nil {
		return nil, err
	}
	if _, err := w.Add(ctx, r); err != nil {
		w.Abort()
		return nil, err
	}
	ms, err := w.Finish(ctx)
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

type sealedChunk struct {
	id     chunk.ID
	size   int
	sealed []byte
	hash   erasure.ShardID // of sealed, the shard ID if the chunk is its shard alone
	stored int             // the ref's Stored: len(sealed) if compressed, else 0
	key    [32]byte        // the chunk's own key (SealContent)
	known  *Located        // where the Index says the chunk lies; sealed is nil then
}

// Add reads r to its end and adds it to the batch as file number i (in
// the order of Add calls). Its stripes may still be open: its manifest is
// complete only after Finish.
func (w *Writer) Add(ctx context.Context, r io.Reader) (i int, err error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	// The Splitter hands each chunk over in a pool buffer, so the seal
	// workers take it without a copy.
	ch, err := chunk.NewSplitter(r, w.cfg.Chunking, w.bufs.Get)
	if err != nil {
		return 0, err
	}
	f := &pendingFile{}
	next := func() ([]byte, bool, error) {
		c, err := ch.Next()
		if err == io.EOF {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read input: %w", err)
		}
		return c, true, nil
	}
	emit := func(c sealedChunk) error { return w.emit(f, c) }
	if err := orderedMap(ctx, w.cfg.Workers, next, w.seal, emit); err != nil {
		if failed := w.failed(); failed != nil {
			return 0, failed
		}
		// Only this file is lost. Its chunks already packed are stored with
		// the batch but referenced by no manifest.
		return 0, err
	}
	w.files = append(w.files, f)
	return len(w.files) - 1, w.failed()
}

// emit adds a sealed chunk to file f: packs it, or refers to where the
// Index or this batch already has it.
func (w *Writer) emit(f *pendingFile, c sealedChunk) error {
	if c.known == nil && w.cfg.Index != nil {
		// Asked again: a chunk sealed ahead (SealChunk) may have been
		// stored by a batch that finished since.
		if loc, ok := w.cfg.Index.Lookup(c.id); ok && loc.Ref.Size == c.size {
			w.bufs.Put(c.sealed)
			c.sealed, c.known, c.stored = nil, &loc, loc.Ref.Stored
		}
	}
	f.size += int64(c.size)
	f.chunks = append(f.chunks, ChunkRef{ID: c.id, Size: c.size, Stored: c.stored, Key: c.key})
	pos := chunkPos{f, len(f.chunks) - 1}
	if c.known != nil {
		w.refer(pos.ref(), c.known)
		return nil
	}
	if first, ok := w.batch[c.id]; ok {
		// Packed earlier in this batch: Finish copies its place.
		w.bufs.Put(c.sealed)
		w.repeats = append(w.repeats, repeat{pos, first})
		return nil
	}
	w.batch[c.id] = pos
	return w.pack(pos, c.sealed, c.hash)
}

// Sealed is a chunk SealChunk sealed, for AddSealed.
type Sealed struct{ c sealedChunk }

// SealChunk identifies, compresses and seals plain as one chunk, as Add
// does each chunk of a file, and takes plain over (it may be recycled).
// Unlike the rest of a Writer it may be called concurrently, with any
// method (Finish too: a chunk sealed before a Finish may be added after
// it), so a caller with many small files (each one chunk: SmallFile) can
// seal several at once and add them in order with AddSealed; Add seals
// one file's chunks in parallel, but one small file at a time. The Index
// is asked when the chunk is sealed.
func (w *Writer) SealChunk(plain []byte) (*Sealed, error) {
	if len(plain) == 0 || len(plain) > w.cfg.Chunking.Max {
		return nil, fmt.Errorf("pipeline: a chunk of %d bytes (1 to %d)", len(plain), w.cfg.Chunking.Max)
	}
	c, err := w.seal(context.Background(), plain)
	return &Sealed{c}, err
}

// SmallFile is the longest file that is always one chunk (shorter than
// the chunking's Min): what SealChunk may take as a whole file.
func (w *Writer) SmallFile() int { return w.cfg.Chunking.Min - 1 }

// AddSealed adds the file made of chunks, in order, as Add would the
// bytes they were sealed from. Each Sealed may be added once.
func (w *Writer) AddSealed(chunks ...*Sealed) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	f := &pendingFile{}
	for _, s := range chunks {
		if s == nil || s.c.size == 0 {
			return 0, errors.New("pipeline: AddSealed of a chunk not sealed, or added twice")
		}
		c := s.c
		s.c = sealedChunk{}
		if err := w.emit(f, c); err != nil {
			return 0, err
		}
	}
	w.files = append(w.files, f)
	return len(w.files) - 1, w.failed()
}

// seal identifies a chunk and, unless the Index knows it, compresses and
// seals it; it runs on the Writer's workers.
func (w *Writer) seal(_ context.Context, plain []byte) (sealedChunk, error) {
	c := sealedChunk{size: len(plain)}
	if w.cfg.Sealing == SealContent {
		c.id, c.key = w.hasher.SumKey(plain)
	} else {
		c.id = w.hasher.Sum(plain)
	}
	if w.cfg.Index != nil {
		if loc, ok := w.cfg.Index.Lookup(c.id); ok && loc.Ref.Size == len(plain) {
			w.bufs.Put(plain)
			// The key, if any, is this plaintext's: an index need not
			// hold keys (a backup set's index does not).
			c.known, c.stored = &loc, loc.Ref.Stored
			return c, nil
		}
	}
	body, zbuf := plain, []byte(nil)
	if w.cfg.Compress {
		zbuf = w.bufs.Get(len(plain))
		if z := compress(zbuf, plain); z != nil {
			body, c.stored = z, len(z)+crypt.Overhead
		}
	}
	dst := w.bufs.Get(len(body) + crypt.Overhead)[:0]
	if w.cfg.Sealing == SealContent {
		c.sealed = w.sealer.SealKeyed(dst, &c.key, c.id[:], body)
	} else {
		c.sealed = w.sealer.Seal(dst, c.id[:], body)
	}
	w.bufs.Put(plain)
	if zbuf != nil {
		w.bufs.Put(zbuf)
	}
	// Hash the sealed bytes while they are in this core's cache: most
	// chunks fill a data shard alone, and this is then its ID.
	c.hash = erasure.SumShard(c.sealed)
	return c, nil
}

// refer points ref at where an indexed chunk lies, numbering the chunk's
// stripe like the batch's own the first time it is used.
func (w *Writer) refer(ref *ChunkRef, loc *Located) {
	n, ok := w.known[loc.Stripe]
	if !ok {
		n = w.stripes
		w.stripes++
		w.known[loc.Stripe] = n
		w.mu.Lock()
		w.descs[n] = loc.Stripe
		if loc.Holders != nil {
			w.holders[n] = loc.Holders
		}
		w.mu.Unlock()
	}
	ref.Stripe, ref.Shard, ref.Offset = n, loc.Ref.Shard, loc.Ref.Offset
}

// pack appends a sealed chunk to the current data shard, closing it when
// the next chunk would overflow PackSize. The chunk's Stripe and Shard are
// set when its shard is placed in a stripe; Stripe is -1 until then.
func (w *Writer) pack(pos chunkPos, sealed []byte, hash erasure.ShardID) error {
	if len(w.open.chunks) > 0 && w.open.size+len(sealed) > w.cfg.PackSize {
		if err := w.closeShard(); err != nil {
			return err
		}
	}
	if len(w.open.chunks) == 0 && w.cfg.Sealing == SealContent {
		// Content-keyed chunks seal to the same bytes wherever they are
		// stored: a random salt first makes every data shard, and so
		// every stripe, one of its own, so that what a set releases and
		// what it stores again are never the same stripe.
		salt := make([]byte, ShardSalt)
		if _, err := rand.Read(salt); err != nil {
			return err
		}
		w.open.pieces, w.open.size = append(w.open.pieces, salt), ShardSalt
	}
	ref := pos.ref()
	ref.Stripe, ref.Offset = -1, w.open.size
	w.open.pieces = append(w.open.pieces, sealed)
	w.open.size += len(sealed)
	w.open.hash = hash
	w.open.chunks = append(w.open.chunks, pos)
	return nil
}

// closeShard closes the current data shard and, once a window of shards
// is waiting, groups them into stripes.
func (w *Writer) closeShard() error {
	if len(w.open.chunks) == 0 {
		return nil
	}
	w.pending = append(w.pending, w.open)
	w.open = pendingShard{}
	if len(w.pending) >= max(windowShards, 2*w.cfg.K) {
		return w.flush(false)
	}
	return nil
}

// ShardSalt is the random bytes a SealContent Writer puts before the
// first chunk of each data shard.
const ShardSalt = 16

// windowShards is how many closed data shards are grouped into stripes at
// once (at least 2k). A stripe's parity is as long as its largest data
// shard, so stripes are made of shards of similar size: sorting a window
// of 32 shards by size brings the bytes stored for k=4, m=2 from 1.65 to
// about 1.55 per byte written (TestStorageOverhead), and cuts the parity
// computed and hashed alike. It costs holding the window, about 40 MiB
// with the default chunking.
const windowShards = 32

// flush sorts the waiting data shards by size and dispatches them k at a
// time; a remainder of fewer than k waits for more, unless final.
func (w *Writer) flush(final bool) error {
	slices.SortStableFunc(w.pending, func(a, b pendingShard) int { return cmp.Compare(b.size, a.size) })
	for len(w.pending) >= w.cfg.K || (final && len(w.pending) > 0) {
		n := min(w.cfg.K, len(w.pending))
		group := w.pending[:n]
		w.pending = w.pending[n:]
		if err := w.dispatch(group); err != nil {
			return err
		}
	}
	w.pending = slices.Clip(w.pending)
	return nil
}

// dispatch numbers a stripe of data shards, tells their chunks where they
// lie, and encodes and stores the stripe in the background. It waits for a
// free slot first (at most Workers stripes are in flight), under the
// Writer's context, so the stripe is numbered only once it will be stored.
func (w *Writer) dispatch(group []pendingShard) error {
	select {
	case w.inflight <- struct{}{}:
	case <-w.bg.Done():
		return cmpErr(w.failed(), context.Cause(w.bg))
	}
	n := w.stripes
	w.stripes++
	data := make([][]byte, len(group))
	ids := make([]erasure.ShardID, len(group))
	var packed []ChunkRef // for OnStored: copies, since files' chunk lists grow meanwhile
	for j, sh := range group {
		for _, p := range sh.chunks {
			r := p.ref()
			r.Stripe, r.Shard = n, j
			if w.cfg.OnStored != nil {
				packed = append(packed, *r)
			}
		}
		data[j], ids[j] = sh.pieces[0], sh.hash
		if len(sh.pieces) > 1 {
			data[j], ids[j] = w.bufs.Get(sh.size)[:0], erasure.ShardID{}
			for _, p := range sh.pieces {
				data[j] = append(data[j], p...)
				w.bufs.Put(p)
			}
		}
	}
	bg := w.bg
	w.wg.Go(func() {
		defer func() { <-w.inflight }()
		d, holders, err := w.storeStripe(bg, data, ids)
		if err != nil {
			w.fail(fmt.Errorf("stripe %d: %w", n, err))
			return
		}
		w.mu.Lock()
		w.descs[n] = d
		if holders != nil {
			w.holders[n] = holders
		}
		w.mu.Unlock()
		if w.cfg.OnStored != nil {
			w.cfg.OnStored(d, holders, packed)
		}
	})
	return w.failed()
}

// storeStripe computes a stripe's parity and stores its shards. Stores do
// not retain what they are given, so the buffers are recycled afterwards.
func (w *Writer) storeStripe(ctx context.Context, data [][]byte, ids []erasure.ShardID) (*erasure.Descriptor, []store.Holder, error) {
	d, parity, err := w.coder.EncodeWith(data, ids, w.bufs)
	if err != nil {
		return nil, nil, err
	}
	shards := append(data[:len(data):len(data)], make([][]byte, w.cfg.K-len(data))...)
	shards = append(shards, parity...)
	holders, err := store.PutStripe(ctx, w.store, d, shards)
	for _, b := range shards {
		w.bufs.Put(b)
	}
	if err == nil && holders != nil && len(holders) != len(d.Shards) {
		err = fmt.Errorf("pipeline: store reported %d holders for %d shards", len(holders), len(d.Shards))
	}
	return d, holders, err
}

// Finish closes the open stripe, waits until every stripe is stored and
// returns the manifests of the files added, in order. If ctx ends first,
// the stores in flight are cancelled and the batch is dropped. The Writer
// may be used again for a new batch afterwards.
func (w *Writer) Finish(ctx context.Context) ([]*Manifest, error) {
	defer w.reset()
	err := w.failed()
	if err == nil {
		if err = w.closeShard(); err == nil {
			err = w.flush(true)
		}
	}
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		w.cancel(ctx.Err())
		<-done
		return nil, ctx.Err()
	}
	if err = cmpErr(err, w.failed()); err != nil {
		return nil, err
	}
	for _, r := range w.repeats {
		at, first := r.at.ref(), r.first.ref()
		at.Stripe, at.Shard, at.Offset = first.Stripe, first.Shard, first.Offset
	}
	out := make([]*Manifest, len(w.files))
	hinted := len(w.holders) > 0
	for i, f := range w.files {
		m := &Manifest{Size: f.size, Chunks: f.chunks}
		if hinted {
			m.Holders = [][]store.Holder{}
		}
		local := map[int]int{}
		for j := range m.Chunks {
			c := &m.Chunks[j]
			idx, ok := local[c.Stripe]
			if !ok {
				idx = len(m.Stripes)
				local[c.Stripe] = idx
				d := w.descs[c.Stripe]
				m.Stripes = append(m.Stripes, d)
				if hinted {
					hs := w.holders[c.Stripe]
					if hs == nil {
						hs = make([]store.Holder, len(d.Shards))
					}
					m.Holders = append(m.Holders, hs)
				}
			}
			c.Stripe = idx
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("pipeline: built an invalid manifest: %w", err)
		}
		out[i] = m
	}
	return out, nil
}

// Abort drops the batch: it cancels the stripes being stored, waits for
// them, and leaves the Writer ready for a new batch.
func (w *Writer) Abort() {
	w.cancel(errAborted)
	w.wg.Wait()
	w.reset()
}

var errAborted = errors.New("pipeline: batch aborted")

// reset starts a new batch. No stripe may be in flight.
func (w *Writer) reset() {
	if w.cancel != nil {
		w.cancel(nil)
	}
	w.files, w.open, w.pending, w.stripes = nil, pendingShard{}, nil, 0
	w.known, w.batch, w.repeats = make(map[*erasure.Descriptor]int), make(map[chunk.ID]chunkPos), nil
	w.bg, w.cancel = context.WithCancelCause(context.Background())
	w.mu.Lock()
	w.descs, w.holders, w.err = make(map[int]*erasure.Descriptor), make(map[int][]store.Holder), nil
	w.mu.Unlock()
}

// fail records a batch failure and cancels the stores still in flight.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	w.err = cmpErr(w.err, err)
	w.mu.Unlock()
	w.cancel(err)
}

func (w *Writer) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// cmpErr returns the first non-nil error.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
