package repair

import (
	"encoding/hex"
	"time"
)

// StripeID names a stripe. Stripes and peers share one keyspace of 256-bit
// keys, so that "the members closest to a stripe" means the smallest XOR
// distance, as in Kademlia.
type StripeID [32]byte

// Key is a position in the keyspace: a peer's is Config.KeyOf(peer).
type Key = [32]byte

// String returns the ID in lowercase hex.
func (id StripeID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 12 hex digits, for logs.
func (id StripeID) Short() string { return hex.EncodeToString(id[:6]) }

// Stripe is the view of a stripe record that repair needs: what node
// adapts from package stripe's records. Holders[i] holds shard i (the zero
// P: nobody), for the K data shards and then the M parity shards; Empty[i]
// marks a data slot that stores no bytes (erasure's empty data shards,
// always "present"), which needs no holder and is never repaired. Version
// orders the records of one stripe: every committed repair makes the next
// one, and the newer record wins everywhere.
//
// A Stripe handed to a Machine or carried by a message is kept as it is:
// its slices must not be modified afterwards (make a new record instead).
type Stripe[P comparable] struct {
	ID        StripeID
	K, M      int
	ShardSize int64 // bytes of one shard, for bandwidth accounting
	Holders   []P
	Empty     []bool    // nil: no empty slots
	Version   uint64    // of the holder hints
	Retain    time.Time // the owner-signed retention runs until then; zero: no end known
}

// need is how many stored shards rebuild the stripe: k less its empty
// data slots, which count as present.
func (s *Stripe[P]) need() int {
	n := s.K
	for i := 0; i < s.K && i < len(s.Empty); i++ {
		if s.Empty[i] {
			n--
		}
	}
	return max(n, 1)
}

// stored reports whether slot i holds bytes.
func (s *Stripe[P]) stored(i int) bool { return i >= len(s.Empty) || !s.Empty[i] }

// valid reports whether the record is usable.
func (s *Stripe[P]) valid() bool {
	return s.K >= 1 && s.M >= 1 && len(s.Holders) == s.K+s.M && (s.Empty == nil || len(s.Empty) == s.K+s.M) && s.ShardSize >= 0
}

// slotOf returns the slot p holds, or -1.
func (s *Stripe[P]) slotOf(p P) int {
	var zero P
	if p == zero {
		return -1
	}
	for i, h := range s.Holders {
		if h == p && s.stored(i) {
			return i
		}
	}
	return -1
}

// Distance returns the XOR distance between two keys.
func Distance(a, b Key) Key {
	var d Key
	for i := range d {
		d[i] = a[i] ^ b[i]
	}
	return d
}

// closer reports whether key a is closer to target than key b.
func closer(target, a, b Key) bool {
	for i := range target {
		x, y := a[i]^target[i], b[i]^target[i]
		if x != y {
			return x < y
		}
	}
	return false
}

// Closest returns up to n of members, closest to the stripe first by the
// XOR distance of their keys, skipping those for which skip reports true
// (nil: none) and repeats. It is how the watchers that take over a stripe
// are chosen: every node that asks with the same members gets the same
// answer. The slice is the caller's.
func Closest[P comparable](id StripeID, members []P, keyOf func(P) Key, n int, skip func(P) bool) []P {
	type cand struct {
		p P
		k Key
	}
	best := make([]cand, 0, n+1)
	seen := make(map[P]bool, len(members))
	for _, p := range members {
		if seen[p] || (skip != nil && skip(p)) {
			continue
		}
		seen[p] = true
		c := cand{p, keyOf(p)}
		// Insertion into the n best so far.
		i := len(best)
		for i > 0 && closer(Key(id), c.k, best[i-1].k) {
			i--
		}
		if i >= n {
			continue
		}
		best = append(best, cand{})
		copy(best[i+1:], best[i:])
		best[i] = c
		if len(best) > n {
			best = best[:n]
		}
	}
	out := make([]P, len(best))
	for i, c := range best {
		out[i] = c.p
	}
	return out
}
