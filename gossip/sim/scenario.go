package sim

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/murmur-cloud/murmur/gossip"
)

// Scenario is a simulation run: a cloud, its churn and failures, and what
// to measure. The zero values of optional fields take the defaults.
type Scenario struct {
	Name    string  `json:"name"`
	Nodes   int     `json:"nodes"`
	Cycles  int     `json:"cycles"`
	Seed    uint64  `json:"seed"`
	View    int     `json:"view"`    // Cyclon view size (20)
	Shuffle int     `json:"shuffle"` // Cyclon shuffle length (8)
	Epoch   int     `json:"epoch"`   // cycles per aggregation epoch (30)
	Inst    int     `json:"instances"`
	Loss    float64 `json:"loss"` // fraction of exchanges lost
	// UniformPeers: aggregation partners uniform among live nodes.
	UniformPeers bool `json:"uniform_peers"`
	Slices       int  `json:"slices"` // >0: run slicing and measure disorder over this many slices
	TopK         int  `json:"topk"`   // >0: run top-k queries of this k
	Zones        int  `json:"zones"`
	// Churn: new nodes per cycle (Poisson mean) and session lengths.
	JoinRate float64 `json:"join_rate"`
	Session  Session `json:"session"`
	Events   []Event `json:"events"`
	// Liars is the fraction of nodes that lie in their reputation reports
	// and Flaky the fraction of honest ones away 40% of the time; either
	// turns on reputation books (with Probes liveness probes per cycle)
	// and, at the end, placement by reputation.
	Liars  float64 `json:"liars"`
	Flaky  float64 `json:"flaky"`
	Probes int     `json:"probes"`
	// Figures picks which figures the summary shows: "variance",
	// "counting", "failure", "indegree", "slicing", "topk", "churn".
	// Empty: every one the run can measure.
	Figures []string `json:"figures"`
}

// Session is a distribution of session lengths in cycles: "exp" (mean
// Mean) or "pareto" (shape Shape, minimum Min); empty: nodes never leave.
type Session struct {
	Kind  string  `json:"kind"`
	Mean  float64 `json:"mean"`
	Shape float64 `json:"shape"`
	Min   float64 `json:"min"`
}

// Event is a failure at a cycle: "crash" a Fraction of the live nodes, or
// "zone": every node of Zone.
type Event struct {
	Cycle    int     `json:"cycle"`
	Kind     string  `json:"kind"`
	Fraction float64 `json:"fraction"`
	Zone     int     `json:"zone"`
}

var figureKinds = []string{"variance", "counting", "failure", "indegree", "slicing", "topk", "churn", "liars"}

// CycleStats are the figures of one cycle.
type CycleStats struct {
	Cycle      int
	Live       int
	SizeMin    float64 // size estimates of the epoch in progress
	SizeMean   float64
	SizeMax    float64
	LastMin    float64 // size estimates of the last completed epoch
	LastMean   float64
	LastMax    float64
	Variance   float64 // of the averaged attribute
	DeadLinks  int
	InDegStd   float64
	Disorder   float64 // slice disorder per node
	TopKReach  float64 // fraction of nodes holding the true top k
	Components int
}

// Figure is one measured figure beside the published one it checks.
type Figure struct {
	Name      string
	Measured  string
	Published string
}

// Summary closes a run.
type Summary struct {
	Scenario Scenario
	Cycles   int
	Elapsed  time.Duration
	Figures  []Figure
}

// Scenarios are the named runs that reproduce published figures.
var Scenarios = map[string]Scenario{
	"averaging":      {Name: "averaging", Nodes: 100000, Cycles: 20, UniformPeers: true, Epoch: 1000, Figures: []string{"variance"}},
	"averaging-loss": {Name: "averaging-loss", Nodes: 100000, Cycles: 20, UniformPeers: true, Epoch: 1000, Loss: 0.2, Figures: []string{"variance"}},
	"counting":       {Name: "counting", Nodes: 100000, Cycles: 31, Figures: []string{"counting", "variance"}},
	"catastrophe":    {Name: "catastrophe", Nodes: 100000, Cycles: 61, Events: []Event{{Cycle: 15, Kind: "crash", Fraction: 0.5}}, Figures: []string{"failure"}},
	"cyclon":         {Name: "cyclon", Nodes: 10000, Cycles: 100, Figures: []string{"indegree"}},
	"purge":          {Name: "purge", Nodes: 10000, Cycles: 120, Events: []Event{{Cycle: 50, Kind: "crash", Fraction: 0.5}}, Figures: []string{"failure"}},
	"partition":      {Name: "partition", Nodes: 10000, Cycles: 51, Events: []Event{{Cycle: 50, Kind: "crash", Fraction: 0.7}}, Figures: []string{"failure"}},
	"slicing":        {Name: "slicing", Nodes: 10000, Cycles: 100, Slices: 10, Figures: []string{"slicing"}},
	"topk":           {Name: "topk", Nodes: 100000, Cycles: 30, TopK: 10, Figures: []string{"topk"}},
	"churn":          {Name: "churn", Nodes: 10000, Cycles: 150, JoinRate: 50, Session: Session{Kind: "exp", Mean: 200}, Figures: []string{"churn", "indegree"}},
	"liars":          {Name: "liars", Nodes: 300, Cycles: 300, Liars: 0.2, Flaky: 0.1, Probes: 16, Figures: []string{"liars"}},
	"zone-failure":   {Name: "zone-failure", Nodes: 10000, Cycles: 100, Zones: 4, Events: []Event{{Cycle: 40, Kind: "zone", Zone: 2}}, Figures: []string{"failure"}},
}

