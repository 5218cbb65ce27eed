package chunk_test

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"github.com/murmur-cloud/murmur/chunk"
)

// fuzzParams maps fuzzer integers onto valid small Params: Avg from 128 to
// 4096, Min from 64 to Avg-1, Max from Avg+1 to 5*Avg.
func fuzzParams(minSeed uint16, avgLog uint8, maxSeed uint16) chunk.Params {
	avg := 128 << (avgLog % 6)
	return chunk.Params{
		Min: chunk.MinLimit + int(minSeed)%(avg-chunk.MinLimit),
		Avg: avg,
		Max: avg + 1 + int(maxSeed)%(4*avg),
	}
}

// FuzzCut checks Params.Cut against the documented rule and the Chunker
// against Params.Cut, for any input and any small Params.
func FuzzCut(f *testing.F) {
	f.Add([]byte(""), uint16(0), uint8(0), uint16(0))
	f.Add([]byte("x"), uint16(1), uint8(1), uint16(1))
	f.Add(bytes.Repeat([]byte{0}, 5000), uint16(0), uint8(0), uint16(0))
	f.Add(randBytes("fuzz cut 1", 3000), uint16(0), uint8(1), uint16(700))
	f.Add(randBytes("fuzz cut 2", 20000), uint16(900), uint8(5), uint16(9000))
	f.Fuzz(func(t *testing.T, data []byte, minSeed uint16, avgLog uint8, maxSeed uint16) {
		p := fuzzParams(minSeed, avgLog, maxSeed)
		if err := p.Validate(); err != nil {
			t.Fatalf("fuzzParams made invalid %v: %v", p, err)
		}
		got := p.Cut(data)
		if want := chunk.CutReference(p, data); got != want {
			t.Fatalf("%v: Cut = %d, reference = %d", p, got, want)
		}
		switch n := len(data); {
		case n <= p.Min && got != n:
			t.Fatalf("%v: Cut of %d bytes = %d, want all", p, n, got)
		case n > p.Min && (got <= p.Min || got > min(n, p.Max)):
			t.Fatalf("%v: Cut of %d bytes = %d, out of bounds", p, n, got)
		}

		chunks := mustChunk(t, data, p)
		checkChunks(t, data, chunks, p)
		rest := data
		for i, c := range chunks {
			if want := p.Cut(rest); len(c) != want {
				t.Fatalf("%v: chunk %d is %d bytes, Cut says %d", p, i, len(c), want)
			}
			rest = rest[len(c):]
		}
	})
}

// pieceReader returns data in pieces whose sizes cycle through sizes
// (each plus one), to exercise the Chunker's buffering.
type pieceReader struct {
	data  []byte
	sizes []byte
	i     int
}

func (r *pieceReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(p)
	if len(r.sizes) > 0 {
		n = min(n, 1+int(r.sizes[r.i%len(r.sizes)])*8)
		r.i++
	}
	n = copy(p, r.data[:min(n, len(r.data))])
	r.data = r.data[n:]
	return n, nil
}

// FuzzChunker checks that the Chunker cuts the same chunks however the reader
// splits its data.
func FuzzChunker(f *testing.F) {
	f.Add([]byte(""), []byte{})
	f.Add(randBytes("fuzz chunker", 5000), []byte{0})
	f.Add(randBytes("fuzz chunker", 5000), []byte{3, 200, 17})
	f.Fuzz(func(t *testing.T, data, sizes []byte) {
		p := tinyParams
		want := lengths(mustChunk(t, data, p))
		chunks, err := readChunks(t, &pieceReader{data: data, sizes: sizes}, p)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, data, chunks, p)
		got := lengths(chunks)
		if len(got) != len(want) {
			t.Fatalf("%d chunks from pieces, %d from one read", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("chunk %d is %d bytes from pieces, %d from one read", i, got[i], want[i])
			}
		}
	})
}

// FuzzSplitter checks that the Splitter cuts exactly where the Chunker does,
// for any input, any small Params and any read sizes.
func FuzzSplitter(f *testing.F) {
	f.Add([]byte(""), []byte{}, uint16(0), uint8(0), uint16(0))
	f.Add(randBytes("fuzz splitter", 5000), []byte{0}, uint16(10), uint8(1), uint16(300))
	f.Add(randBytes("fuzz splitter", 9000), []byte{3, 200, 17}, uint16(900), uint8(4), uint16(9000))
	f.Fuzz(func(t *testing.T, data, sizes []byte, minSeed uint16, avgLog uint8, maxSeed uint16) {
		p := fuzzParams(minSeed, avgLog, maxSeed)
		want := lengths(mustChunk(t, data, p))
		chunks, err := split(t, &pieceReader{data: data, sizes: sizes}, p)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, data, chunks, p)
		if got := lengths(chunks); !slices.Equal(got, want) {
			t.Fatalf("Splitter lengths %v, Chunker %v", got, want)
		}
	})
}
