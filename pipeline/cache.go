package pipeline

import (
	"container/list"
	"context"
	"sync"
)

// cache holds values by key up to a byte budget, least recently used out
// first, and loads each missing key once however many callers ask for it
// at the same time.
type cache[K comparable] struct {
	budget int

	mu     sync.Mutex
	used   int
	order  *list.List // front: most recently used; values are *entry[K]
	items  map[K]*list.Element
	flight map[K]*call
}

type entry[K comparable] struct {
	key K
	val []byte
}

type call struct {
	done chan struct{}
	val  []byte
	err  error
}

func newCache[K comparable](budget int) *cache[K] {
	return &cache[K]{budget: budget, order: list.New(), items: map[K]*list.Element{}, flight: map[K]*call{}}
}

// get returns the value for key, calling load if it is neither cached nor
// being loaded. A value is kept only if keep is true and it fits the
// budget. Callers must not modify the returned slice.
func (c *cache[K]) get(ctx context.Context, key K, keep bool, load func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		v := e.Value.(*entry[K]).val
		c.mu.Unlock()
		return v, nil
	}
	if cl, ok := c.flight[key]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.val, cl.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	cl := &call{done: make(chan struct{})}
	c.flight[key] = cl
	c.mu.Unlock()

	cl.val, cl.err = load()

	c.mu.Lock()
	delete(c.flight, key)
	if cl.err == nil && keep {
		c.add(key, cl.val)
	}
	c.mu.Unlock()
	close(cl.done)
	return cl.val, cl.err
}

// put caches val under key (if it fits the budget).
func (c *cache[K]) put(key K, val []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.add(key, val)
}

func (c *cache[K]) add(key K, val []byte) {
	if len(val) > c.budget {
		return
	}
	if e, ok := c.items[key]; ok {
		c.used -= len(e.Value.(*entry[K]).val)
		c.order.Remove(e)
	}
	c.items[key] = c.order.PushFront(&entry[K]{key, val})
	c.used += len(val)
	for c.used > c.budget {
		e := c.order.Back()
		old := e.Value.(*entry[K])
		c.order.Remove(e)
		delete(c.items, old.key)
		c.used -= len(old.val)
	}
}