// ScenarioNames returns the named scenarios, sorted.
func ScenarioNames() []string {
	return slices.Sorted(func(yield func(string) bool) {
		for k := range Scenarios {
			if !yield(k) {
				return
			}
		}
	})
}

// ParseScenario reads a scenario from JSON, unknown fields refused.
func ParseScenario(r io.Reader) (Scenario, error) {
	var sc Scenario
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		return sc, fmt.Errorf("sim: scenario: %w", err)
	}
	return sc, sc.Validate()
}

// Validate checks a scenario.
func (sc *Scenario) Validate() error {
	var errs []error
	if sc.Nodes < 2 || sc.Nodes > 10_000_000 {
		errs = append(errs, fmt.Errorf("nodes %d not in 2..10,000,000", sc.Nodes))
	}
	if sc.Cycles < 1 || sc.Cycles > 100_000 {
		errs = append(errs, fmt.Errorf("cycles %d not in 1..100,000", sc.Cycles))
	}
	if sc.Liars < 0 || sc.Liars >= 0.5 || sc.Flaky < 0 || sc.Flaky >= 1 || sc.Probes < 0 || sc.Probes > 1000 {
		errs = append(errs, fmt.Errorf("liars %v (< 0.5), flaky %v (< 1), probes %d", sc.Liars, sc.Flaky, sc.Probes))
	}
	if (sc.Liars > 0 || sc.Flaky > 0) && sc.Nodes > 20000 {
		errs = append(errs, fmt.Errorf("reputation books need a few KB per peer known: at most 20,000 nodes with liars or flaky nodes"))
	}
	if sc.JoinRate < 0 || sc.JoinRate > float64(sc.Nodes) {
		errs = append(errs, fmt.Errorf("join rate %v", sc.JoinRate))
	}
	switch sc.Session.Kind {
	case "":
	case "exp":
		if sc.Session.Mean < 1 {
			errs = append(errs, fmt.Errorf("exponential sessions need a mean ≥ 1 cycle"))
		}
	case "pareto":
		if sc.Session.Shape <= 0 || sc.Session.Min < 1 {
			errs = append(errs, fmt.Errorf("pareto sessions need shape > 0 and min ≥ 1 cycle"))
		}
	default:
		errs = append(errs, fmt.Errorf("session kind %q (exp or pareto)", sc.Session.Kind))
	}
	for _, f := range sc.Figures {
		if !slices.Contains(figureKinds, f) {
			errs = append(errs, fmt.Errorf("figure %q (one of %v)", f, figureKinds))
		}
	}
	for _, e := range sc.Events {
		switch {
		case e.Kind == "crash" && (e.Fraction <= 0 || e.Fraction >= 1):
			errs = append(errs, fmt.Errorf("crash at cycle %d: fraction %v not in (0, 1)", e.Cycle, e.Fraction))
		case e.Kind == "zone" && (e.Zone < 0 || e.Zone >= sc.Zones):
			errs = append(errs, fmt.Errorf("zone failure at cycle %d: zone %d of %d", e.Cycle, e.Zone, sc.Zones))
		case e.Kind != "crash" && e.Kind != "zone":
			errs = append(errs, fmt.Errorf("event kind %q (crash or zone)", e.Kind))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sim: scenario %q: %w", sc.Name, err)
	}
	return nil
}

// Run runs the scenario, writing one CSV row per cycle to csvOut (if not
// nil) and calling each (if not nil) after every cycle, and returns the
// summary. It stops early, with ctx's error, when ctx ends.
func (sc Scenario) Run(ctx context.Context, csvOut io.Writer, each func(CycleStats)) (*Summary, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	s, err := New(Config{
		Nodes: sc.Nodes, Seed: sc.Seed, Loss: sc.Loss, UniformPeers: sc.UniformPeers, Zones: sc.Zones,
		Cyclon:  gossip.CyclonConfig{ViewSize: sc.View, ShuffleLen: sc.Shuffle},
		Agg:     gossip.AggConfig{EpochCycles: sc.Epoch, Instances: sc.Inst, Attributes: 1},
		Values:  func(_ Peer, rng *rand.Rand) []float64 { return []float64{rng.Float64()} },
		Slicing: sc.Slices > 0, TopK: sc.TopK,
		Reputation: sc.Liars > 0 || sc.Flaky > 0, Liars: sc.Liars, Flaky: sc.Flaky, FlakyDown: 0.4, Probes: sc.Probes,
	})
	if err != nil {
		return nil, err
	}
	var w *csv.Writer
	if csvOut != nil {
		w = csv.NewWriter(csvOut)
		w.Write([]string{"cycle", "live", "size_min", "size_mean", "size_max", "last_min", "last_mean", "last_max", "variance", "dead_links", "indegree_std", "slice_disorder", "topk_reached", "components"})
	}
	m := newMeter(sc, s)
	churn := rand.New(rand.NewPCG(sc.Seed, 0xc4))
	leave := map[Peer]int{} // cycle at which a node's session ends
	s.Step()                // the first cycle starts the epoch with every node's value in
	for c := 1; c < sc.Cycles; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		for _, e := range sc.Events {
			if e.Cycle == c {
				m.event(e)
			}
		}
		sc.churn(s, churn, leave)
		s.Step()
		st := m.measure()
		if each != nil {
			each(st)
		}
		if w != nil {
			w.Write(st.row())
		}
	}
	if w != nil {
		w.Flush()
		if err := w.Error(); err != nil {
			return nil, fmt.Errorf("sim: write CSV: %w", err)
		}
	}
	figs := m.figures()
	if sc.Liars > 0 || sc.Flaky > 0 {
		f, err := s.PlaceByReputation(5, 1000, 4, 2)
		if err != nil {
			return nil, err
		}
		if len(sc.Figures) == 0 || slices.Contains(sc.Figures, "liars") {
			figs = append(figs,
				Figure{"liars' share of shards placed by reputation", fmt.Sprintf("%.3f (liars are %.3f of the steady peers)", f.LiarShare, f.FairShare), "no more than their fair share"},
				Figure{"steady honest peers out of the reliable slice", fmt.Sprintf("%d of %d (over %d observers)", f.HonestOut, f.Steady, f.Observers), "none"},
				Figure{"flaky nodes' share of shards", fmt.Sprintf("%.3f", f.FlakyShare), "below a steady node's"})
		}
	}
	return &Summary{Scenario: sc, Cycles: sc.Cycles, Elapsed: time.Since(start), Figures: figs}, nil
}

