package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
)

// ErrNotEnoughPeers reports fewer suitable candidates than shards to place.
var ErrNotEnoughPeers = errors.New("placement: not enough peers")

// Candidate is a peer that may hold shards. The zero value of every field
// but ID is valid: room unknown, reliability 0 and no evidence (every peer
// equal and new), no failure domain known.
type Candidate struct {
	ID     string // opaque peer ID
	Free   int64  // bytes it can still take; negative: unknown (assume room)
	Domain string // failure domain (host, subnet or zone) for Random; Reliable takes it as the zone when Zone is ""; "" counts as its own

	// Reliability is the estimated probability that asking the peer for a
	// shard works, in [0,1], as its observers rate it (gossip's
	// Rating.Value); negative or NaN: unknown, ranked below every known
	// one. Evidence is the number of observations behind it (gossip's
	// Rating.Evidence): below ReliableConfig.Vetted the peer is a
	// newcomer. Random ignores both.
	Reliability float64
	Evidence    float64

	// Failure domains from the widest to the narrowest, for Reliable. An
	// empty one is unknown and counts as the candidate's own. Subnets and
	// hosts are told apart only within their zone, so two homes behind
	// the same private range are not one subnet.
	Zone   string // set by the operator: "office", "home", a city
	Subnet string // the network of the peer's address, such as "192.168.1.0/24"
	Host   string // the machine; nodes that share one share its fate
}

// Placer chooses holders for the shards of one stripe.
type Placer interface {
	// Place returns, for each of len(sizes) shards, the index in cands of
	// a distinct candidate with room for it. It fails with an error
	// matching ErrNotEnoughPeers when there are too few.
	Place(cands []Candidate, sizes []int) ([]int, error)
}

// Random is the default Placer: distinct candidates with room, spread
// over as many failure domains as possible, random among equals. It is
// safe for concurrent use.
type Random struct {
	mu  sync.Mutex
	rng *rand.Rand
}

// NewRandom returns a Random placer drawing from a generator seeded with
// seed, so a placement can be replayed.
func NewRandom(seed uint64) *Random {
	return &Random{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Place implements Placer.
func (p *Random) Place(cands []Candidate, sizes []int) ([]int, error) {
	p.mu.Lock()
	order := p.rng.Perm(len(cands))
	p.mu.Unlock()
	out := make([]int, len(sizes))
	used := make([]bool, len(cands))
	domains := map[string]int{}
	for s, size := range sizes {
		best := -1
		for _, i := range order {
			c := cands[i]
			if used[i] || (c.Free >= 0 && c.Free < int64(size)) {
				continue
			}
			// Prefer the least-used failure domain; order breaks ties at random.
			if best < 0 || domains[domainOf(c, i)] < domains[domainOf(cands[best], best)] {
				best = i
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("%w: %d shards, %d candidates, %d with room for shard %d", ErrNotEnoughPeers, len(sizes), len(cands), s, s)
		}
		used[best] = true
		domains[domainOf(cands[best], best)]++
		out[s] = best
	}
	return out, nil
}

func domainOf(c Candidate, i int) string {
	if c.Domain == "" {
		return fmt.Sprintf("\x00%d", i) // a candidate alone in its domain
	}
	return c.Domain
}

// Code chooses k data and m parity shards per stripe for a cloud of n
// members, so that every shard of a stripe can have its own member: 4+2
// (any two members may vanish, at 1.5x storage) once there are six or
// more, and on smaller clouds a third of the members, at least one, for
// parity. A cloud of one member cannot spread a stripe: Code reports
// ErrNotEnoughPeers. It is the fallback while nothing is known of the
// peers' availability; ChooseCode decides from the availability and a
// target.
func Code(n int) (k, m int, err error) {
	switch {
	case n >= 6:
		return 4, 2, nil
	case n >= 2:
		m = max(1, n/3)
		return n - m, m, nil
	}
	return 0, 0, fmt.Errorf("%w: a stripe needs at least 2 members, the cloud has %d", ErrNotEnoughPeers, n)
}
