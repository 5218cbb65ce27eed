package chunk_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/murmur-cloud/murmur/chunk"
)

// smallParams are the small Params that tests use besides the defaults.
var smallParams = chunk.Params{Min: 2 << 10, Avg: 8 << 10, Max: 64 << 10}

// tinyParams make chunks of a few hundred bytes, for fuzzing.
var tinyParams = chunk.Params{Min: 64, Avg: 256, Max: 1024}

// randBytes returns n bytes from a ChaCha8 stream seeded with seed, padded
// with zeros to 32 bytes.
func randBytes(seed string, n int) []byte {
	var s [32]byte
	copy(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// readChunks chunks r under p and returns copies of the chunks and the error
// that ended the stream (nil for io.EOF).
func readChunks(t testing.TB, r io.Reader, p chunk.Params) ([][]byte, error) {
	t.Helper()
	c, err := chunk.NewChunker(r, p)
	if err != nil {
		t.Fatalf("NewChunker(%v): %v", p, err)
	}
	var chunks [][]byte
	for {
		b, err := c.Next()
		if errors.Is(err, io.EOF) {
			return chunks, nil
		}
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, bytes.Clone(b))
	}
}

// mustChunk chunks data under p, failing the test on any error.
func mustChunk(t testing.TB, data []byte, p chunk.Params) [][]byte {
	t.Helper()
	chunks, err := readChunks(t, bytes.NewReader(data), p)
	if err != nil {
		t.Fatalf("chunking %d bytes: %v", len(data), err)
	}
	return chunks
}

// lengths returns the length of each chunk.
func lengths(chunks [][]byte) []int {
	ls := make([]int, len(chunks))
	for i, c := range chunks {
		ls[i] = len(c)
	}
	return ls
}

// checkChunks reports chunks that break p's size bounds or do not
// concatenate to data.
func checkChunks(t testing.TB, data []byte, chunks [][]byte, p chunk.Params) {
	t.Helper()
	if len(data) == 0 && len(chunks) != 0 {
		t.Fatalf("empty input gave %d chunks", len(chunks))
	}
	for i, c := range chunks {
		last := i == len(chunks)-1
		switch {
		case len(c) > p.Max:
			t.Fatalf("chunk %d/%d is %d bytes, above Max %d", i, len(chunks), len(c), p.Max)
		case last && len(c) == 0:
			t.Fatalf("last chunk %d is empty", i)
		case !last && len(c) <= p.Min:
			t.Fatalf("chunk %d/%d is %d bytes, want above Min %d", i, len(chunks), len(c), p.Min)
		}
	}
	if got := bytes.Join(chunks, nil); !bytes.Equal(got, data) {
		t.Fatalf("chunks concatenate to %d bytes that differ from the %d-byte input", len(got), len(data))
	}
}