// churn ends the sessions due this cycle and adds the cycle's newcomers.
func (sc Scenario) churn(s *Sim, rng *rand.Rand, leave map[Peer]int) {
	if sc.Session.Kind == "" && sc.JoinRate == 0 {
		return
	}
	if len(leave) == 0 && sc.Session.Kind != "" { // first call: the founders' sessions
		for _, p := range s.Live() {
			leave[p] = s.Cycle() + sc.Session.draw(rng)
		}
	}
	for p, at := range leave {
		if at <= s.Cycle() {
			s.Kill(p)
			delete(leave, p)
		}
	}
	live := s.Live()
	for range poisson(rng, sc.JoinRate) {
		if len(live) == 0 {
			return
		}
		p, err := s.Join(live[rng.IntN(len(live))])
		if err != nil {
			return
		}
		live = s.Live()
		if sc.Session.Kind != "" {
			leave[p] = s.Cycle() + sc.Session.draw(rng)
		}
	}
}

func (ss Session) draw(rng *rand.Rand) int {
	switch ss.Kind {
	case "exp":
		return 1 + int(rng.ExpFloat64()*ss.Mean)
	case "pareto":
		return int(ss.Min / math.Pow(1-rng.Float64(), 1/ss.Shape))
	}
	return math.MaxInt
}

// poisson draws from a Poisson distribution of mean l (Knuth's method for
// small means, a normal approximation for large ones).
func poisson(rng *rand.Rand, l float64) int {
	if l <= 0 {
		return 0
	}
	if l > 50 {
		return max(0, int(math.Round(l+math.Sqrt(l)*rng.NormFloat64())))
	}
	n, p, limit := 0, rng.Float64(), math.Exp(-l)
	for p > limit {
		n++
		p *= rng.Float64()
	}
	return n
}

func (st CycleStats) row() []string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	return []string{
		strconv.Itoa(st.Cycle), strconv.Itoa(st.Live), f(st.SizeMin), f(st.SizeMean), f(st.SizeMax), f(st.LastMin), f(st.LastMean), f(st.LastMax),
		f(st.Variance), strconv.Itoa(st.DeadLinks), f(st.InDegStd), f(st.Disorder), f(st.TopKReach), strconv.Itoa(st.Components),
	}
}
