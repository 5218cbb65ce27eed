package dashboard

import (
	"sync"
	"time"
)

// traffic is a ring buffer of samples of a Source's byte counters.
type traffic struct {
	mu   sync.Mutex
	ring []sample
	next int // where the next sample goes
	full bool
}

type sample struct {
	t       time.Time
	in, out int64
}

func newTraffic(n int) *traffic { return &traffic{ring: make([]sample, n)} }

func (tr *traffic) add(s sample) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.ring[tr.next] = s
	tr.next = (tr.next + 1) % len(tr.ring)
	if tr.next == 0 {
		tr.full = true
	}
}

// rates are the rates between consecutive samples, oldest first. A
// counter that went down (a node restarted under the same source) gives
// no rate for that interval.
func (tr *traffic) rates() []Rate {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var ss []sample
	if tr.full {
		ss = append(ss, tr.ring[tr.next:]...)
	}
	ss = append(ss, tr.ring[:tr.next]...)
	out := []Rate{}
	for i := 1; i < len(ss); i++ {
		a, b := ss[i-1], ss[i]
		d := b.t.Sub(a.t).Seconds()
		if d <= 0 || b.in < a.in || b.out < a.out {
			continue
		}
		out = append(out, Rate{T: b.t, In: float64(b.in-a.in) / d, Out: float64(b.out-a.out) / d})
	}
	return out
}
