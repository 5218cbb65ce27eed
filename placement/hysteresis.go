package placement

import (
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"
)

// Rated is one member's availability as a node rates it, with the
// observations behind the rating (gossip's reputation: first-hand evidence
// and capped hearsay).
type Rated struct {
	Availability float64 `json:"availability"` // in [0,1]
	Observations float64 `json:"observations"` // ≥ 0
}

// CodeEvidence is what a CodeSelector decides from at one moment.
type CodeEvidence struct {
	// Peers is the members that can hold a shard now (CodeParams.Peers).
	Peers int `json:"peers"`
	// MinM is the least parity for a cloud of this size (CodeParams.MinM);
	// 0: the selector's Params.MinM.
	MinM int `json:"min_m,omitempty"`
	// Members are the ratings of the members a stripe may go to (the
	// writer itself need not be among them).
	Members []Rated `json:"members,omitempty"`
}

// CodeSelectorConfig tunes a CodeSelector. Zero fields take their defaults.
type CodeSelectorConfig struct {
	// Params bounds the code: Target, MaxK, MinM and MaxOverhead as for
	// ChooseCode (Peers and Availability come from the evidence).
	Params CodeParams
	// Prior is the availability assumed of a member nobody has seen, and
	// PriorWeight the observations it counts for: each member's rating is
	// topped with it, (a·n + Prior·PriorWeight)/(n + PriorWeight), so a
	// handful of observations (or a newcomer rated at gossip's own prior)
	// moves the estimate little. Defaults 0.9 and 16.
	Prior       float64
	PriorWeight float64
	// Margin is the fraction of the storage overhead a cheaper code must
	// save before it replaces the current one. Default 0.1.
	Margin float64
	// Headroom is the fraction of the target's allowed unreadability
	// (1-Target) a new code may use: a code is taken only if it stays
	// readable that much better than the target asks, where one can, and
	// dropped only once it misses the target itself, so an estimate
	// wavering at a code's edge does not swing the choice. Default 0.5:
	// a new code would lose a stripe half as often as the target allows.
	Headroom float64
	// Hold is how long a code better by Margin must have stayed available,
	// observation after observation, before it replaces the current one.
	// Default DefaultCodeHold.
	Hold time.Duration
	Now  func() time.Time // nil: time.Now
}

// DefaultCodeHold is CodeSelectorConfig.Hold's default.
const DefaultCodeHold = 2 * time.Minute

// WithDefaults fills the zero fields and checks the rest.
func (c CodeSelectorConfig) WithDefaults() (CodeSelectorConfig, error) {
	if c.Params.Target == 0 {
		c.Params.Target = DefaultTarget
	}
	if c.Params.MaxK == 0 {
		c.Params.MaxK = 16
	}
	if c.Params.MinM == 0 {
		c.Params.MinM = 1
	}
	if c.Params.MaxOverhead == 0 {
		c.Params.MaxOverhead = 3
	}
	if c.Prior == 0 {
		c.Prior = 0.9
	}
	if c.PriorWeight == 0 {
		c.PriorWeight = 16
	}
	if c.Margin == 0 {
		c.Margin = 0.1
	}
	if c.Headroom == 0 {
		c.Headroom = 0.5
	}
	if c.Hold == 0 {
		c.Hold = DefaultCodeHold
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case !(c.Params.Target > 0 && c.Params.Target < 1):
		return c, fmt.Errorf("placement: target %v not in (0,1)", c.Params.Target)
	case !(c.Prior > 0 && c.Prior <= 1) || !(c.PriorWeight > 0):
		return c, fmt.Errorf("placement: prior availability %v (weight %v) out of range", c.Prior, c.PriorWeight)
	case !(c.Margin > 0 && c.Margin < 1):
		return c, fmt.Errorf("placement: code margin %v not in (0,1)", c.Margin)
	case !(c.Headroom > 0 && c.Headroom <= 1):
		return c, fmt.Errorf("placement: code headroom %v not in (0,1]", c.Headroom)
	case c.Hold < 0:
		return c, fmt.Errorf("placement: code hold %v is negative", c.Hold)
	}
	return c, nil
}

