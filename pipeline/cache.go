package pipeline

import (
	"container/list"
	"context"
	"errors"
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
//
// load runs with the context of the caller that started it. If that
// caller gives up (its context ends) while others wait for the same key,
// they do not inherit its cancellation: the next one loads again.
func (c *cache[K]) get(ctx context.Context, key K, keep bool, load func(context.Context) ([]byte, error)) ([]byte, error) {
	for {
		c.mu.Lock()
		if e, ok := c.items[key]; ok {
			c.order.MoveToFront(e)
			v := e.Value.(*entry[K]).val
			c.mu.Unlock()
			return v, nil
		}
		cl, ok := c.flight[key]
		if !ok {
			cl = &call{done: make(chan struct{})}
			c.flight[key] = cl
			c.mu.Unlock()
			return c.load(ctx, key, keep, cl, load)
		}
		c.mu.Unlock()
		select {
		case <-cl.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if cl.err != nil && isContextErr(cl.err) && ctx.Err() == nil {
			continue // the loader's caller went away; this one has not
		}
		return cl.val, cl.err
	}
}

// load runs fn for a call this goroutine owns, and always ends the call,
// even if fn panics.
func (c *cache[K]) load(ctx context.Context, key K, keep bool, cl *call, fn func(context.Context) ([]byte, error)) ([]byte, error) {
	defer func() {
		c.mu.Lock()
		delete(c.flight, key)
		if cl.err == nil && keep {
			c.add(key, cl.val)
		}
		c.mu.Unlock()
		close(cl.done)
	}()
	cl.err = errLoadPanicked // replaced unless fn panics
	cl.val, cl.err = fn(ctx)
	return cl.val, cl.err
}

var errLoadPanicked = errors.New("pipeline: loading a cached value panicked")

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
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
