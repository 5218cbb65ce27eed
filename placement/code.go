package placement

import (
	"fmt"
	"math"
	"strconv"
)

// DefaultTarget is the probability that a stripe is readable which
// ChooseCode aims for when none is set: three nines.
const DefaultTarget = 0.999

// CodeParams are what ChooseCode decides from. Zero fields other than
// Peers and Availability take their defaults.
type CodeParams struct {
	// Peers is the estimated number of members that can hold a shard
	// (gossip's size estimate; whether the writer counts itself is the
	// caller's choice). A stripe never has more shards than Peers.
	Peers int `json:"peers"`
	// Availability is the mean probability that a peer is up when asked,
	// in (0,1] (gossip's aggregate of the peers' ratings).
	Availability float64 `json:"availability"`
	// Target is the wanted probability that a stripe is readable, in
	// (0,1). Default DefaultTarget.
	Target float64 `json:"target"`
	// MaxK bounds the data shards per stripe: a wide stripe is cheap in
	// storage but a degraded read or a repair fetches k shards. Default 16.
	MaxK int `json:"max_k"`
	// MinM is the least parity per stripe, so any MinM peers may vanish
	// whatever the estimate says. Default 1.
	MinM int `json:"min_m"`
	// MaxOverhead bounds the storage overhead (k+m)/k. Default 3, the
	// cost of three copies.
	MaxOverhead float64 `json:"max_overhead"`
}

// WithDefaults fills the zero fields and checks the rest.
func (p CodeParams) WithDefaults() (CodeParams, error) {
	if p.Target == 0 {
		p.Target = DefaultTarget
	}
	if p.MaxK == 0 {
		p.MaxK = 16
	}
	if p.MinM == 0 {
		p.MinM = 1
	}
	if p.MaxOverhead == 0 {
		p.MaxOverhead = 3
	}
	switch {
	case !(p.Availability > 0 && p.Availability <= 1):
		return p, fmt.Errorf("placement: peer availability %v not in (0,1]", p.Availability)
	case !(p.Target > 0 && p.Target < 1):
		return p, fmt.Errorf("placement: target %v not in (0,1)", p.Target)
	case p.MaxK < 1 || p.MinM < 1 || !(p.MaxOverhead >= 1):
		return p, fmt.Errorf("placement: code bounds k ≤ %d, m ≥ %d, overhead ≤ %v out of range", p.MaxK, p.MinM, p.MaxOverhead)
	case p.Peers < 1+p.MinM:
		return p, fmt.Errorf("%w: a stripe with %d parity needs at least %d members, the cloud has %d", ErrNotEnoughPeers, p.MinM, 1+p.MinM, p.Peers)
	}
	return p, nil
}

// CodeChoice is a choice of k data and m parity shards per stripe, and why.
type CodeChoice struct {
	K int `json:"k"`
	M int `json:"m"`
	// Readable is the probability that at least K of the stripe's K+M
	// peers are up, each independently with the mean availability.
	Readable float64 `json:"readable"`
	Overhead float64 `json:"overhead"` // storage per byte stored: (K+M)/K
	// Met reports whether Readable reaches the target within the bounds;
	// when it does not, K and M are the best the bounds allow.
	Met    bool       `json:"met"`
	Params CodeParams `json:"params"` // the inputs, defaults filled
	Why    string     `json:"why"`    // String, for murmur status
}

