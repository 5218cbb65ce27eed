package gossip

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// AggConfig configures aggregation.
type AggConfig struct {
	// Period is the length of a gossip cycle; EpochCycles cycles make an
	// epoch, after which every estimate starts again from the nodes'
	// current values, so estimates track a changing cloud. Defaults 1 s
	// and 30.
	Period      time.Duration
	EpochCycles int
	// Instances is how many counting instances run in each epoch (the K
	// lowest tickets drawn); their median is the size estimate, so the
	// crash of a node holding much of one instance's mass moves little.
	// Default 8.
	Instances int
	// Attributes is how many values each node contributes to be averaged
	// (capacity, free space, load, ...). At most MaxAttributes.
	Attributes int
}

// Aggregation limits, which bound one message.
const (
	MaxInstances  = 64
	MaxAttributes = 16
)

// WithDefaults fills the zero fields and checks the rest.
func (c AggConfig) WithDefaults() (AggConfig, error) {
	if c.Period == 0 {
		c.Period = time.Second
	}
	if c.EpochCycles == 0 {
		c.EpochCycles = 30
	}
	if c.Instances == 0 {
		c.Instances = 8
	}
	if c.Period < 0 || c.EpochCycles < 1 || c.Instances < 1 || c.Instances > MaxInstances || c.Attributes < 0 || c.Attributes > MaxAttributes {
		return c, fmt.Errorf("gossip: aggregation config %+v out of range", c)
	}
	return c, nil
}

// Instance is one counting instance: its ticket (the lowest tickets of an
// epoch survive) and this node's share of its mass.
type Instance struct {
	Ticket uint64
	X      float64
}

// AggMsg is the state one node sends another in a push-pull exchange.
type AggMsg struct {
	Epoch uint64
	// Joined is false from a node that joined during this epoch: it takes
	// part only from the next one, and the exchange is void.
	Joined    bool
	Instances []Instance // by ascending ticket
	Attrs     []float64
}

// Estimate is what aggregation has learnt of the cloud.
type Estimate struct {
	Epoch     uint64    // the epoch that produced it
	Size      float64   // estimated number of nodes; 0 when unknown
	Instances int       // counting instances the size is the median of
	Means     []float64 // the mean of each attribute over the nodes
}

// Total returns the estimated sum of attribute i over the cloud.
func (e Estimate) Total(i int) float64 { return e.Means[i] * e.Size }

// Aggregator is one node's push-pull averaging (Jelasity, Montresor and
// Babaoglu, "Gossip-based Aggregation in Large Dynamic Networks", TOCS
// 2005). In an exchange both nodes replace their values by the average of
// the two, which keeps the sum ("mass") and drives the variance down by
// about 1/(2·sqrt(e)) per cycle. Counting: every node starts each epoch as
// the leader of an instance of its own with mass 1 and a random ticket,
// and keeps only the Instances lowest tickets it has heard of; every node
// holds the same surviving instances, each of total mass 1, so its average
// converges to 1/N. Epochs are numbered from the clock; a message from a
// later epoch moves the node on at once, one from an earlier one is
// answered with this node's epoch so the sender catches up.
//
// It is a state machine: Tick every cycle; Request to start an exchange,
// HandleRequest on the receiving node, HandleReply with its answer. It is
// not safe for concurrent use.
type Aggregator struct {
	cfg    AggConfig
	epoch  uint64
	joined bool // has taken part since the start of the epoch
	state  AggMsg
	last   Estimate
	local  []float64
	rng    *rand.Rand
	spare  []Instance // merge buffer

	started   bool
	clock     uint64 // the latest epoch this node's clock has reached
	reply     AggMsg // HandleRequest's answer
	sent      AggMsg // what the exchange in flight sent
	sentValid bool
	diff      []Instance
}

// NewAggregator returns a node's aggregation, drawing tickets from rng.
// The node takes part from the first epoch that starts after its first
// Tick.
func NewAggregator(cfg AggConfig, rng *rand.Rand) (*Aggregator, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &Aggregator{
		cfg: cfg, rng: rng,
		state: AggMsg{Instances: make([]Instance, 0, cfg.Instances+1), Attrs: make([]float64, cfg.Attributes)},
		local: make([]float64, cfg.Attributes),
		spare: make([]Instance, 0, cfg.Instances),
	}, nil
}

// EpochOf returns the epoch a time falls in.
func (a *Aggregator) EpochOf(now time.Time) uint64 {
	return uint64(now.UnixNano()) / uint64(a.cfg.Period) / uint64(a.cfg.EpochCycles)
}

// Tick advances the node's clock. local holds the node's own attribute
// values, used when a new epoch starts. A node whose first Tick falls
// inside an epoch rather than at its start waits for the next one.
func (a *Aggregator) Tick(now time.Time, local []float64) {
	copy(a.local, local)
	e := a.EpochOf(now)
	a.clock = max(a.clock, e)
	switch {
	case !a.started:
		a.started = true
		atStart := uint64(now.UnixNano())/uint64(a.cfg.Period)%uint64(a.cfg.EpochCycles) == 0
		a.advance(e, atStart)
	case e > a.epoch:
		a.advance(e, true)
	}
}

// advance ends the current epoch, keeping its estimate if the node took
// part, and starts epoch e; the node takes part in it if join is set (it
// reached e by the clock or by a message, not by starting midway).
func (a *Aggregator) advance(e uint64, join bool) {
	if a.joined {
		a.last = a.current()
	}
	a.epoch, a.joined = e, join
	a.sentValid = false
	copy(a.state.Attrs, a.local)
	a.state.Instances = append(a.state.Instances[:0], Instance{Ticket: a.rng.Uint64(), X: 1})
}

