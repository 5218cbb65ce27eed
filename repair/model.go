package repair

import (
	"math"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/placement"
)

// Thresholds returns when a stripe is repaired: lazily once its healthy
// shards fall to lazy, urgently once they fall to urgent. need is the
// shards that rebuild it (k, less empty data slots), stored its shards
// with bytes (k+m, less the same), avail the probability that a holder is
// up when asked and target the wanted probability that the stripe is
// readable — the inputs of placement.ChooseCode, and its binomial model
// (placement.StripeAvailability: at least need of h independent holders
// up):
//
//   - lazy is the least h at which a stripe of h healthy shards is still
//     readable with probability target, and at least a majority of stored
//     (so that a repairer can still gather its claim's quorum). Above it
//     even one more loss leaves the stripe meeting the target, so there is
//     nothing to do; at it, the next loss would break the target, so the
//     repair starts and rebuilds every missing shard at once (stored − h of
//     them for one fetch of need shards). This is Total Recall's lazy
//     repair (Bhagwan et al., NSDI 2004): the threshold is the redundancy
//     the availability target needs, and what a stripe stores beyond it
//     absorbs losses between repairs. When placement chose k and m for the
//     cloud's mean availability and the holders, on the reliable slice, are
//     more available, lazy is below stored and repairs are rare and batched;
//     when there is no slack, lazy is stored and every loss is repaired.
//   - urgent is the least h, above need, at which the stripe is at least as
//     readable as a single holder is up (StripeAvailability ≥ avail): below
//     it the code's redundancy buys nothing over one copy, one more loss can
//     leave the stripe unreadable for long stretches and a few more lose it.
//     It is at most lazy.
func Thresholds(need, stored int, avail, target float64) (lazy, urgent int) {
	if need < 1 || stored < need {
		return stored, stored
	}
	lazy = stored
	for h := need; h <= stored; h++ {
		if placement.StripeAvailability(need, h-need, avail) >= target {
			lazy = h
			break
		}
	}
	lazy = max(lazy, quorum(stored))
	lazy = min(lazy, stored)
	urgent = lazy
	for h := need + 1; h < lazy; h++ {
		if placement.StripeAvailability(need, h-need, avail) >= avail {
			urgent = h
			break
		}
	}
	return lazy, urgent
}

// quorum is the majority of n voters.
func quorum(n int) int { return n/2 + 1 }

// History is what a node knows of a peer's availability: node fills it from
// gossip's reputation book (the availability channel: probes answered and
// not) and from the outages its checks saw; the simulator from its own
// model. It must be safe to call from the goroutine that drives the
// Machine.
type History[P comparable] interface {
	// Availability returns the estimated probability that p is up when
	// asked, in [0,1], and the evidence behind it (observations; 0: none,
	// and then the value is ignored).
	Availability(p P, now time.Time) (avail, evidence float64)
	// OutageQuantile returns the q-quantile of the lengths of p's past
	// outages and how many outages it is drawn from (0: none known).
	OutageQuantile(p P, q float64) (length time.Duration, outages int)
}

// OutageRecorder is an optional ability of a History: the Machine reports
// every outage of a peer it saw start and end, so that its grace periods
// learn from its own checks.
type OutageRecorder[P comparable] interface {
	RecordOutage(p P, start, end time.Time)
}

// GraceConfig is how long a holder may be unreachable before it counts as
// lost. Zero fields take their defaults.
type GraceConfig struct {
	// Quantile of the peer's past outage lengths that its grace covers.
	// Default 0.95: if its past predicts its future, one outage in twenty
	// outlasts the grace and causes a repair that its return makes
	// unnecessary, and a departed peer is noticed one such outage after it
	// went.
	Quantile float64
	// Min and Max clamp the grace: Min (default 1h) so that a reboot or a
	// few missed checks are never a loss, Max (default 72h, a long weekend
	// off) so that a holder that left for good is replaced within days
	// whatever its history says; the lazy threshold's slack covers the
	// losses not yet noticed.
	Min, Max time.Duration
	// Default is the grace of a peer with fewer than MinOutages outages
	// known: default 24h, a night off and a day.
	Default    time.Duration
	MinOutages int // default 3
}

// WithDefaults fills the zero fields.
func (g GraceConfig) WithDefaults() GraceConfig {
	if g.Quantile == 0 {
		g.Quantile = 0.95
	}
	if g.Min == 0 {
		g.Min = time.Hour
	}
	if g.Max == 0 {
		g.Max = 72 * time.Hour
	}
	if g.Default == 0 {
		g.Default = 24 * time.Hour
	}
	if g.MinOutages == 0 {
		g.MinOutages = 3
	}
	return g
}

// Grace returns the grace of a peer whose past outages have the given
// quantile length, known from outages of them: the quantile clamped to
// [Min, Max], or Default (clamped too) with too little history.
func (g GraceConfig) Grace(quantile time.Duration, outages int) time.Duration {
	d := g.Default
	if outages >= g.MinOutages {
		d = quantile
	}
	return min(max(d, g.Min), g.Max)
}

// OutageLog keeps the lengths of each peer's latest outages and the time
// it was seen up and down, and answers History from them: availability is
// the fraction of the observed time the peer was up. It implements
// History and OutageRecorder; it is not safe for concurrent use.
type OutageLog[P comparable] struct {
	keep  int
	peers map[P]*outages
}

type outages struct {
	lengths []time.Duration // a ring of the latest
	next    int
	first   time.Time // first seen
	down    time.Duration
}

// NewOutageLog returns an empty log keeping the latest keep outages per
// peer (default 32).
func NewOutageLog[P comparable](keep int) *OutageLog[P] {
	if keep <= 0 {
		keep = 32
	}
	return &OutageLog[P]{keep: keep, peers: map[P]*outages{}}
}

// Seen notes that p was known at t (the start of its observed time).
func (l *OutageLog[P]) Seen(p P, t time.Time) {
	if l.peers[p] == nil {
		l.peers[p] = &outages{first: t}
	}
}

// RecordOutage implements OutageRecorder.
func (l *OutageLog[P]) RecordOutage(p P, start, end time.Time) {
	if !end.After(start) {
		return
	}
	o := l.peers[p]
	if o == nil {
		o = &outages{first: start}
		l.peers[p] = o
	}
	if start.Before(o.first) {
		o.first = start
	}
	d := end.Sub(start)
	o.down += d
	if len(o.lengths) < l.keep {
		o.lengths = append(o.lengths, d)
	} else {
		o.lengths[o.next] = d
		o.next = (o.next + 1) % l.keep
	}
}

// Availability implements History: the fraction of the time since p was
// first seen that it was not in a recorded outage, with the days observed
// as evidence.
func (l *OutageLog[P]) Availability(p P, now time.Time) (float64, float64) {
	o := l.peers[p]
	if o == nil || !now.After(o.first) {
		return 0, 0
	}
	span := now.Sub(o.first)
	return min(1, max(0, 1-float64(o.down)/float64(span))), span.Hours() / 24
}

// OutageQuantile implements History.
func (l *OutageLog[P]) OutageQuantile(p P, q float64) (time.Duration, int) {
	o := l.peers[p]
	if o == nil || len(o.lengths) == 0 {
		return 0, 0
	}
	s := slices.Clone(o.lengths)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)], len(s)
}

// Forget drops p (gone for good).
func (l *OutageLog[P]) Forget(p P) { delete(l.peers, p) }