// ChooseCode chooses k and m for a cloud of p.Peers members of mean
// availability p.Availability so that a stripe is readable with
// probability at least p.Target, computed exactly: the binomial
// probability that at least k of k+m independent peers are up. Of the
// codes with k ≤ MaxK, m ≥ MinM, k+m ≤ Peers and overhead ≤ MaxOverhead
// that meet the target it takes the least storage overhead, then the most
// readable, then the narrowest. (Total Recall, Bhagwan et al., NSDI 2004,
// sizes redundancy with the normal approximation of the same binomial;
// the exact sum is cheap at these sizes and right for small stripes.)
//
// When no code meets the target, ChooseCode does its best: the most
// readable code within the bounds (the least overhead among equals), with
// Met false and an explanation that says what is missing; it is an error
// only when the inputs are invalid or the cloud is too small for any
// stripe (ErrNotEnoughPeers). Peers are not independent where they share
// a failure domain; placement spreads stripes over domains so that the
// estimate holds as far as the cloud allows.
func ChooseCode(p CodeParams) (CodeChoice, error) {
	p, err := p.WithDefaults()
	if err != nil {
		return CodeChoice{}, err
	}
	slack := (1 - p.Target) * (1 + 1e-9) // allowed unreadability, with room for rounding
	type code struct {
		c    CodeChoice
		lost float64 // probability that the stripe is unreadable
		ok   bool
	}
	// met: the best code that meets the target within the bounds; most:
	// the most readable within the bounds; cheapest: the least overhead
	// beyond them, for when no code is within them.
	var met, most, cheapest code
	for k := 1; k <= p.MaxK && k+p.MinM <= p.Peers; k++ {
		for m := p.MinM; k+m <= p.Peers; m++ {
			x := code{CodeChoice{K: k, M: m, Overhead: float64(k+m) / float64(k)}, unreadable(k, m, p.Availability), true}
			if x.c.Overhead > p.MaxOverhead*(1+1e-12) {
				if !cheapest.ok || x.c.Overhead < cheapest.c.Overhead || x.c.Overhead == cheapest.c.Overhead && x.lost < cheapest.lost {
					cheapest = x
				}
				break // more parity only costs more
			}
			if x.lost <= slack && (!met.ok || better(x.c, x.lost, met.c, met.lost, true)) {
				met = x
			}
			if !most.ok || better(x.c, x.lost, most.c, most.lost, false) {
				most = x
			}
		}
	}
	out := met
	switch {
	case met.ok:
		out.c.Met = true
	case most.ok:
		out = most
	default:
		out = cheapest
	}
	out.c.Readable, out.c.Params = 1-out.lost, p
	out.c.Why = out.c.explain(out.lost)
	return out.c, nil
}

// better reports whether code a (unreadable with probability la) beats b:
// when both meet the target, by overhead, then readability, then width;
// when neither does, by readability, then overhead.
func better(a CodeChoice, la float64, b CodeChoice, lb float64, meeting bool) bool {
	const tie = 1e-12
	if meeting {
		switch {
		case a.Overhead < b.Overhead-tie:
			return true
		case a.Overhead > b.Overhead+tie:
			return false
		case la != lb:
			return la < lb
		}
		return a.K+a.M < b.K+b.M
	}
	if la != lb {
		return la < lb
	}
	return a.Overhead < b.Overhead
}

// StripeAvailability returns the probability that a stripe of k data and
// m parity shards on independent peers, each up with probability p, is
// readable: that at least k of its k+m peers are up.
func StripeAvailability(k, m int, p float64) float64 {
	return 1 - unreadable(k, m, p)
}

// unreadable returns the probability that fewer than k of k+m peers of
// availability p are up, summed directly so it stays exact when tiny.
func unreadable(k, m int, p float64) float64 {
	if k <= 0 {
		return 0
	}
	n := k + m
	if p <= 0 {
		return 1
	}
	lgN, _ := math.Lgamma(float64(n + 1))
	lp, lq := math.Log(p), math.Log1p(-p)
	var sum float64
	for j := range min(k, n+1) {
		lgJ, _ := math.Lgamma(float64(j + 1))
		lgR, _ := math.Lgamma(float64(n - j + 1))
		sum += math.Exp(lgN - lgJ - lgR + float64(j)*lp + float64(n-j)*lq)
	}
	return min(1, sum)
}

// String explains the choice in a sentence, for murmur status: Why, or
// an explanation made from the fields when Why is empty.
func (c CodeChoice) String() string {
	if c.Why != "" {
		return c.Why
	}
	return c.explain(1 - c.Readable)
}

func (c CodeChoice) explain(lost float64) string {
	p := c.Params
	cloud := fmt.Sprintf("%d peers of mean availability %s", p.Peers, strconv.FormatFloat(p.Availability, 'g', 3, 64))
	code := fmt.Sprintf("k=%d m=%d", c.K, c.M)
	if c.Met {
		return fmt.Sprintf("%s: with %s, a stripe is readable with probability %s ≥ target %s (any %d of its %d peers may be away); storage %sx",
			code, cloud, probability(lost), strconv.FormatFloat(p.Target, 'g', -1, 64), c.M, c.K+c.M, overhead(c.Overhead))
	}
	return fmt.Sprintf("%s, best effort: target %s is out of reach with %s within %sx storage; this code keeps a stripe readable with probability %s at %sx storage; add peers, make them more available, or lower the target",
		code, strconv.FormatFloat(p.Target, 'g', -1, 64), cloud, overhead(p.MaxOverhead), probability(lost), overhead(c.Overhead))
}

// probability formats 1-lost with enough digits to show how far from 1.
func probability(lost float64) string {
	if lost <= 0 {
		return "1"
	}
	digits := int(math.Ceil(-math.Log10(lost))) + 1
	return strconv.FormatFloat(1-lost, 'f', min(max(digits, 3), 15), 64)
}

func overhead(x float64) string {
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
}
