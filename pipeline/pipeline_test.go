package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

var small = chunk.Params{Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10}

func testKeys(seed byte) *crypt.Keys {
	var mk crypt.MasterKey
	var d crypt.DriveID
	for i := range mk {
		mk[i] = seed + byte(i)
	}
	d[0] = seed
	return mk.Keys(d)
}

func randData(seed uint64, n int) []byte {
	b := make([]byte, n)
	chacha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}).Read(b)
	return b
}

func chacha8(seed [32]byte) *rand.ChaCha8 { return rand.NewChaCha8(seed) }

// counting wraps a store and counts Gets.
type counting struct {
	store.ShardStore
	gets atomic.Int64
}

func (c *counting) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	c.gets.Add(1)
	return c.ShardStore.Get(ctx, id)
}

func write(t *testing.T, cfg pipeline.Config, st store.ShardPutter, data []byte) *pipeline.Manifest {
	t.Helper()
	m, err := pipeline.Write(context.Background(), cfg, st, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func readAll(t *testing.T, cfg pipeline.Config, st store.ShardGetter, m *pipeline.Manifest) ([]byte, error) {
	t.Helper()
	r, err := pipeline.NewReader(context.Background(), cfg, st, m)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err = r.WriteTo(&buf)
	return buf.Bytes(), err
}

func TestRoundTripSizes(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(1), Chunking: small}
	for _, n := range []int{0, 1, 100, small.Min - 1, small.Min, small.Max, small.Max + 1, 1 << 20, 5<<20 + 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			st := store.NewMem(0)
			data := randData(uint64(n), n)
			m := write(t, cfg, st, data)
			if m.Size != int64(n) {
				t.Fatalf("manifest size %d, want %d", m.Size, n)
			}
			got, err := readAll(t, cfg, st, m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes that differ from the %d written", len(got), n)
			}
		})
	}
}

// TestRoundTripLarge writes 300 MiB (32 MiB with -short, which the race
// detector run uses), loses m shards of every stripe (half deleted, half
// corrupted) and reads it all back.
func TestRoundTripLarge(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(2)}
	st := newSpread(pipeline.DefaultK + pipeline.DefaultM)
	size := 300 << 20
	if testing.Short() {
		size = 32 << 20
	}
	data := randData(99, size)
	m := write(t, cfg, st, data)
	damage(t, rand.New(rand.NewPCG(99, 1)), st, m, pipeline.DefaultM)
	got, err := readAll(t, cfg, st, m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%d MiB round trip differs", size>>20)
	}
}

// spread stands for k+m peers: slot i of every stripe is stored by
// peers[i], which PutStripe reports as holder "peer-i". Get asks each peer
// in turn for the first copy that verifies, as a reader over the holders
// of a shard does; GetHinted asks the hinted peer first. With k=1 every
// parity shard is a copy of the data shard under the same ID; spread keeps
// those copies apart, as distinct peers do.
type spread struct {
	peers  []*store.Mem
	hinted atomic.Int64 // shards returned by the hinted peer
}

func newSpread(n int) *spread {
	s := &spread{}
	for range n {
		s.peers = append(s.peers, store.NewMem(0))
	}
	return s
}

func (s *spread) Put(ctx context.Context, id erasure.ShardID, b []byte) error {
	return s.peers[0].Put(ctx, id, b)
}

func (s *spread) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	holders := make([]store.Holder, len(shards))
	for i, b := range shards {
		if d.Stored(i) {
			if err := s.peers[i].Put(ctx, d.Shards[i].ID, b); err != nil {
				return nil, err
			}
			holders[i] = store.Holder(fmt.Sprintf("peer-%d", i))
		}
	}
	return holders, nil
}

func (s *spread) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	for _, p := range s.peers {
		if b, err := p.Get(ctx, id); err == nil && id.Verify(b) {
			return b, nil
		}
	}
	return nil, fmt.Errorf("get %s: %w", id.Short(), store.ErrNotFound)
}

func (s *spread) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	for _, h := range hints {
		var i int
		if _, err := fmt.Sscanf(string(h), "peer-%d", &i); err != nil || i < 0 || i >= len(s.peers) {
			continue
		}
		if b, err := s.peers[i].Get(ctx, id); err == nil && id.Verify(b) {
			s.hinted.Add(1)
			return b, nil
		}
	}
	return s.Get(ctx, id)
}