// CodeState is a CodeSelector's decision and why, for murmur status.
type CodeState struct {
	// Code is the code files get now, evaluated on the present evidence.
	Code CodeChoice `json:"code"`
	// Best is what ChooseCode alone would take from the same evidence.
	Best CodeChoice `json:"best"`
	// Since is when Code was taken, and Switches how many times the
	// selector has changed code.
	Since    time.Time `json:"since"`
	Switches int       `json:"switches"`
	// Held is set when Best is cheaper than Code by the margin but has
	// not been so for Hold yet: from BetterSince, taken at SwitchAt if it
	// stays so.
	Held        bool      `json:"held"`
	BetterSince time.Time `json:"better_since,omitzero"`
	SwitchAt    time.Time `json:"switch_at,omitzero"`
	// Availability is the estimate Code and Best are computed with, from
	// Observations over Members (each topped with the prior).
	Availability float64 `json:"availability"`
	Observations float64 `json:"observations"`
	Members      int     `json:"members"`
	// Last is why the selector took Code.
	Last string `json:"last_reason"`
	// Why explains the decision in a sentence.
	Why string `json:"why"`
}

// CodeSelector chooses k and m with hysteresis: the decision of
// ChooseCode, from a conservative estimate, kept until the evidence has
// shown for a while that a cheaper code would do. Its rules, applied at
// each Observe:
//
//   - each member's availability is topped with the prior (Prior worth
//     PriorWeight observations), and the estimate is their mean: until
//     there is enough evidence the prior decides;
//   - the first code is ChooseCode's for a target with Headroom (a code
//     that would miss the target only half as often as it allows, by
//     default), or for the target itself when no code meets that;
//   - the current code is dropped at once when it no longer fits (more
//     shards than peers, less parity than the cloud's least) or no longer
//     meets the target while another code does (or is more readable, when
//     none does): durability is never held back;
//   - a cheaper code replaces it only once some code that meets the
//     target with headroom and saves at least Margin of the storage has
//     been there at every observation for Hold; the cheapest of that
//     moment is taken.
//
// It is safe for concurrent use; it does nothing of the network and
// reads time from its Now only.
type CodeSelector struct {
	cfg CodeSelectorConfig

	mu          sync.Mutex
	cur         *CodeChoice // nil before the first decision
	since       time.Time
	betterSince time.Time // zero: no code better by the margin at the last observation
	switches    int
	last        string
}

// NewCodeSelector returns a selector with no code yet.
func NewCodeSelector(cfg CodeSelectorConfig) (*CodeSelector, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &CodeSelector{cfg: cfg}, nil
}

// Config returns the selector's configuration, defaults filled.
func (s *CodeSelector) Config() CodeSelectorConfig { return s.cfg }

// Estimate returns the availability the selector computes from ev's
// members, and the observations behind it: the mean of their ratings,
// each topped with the prior; the prior itself with no members.
func (s *CodeSelector) Estimate(ev CodeEvidence) (avail, observations float64) {
	if len(ev.Members) == 0 {
		return s.cfg.Prior, 0
	}
	var sum float64
	for _, r := range ev.Members {
		a, n := r.Availability, r.Observations
		if !(a >= 0 && a <= 1) {
			a = 0 // nonsense counts as the worst
		}
		if !(n >= 0) || math.IsInf(n, 0) {
			n = 0
		}
		observations += n
		sum += (a*n + s.cfg.Prior*s.cfg.PriorWeight) / (n + s.cfg.PriorWeight)
	}
	return max(sum/float64(len(ev.Members)), 1e-9), observations
}

