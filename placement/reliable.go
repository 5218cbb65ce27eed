package placement

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
)

// ReliableConfig tunes a Reliable placer. Zero fields take their defaults;
// to turn Epsilon, Vetted or MaxNewcomers off, set them negative.
type ReliableConfig struct {
	// Seed seeds the placer's generator, so placements can be replayed.
	Seed uint64
	// Slice is the fraction of the vetted candidates, the most reliable,
	// that form the reliable slice. Default 0.5.
	Slice float64
	// Epsilon is how close two reliabilities must be for the candidates
	// to be interchangeable: the slice takes in everyone within Epsilon
	// of its weakest member, and widening takes near-equals together.
	// Default 0.05.
	Epsilon float64
	// Vetted is the evidence (Candidate.Evidence) at which a candidate
	// stops being a newcomer. Default 8.
	Vetted float64
	// MaxNewcomers is how many newcomers a stripe may take while vetted
	// candidates are enough. Default 1.
	MaxNewcomers int
}

// WithDefaults fills the zero fields, turns negative Epsilon, Vetted and
// MaxNewcomers into 0, and checks the rest.
func (c ReliableConfig) WithDefaults() (ReliableConfig, error) {
	if c.Slice == 0 {
		c.Slice = 0.5
	}
	if c.Epsilon == 0 {
		c.Epsilon = 0.05
	}
	if c.Vetted == 0 {
		c.Vetted = 8
	}
	if c.MaxNewcomers == 0 {
		c.MaxNewcomers = 1
	}
	c.Epsilon, c.Vetted, c.MaxNewcomers = max(c.Epsilon, 0), max(c.Vetted, 0), max(c.MaxNewcomers, 0)
	if !(c.Slice > 0 && c.Slice <= 1) || !(c.Epsilon <= 1) || math.IsNaN(c.Vetted) || math.IsInf(c.Vetted, 1) {
		return c, fmt.Errorf("placement: reliable config: slice %v not in (0,1], epsilon %v above 1 or vetted %v not a number", c.Slice, c.Epsilon, c.Vetted)
	}
	return c, nil
}

// Reliable is the Placer that ranks peers by reliability. For each stripe
// it takes its shards from the reliable slice — the Slice most reliable of
// the vetted candidates, and everyone within Epsilon of the weakest of
// them — and at most MaxNewcomers newcomers whose reliability would put
// them in the slice, each admitted to a stripe with probability
// Evidence/Vetted, so a newcomer's share grows with what is known of it.
// When these cannot take the stripe (too few, or too few with room), the
// slice widens, near-equals together, down the ranks of the vetted and
// then of the newcomers. Within what it may use it spreads the shards over
// failure domains hierarchically — distinct zones first, then subnets,
// then hosts — and picks at random among the candidates that spread
// equally, so every member of the slice gets its share and none is a hot
// spot. A stripe never has two shards on one peer (one ID).
//
// Reliable is safe for concurrent use; with one goroutine and the same
// candidates, a seed replays the same placements.
type Reliable struct {
	cfg ReliableConfig
	mu  sync.Mutex
	rng *rand.Rand
}

// NewReliable returns a Reliable placer.
func NewReliable(cfg ReliableConfig) (*Reliable, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &Reliable{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}, nil
}

// Config returns the configuration in use, defaults filled.
func (p *Reliable) Config() ReliableConfig { return p.cfg }

// reliability is c's reliability for ranking: -1 when unknown.
func reliability(c Candidate) float64 {
	if !(c.Reliability >= 0) { // negative or NaN
		return -1
	}
	return c.Reliability
}

// newcomer reports whether c has too little evidence to be vetted.
func (p *Reliable) newcomer(c Candidate) bool { return !(c.Evidence >= p.cfg.Vetted) }

// ranking is the candidates in the order the slice widens in: the vetted
// by reliability, best first, then the newcomers likewise, ties in the
// order of perm. cutoff is the lowest reliability in the slice; vetted is
// how many of ranks are vetted.
type ranking struct {
	ranks  []int
	vetted int
	cutoff float64
}

func (p *Reliable) rank(cands []Candidate, perm []int) ranking {
	ranks := slices.Clone(perm)
	slices.SortStableFunc(ranks, func(i, j int) int {
		ni, nj := p.newcomer(cands[i]), p.newcomer(cands[j])
		if ni != nj {
			if ni {
				return 1
			}
			return -1
		}
		return cmp.Compare(reliability(cands[j]), reliability(cands[i]))
	})
	vetted := 0
	for vetted < len(ranks) && !p.newcomer(cands[ranks[vetted]]) {
		vetted++
	}
	// The slice's cutoff, from the vetted; from everyone when nobody is.
	top := ranks[:vetted]
	if vetted == 0 {
		top = ranks
	}
	cutoff := math.Inf(1)
	if len(top) > 0 {
		n := min(len(top), max(1, int(math.Ceil(p.cfg.Slice*float64(len(top))-1e-9))))
		cutoff = reliability(cands[top[n-1]]) - p.cfg.Epsilon
	}
	return ranking{ranks: ranks, vetted: vetted, cutoff: cutoff}
}