// plausible reports whether a message's epoch may be followed: no later
// than the one after this node's clock, so a peer whose clock runs ahead
// (or that lies) cannot carry the cloud into an epoch nobody completes.
func (a *Aggregator) plausible(epoch uint64) bool {
	return a.started && epoch <= a.clock+1
}

// Request returns the state to send a peer to start an exchange and
// remembers it: the answer is applied as a difference to what was sent,
// so exchanges this node answers while its own is in flight keep the
// mass. The slices are the Aggregator's own until the next Request.
func (a *Aggregator) Request() AggMsg {
	a.sent = snapshot(a.state, a.epoch, a.joined, a.sent)
	a.sentValid = a.started
	return a.sent
}

// snapshot copies state into buf's slices.
func snapshot(state AggMsg, epoch uint64, joined bool, buf AggMsg) AggMsg {
	buf.Epoch, buf.Joined = epoch, joined
	buf.Instances = append(buf.Instances[:0], state.Instances...)
	buf.Attrs = append(buf.Attrs[:0], state.Attrs...)
	return buf
}

// HandleRequest answers an exchange started by another node with this
// node's state before the exchange, then averages the two. A node that
// has not ticked yet, or a request from an implausible epoch, gets an
// answer that voids the exchange. The answer's slices are the
// Aggregator's own until the next call.
func (a *Aggregator) HandleRequest(req AggMsg) AggMsg {
	if !a.plausible(req.Epoch) {
		a.reply = snapshot(AggMsg{}, req.Epoch, false, a.reply)
		return a.reply
	}
	if req.Epoch > a.epoch {
		a.advance(req.Epoch, true)
	}
	a.reply = snapshot(a.state, a.epoch, a.joined, a.reply)
	if req.Epoch == a.epoch && req.Joined && a.joined {
		a.average(req)
	}
	return a.reply
}

// HandleReply completes the exchange this node started with its last
// Request: its state moves by half the difference between the answer and
// what it sent.
func (a *Aggregator) HandleReply(reply AggMsg) {
	if !a.sentValid || !a.plausible(reply.Epoch) {
		return
	}
	a.sentValid = false
	if reply.Epoch > a.epoch {
		a.advance(reply.Epoch, true)
		return
	}
	if reply.Epoch == a.epoch && a.sent.Epoch == a.epoch && reply.Joined && a.sent.Joined && a.joined {
		a.shift(a.sent, reply)
	}
}

// average sets this node's state to the mean of it and o.
func (a *Aggregator) average(o AggMsg) { a.shift(a.state, o) }

// shift moves this node's state by half of (to - from), attribute by
// attribute and instance by instance (a missing instance counts as mass
// 0), keeping the Instances lowest tickets. With from = the state itself
// that is the average of the state and to.
func (a *Aggregator) shift(from, to AggMsg) {
	for i := range a.state.Attrs {
		if i < len(to.Attrs) && i < len(from.Attrs) {
			a.state.Attrs[i] += to.Attrs[i]/2 - from.Attrs[i]/2
		}
	}
	// The difference, ticket by ticket, then added to the state.
	d := a.diff[:0]
	f, t := from.Instances, to.Instances
	for len(f) > 0 || len(t) > 0 {
		switch {
		case len(t) == 0 || len(f) > 0 && f[0].Ticket < t[0].Ticket:
			d = append(d, Instance{f[0].Ticket, -f[0].X / 2})
			f = f[1:]
		case len(f) == 0 || t[0].Ticket < f[0].Ticket:
			d = append(d, Instance{t[0].Ticket, t[0].X / 2})
			t = t[1:]
		default:
			d = append(d, Instance{f[0].Ticket, t[0].X/2 - f[0].X/2})
			f, t = f[1:], t[1:]
		}
	}
	a.diff = d
	mine, out := a.state.Instances, a.spare[:0]
	for len(out) < a.cfg.Instances && (len(mine) > 0 || len(d) > 0) {
		switch {
		case len(d) == 0 || len(mine) > 0 && mine[0].Ticket < d[0].Ticket:
			out = append(out, mine[0])
			mine = mine[1:]
		case len(mine) == 0 || d[0].Ticket < mine[0].Ticket:
			out = append(out, d[0])
			d = d[1:]
		default:
			out = append(out, Instance{mine[0].Ticket, mine[0].X + d[0].X})
			mine, d = mine[1:], d[1:]
		}
	}
	a.spare = a.state.Instances
	a.state.Instances = out
}

// Attr returns the node's current value of attribute i in the epoch in
// progress.
func (a *Aggregator) Attr(i int) float64 { return a.state.Attrs[i] }

// Epoch returns the node's current epoch and whether it takes part in it.
func (a *Aggregator) Epoch() (uint64, bool) { return a.epoch, a.joined }

// Last returns the estimate of the last epoch the node completed.
func (a *Aggregator) Last() Estimate { return a.last }

// Current returns the estimate the epoch in progress gives so far.
func (a *Aggregator) Current() Estimate { return a.current() }

func (a *Aggregator) current() Estimate {
	e := Estimate{Epoch: a.epoch, Means: slices.Clone(a.state.Attrs)}
	sizes := make([]float64, 0, len(a.state.Instances))
	for _, in := range a.state.Instances {
		if in.X > 0 {
			sizes = append(sizes, 1/in.X)
		} else {
			sizes = append(sizes, math.Inf(1))
		}
	}
	e.Instances = len(sizes)
	e.Size = median(sizes)
	return e
}

// median returns the median of v (0 for none), reordering v.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
