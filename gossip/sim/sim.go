// Package sim runs the gossip protocols of package gossip over a simulated
// cloud in one process: a cycle-driven engine in the manner of PeerSim's,
// deterministic for a seed. Each cycle every live node, in a random order,
// does one Cyclon shuffle and one aggregation exchange; a message reaches
// its peer at once unless the peer is dead or the message is lost. Nodes
// are small integers; the protocol code is the same that real nodes run.
package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/murmur-cloud/murmur/gossip"
)

// Peer names a simulated node.
type Peer = uint32

// Config describes a simulated cloud.
type Config struct {
	Nodes  int    // at the start
	Seed   uint64 // everything random derives from it
	Cyclon gossip.CyclonConfig
	Agg    gossip.AggConfig
	// Loss is the probability that an exchange's request is lost (the
	// exchange does not happen; the initiator times out).
	Loss float64
	// UniformPeers makes aggregation pick its partner uniformly among the
	// live nodes instead of from the Cyclon view (the idealised model the
	// published convergence factor assumes).
	UniformPeers bool
	// Zones, when more than 0, puts node i in zone i mod Zones.
	Zones int
	// Values gives node i's attribute values for aggregation (nil: zeros).
	Values func(i Peer, rng *rand.Rand) []float64
	// Key gives node i's value for slicing and top-k (nil: uniform in
	// [0, 1)); ties are broken by the node's number.
	Key func(i Peer, rng *rand.Rand) float64
	// Slicing turns on slicing by ranking, with the ranker's window
	// (0: the default); TopK, when more than 0, runs top-k queries of
	// that k.
	Slicing    bool
	RankWindow int
	TopK       int
	// Reputation gives every node a reputation book fed by its shuffles
	// (a shuffle answered or not is a probe) and by the reports that ride
	// on them. Liars is the fraction of nodes whose reports lie (their
	// fellow liars perfect, everyone else worthless), Flaky the fraction
	// of honest nodes that are away (neither answering nor gossiping)
	// with probability FlakyDown in each cycle.
	Reputation bool
	Probes     int // extra liveness probes of random view peers per cycle
	Liars      float64
	Flaky      float64
	FlakyDown  float64
}

// node is one simulated node.
type node struct {
	alive bool
	zone  int
	cy    *gossip.Cyclon[Peer]
	agg   *gossip.Aggregator
	vals  []float64
	rank  *gossip.Ranker     // nil unless slicing
	top   *gossip.TopK[Peer] // nil unless top-k
	rep   *gossip.Reputation[Peer]
	liar  bool
	flaky bool
	away  bool // this cycle (a flaky node)
}

// Sim is a simulated cloud.
type Sim struct {
	cfg   Config
	rng   *rand.Rand
	nodes []node
	keys  []gossip.Key // by node: what slicing and top-k order by
	live  []Peer       // live nodes, for uniform choice; rebuilt when it changes
	dirty bool
	cycle int
	buf   []gossip.Entry[Peer]
	rbuf  []gossip.Entry[Peer]
	order []Peer
}

// epoch0 is the simulated clock's origin: cycle c is epoch0 + c·Period.
var epoch0 = time.Unix(0, 0)

// New builds a cloud of cfg.Nodes nodes whose views each hold ViewSize
// random other nodes.
func New(cfg Config) (*Sim, error) {
	var err error
	if cfg.Cyclon, err = cfg.Cyclon.WithDefaults(); err != nil {
		return nil, err
	}
	if cfg.Agg, err = cfg.Agg.WithDefaults(); err != nil {
		return nil, err
	}
	if cfg.Nodes < 1 || cfg.Nodes > math.MaxUint32/2 {
		return nil, fmt.Errorf("sim: %d nodes", cfg.Nodes)
	}
	if cfg.Loss < 0 || cfg.Loss >= 1 {
		return nil, fmt.Errorf("sim: loss %v not in [0, 1)", cfg.Loss)
	}
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)), nodes: make([]node, 0, cfg.Nodes)}
	for range cfg.Nodes {
		if _, err := s.add(); err != nil {
			return nil, err
		}
	}
	for i := range s.nodes {
		for s.nodes[i].cy.Len() < min(cfg.Cyclon.ViewSize, cfg.Nodes-1) {
			s.nodes[i].cy.Add(Peer(s.rng.IntN(cfg.Nodes)))
		}
	}
	return s, nil
}