// damage deletes or corrupts n stored shards of every stripe of m.
func damage(t *testing.T, rng *rand.Rand, st *spread, m *pipeline.Manifest, n int) {
	t.Helper()
	ctx := context.Background()
	for _, d := range m.Stripes {
		var stored []int
		for i := range d.Shards {
			if d.Stored(i) {
				stored = append(stored, i)
			}
		}
		rng.Shuffle(len(stored), func(i, j int) { stored[i], stored[j] = stored[j], stored[i] })
		for j, i := range stored[:min(n, len(stored))] {
			if j%2 == 0 {
				if err := st.peers[i].Delete(ctx, d.Shards[i].ID); err != nil {
					t.Fatal(err)
				}
			} else if !st.peers[i].Corrupt(d.Shards[i].ID) {
				t.Fatalf("shard %d was not stored", i)
			}
		}
	}
}

func TestDegradedReads(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, km := range [][2]int{{1, 1}, {1, 2}, {2, 1}, {3, 2}, {4, 2}, {6, 3}, {10, 4}} {
		k, m := km[0], km[1]
		t.Run(fmt.Sprintf("k%d_m%d", k, m), func(t *testing.T) {
			cfg := pipeline.Config{Keys: testKeys(3), Chunking: small, K: k, M: m}
			data := randData(uint64(k*10+m), 700<<10)

			st := newSpread(k + m)
			man := write(t, cfg, st, data)
			damage(t, rng, st, man, m)
			got, err := readAll(t, cfg, st, man)
			if err != nil {
				t.Fatalf("with %d shards of every stripe lost: %v", m, err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("degraded read returned different bytes")
			}

			st = newSpread(k + m)
			man = write(t, cfg, st, data)
			damage(t, rng, st, man, m+1)
			got, err = readAll(t, cfg, st, man)
			if !errors.Is(err, erasure.ErrTooFewShards) {
				t.Fatalf("with %d shards lost: err = %v, want ErrTooFewShards", m+1, err)
			}
			if !bytes.Equal(got, data[:len(got)]) {
				t.Fatal("a failed read returned wrong bytes")
			}
		})
	}
}

func TestReadAtFetchesOnlyWhatItNeeds(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(4), Chunking: small, PackSize: 1}
	st := &counting{ShardStore: store.NewMem(0)}
	data := randData(4, 2<<20)
	man := write(t, cfg, st, data)
	r, err := pipeline.NewReader(context.Background(), cfg, st, man)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for range 200 {
		off := rng.Int64N(int64(len(data)) + 10)
		p := make([]byte, rng.IntN(3*small.Max))
		n, err := r.ReadAt(p, off)
		want := data[min(off, int64(len(data))):min(off+int64(len(p)), int64(len(data)))]
		if n != len(want) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d, %d) = %d bytes, want %d", len(p), off, n, len(want))
		}
		if n < len(p) && err != io.EOF {
			t.Fatalf("short ReadAt without io.EOF: %v", err)
		}
	}
	// A fresh reader reading 1 byte fetches exactly one shard.
	st.gets.Store(0)
	r, _ = pipeline.NewReader(context.Background(), cfg, st, man)
	if _, err := r.ReadAt(make([]byte, 1), int64(len(data)/2)); err != nil {
		t.Fatal(err)
	}
	if got := st.gets.Load(); got != 1 {
		t.Fatalf("a 1-byte ReadAt fetched %d shards, want 1", got)
	}
}

func TestConcurrentReadAt(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(5), Chunking: small}
	st := store.NewMem(0)
	data := randData(5, 3<<20)
	man := write(t, cfg, st, data)
	r, err := pipeline.NewReader(context.Background(), cfg, st, man)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 5))
			for range 100 {
				off := rng.Int64N(int64(len(data)))
				p := make([]byte, 1+rng.IntN(64<<10))
				n, _ := r.ReadAt(p, off)
				if !bytes.Equal(p[:n], data[off:off+int64(n)]) {
					t.Errorf("concurrent ReadAt(%d) returned wrong bytes", off)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSeekAndRead(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(6), Chunking: small}
	st := store.NewMem(0)
	data := randData(6, 200<<10)
	man := write(t, cfg, st, data)
	r, _ := pipeline.NewReader(context.Background(), cfg, st, man)
	if _, err := r.Seek(-1000, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data[len(data)-1000:]) {
		t.Fatalf("read after Seek: %d bytes, %v", len(got), err)
	}
	if _, err := r.Seek(12345, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := r.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), data[12345:]) {
		t.Fatalf("WriteTo after Seek: %d bytes, %v", buf.Len(), err)
	}
	if _, err := r.Seek(-1, io.SeekStart); err == nil {
		t.Fatal("seek to a negative offset succeeded")
	}
}

