package chunk_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/iotest"

	"github.com/murmur-cloud/murmur/chunk"
)

func TestChunkerSizes(t *testing.T) {
	for _, p := range []chunk.Params{chunk.DefaultParams(), smallParams} {
		data := randBytes("sizes", 10<<20)
		for _, n := range []int{0, 1, p.Min - 1, p.Min, p.Min + 1, p.Avg, p.Max - 1, p.Max, p.Max + 1, 2*p.Max + 3, 10 << 20} {
			t.Run(fmt.Sprintf("%v/%d", p, n), func(t *testing.T) {
				chunks := mustChunk(t, data[:n], p)
				checkChunks(t, data[:n], chunks, p)
				if n > 0 && n <= p.Min && len(chunks) != 1 {
					t.Errorf("%d bytes gave %d chunks, want 1", n, len(chunks))
				}
				// The Chunker cuts where Params.Cut does.
				rest := data[:n]
				for i, c := range chunks {
					if want := p.Cut(rest); len(c) != want {
						t.Fatalf("chunk %d is %d bytes, Cut says %d", i, len(c), want)
					}
					rest = rest[len(c):]
				}
			})
		}
	}
}

func TestChunkerEmpty(t *testing.T) {
	c, err := chunk.NewChunker(bytes.NewReader(nil), chunk.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if b, err := c.Next(); err != io.EOF || b != nil {
			t.Fatalf("Next on empty stream = %d bytes, %v; want nil, io.EOF", len(b), err)
		}
	}
}

func TestChunkerAverage(t *testing.T) {
	data := randBytes("average", 64<<20)
	for _, p := range []chunk.Params{chunk.DefaultParams(), smallParams} {
		chunks := mustChunk(t, data, p)
		mean := float64(len(data)) / float64(len(chunks))
		t.Logf("%v: %d chunks, mean %.0f bytes (%.2f × Avg)", p, len(chunks), mean, mean/float64(p.Avg))
		if mean < 0.75*float64(p.Avg) || mean > 1.25*float64(p.Avg) {
			t.Errorf("%v: mean chunk size %.0f is not within 25%% of Avg %d", p, mean, p.Avg)
		}
	}
}

// chopReader returns 1 to max bytes per Read, chosen by a seeded generator.
type chopReader struct {
	r   io.Reader
	rnd *rand.Rand
	max int
}

func (c *chopReader) Read(p []byte) (int, error) {
	n := 1 + c.rnd.IntN(c.max)
	return c.r.Read(p[:min(n, len(p))])
}

func TestChunkerReadSizes(t *testing.T) {
	tests := []struct {
		name string
		p    chunk.Params
		size int
		wrap func(io.Reader) io.Reader
	}{
		{"one byte", smallParams, 1 << 20, iotest.OneByteReader},
		{"half", chunk.DefaultParams(), 10 << 20, iotest.HalfReader},
		{"half small", smallParams, 2 << 20, iotest.HalfReader},
		{"data with EOF", chunk.DefaultParams(), 10 << 20, iotest.DataErrReader},
		{"data with EOF small", smallParams, 1<<20 + 17, iotest.DataErrReader},
		{"chopped", chunk.DefaultParams(), 10 << 20, func(r io.Reader) io.Reader {
			return &chopReader{r: r, rnd: rand.New(rand.NewPCG(1, 2)), max: 100 << 10}
		}},
		{"chopped small", smallParams, 2 << 20, func(r io.Reader) io.Reader {
			return &chopReader{r: r, rnd: rand.New(rand.NewPCG(3, 4)), max: 5000}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := randBytes("read sizes", tt.size)
			want := lengths(mustChunk(t, data, tt.p))
			chunks, err := readChunks(t, tt.wrap(bytes.NewReader(data)), tt.p)
			if err != nil {
				t.Fatal(err)
			}
			checkChunks(t, data, chunks, tt.p)
			if got := lengths(chunks); !slices.Equal(got, want) {
				t.Errorf("chunk lengths %v, want %v as from one big read", got, want)
			}
		})
	}
}

