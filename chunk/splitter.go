package chunk

import (
	"errors"
	"fmt"
	"io"
)

// splitterBlock is the most a Splitter reads at once. The bytes read past a
// cut point are copied to the next chunk's buffer, so a smaller block means
// less copying and a larger one fewer reads.
const splitterBlock = 256 << 10

// Splitter cuts a stream into the same chunks as Chunker, but hands each
// chunk over in a buffer the caller then owns, so a pipeline can pass chunks
// to other goroutines without copying them. It reads in blocks and resumes
// the gear hash where it stopped, so every byte is hashed once and only the
// bytes read past a cut (less than one block) are ever copied.
//
// A Splitter is not safe for concurrent use.
type Splitter struct {
	r     io.Reader
	c     cutter
	alloc func(n int) []byte

	buf     []byte // the chunk being assembled: len = bytes read, cap = max
	scanned int    // bytes of buf already rolled through the hash
	fp      uint64 // the hash after buf[:scanned]
	err     error  // first error from r; io.EOF at the end
}

// NewSplitter returns a Splitter reading r under p. alloc returns a buffer
// of length n with any contents (nil: make); every chunk Next returns is a
// prefix of one such buffer.
func NewSplitter(r io.Reader, p Params, alloc func(n int) []byte) (*Splitter, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if alloc == nil {
		alloc = func(n int) []byte { return make([]byte, n) }
	}
	return &Splitter{r: r, c: newCutter(p), alloc: alloc}, nil
}

// Next returns the next chunk, which the caller owns from then on, with the
// capacity of the buffer alloc gave; io.EOF after the last one. Errors are
// as for Chunker.Next.
func (s *Splitter) Next() ([]byte, error) {
	if s.buf == nil && s.err != nil {
		return nil, s.err // io.EOF after the last chunk, or the read error
	}
	if s.buf == nil {
		s.buf = s.alloc(s.c.max)[:0]
	}
	for {
		if n := s.scan(); n > 0 {
			return s.take(n), nil
		}
		switch {
		case s.err == io.EOF && len(s.buf) == 0:
			return nil, io.EOF
		case s.err == io.EOF:
			return s.take(len(s.buf)), nil
		case s.err != nil:
			s.buf = s.buf[:0]
			return nil, s.err
		}
		s.read()
	}
}

// scan rolls the hash over the bytes read but not yet hashed and returns
// the chunk length if a cut point (or the maximum length) was reached, else 0.
func (s *Splitter) scan() int {
	c := &s.c
	avail := min(len(s.buf), c.max)
	if avail <= c.min {
		return 0
	}
	start := max(s.scanned, c.min)
	if start < c.avg {
		end := min(avail, c.avg)
		k, fp := scan(s.buf[start:end], s.fp, c.maskS)
		if k >= 0 {
			return start + k
		}
		s.fp, s.scanned, start = fp, end, end
	}
	if start < avail {
		k, fp := scan(s.buf[start:avail], s.fp, c.maskL)
		if k >= 0 {
			return start + k
		}
		s.fp, s.scanned = fp, avail
	}
	if avail == c.max {
		return c.max
	}
	return 0
}

// take returns the first n bytes as a chunk and starts the next chunk in a
// new buffer holding the bytes read past them. The chunk keeps its buffer's
// capacity (the bytes past it are copied out), so its owner can recycle it.
func (s *Splitter) take(n int) []byte {
	chunk := s.buf[:n]
	rest := s.buf[n:]
	s.buf, s.scanned, s.fp = nil, 0, 0
	if len(rest) > 0 || s.err == nil {
		s.buf = s.alloc(s.c.max)[:len(rest)]
		copy(s.buf, rest)
	}
	return chunk
}

// read reads up to one block into buf.
func (s *Splitter) read() {
	for empty := 0; ; empty++ {
		end := min(cap(s.buf), len(s.buf)+splitterBlock)
		n, err := s.r.Read(s.buf[len(s.buf):end])
		if n < 0 || n > end-len(s.buf) {
			s.err = fmt.Errorf("chunk: reader returned invalid count %d for a %d-byte read", n, end-len(s.buf))
			return
		}
		s.buf = s.buf[:len(s.buf)+n]
		switch {
		case errors.Is(err, io.EOF):
			s.err = io.EOF
		case err != nil:
			s.err = fmt.Errorf("chunk: reading input: %w", err)
		case n == 0 && empty+1 < maxEmptyReads:
			continue
		case n == 0:
			s.err = fmt.Errorf("chunk: reading input: %w", io.ErrNoProgress)
		}
		return
	}
}
