package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// puts counts the bytes stored through it.
type puts struct {
	*store.Mem
	bytes atomic.Int64
}

func newPuts() *puts { return &puts{Mem: store.NewMem(0)} }

func (p *puts) Put(ctx context.Context, id erasure.ShardID, b []byte) error {
	p.bytes.Add(int64(len(b)))
	return p.Mem.Put(ctx, id, b)
}

func writeBatch(t *testing.T, cfg pipeline.Config, st store.ShardPutter, files ...[]byte) []*pipeline.Manifest {
	t.Helper()
	w, err := pipeline.NewWriter(cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := w.Add(context.Background(), bytes.NewReader(f)); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := w.Finish(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func mustRead(t *testing.T, cfg pipeline.Config, st store.ShardGetter, m *pipeline.Manifest, want []byte) {
	t.Helper()
	got, err := readAll(t, cfg, st, m)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes of %d: %v", len(got), len(want), err)
	}
}

// TestCompression: text is stored compressed and reads back; random
// bytes are stored whole; a manifest with compressed chunks round-trips
// through its encoding.
func TestCompression(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(1), Chunking: small, Compress: true}
	text := []byte(strings.Repeat("the quick brown fox jumps over the lazy dog, again and again\n", 4000))
	random := randData(2, 200<<10)
	st := newPuts()
	ms := writeBatch(t, cfg, st, text, random)
	if st.bytes.Load() > int64(len(random))*2 {
		t.Fatalf("%d bytes stored for %d of text and %d random: the text was not compressed", st.bytes.Load(), len(text), len(random))
	}
	for i, c := range ms[0].Chunks {
		if !c.Compressed() || c.SealedSize() >= c.Size {
			t.Fatalf("text chunk %d: %+v not compressed", i, c)
		}
	}
	for i, c := range ms[1].Chunks {
		if c.Compressed() {
			t.Fatalf("random chunk %d stored compressed", i)
		}
	}
	mustRead(t, cfg, st, ms[0], text)
	mustRead(t, cfg, st, ms[1], random)
	enc, err := ms[0].MarshalBinary()
	if err != nil || enc[0] != pipeline.ManifestV3 {
		t.Fatalf("encoding: %v, version %d", err, enc[0])
	}
	back, err := pipeline.ParseManifest(enc)
	if err != nil || back.Chunks[0].Stored != ms[0].Chunks[0].Stored {
		t.Fatalf("parse: %v", err)
	}
	// A plain manifest keeps its old version.
	if enc, _ := ms[1].MarshalBinary(); enc[0] == pipeline.ManifestV3 {
		t.Fatal("a manifest with nothing compressed or keyed is written as version 3")
	}
}

// TestSealContent: chunks sealed under their own keys read back with the
// manifest, keep their IDs and keys from one store to the next while the
// stripes differ (each data shard starts with a salt of its own), and do
// not open with the keys alone.
func TestSealContent(t *testing.T) {
	cfg := pipeline.Config{Keys: testKeys(3), Chunking: small, Sealing: pipeline.SealContent}
	data := randData(4, 300<<10)
	a, b := store.NewMem(0), store.NewMem(0)
	ma, mb := write(t, cfg, a, data), write(t, cfg, b, data)
	mustRead(t, cfg, a, ma, data)
	for i := range ma.Chunks {
		if ma.Chunks[i].ID != mb.Chunks[i].ID || ma.Chunks[i].Key != mb.Chunks[i].Key || ma.Chunks[i].Offset < pipeline.ShardSalt {
			t.Fatalf("chunk %d: stored twice, %+v and %+v", i, ma.Chunks[i], mb.Chunks[i])
		}
	}
	if ma.Stripes[0].Shards[0].ID == mb.Stripes[0].Shards[0].ID {
		t.Fatal("one plaintext stored twice gives the same stripe")
	}
	for _, c := range ma.Chunks {
		if !c.Keyed() {
			t.Fatalf("chunk %+v has no key", c)
		}
	}
	// Without the chunk keys the drive's keys open nothing.
	bare := *ma
	bare.Chunks = append([]pipeline.ChunkRef(nil), ma.Chunks...)
	for i := range bare.Chunks {
		bare.Chunks[i].Key = [32]byte{}
	}
	if _, err := readAll(t, cfg, a, &bare); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("read without chunk keys: %v", err)
	}
	// Another set's keys with the chunk keys: the set is bound in too.
	other := cfg
	other.Keys = testKeys(5)
	if _, err := readAll(t, other, a, ma); !errors.Is(err, crypt.ErrAuth) {
		t.Fatalf("read with another set's keys: %v", err)
	}
}

// TestIndexDedup: a second write of the same data with an index of the
// first stores nothing; an edit in the middle stores about one chunk; a
// batch with the same file twice stores it once.
func TestIndexDedup(t *testing.T) {
	for _, sealing := range []pipeline.Sealing{pipeline.SealDrive, pipeline.SealContent} {
		cfg := pipeline.Config{Keys: testKeys(6), Chunking: small, Sealing: sealing, Compress: true}
		data := randData(7, 1<<20)
		st := newPuts()
		first := write(t, cfg, st, data)
		once := st.bytes.Load()

		cfg.Index = pipeline.NewMemIndex(first)
		st.bytes.Store(0)
		again := write(t, cfg, st, data)
		if n := st.bytes.Load(); n != 0 {
			t.Fatalf("sealing %d: the same data again stored %d bytes", sealing, n)
		}
		mustRead(t, cfg, st, again, data)

		edited := bytes.Clone(data)
		edited[len(edited)/2] ^= 1
		st.bytes.Store(0)
		m := write(t, cfg, st, edited)
		mustRead(t, cfg, st, m, edited)
		if n := st.bytes.Load(); n == 0 || n > once/8 {
			t.Fatalf("sealing %d: one byte changed stored %d bytes of %d", sealing, n, once)
		}

		cfg.Index = nil
		st.bytes.Store(0)
		ms := writeBatch(t, cfg, st, data, data)
		if n := st.bytes.Load(); n > once+once/8 {
			t.Fatalf("sealing %d: a file twice in a batch stored %d bytes, once is %d", sealing, n, once)
		}
		mustRead(t, cfg, st, ms[0], data)
		mustRead(t, cfg, st, ms[1], data)
	}
}