// add makes a live node with an empty view and returns it.
func (s *Sim) add() (Peer, error) {
	p := Peer(len(s.nodes))
	cy, err := gossip.NewCyclon(p, s.cfg.Cyclon)
	if err != nil {
		return 0, err
	}
	agg, err := gossip.NewAggregator(s.cfg.Agg, rand.New(rand.NewPCG(s.rng.Uint64(), uint64(p))))
	if err != nil {
		return 0, err
	}
	key := gossip.Key{Value: s.rng.Float64(), Tie: uint64(p)}
	if s.cfg.Key != nil {
		key.Value = s.cfg.Key(p, s.rng)
	}
	n := node{alive: true, cy: cy, agg: agg, vals: make([]float64, s.cfg.Agg.Attributes)}
	if s.cfg.Slicing {
		if n.rank, err = gossip.NewRanker(key, s.cfg.RankWindow); err != nil {
			return 0, err
		}
	}
	if s.cfg.TopK > 0 {
		if n.top, err = gossip.NewTopK(s.cfg.TopK, gossip.Item[Peer]{Peer: p, Key: key}); err != nil {
			return 0, err
		}
	}
	if s.cfg.Reputation {
		if n.rep, err = gossip.NewReputation(p, gossip.ReputationConfig{HalfLife: 200 * s.cfg.Agg.Period}); err != nil {
			return 0, err
		}
		n.liar = s.rng.Float64() < s.cfg.Liars
		n.flaky = !n.liar && s.rng.Float64() < s.cfg.Flaky
	}
	if s.cfg.Zones > 0 {
		n.zone = int(p) % s.cfg.Zones
	}
	if s.cfg.Values != nil {
		copy(n.vals, s.cfg.Values(p, s.rng))
	}
	s.nodes = append(s.nodes, n)
	s.keys = append(s.keys, key)
	s.dirty = true
	return p, nil
}

// Join adds a node that knows the given live introducers (Cyclon's join:
// its view starts with links to them) and returns it.
func (s *Sim) Join(introducers ...Peer) (Peer, error) {
	p, err := s.add()
	if err != nil {
		return 0, err
	}
	for _, q := range introducers {
		s.nodes[p].cy.Add(q)
	}
	return p, nil
}

// Kill makes p crash: it stops answering and is never heard of again
// except through the links others still hold.
func (s *Sim) Kill(p Peer) {
	if s.nodes[p].alive {
		s.nodes[p].alive = false
		s.dirty = true
	}
}

// KillFraction crashes a random fraction of the live nodes and returns how
// many.
func (s *Sim) KillFraction(f float64) int {
	live := append([]Peer(nil), s.Live()...)
	s.rng.Shuffle(len(live), func(i, j int) { live[i], live[j] = live[j], live[i] })
	n := int(math.Round(f * float64(len(live))))
	for _, p := range live[:n] {
		s.Kill(p)
	}
	return n
}

// KillZone crashes every live node of a zone and returns how many.
func (s *Sim) KillZone(z int) int {
	n := 0
	for i := range s.nodes {
		if s.nodes[i].alive && s.nodes[i].zone == z {
			s.Kill(Peer(i))
			n++
		}
	}
	return n
}

// Live returns the live nodes; the slice is the Sim's own.
func (s *Sim) Live() []Peer {
	if s.dirty {
		s.live = s.live[:0]
		for i := range s.nodes {
			if s.nodes[i].alive {
				s.live = append(s.live, Peer(i))
			}
		}
		s.dirty = false
	}
	return s.live
}

// Alive reports whether p is live.
func (s *Sim) Alive(p Peer) bool { return s.nodes[p].alive }

// Len returns how many nodes were ever made (live or dead).
func (s *Sim) Len() int { return len(s.nodes) }

// Cycle returns how many cycles have run.
func (s *Sim) Cycle() int { return s.cycle }

// Cyclon returns p's peer-sampling state.
func (s *Sim) Cyclon(p Peer) *gossip.Cyclon[Peer] { return s.nodes[p].cy }

