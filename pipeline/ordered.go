package pipeline

import (
	"context"
	"sync"
)

// orderedMap runs fn over the items next produces on workers goroutines
// and calls emit with the results in the order the items were produced.
// At most 2*workers items are in flight. next returns ok=false at the end
// of input; an error from next, fn or emit stops everything and is
// returned (the first one).
func orderedMap[In, Out any](ctx context.Context, workers int,
	next func() (In, bool, error), fn func(context.Context, In) (Out, error), emit func(Out) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	type slot struct {
		out  Out
		err  error
		done chan struct{}
	}
	type job struct {
		in In
		s  *slot
	}
	jobs := make(chan job)
	queue := make(chan *slot, 2*workers)

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				j.s.out, j.s.err = fn(ctx, j.in)
				close(j.s.done)
			}
		})
	}
	// The producer feeds jobs and queues their slots in input order.
	go func() {
		defer close(queue)
		defer close(jobs)
		for {
			in, ok, err := next()
			if err != nil {
				cancel(err)
				return
			}
			if !ok {
				return
			}
			s := &slot{done: make(chan struct{})}
			select {
			case queue <- s:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- job{in, s}:
			case <-ctx.Done():
				s.err = context.Cause(ctx)
				close(s.done)
				return
			}
		}
	}()

	var first error
	for s := range queue {
		<-s.done
		if first != nil {
			continue // drain so the producer and workers can stop
		}
		if s.err == nil {
			s.err = emit(s.out)
		}
		if s.err != nil {
			first = s.err
			cancel(first)
		}
	}
	wg.Wait()
	if first == nil {
		first = context.Cause(ctx) // an error from next, or the caller's cancellation
	}
	return first
}
