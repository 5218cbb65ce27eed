package pipeline

import (
	"math/bits"
	"sync"
)

// buffers is shared by every Writer, so that writing many files in turn
// reuses memory too. Like the standard library's internal pools it holds no
// state that matters: a buffer taken from it has undefined contents.
var buffers = new(bufPool)

// bufPool recycles the large buffers the write path goes through (chunk
// copies, sealed chunks, parity), so that steady-state writing neither
// allocates nor has the runtime zero memory that is about to be
// overwritten. Buffers are kept in power-of-two size classes.
type bufPool struct {
	classes [27]sync.Pool // class c holds buffers of capacity 1<<c
}

const minClass = 12 // 4 KiB: smaller buffers are not worth recycling

// Get returns a buffer of length n; its contents are undefined.
func (p *bufPool) Get(n int) []byte {
	c := bits.Len(uint(n - 1))
	if n <= 1<<minClass || c >= len(p.classes) {
		return make([]byte, n)
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		return (*b)[:n]
	}
	return make([]byte, n, 1<<c)
}

// Put returns b to the pool. The caller must not use b afterwards.
func (p *bufPool) Put(b []byte) {
	if cap(b) <= 1<<minClass {
		return
	}
	c := bits.Len(uint(cap(b))) - 1
	if cap(b) != 1<<c || c >= len(p.classes) {
		return // not one of ours
	}
	b = b[:0]
	p.classes[c].Put(&b)
}