// TestChunkerDedup inserts bytes in the middle of a stream: the chunks before
// the edit must be unchanged, and the chunking must fall back into step
// within a few chunks after it.
func TestChunkerDedup(t *testing.T) {
	h := chunk.NewHasher([32]byte{1})
	for _, p := range []chunk.Params{chunk.DefaultParams(), smallParams} {
		data := randBytes("dedup", 16<<20)
		edited := slices.Insert(slices.Clone(data), len(data)/2, []byte("murmur")...)
		ids := func(chunks [][]byte) map[chunk.ID]bool {
			m := make(map[chunk.ID]bool)
			for _, c := range chunks {
				m[h.Sum(c)] = true
			}
			return m
		}
		before, after := ids(mustChunk(t, data, p)), ids(mustChunk(t, edited, p))
		changed := 0
		for id := range after {
			if !before[id] {
				changed++
			}
		}
		t.Logf("%v: %d chunks before, %d after, %d new", p, len(before), len(after), changed)
		if changed > 3 {
			t.Errorf("%v: a 6-byte insert changed %d of %d chunks, want at most 3", p, changed, len(after))
		}
	}
}

func TestChunkerReadError(t *testing.T) {
	errBoom := errors.New("boom")
	data := randBytes("read error", 10<<20)
	want := mustChunk(t, data, chunk.DefaultParams())

	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"error at once", iotest.ErrReader(errBoom), errBoom},
		{"timeout", iotest.TimeoutReader(bytes.NewReader(data)), iotest.ErrTimeout},
		{"error after 9 MiB", io.MultiReader(bytes.NewReader(data[:9<<20]), iotest.ErrReader(errBoom)), errBoom},
		{"no progress", emptyReader{}, io.ErrNoProgress},
		{"bad count", badCountReader{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := chunk.NewChunker(tt.r, chunk.DefaultParams())
			if err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			for {
				b, err := c.Next()
				if err == nil {
					got = append(got, bytes.Clone(b))
					continue
				}
				if errors.Is(err, io.EOF) {
					t.Fatalf("stream ended with io.EOF after %d chunks, want a read error", len(got))
				}
				if tt.want != nil && !errors.Is(err, tt.want) {
					t.Fatalf("Next error = %v, want %v", err, tt.want)
				}
				// The error sticks.
				if b, err2 := c.Next(); b != nil || err2 != err {
					t.Errorf("Next after error = %d bytes, %v; want nil, %v", len(b), err2, err)
				}
				break
			}
			// Chunks returned before the error are the stream's first chunks.
			if len(got) > len(want) {
				t.Fatalf("got %d chunks before the error, stream has %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("chunk %d before the error differs from the error-free run", i)
				}
			}
		})
	}
}

// emptyReader returns no data and no error.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

// badCountReader claims to have read more than it was asked for.
type badCountReader struct{}

func (badCountReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestChunkerReset(t *testing.T) {
	data := randBytes("reset", 5<<20)
	want := mustChunk(t, data, smallParams)
	c, err := chunk.NewChunker(bytes.NewReader(data[:100]), smallParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Next(); err != nil {
		t.Fatal(err)
	}
	c.Reset(bytes.NewReader(data))
	for i := range want {
		b, err := c.Next()
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if !bytes.Equal(b, want[i]) {
			t.Fatalf("chunk %d after Reset differs", i)
		}
	}
	if _, err := c.Next(); err != io.EOF {
		t.Fatalf("after last chunk Next error = %v, want io.EOF", err)
	}
}

func TestChunkerNoAllocs(t *testing.T) {
	var seed [32]byte
	c, err := chunk.NewChunker(rand.NewChaCha8(seed), chunk.DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	next := func() {
		if _, err := c.Next(); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		next() // grow the buffer
	}
	if n := testing.AllocsPerRun(20, next); n != 0 {
		t.Errorf("Next allocates %v times per chunk, want 0", n)
	}
}