func TestSmallFilesArePacked(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(7), Chunking: small, K: 4, M: 2}
	ctx := context.Background()
	st := store.NewMem(0)
	w, err := pipeline.NewWriter(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	var files [][]byte
	total := 0
	for i := range 500 {
		b := randData(uint64(1000+i), 50+i*7%4000)
		files = append(files, b)
		total += len(b)
		if _, err := w.Add(ctx, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := w.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range ms {
		got, err := readAll(t, cfg, st, m)
		if err != nil || !bytes.Equal(got, files[i]) {
			t.Fatalf("file %d: %d bytes, %v", i, len(got), err)
		}
	}
	// Packed: (k+m)/k = 1.5x plus sealing overhead and the last stripe's padding.
	limit := float64(total)*1.5 + float64(500*crypt.Overhead)*1.5 + float64(6*small.Avg)
	if used := float64(st.Used()); used > limit {
		t.Fatalf("500 small files (%d bytes) use %.0f bytes of shards, more than %.0f", total, used, limit)
	}
	// Unpacked, each file alone costs (1+m)x: the packing is what saves it.
	alone := store.NewMem(0)
	for _, b := range files[:50] {
		write(t, cfg, alone, b)
	}
	sum := 0
	for _, b := range files[:50] {
		sum += len(b) + crypt.Overhead
	}
	if got := alone.Used(); got < int64(sum*3) {
		t.Fatalf("unpacked files used %d bytes, expected (1+m)x = %d", got, 3*sum)
	}
}

func TestWrongKeyReadsNothing(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(8), Chunking: small}
	st := store.NewMem(0)
	man := write(t, cfg, st, randData(8, 100<<10))
	other := cfg
	other.Keys = testKeys(9)
	got, err := readAll(t, other, st, man)
	if !errors.Is(err, crypt.ErrAuth) || len(got) != 0 {
		t.Fatalf("read with another drive's key: %d bytes, err = %v, want ErrAuth", len(got), err)
	}
}

type failingStore struct{ store.ShardStore }

var errDisk = errors.New("disk on fire")

func (failingStore) Put(context.Context, erasure.ShardID, []byte) error { return errDisk }

func TestWriteErrors(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(10), Chunking: small}
	_, err := pipeline.Write(context.Background(), cfg, failingStore{store.NewMem(0)}, bytes.NewReader(randData(1, 300<<10)))
	if !errors.Is(err, errDisk) {
		t.Fatalf("store failure: err = %v", err)
	}
	errRead := errors.New("input broke")
	r := io.MultiReader(bytes.NewReader(randData(2, 100<<10)), errReader{errRead})
	_, err = pipeline.Write(context.Background(), cfg, store.NewMem(0), r)
	if !errors.Is(err, errRead) {
		t.Fatalf("input failure: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := pipeline.Write(ctx, cfg, store.NewMem(0), bytes.NewReader(randData(3, 300<<10))); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled write: err = %v", err)
	}
	for _, bad := range []pipeline.Config{{}, {Keys: cfg.Keys, K: 0, M: 3}, {Keys: cfg.Keys, K: 300, M: 1}, {Keys: cfg.Keys, Chunking: chunk.Params{Min: 1, Avg: 3, Max: 2}}} {
		if _, err := pipeline.NewWriter(bad, store.NewMem(0)); err == nil {
			t.Errorf("NewWriter(%+v) succeeded", bad)
		}
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestOrderedMap(t *testing.T) {
	for _, workers := range []int{1, 2, 7} {
		i := 0
		var got []int
		err := pipeline.OrderedMap(context.Background(), workers,
			func() (int, bool, error) { i++; return i, i <= 1000, nil },
			func(_ context.Context, v int) (int, error) { return v * v, nil },
			func(v int) error { got = append(got, v); return nil })
		if err != nil || len(got) != 1000 {
			t.Fatalf("workers=%d: %d results, %v", workers, len(got), err)
		}
		for j, v := range got {
			if v != (j+1)*(j+1) {
				t.Fatalf("result %d out of order: %d", j, v)
			}
		}
	}
	stop := errors.New("stop")
	i := 0
	err := pipeline.OrderedMap(context.Background(), 3,
		func() (int, bool, error) { i++; return i, true, nil },
		func(_ context.Context, v int) (int, error) {
			if v == 50 {
				return 0, stop
			}
			return v, nil
		},
		func(int) error { return nil })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want stop", err)
	}
}

// slowStore delays every Put, so stripes are still being stored when the
// caller moves on.
type slowStore struct {
	store.ShardStore
	delay time.Duration
}

func (s slowStore) Put(ctx context.Context, id erasure.ShardID, b []byte) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.ShardStore.Put(ctx, id, b)
}

