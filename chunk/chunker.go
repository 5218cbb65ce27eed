package chunk

import (
	"errors"
	"fmt"
	"io"
)

// maxEmptyReads is how many reads in a row may return no data and no error
// before the Chunker gives up with io.ErrNoProgress.
const maxEmptyReads = 100

// firstBufSize caps the buffer a Chunker starts with, so that chunking a
// small stream does not allocate 2*Max bytes.
const firstBufSize = 64 << 10

// Chunker splits a stream into content-defined chunks under Params. It reads
// in large blocks into a buffer of up to 2*Max bytes and returns chunks as
// slices of that buffer, so it allocates nothing per chunk once the buffer has
// grown. A Chunker is not safe for concurrent use.
type Chunker struct {
	r   io.Reader
	c   cutter
	buf []byte
	// buf[start:end] holds data read but not yet returned.
	start, end int
	// err is the first error from r (io.EOF at the end of the stream, or a
	// wrapped read error); once set, r is not read again.
	err error
}

// NewChunker returns a Chunker that reads from r and cuts under p. It fails
// with an error wrapping ErrBadParams if p is invalid.
func NewChunker(r io.Reader, p Params) (*Chunker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &Chunker{
		r:   r,
		c:   newCutter(p),
		buf: make([]byte, min(2*p.Max, firstBufSize)),
	}, nil
}

// Reset makes c chunk r from its start, keeping c's Params and buffer.
func (c *Chunker) Reset(r io.Reader) {
	c.r = r
	c.start, c.end = 0, 0
	c.err = nil
}

// Next returns the next chunk of the stream. The slice aliases c's buffer and
// is valid only until the next call to Next or Reset; callers that keep a
// chunk must copy it. After the last chunk Next returns io.EOF; an empty
// stream yields io.EOF at once, never an empty chunk.
//
// A read error other than io.EOF is returned wrapped (errors.Is sees the
// reader's error) by the first call to Next that needs data past the point of
// failure; the data buffered at that point is not returned, and every later
// call returns the same error. The chunks returned before it are exactly the
// chunks of the stream's start.
func (c *Chunker) Next() ([]byte, error) {
	if c.end-c.start < c.c.max && c.err == nil {
		c.fill()
	}
	avail := c.end - c.start
	switch {
	case avail == 0 && c.err == io.EOF:
		return nil, io.EOF
	case avail < c.c.max && c.err != nil && c.err != io.EOF:
		// The chunk boundary may depend on data the reader failed to
		// deliver, so no more chunks can be cut.
		c.start, c.end = 0, 0
		return nil, c.err
	}
	n := c.c.cut(c.buf[c.start:c.end])
	chunk := c.buf[c.start : c.start+n : c.start+n]
	c.start += n
	return chunk, nil
}

// fill moves the unread data to the front of the buffer and reads until the
// buffer is full or the reader fails, growing the buffer to 2*Max if it is
// too small to hold Max bytes.
func (c *Chunker) fill() {
	if c.start > 0 {
		c.end = copy(c.buf, c.buf[c.start:c.end])
		c.start = 0
	}
	for empty := 0; c.err == nil; {
		if c.end == len(c.buf) {
			if c.end >= c.c.max {
				return
			}
			buf := make([]byte, 2*c.c.max)
			copy(buf, c.buf[:c.end])
			c.buf = buf
		}
		n, err := c.r.Read(c.buf[c.end:])
		if n < 0 || n > len(c.buf)-c.end {
			c.err = fmt.Errorf("chunk: reader returned invalid count %d for a %d-byte read", n, len(c.buf)-c.end)
			return
		}
		c.end += n
		switch {
		case errors.Is(err, io.EOF):
			c.err = io.EOF
		case err != nil:
			c.err = fmt.Errorf("chunk: reading input: %w", err)
		case n == 0:
			empty++
			if empty == maxEmptyReads {
				c.err = fmt.Errorf("chunk: reading input: %w", io.ErrNoProgress)
			}
		default:
			empty = 0
		}
	}
}
