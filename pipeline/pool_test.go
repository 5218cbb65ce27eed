package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

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
	load := func(context.Context) ([]byte, error) { loads++; return make([]byte, 40), nil }
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

// TestCacheWaiterOutlivesLoader: a waiter whose own context is alive does
// not fail because the caller that started the load was cancelled.
func TestCacheWaiterOutlivesLoader(t *testing.T) {
	c := newCache[int](1 << 20)
	loaderCtx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_, err := c.get(loaderCtx, 1, true, func(ctx context.Context) ([]byte, error) {
			close(started)
			<-ctx.Done()
			return nil, ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("loader: err = %v", err)
		}
	})
	<-started
	var got []byte
	var err error
	wg.Go(func() {
		got, err = c.get(context.Background(), 1, true, func(context.Context) ([]byte, error) { return []byte("ok"), nil })
	})
	time.Sleep(10 * time.Millisecond) // let the waiter queue on the first load
	cancel()
	wg.Wait()
	if err != nil || string(got) != "ok" {
		t.Fatalf("waiter got %q, %v; want a fresh load", got, err)
	}
}

// TestCacheLoadPanics: a panicking load ends its call, so nobody waits forever.
func TestCacheLoadPanics(t *testing.T) {
	c := newCache[int](100)
	func() {
		defer func() { _ = recover() }()
		c.get(context.Background(), 1, true, func(context.Context) ([]byte, error) { panic("boom") })
	}()
	v, err := c.get(context.Background(), 1, true, func(context.Context) ([]byte, error) { return []byte("x"), nil })
	if err != nil || string(v) != "x" {
		t.Fatalf("after a panicking load: %q, %v", v, err)
	}
}
