package chunk_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/murmur-cloud/murmur/chunk"
)

func BenchmarkChunker(b *testing.B) {
	data := randBytes("bench", 64<<20)
	r := bytes.NewReader(data)
	c, err := chunk.NewChunker(r, chunk.DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(data)
		c.Reset(r)
		drain(b, c)
	}
}

// drain reads c to the end. It is a function of its own so that b.Loop does
// not keep the loop's locals on the stack.
func drain(b *testing.B, c *chunk.Chunker) {
	for {
		if _, err := c.Next(); err != nil {
			if err != io.EOF {
				b.Fatal(err)
			}
			return
		}
	}
}

func BenchmarkCut(b *testing.B) {
	for _, p := range []chunk.Params{chunk.DefaultParams(), smallParams} {
		b.Run(p.String(), func(b *testing.B) {
			data := randBytes("bench", 64<<20)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				cutAll(p, data)
			}
		})
	}
}

// cutAll cuts all of data under p.
func cutAll(p chunk.Params, data []byte) int {
	n := 0
	for len(data) > 0 {
		data = data[p.Cut(data):]
		n++
	}
	return n
}

func BenchmarkHasher(b *testing.B) {
	h := chunk.NewHasher([32]byte{1})
	data := randBytes("bench", 1<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h.Sum(data)
	}
}