// Aggregator returns p's aggregation state.
func (s *Sim) Aggregator(p Peer) *gossip.Aggregator { return s.nodes[p].agg }

// SetValues sets p's attribute values (taken up at its next epoch).
func (s *Sim) SetValues(p Peer, v []float64) { copy(s.nodes[p].vals, v) }

// Now returns the simulated time of the current cycle.
func (s *Sim) Now() time.Time { return epoch0.Add(time.Duration(s.cycle) * s.cfg.Agg.Period) }

// lost reports whether a message is lost.
func (s *Sim) lost() bool { return s.cfg.Loss > 0 && s.rng.Float64() < s.cfg.Loss }

// Step runs one cycle.
func (s *Sim) Step() {
	now := s.Now()
	s.order = append(s.order[:0], s.Live()...)
	s.rng.Shuffle(len(s.order), func(i, j int) { s.order[i], s.order[j] = s.order[j], s.order[i] })
	for _, p := range s.order {
		n := &s.nodes[p]
		n.agg.Tick(now, n.vals)
		n.away = n.flaky && s.rng.Float64() < s.cfg.FlakyDown
	}
	for _, p := range s.order {
		if s.nodes[p].away {
			continue
		}
		s.shuffle(p)
		s.exchange(p)
		for range s.cfg.Probes {
			if q, ok := s.nodes[p].cy.Sample(s.rng); ok {
				s.probe(p, q, s.nodes[q].alive && !s.nodes[q].away)
			}
		}
	}
	s.cycle++
}

// Run runs n cycles.
func (s *Sim) Run(n int) {
	for range n {
		s.Step()
	}
}

func (s *Sim) shuffle(p Peer) {
	cy := s.nodes[p].cy
	to, req, ok := cy.StartShuffle(s.rng, s.buf[:0])
	s.buf = req
	if !ok {
		return
	}
	if !s.nodes[to].alive || s.nodes[to].away || s.lost() {
		cy.ShuffleFailed(to)
		s.probe(p, to, false)
		return
	}
	s.rbuf = s.nodes[to].cy.HandleShuffle(p, req, s.rng, s.rbuf[:0])
	s.observe(to, req)
	s.report(p, to)
	if s.lost() {
		cy.ShuffleFailed(to)
		s.probe(p, to, false)
		return
	}
	cy.HandleReply(to, s.rbuf)
	s.probe(p, to, true)
	s.report(to, p)
	s.observe(p, s.rbuf)
	if r := s.nodes[p].rank; r != nil {
		r.Observe(s.keys[to])
	}
}

// observe feeds p's ranker the keys of the nodes a shuffle message
// described (a real message carries each link's key with it).
func (s *Sim) observe(p Peer, links []gossip.Entry[Peer]) {
	if r := s.nodes[p].rank; r != nil {
		for _, e := range links {
			r.Observe(s.keys[e.Peer])
		}
	}
}

func (s *Sim) exchange(p Peer) {
	var q Peer
	if s.cfg.UniformPeers {
		live := s.Live()
		if len(live) < 2 {
			return
		}
		for q = p; q == p; {
			q = live[s.rng.IntN(len(live))]
		}
	} else {
		var ok bool
		if q, ok = s.nodes[p].cy.Sample(s.rng); !ok {
			return
		}
	}
	if !s.nodes[q].alive || s.nodes[q].away || s.lost() {
		return
	}
	reply := s.nodes[q].agg.HandleRequest(s.nodes[p].agg.Request())
	s.nodes[p].agg.HandleReply(reply)
	// Top-k lists ride on the same exchange, both ways.
	if s.cfg.TopK > 0 {
		s.nodes[q].top.Merge(s.nodes[p].top.Items())
		s.nodes[p].top.Merge(s.nodes[q].top.Items())
	}
}

// Ranker returns p's slicing state (nil unless Config.Slicing).
func (s *Sim) Ranker(p Peer) *gossip.Ranker { return s.nodes[p].rank }

// TopK returns p's top-k state (nil unless Config.TopK > 0).
func (s *Sim) TopK(p Peer) *gossip.TopK[Peer] { return s.nodes[p].top }