// Slice returns the indices, ascending, of the candidates in the reliable
// slice: the vetted candidates that Place takes shards from before it
// admits newcomers or widens. It is empty when no candidate is vetted.
func (p *Reliable) Slice(cands []Candidate) []int {
	perm := make([]int, len(cands))
	for i := range perm {
		perm[i] = i
	}
	r := p.rank(cands, perm)
	var out []int
	for _, i := range r.ranks[:r.vetted] {
		if reliability(cands[i]) >= r.cutoff {
			out = append(out, i)
		}
	}
	slices.Sort(out)
	return out
}

// Place implements Placer.
func (p *Reliable) Place(cands []Candidate, sizes []int) ([]int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	perm := p.rng.Perm(len(cands))
	r := p.rank(cands, perm)

	// The pool Place may take from: the slice, then admitted newcomers.
	pool := make([]bool, len(cands))
	next := 0 // ranks[next:] are outside the pool, unless admitted
	for next < r.vetted && reliability(cands[r.ranks[next]]) >= r.cutoff {
		pool[r.ranks[next]] = true
		next++
	}
	// Newcomers that rate as well as the slice, each admitted with odds
	// growing with its evidence, tried in an order of their own (perm
	// also breaks ties below, and must not favour them).
	var fit []int
	for _, i := range r.ranks[r.vetted:] {
		if reliability(cands[i]) >= r.cutoff {
			fit = append(fit, i)
		}
	}
	admitted := 0
	for _, j := range p.rng.Perm(len(fit)) {
		if admitted == p.cfg.MaxNewcomers {
			break
		}
		c := cands[fit[j]]
		if odds := c.Evidence / p.cfg.Vetted; odds > 0 && p.rng.Float64() < odds {
			pool[fit[j]] = true
			admitted++
		}
	}
	// widen adds the next candidates by rank to the pool, near-equals
	// together, the vetted before the newcomers.
	widen := func() bool {
		for next < len(r.ranks) && pool[r.ranks[next]] {
			next++
		}
		if next == len(r.ranks) {
			return false
		}
		start, first := next, reliability(cands[r.ranks[next]])
		for ; next < len(r.ranks); next++ {
			i := r.ranks[next]
			if (next < r.vetted) != (start < r.vetted) || !pool[i] && first-reliability(cands[i]) > p.cfg.Epsilon {
				break
			}
			pool[i] = true
		}
		return true
	}

	doms := make([][3]string, len(cands)) // filled as candidates enter the pool's reach
	known := make([]bool, len(cands))
	var counts [3]map[string]int
	for d := range counts {
		counts[d] = map[string]int{}
	}
	out := make([]int, len(sizes))
	used := make([]bool, len(cands))
	ids := make(map[string]bool, len(sizes))
	for s, size := range sizes {
		best := -1
		var bestKey [3]int
		for best < 0 {
			for _, i := range perm {
				c := cands[i]
				if !pool[i] || used[i] || ids[c.ID] || (c.Free >= 0 && c.Free < int64(size)) {
					continue
				}
				if !known[i] {
					doms[i], known[i] = domainsOf(c, i), true
				}
				key := [3]int{counts[0][doms[i][0]], counts[1][doms[i][1]], counts[2][doms[i][2]]}
				if best < 0 || cmpKey(key, bestKey) < 0 {
					best, bestKey = i, key
				}
			}
			if best < 0 && !widen() {
				return nil, fmt.Errorf("%w: %d shards, %d candidates, none left with room for shard %d (%d bytes)", ErrNotEnoughPeers, len(sizes), len(cands), s, size)
			}
		}
		used[best], ids[cands[best].ID] = true, true
		for d := range counts {
			counts[d][doms[best][d]]++
		}
		out[s] = best
	}
	return out, nil
}

func cmpKey(a, b [3]int) int {
	return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1]), cmp.Compare(a[2], b[2]))
}

// domainsOf returns c's zone, subnet and host keys, each an unknown one
// its own, subnets and hosts qualified by their zone.
func domainsOf(c Candidate, i int) [3]string {
	own := "\x01" + strconv.Itoa(i) // no known domain looks like this
	zone := cmp.Or(c.Zone, c.Domain)
	subnet, host := own, own
	if c.Subnet != "" {
		subnet = zone + "\x00" + c.Subnet
	}
	if c.Host != "" {
		host = zone + "\x00" + c.Host
	}
	return [3]string{cmp.Or(zone, own), subnet, host}
}
