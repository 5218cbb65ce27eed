package pipeline

import "testing"

func TestBufPool(t *testing.T) {
	var p bufPool
	for _, n := range []int{0, 1, 4096, 4097, 1 << 20, 1<<20 + 1, 3 << 20} {
		b := p.Get(n)
		if len(b) != n {
			t.Fatalf("Get(%d) has length %d", n, len(b))
		}
		p.Put(b)
	}
	// Foreign and empty buffers are ignored, never panic.
	p.Put(nil)
	p.Put(make([]byte, 10, 5000))
	p.Put(make([]byte, 0, 1<<30))
	// A recycled buffer comes back for a request of its class.
	b := p.Get(1 << 20)
	b[0] = 42
	p.Put(b)
	if c := p.Get(1<<19 + 1); cap(c) != 1<<20 {
		t.Fatalf("Get(512KiB+1) has capacity %d, want the 1 MiB class", cap(c))
	}
	if allocs := testing.AllocsPerRun(100, func() { p.Put(p.Get(1 << 20)) }); allocs > 1 {
		t.Fatalf("steady-state Get/Put allocates %.0f times", allocs)
	}
}

func TestCacheEvicts(t *testing.T) {
	c := newCache[int](100)
	loads := 0
	load := func() ([]byte, error) { loads++; return make([]byte, 40), nil }
	for i := range 3 {
		if _, err := c.get(t.Context(), i, true, load); err != nil {
			t.Fatal(err)
		}
	}
	if c.used > 100 || len(c.items) != 2 {
		t.Fatalf("cache holds %d bytes in %d items, budget 100", c.used, len(c.items))
	}
	c.get(t.Context(), 2, true, load) // cached: no load
	c.get(t.Context(), 0, true, load) // evicted: loads again
	if loads != 4 {
		t.Fatalf("%d loads, want 4", loads)
	}
	c.get(t.Context(), 9, false, load)
	if _, ok := c.items[9]; ok {
		t.Fatal("a value loaded with keep=false was cached")
	}
}