// Observe takes the evidence of this moment and returns the decision. Its
// error is ChooseCode's (ErrNotEnoughPeers when the cloud is too small for
// any stripe); the selector then keeps its code for when the cloud is back.
func (s *CodeSelector) Observe(ev CodeEvidence) (CodeState, error) {
	now := s.cfg.Now()
	p := s.cfg.Params
	p.Peers = ev.Peers
	if ev.MinM > 0 {
		p.MinM = ev.MinM
	}
	avail, obs := s.Estimate(ev)
	p.Availability = avail
	best, roomy, err := s.choose(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.betterSince = time.Time{}
		return CodeState{}, err
	}
	p = best.Params
	switch {
	case s.cur == nil:
		s.take(best, now, "the first choice")
	default:
		cur := Evaluate(s.cur.K, s.cur.M, p)
		fits := s.cur.K+s.cur.M <= p.Peers && s.cur.M >= p.MinM && s.cur.K <= p.MaxK
		switch {
		case !fits:
			s.take(best, now, fmt.Sprintf("k=%d m=%d no longer fit %d peers with at least %d parity", cur.K, cur.M, p.Peers, p.MinM))
		case !cur.Met && (best.Met || best.Readable > cur.Readable):
			s.take(best, now, fmt.Sprintf("k=%d m=%d no longer met the target (readable %s)", cur.K, cur.M, probability(1-cur.Readable)))
		case roomy && best.Overhead <= cur.Overhead*(1-s.cfg.Margin)*(1+1e-12):
			if s.betterSince.IsZero() {
				s.betterSince = now
			}
			if now.Sub(s.betterSince) >= s.cfg.Hold {
				s.take(best, now, fmt.Sprintf("k=%d m=%d saved %s of k=%d m=%d's storage for %v", best.K, best.M, percent(1-best.Overhead/cur.Overhead), cur.K, cur.M, s.cfg.Hold))
			}
		default:
			s.betterSince = time.Time{}
		}
	}
	st := CodeState{
		Code: Evaluate(s.cur.K, s.cur.M, p), Best: best, Since: s.since, Switches: s.switches,
		BetterSince: s.betterSince, Availability: avail, Observations: obs, Members: len(ev.Members), Last: s.last,
	}
	if !s.betterSince.IsZero() {
		st.Held, st.SwitchAt = true, s.betterSince.Add(s.cfg.Hold)
	}
	st.Why = s.explain(st)
	st.Code.Why = st.Why
	return st, nil
}

// choose is ChooseCode with the headroom: the best code that meets the
// stricter target, reported under p's, and roomy set; ChooseCode's under
// p's when none meets the stricter one.
func (s *CodeSelector) choose(p CodeParams) (c CodeChoice, roomy bool, err error) {
	strict := p
	strict.Target = 1 - (1-p.Target)*s.cfg.Headroom
	if c, err = ChooseCode(strict); err != nil || !c.Met {
		c, err = ChooseCode(p)
		return c, false, err
	}
	p, _ = p.WithDefaults()
	return Evaluate(c.K, c.M, p), true, nil
}

// take makes c the current code.
func (s *CodeSelector) take(c CodeChoice, now time.Time, why string) {
	if s.cur != nil {
		s.switches++
	}
	s.cur, s.since, s.last, s.betterSince = &c, now, why, time.Time{}
}

// explain says what the selector decided and why, for murmur status.
func (s *CodeSelector) explain(st CodeState) string {
	c := st.Code
	out := c.explain(1 - c.Readable)
	out += fmt.Sprintf("; availability %s from %s observations of %d members, each rating topped with an assumed %s worth %s",
		strconv.FormatFloat(st.Availability, 'f', 3, 64), strconv.FormatFloat(st.Observations, 'f', 0, 64), st.Members,
		strconv.FormatFloat(s.cfg.Prior, 'g', -1, 64), strconv.FormatFloat(s.cfg.PriorWeight, 'g', -1, 64))
	out += fmt.Sprintf("; chosen at %s: %s", st.Since.UTC().Format(time.TimeOnly), st.Last)
	b := st.Best
	switch {
	case st.Held:
		out += fmt.Sprintf("; held by hysteresis: k=%d m=%d would store %sx, and is taken at %s if it stays %s cheaper",
			b.K, b.M, overhead(b.Overhead), st.SwitchAt.UTC().Format(time.TimeOnly), percent(s.cfg.Margin))
	case b.K != c.K || b.M != c.M:
		out += fmt.Sprintf("; held by hysteresis: k=%d m=%d would store %sx, less than %s cheaper", b.K, b.M, overhead(b.Overhead), percent(s.cfg.Margin))
	}
	return out
}

// Evaluate returns the code of k data and m parity shards as ChooseCode
// would report it under p (defaults filled by the caller): how readable,
// its overhead, and Met when it meets the target within p's bounds.
func Evaluate(k, m int, p CodeParams) CodeChoice {
	lost := unreadable(k, m, p.Availability)
	c := CodeChoice{K: k, M: m, Overhead: float64(k+m) / float64(k), Readable: 1 - lost, Params: p}
	c.Met = lost <= (1-p.Target)*(1+1e-9) && k+m <= p.Peers && m >= p.MinM && k <= p.MaxK &&
		c.Overhead <= p.MaxOverhead*(1+1e-12)
	c.Why = c.explain(lost)
	return c
}

func percent(x float64) string {
	return strconv.FormatFloat(math.Round(x*1000)/10, 'f', -1, 64) + "%"
}