// TestAddContextDoesNotCutStores: stripes started during Add keep being
// stored after Add's context ends.
func TestAddContextDoesNotCutStores(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(11), Chunking: small}
	mem := store.NewMem(0)
	w, err := pipeline.NewWriter(cfg, slowStore{mem, 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	data := randData(11, 2<<20)
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := w.Add(ctx, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	cancel()
	ms, err := w.Finish(context.Background())
	if err != nil {
		t.Fatalf("Finish after Add's context ended: %v", err)
	}
	if got, err := readAll(t, cfg, mem, ms[0]); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
}

// TestFailedAddDropsOnlyThatFile: an unreadable file is left out and the
// rest of the batch is stored.
func TestFailedAddDropsOnlyThatFile(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(12), Chunking: small}
	st := store.NewMem(0)
	w, _ := pipeline.NewWriter(cfg, st)
	ctx := context.Background()
	a, c := randData(12, 300<<10), randData(13, 5000)
	if _, err := w.Add(ctx, bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
	errRead := errors.New("permission denied")
	bad := io.MultiReader(bytes.NewReader(randData(14, 200<<10)), errReader{errRead})
	if _, err := w.Add(ctx, bad); !errors.Is(err, errRead) {
		t.Fatalf("Add of an unreadable file: %v", err)
	}
	if i, err := w.Add(ctx, bytes.NewReader(c)); err != nil || i != 1 {
		t.Fatalf("Add after a failed Add: %d, %v", i, err)
	}
	ms, err := w.Finish(ctx)
	if err != nil || len(ms) != 2 {
		t.Fatalf("Finish: %d manifests, %v", len(ms), err)
	}
	for i, want := range [][]byte{a, c} {
		if got, err := readAll(t, cfg, st, ms[i]); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("file %d: %d bytes, %v", i, len(got), err)
		}
	}
}

// TestFinishCanceled: a Finish whose context ends drops the batch and
// leaves the Writer usable.
func TestFinishCanceled(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(15), Chunking: small}
	mem := store.NewMem(0)
	w, _ := pipeline.NewWriter(cfg, slowStore{mem, 50 * time.Millisecond})
	if _, err := w.Add(context.Background(), bytes.NewReader(randData(15, 1<<20))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := w.Finish(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Finish past its deadline: %v", err)
	}
	data := randData(16, 10<<10)
	if _, err := w.Add(context.Background(), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	ms, err := w.Finish(context.Background())
	if err != nil || len(ms) != 1 {
		t.Fatalf("the next batch: %d manifests, %v", len(ms), err)
	}
}

// TestReadCanceledIsNotDataLoss: a read whose context ends reports that,
// not missing shards.
func TestReadCanceledIsNotDataLoss(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(17), Chunking: small}
	mem := store.NewMem(0)
	m := write(t, cfg, mem, randData(17, 300<<10))
	r, _ := pipeline.NewReader(context.Background(), cfg, blockingGetter{}, m)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := r.ReadAtContext(ctx, make([]byte, 100), 0)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, erasure.ErrTooFewShards) {
		t.Fatalf("canceled read: %v", err)
	}
}

// blockingGetter never answers until the context ends.
type blockingGetter struct{}

func (blockingGetter) Get(ctx context.Context, _ erasure.ShardID) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
