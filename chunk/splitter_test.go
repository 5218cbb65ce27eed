package chunk_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/murmur-cloud/murmur/chunk"
)

// split chunks r with a Splitter and returns the chunks and the error that
// ended the stream (nil for io.EOF).
func split(t testing.TB, r io.Reader, p chunk.Params) ([][]byte, error) {
	t.Helper()
	s, err := chunk.NewSplitter(r, p, nil)
	if err != nil {
		t.Fatalf("NewSplitter(%v): %v", p, err)
	}
	var chunks [][]byte
	for {
		b, err := s.Next()
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, b)
	}
}

// TestSplitterMatchesChunker: the Splitter is an exact reimplementation of
// the boundary rule, whatever the sizes of the reads that feed it.
func TestSplitterMatchesChunker(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    chunk.Params
		size int
		wrap func(io.Reader) io.Reader
	}{
		{"empty", chunk.DefaultParams(), 0, func(r io.Reader) io.Reader { return r }},
		{"one byte", chunk.DefaultParams(), 1, func(r io.Reader) io.Reader { return r }},
		{"whole", chunk.DefaultParams(), 20 << 20, func(r io.Reader) io.Reader { return r }},
		{"whole small", smallParams, 3 << 20, func(r io.Reader) io.Reader { return r }},
		{"tiny", tinyParams, 300 << 10, func(r io.Reader) io.Reader { return r }},
		{"one byte reads", smallParams, 300 << 10, iotest.OneByteReader},
		{"half", chunk.DefaultParams(), 10 << 20, iotest.HalfReader},
		{"data with EOF", chunk.DefaultParams(), 10<<20 + 5, iotest.DataErrReader},
		{"chopped", chunk.DefaultParams(), 12 << 20, func(r io.Reader) io.Reader {
			return &chopReader{r: r, rnd: rand.New(rand.NewPCG(5, 6)), max: 700 << 10}
		}},
		{"chopped tiny", tinyParams, 200 << 10, func(r io.Reader) io.Reader {
			return &chopReader{r: r, rnd: rand.New(rand.NewPCG(7, 8)), max: 300}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := randBytes("splitter", tt.size)
			// Zeros have no cut points: they exercise the Max rule.
			if tt.size > 4<<20 {
				clear(data[1<<20 : 1<<20+tt.p.Max+tt.p.Max/2])
			}
			want := mustChunk(t, data, tt.p)
			got, err := split(t, tt.wrap(bytes.NewReader(data)), tt.p)
			if err != nil {
				t.Fatal(err)
			}
			checkChunks(t, data, got, tt.p)
			if !slices.Equal(lengths(got), lengths(want)) {
				t.Fatalf("Splitter lengths %v, Chunker %v", lengths(got), lengths(want))
			}
		})
	}
}

// TestSplitterOwnership: chunks are handed over, not aliased: changing one
// changes no other.
func TestSplitterOwnership(t *testing.T) {
	data := randBytes("owned", 2<<20)
	chunks, err := split(t, bytes.NewReader(data), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		clear(c)
	}
	chunks2, _ := split(t, bytes.NewReader(data), smallParams)
	checkChunks(t, data, chunks2, smallParams)
	for _, c := range chunks {
		if len(c) > 0 && c[len(c)-1] != 0 {
			t.Fatal("clearing a chunk did not stick: chunks share memory")
		}
	}
}

func TestSplitterReadError(t *testing.T) {
	boom := errors.New("boom")
	data := randBytes("err", 3<<20)
	r := io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom))
	chunks, err := split(t, r, smallParams)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	// The chunks before the error are the stream's own first chunks.
	want := mustChunk(t, data, smallParams)
	for i, c := range chunks {
		if !bytes.Equal(c, want[i]) {
			t.Fatalf("chunk %d before the error differs", i)
		}
	}
	if _, err := split(t, emptyReader{}, smallParams); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("a reader that never returns data: err = %v", err)
	}
	if _, err := chunk.NewSplitter(bytes.NewReader(nil), chunk.Params{}, nil); !errors.Is(err, chunk.ErrBadParams) {
		t.Fatalf("bad params: %v", err)
	}
}

// BenchmarkSplitter recycles the chunk buffers, as the pipeline does.
func BenchmarkSplitter(b *testing.B) {
	data := randBytes("bench", 64<<20)
	var free [][]byte
	alloc := func(n int) []byte {
		if len(free) > 0 && cap(free[len(free)-1]) >= n {
			buf := free[len(free)-1]
			free = free[:len(free)-1]
			return buf[:n]
		}
		return make([]byte, n)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s, _ := chunk.NewSplitter(bytes.NewReader(data), chunk.DefaultParams(), alloc)
		for {
			c, err := s.Next()
			if err != nil {
				break
			}
			free = append(free, c)
		}
	}
}
