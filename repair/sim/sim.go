// Package sim is the durability simulator: a discrete-event simulation of
// a cloud whose members come and go — sessions, outages, departures for
// good and newcomers, drawn from published measurements (Churn) — holding
// stripes that the same repair.Machine state machines real nodes run keep
// alive, with repair off, eager or lazy. It counts the stripes lost and the
// repair traffic. Everything random derives from the seed, so a run
// replays exactly.
//
// Time runs from event to event: a member's session ending, its outage
// ending, its departure, a repair's transfer finishing, and every
// CheckPeriod a round in which each member checks its peers (one batched
// check per peer). A check sees a peer's state at the round, so an outage
// shorter than a period between two rounds goes unseen, as with real
// periodic checks; the simulator delivers only the outcomes that changed
// (the Machine ignores repeats), and a member that was away re-checks its
// peers when it returns. Machines tick every round, and at their own
// wake-ups while they have repairs queued or running. Messages arrive at
// once; a message to a member that is away is lost, except the records a
// repair hands over (Done, Watch), which node retries until they arrive
// and which the simulator delivers on the member's return. With repair off
// no Machines run: they would only watch, and the result is the same (Run).
//
// Late telling (lazy mode). An outage a round sees is told at once only
// to the Machines that are not quiet (repair.Machine.Quiet: some stripe of
// theirs waits for, claims or runs a repair); the quiet ones, whose
// decisions depend on which peers are lost and not on which are up, hear
// of it with its start (Machine.Unreachable) at the round its grace is
// over, or at once when a stripe of theirs leaves idle (sync), and never
// when the peer is back first, as most are. A member back from an outage
// checks its peers itself, as before. The figures are those of telling
// every Machine at once (TestLateTellSameModel); the cost of a full year
// falls from hours to minutes (docs/sim.md, "Speed").
package sim

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/repair"
)

// Peer names a simulated member.
type Peer = uint32

// Config is one simulated world.
type Config struct {
	Mode    repair.Mode
	Nodes   int
	Stripes int
	Days    int
	Seed    uint64
	Churn   Churn
	// The code: K and M, or (both 0) placement.ChooseCode for the cloud's
	// mean availability, Target and MaxK.
	K, M      int
	MaxK      int     // default 8
	Target    float64 // default placement.DefaultTarget
	ShardSize int64   // default 1 MiB, a chunk
	Zones     int     // default 20
	// CheckPeriod is the check rounds' period; default 1h.
	CheckPeriod time.Duration
	// WarmupDays is how long the run settles before traffic is counted
	// (default 7, at most a third of Days): the members start in a state
	// drawn from their availability, and the first checks see every member
	// that starts away at once. Stripes lost count from the start.
	WarmupDays int
	// Storm control, per member (repair.Config's defaults when zero).
	Bandwidth   int64
	Concurrency int

	// offMachines runs the Machines with repair off too (a test's check
	// that skipping them changes nothing).
	offMachines bool
	// tellAtOnce tells every outage a round sees to every Machine at once,
	// as lazy mode did before late telling (a test's comparison).
	tellAtOnce bool
}

func (c Config) withDefaults() (Config, error) {
	c.Churn = c.Churn.WithDefaults()
	if c.MaxK == 0 {
		c.MaxK = 8
	}
	if c.Target == 0 {
		c.Target = placement.DefaultTarget
	}
	if c.ShardSize == 0 {
		c.ShardSize = 1 << 20
	}
	if c.Zones == 0 {
		c.Zones = 20
	}
	if c.CheckPeriod == 0 {
		c.CheckPeriod = time.Hour
	}
	if c.Bandwidth == 0 {
		c.Bandwidth = repair.DefaultBandwidth
	}
	if c.Concurrency == 0 {
		c.Concurrency = repair.DefaultConcurrency
	}
	if c.WarmupDays == 0 {
		c.WarmupDays = 7
	}
	c.WarmupDays = min(c.WarmupDays, c.Days/3)
	ch := c.Churn
	switch {
	case c.Nodes < 20 || c.Nodes > 1_000_000, c.Stripes < 1 || c.Stripes > 10_000_000, c.Days < 1 || c.Days > 3650:
		return c, fmt.Errorf("sim: %d nodes (20..10^6), %d stripes (1..10^7), %d days (1..3650)", c.Nodes, c.Stripes, c.Days)
	case !(ch.AvailShape > 0) || !(ch.SessionShape > 0.1) || !(ch.OutagesPerYear > 0 && ch.OutagesPerYear <= 10000) || !(ch.DepartPerYear > 0 && ch.DepartPerYear < 1):
		return c, fmt.Errorf("sim: churn %+v out of range", ch)
	case c.K < 0 || c.M < 0 || (c.K == 0) != (c.M == 0) || c.K+c.M > c.Nodes/2 || c.CheckPeriod < time.Minute:
		return c, fmt.Errorf("sim: code k=%d m=%d or check period %v out of range", c.K, c.M, c.CheckPeriod)
	}
	return c, nil
}

// Result is what a world measured.
type Result struct {
	Mode         repair.Mode
	K, M         int
	Why          string // ChooseCode's sentence
	Lazy, Urgent int    // the thresholds at the cloud's mean slice availability
	Lost         int    // stripes that fell below k shards for good
	StoredBytes  int64  // at the start
	RepairBytes  int64  // fetched and placed by repairs, after the warm-up
	Repairs      int    // committed
	Rebuilt      int    // shards rebuilt and placed
	Departures   int
	Outages      int     // sessions that ended
	PerMonth     float64 // repair bytes per stored byte per 30 days
	MeanAvail    float64
	Elapsed      time.Duration
	Days         int
	Events       int
	MaxBacklog   int // the most stripes waiting for repair at one member
}

type event struct {
	at   time.Time
	kind uint8
	node Peer
	gen  uint32
	id   int32 // stripe, for repairs
	seq  uint64
}

const (
	evToggle uint8 = iota // session or outage ends
	evDepart
	evRepair // a repair's transfer ends
	evWake
	evRound
)

// events is the event queue, a binary heap ordered by time and then by
// the order of scheduling (a total order: the run replays exactly).
type events []event

func (a *event) before(b *event) bool {
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return a.seq < b.seq
}

func (h *events) push(e event) {
	*h = append(*h, e)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a[i].before(&a[p]) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *events) pop() event {
	a := *h
	e := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		l, r, small := 2*i+1, 2*i+2, i
		if l < len(a) && a[l].before(&a[small]) {
			small = l
		}
		if r < len(a) && a[r].before(&a[small]) {
			small = r
		}
		if small == i {
			break
		}
		a[i], a[small] = a[small], a[i]
		i = small
	}
	*h = a
	return e
}

type node struct {
	m       *repair.Machine[Peer]
	beh     member
	up      bool // now, the truth
	told    bool // the state the last round announced
	gone    bool
	joined  time.Time
	missed  time.Time // the earliest outage since returned last ran: what its Machine was not told starts there
	holds   []int32   // stripes whose record names it
	mailbox []mail
	aborted []repair.Result[Peer] // its repairs that ended while it was away, reported when it returns
	wakeAt  time.Time
	gen     uint32
	key     repair.Key
	name    string
	zone    string
}

type mail struct {
	from Peer
	msg  repair.Message[Peer]
}

type stripeTruth struct {
	rec      repair.Stripe[Peer]
	alive    int // stored slots whose holder has not left
	lost     bool
	watchers []Peer
}

type job struct {
	by   Peer
	plan repair.Plan[Peer]
	ok   bool
	put  map[int]Peer
}

type world struct {
	cfg     Config
	watch   bool // the members run Machines (not with repair off: see Run)
	rng     *rand.Rand
	now     time.Time
	evs     events
	seq     uint64
	nodes   []*node
	stripes []stripeTruth
	index   map[repair.StripeID]int32
	jobs    map[int32]*job
	placer  *placement.Reliable
	res     Result
	queue   []mail // messages in flight this instant, with their receiver in to
	queueTo []Peer
	live    []Peer // members that have not left (for sampling)
	liveIdx []int32
	warm    time.Time // traffic counts after it
	marks   []uint32  // by node: stamp when sampled or excluded
	stamp   uint32
	ids     []Peer
	cands   []placement.Candidate
	// By member, what the Machines ask of it (KeyOf, History) most often,
	// in flat arrays rather than behind each node's pointer.
	keys    []repair.Key
	avail   []float64
	joined  []time.Time
	grace   repair.GraceConfig // the Machines'
	graceAt []time.Duration    // each member's outage quantile grace.Quantile
	// And what tell and returned read of the members they visit.
	mach   []*repair.Machine[Peer]
	on     []bool // up and not gone
	toldOn []bool // told up and not gone
	// Late telling (lazy mode; see tellDown). By member: its outage's
	// start as a round saw it; whether the quiet Machines are yet to be
	// told of it (deferred), and the round from which they must be
	// (tellAt, its grace over); the Machines told already (early); when
	// the state told of it last changed; and by Machine, whether it was
	// quiet when last looked at.
	lazyTell bool
	seenDown []time.Time
	deferred []bool
	tellAt   []time.Time
	early    [][]Peer
	changed  []time.Time
	quiet    []bool
	woken    []uint64
	scratch  []Peer
}

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// Run simulates one world.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	w := &world{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0xd0ab1e)), now: epoch, index: map[repair.StripeID]int32{}, jobs: map[int32]*job{}}
	// With repair off a Machine only watches: it never claims, sends or
	// plans (takeovers need members, which the simulator does not give),
	// and what the run measures is the world's truth, the stripes that fell
	// below k. So the Machines are not run at all; the result is the same
	// (TestOffWithoutMachines), and that world costs next to nothing.
	w.watch = cfg.Mode != repair.Off || cfg.offMachines
	w.placer, _ = placement.NewReliable(placement.ReliableConfig{Seed: cfg.Seed})
	w.grace = repair.GraceConfig{}.WithDefaults() // the Machines' (the simulator sets no other)
	w.lazyTell = cfg.Mode == repair.Lazy && !cfg.tellAtOnce
	w.res.Mode, w.res.Days = cfg.Mode, cfg.Days
	w.warm = epoch.Add(time.Duration(cfg.WarmupDays) * 24 * time.Hour)
	if err := w.populate(ctx); err != nil {
		return nil, err
	}
	end := epoch.Add(time.Duration(cfg.Days) * 24 * time.Hour)
	w.push(event{at: epoch.Add(cfg.CheckPeriod), kind: evRound})
	for len(w.evs) > 0 {
		e := w.evs.pop()
		if e.at.After(end) {
			break
		}
		w.now = e.at
		w.res.Events++
		if e.kind == evRound || w.res.Events%(1<<12) == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		w.handle(e)
	}
	w.res.PerMonth = float64(w.res.RepairBytes) / float64(w.res.StoredBytes) / (float64(cfg.Days-cfg.WarmupDays) / 30)
	w.res.Elapsed = time.Since(start)
	return &w.res, nil
}

func (w *world) push(e event) {
	w.seq++
	e.seq = w.seq
	w.evs.push(e)
}

func keyOf(p Peer) repair.Key {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], p)
	return sha256.Sum256(b[:])
}

// simHistory is the simulator's model of a member, given to its peers'
// Machines as their History.
type simHistory struct{ w *world }

func (h simHistory) Availability(p Peer, _ time.Time) (float64, float64) {
	return h.w.avail[p], min(h.w.now.Sub(h.w.joined[p]).Hours()/24, 100)
}

func (h simHistory) OutageQuantile(p Peer, q float64) (time.Duration, int) {
	w := h.w
	known := w.known(p)
	if q == w.grace.Quantile {
		return w.graceAt[p], known
	}
	return w.nodes[p].beh.outageQuantile(q), known
}

func (w *world) addNode(at time.Time, veteran bool) Peer {
	p := Peer(len(w.nodes))
	n := &node{beh: w.cfg.Churn.draw(w.rng), up: true, told: true, joined: at, key: keyOf(p), name: strconv.Itoa(int(p)), zone: "z" + strconv.Itoa(int(p)%w.cfg.Zones)}
	if veteran {
		n.joined = at.Add(-year) // known for a year before the run starts
		n.up = w.rng.Float64() < n.beh.avail
		// Told up: the first round sees the members that start away.
	}
	w.nodes = append(w.nodes, n)
	w.marks = append(w.marks, 0)
	w.keys = append(w.keys, n.key)
	w.avail = append(w.avail, n.beh.avail)
	w.joined = append(w.joined, n.joined)
	w.graceAt = append(w.graceAt, n.beh.outageQuantile(w.grace.Quantile))
	w.on = append(w.on, n.up)
	w.toldOn = append(w.toldOn, n.told)
	w.seenDown = append(w.seenDown, time.Time{})
	w.deferred = append(w.deferred, false)
	w.tellAt = append(w.tellAt, time.Time{})
	w.early = append(w.early, nil)
	w.changed = append(w.changed, at)
	w.quiet = append(w.quiet, true)
	w.woken = append(w.woken, 0)
	if w.watch {
		m, err := repair.New(repair.Config[Peer]{
			Self: p, KeyOf: func(q Peer) repair.Key { return w.keys[q] }, History: simHistory{w},
			Mode: w.cfg.Mode, Target: w.cfg.Target, CheckPeriod: w.cfg.CheckPeriod,
			Bandwidth: w.cfg.Bandwidth, Concurrency: w.cfg.Concurrency,
			Sign: func(stmt []byte) []byte { return simTag(p, stmt) }, Verify: simVerify,
		}, at)
		if err != nil {
			panic(err) // the config is the simulator's own
		}
		n.m = m
	}
	w.mach = append(w.mach, n.m)
	w.liveIdx = append(w.liveIdx, int32(len(w.live)))
	w.live = append(w.live, p)
	w.push(event{at: at.Add(n.beh.session(w.rng, n.up)), kind: evToggle, node: p, gen: n.gen})
	w.push(event{at: at.Add(n.beh.lifetime), kind: evDepart, node: p})
	return p
}

// simTag is p's signature over stmt in the simulator, which has no
// forgers: an FNV-1a hash of p and stmt, cheap for millions of grants.
func simTag(p Peer, stmt []byte) []byte {
	h := uint64(14695981039346656037) ^ uint64(p)
	for _, c := range stmt {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return binary.BigEndian.AppendUint64(nil, h)
}

func simVerify(p Peer, stmt, sig []byte) bool { return string(simTag(p, stmt)) == string(sig) }

// populate makes the members and writes the stripes.
func (w *world) populate(ctx context.Context) error {
	var sum float64
	for range w.cfg.Nodes {
		p := w.addNode(w.now, true)
		sum += w.nodes[p].beh.avail
	}
	w.res.MeanAvail = sum / float64(w.cfg.Nodes)
	k, m := w.cfg.K, w.cfg.M
	if k == 0 {
		c, err := placement.ChooseCode(placement.CodeParams{Peers: w.cfg.Nodes, Availability: w.res.MeanAvail, Target: w.cfg.Target, MaxK: w.cfg.MaxK})
		if err != nil {
			return err
		}
		k, m, w.res.Why = c.K, c.M, c.Why
	}
	w.res.K, w.res.M = k, m
	w.stripes = make([]stripeTruth, w.cfg.Stripes)
	slots := make([]int, k+m)
	for i := range slots {
		slots[i] = i
	}
	for i := range w.stripes {
		id := repair.StripeID(sha256.Sum256(binary.BigEndian.AppendUint64([]byte("stripe"), uint64(i))))
		holders, err := w.place(nil, len(slots), false)
		if err != nil {
			return err
		}
		rec := repair.Stripe[Peer]{ID: id, K: k, M: m, ShardSize: w.cfg.ShardSize, Holders: holders}
		w.stripes[i] = stripeTruth{rec: rec, alive: k + m}
		w.index[id] = int32(i)
		for _, h := range holders {
			w.nodes[h].holds = append(w.nodes[h].holds, int32(i))
		}
		w.res.StoredBytes += int64(k+m) * w.cfg.ShardSize
	}
	// The thresholds at the reliable slice's mean availability, for the report.
	var slice float64
	var ranked []float64
	for _, n := range w.nodes {
		ranked = append(ranked, n.beh.avail)
	}
	slices.Sort(ranked)
	for _, a := range ranked[len(ranked)/2:] {
		slice += a
	}
	w.res.Lazy, w.res.Urgent = repair.Thresholds(k, k+m, slice/float64(len(ranked)-len(ranked)/2), w.cfg.Target)
	if !w.watch {
		return nil
	}
	for i := range w.stripes {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec := w.stripes[i].rec
		for _, h := range rec.Holders {
			if err := w.nodes[h].m.Hold(rec, w.now); err != nil {
				return err
			}
		}
	}
	for _, n := range w.nodes {
		n.m.Drain() // nothing to do yet
	}
	return nil
}

// place chooses n new holders with placement.Reliable over a random
// sample of the members that are up, none in exclude; online restricts the
// sample to members up now (a repair hands the shards over at once).
func (w *world) place(exclude []Peer, n int, online bool) ([]Peer, error) {
	size := max(32, 6*n)
	w.stamp++
	for _, p := range exclude {
		w.marks[p] = w.stamp
	}
	ids := w.ids[:0]
	cands := w.cands[:0]
	for tries := 0; len(cands) < size && tries < 8*size; tries++ {
		p := w.live[w.rng.IntN(len(w.live))]
		nd := w.nodes[p]
		if online && !nd.up || w.marks[p] == w.stamp {
			continue
		}
		w.marks[p] = w.stamp
		ids = append(ids, p)
		cands = append(cands, placement.Candidate{ID: nd.name, Free: -1, Reliability: nd.beh.avail, Evidence: w.now.Sub(nd.joined).Hours() / 24, Zone: nd.zone, Host: nd.name})
	}
	w.ids, w.cands = ids, cands
	idx, err := w.placer.Place(cands, make([]int, n))
	if err != nil {
		return nil, err
	}
	out := make([]Peer, n)
	for i, j := range idx {
		out[i] = ids[j]
	}
	return out, nil
}

func (w *world) handle(e event) {
	switch e.kind {
	case evRound:
		w.round()
		w.push(event{at: w.now.Add(w.cfg.CheckPeriod), kind: evRound})
	case evToggle:
		n := w.nodes[e.node]
		if n.gone || e.gen != n.gen {
			return
		}
		n.up = !n.up
		w.on[e.node] = n.up
		if n.up {
			w.res.Outages++
		} else {
			if n.missed.IsZero() {
				n.missed = w.now
			}
		}
		w.push(event{at: w.now.Add(n.beh.session(w.rng, n.up)), kind: evToggle, node: e.node, gen: n.gen})
	case evDepart:
		w.depart(e.node)
	case evRepair:
		w.finish(e.id)
	case evWake:
		n := w.nodes[e.node]
		if n.gone || !n.up || !n.wakeAt.Equal(e.at) {
			return
		}
		n.wakeAt = time.Time{}
		n.m.Tick(w.now)
		w.flush(e.node)
	}
}

// round is a check round: every change since the last is seen by the
// peers of the member that changed, members back from an outage re-check
// their peers, and every member that is up ticks.
func (w *world) round() {
	for p, n := range w.nodes {
		if n.gone {
			continue
		}
		if n.up == n.told {
			if w.deferred[p] && !w.now.Before(w.tellAt[p]) {
				w.tellDown(Peer(p), false) // its grace is over: every Machine must know
			}
			if n.up && !n.missed.IsZero() && w.watch {
				w.returned(Peer(p)) // back from an outage no round saw
			}
			continue
		}
		n.told = n.up
		w.toldOn[p] = n.told
		w.changed[p] = w.now
		if !w.watch {
			continue
		}
		if !n.up {
			w.seenDown[p] = w.now
			w.tellDown(Peer(p), w.lazyTell)
			continue
		}
		if w.deferred[p] {
			// Back within its grace: only the Machines told of the outage
			// hear that it is over.
			told := w.early[p]
			w.deferred[p], w.early[p] = false, nil
			for _, h := range told {
				if w.on[h] {
					w.mach[h].Checked(Peer(p), true, w.now)
					w.sync(h)
				}
			}
		} else {
			w.tell(Peer(p), func(h Peer) {
				w.mach[h].Checked(Peer(p), true, w.now)
				w.sync(h)
			})
		}
		w.returned(Peer(p))
	}
	if !w.watch {
		return
	}
	for p, n := range w.nodes {
		if n.gone || !n.up {
			continue
		}
		n.m.Tick(w.now)
		w.flush(Peer(p))
	}
	for _, n := range w.nodes {
		if n.m != nil {
			w.res.MaxBacklog = max(w.res.MaxBacklog, n.m.Backlog())
		}
	}
}

// tellDown tells p's watchers that it has been away since the round that
// saw it go. Late (lazy mode), it tells only the Machines that are not
// quiet (repair.Machine.Quiet: the others decide nothing from who is up,
// only from who is lost) and leaves the rest for the round when p's grace
// is over, or for when one stops being quiet (sync); an outage that ends
// first costs the quiet Machines nothing. Otherwise it tells all of them.
func (w *world) tellDown(p Peer, late bool) {
	since := w.seenDown[p]
	if late {
		g := w.grace.Grace(w.graceAt[p], w.known(p))
		w.deferred[p], w.tellAt[p] = true, since.Add(g)
		w.tell(p, func(h Peer) {
			if !w.quiet[h] {
				w.mach[h].Unreachable(p, since, w.now)
				w.early[p] = append(w.early[p], h)
				w.sync(h)
			}
		})
		return
	}
	w.deferred[p], w.early[p] = false, nil
	w.changed[p] = w.now
	w.tell(p, func(h Peer) {
		w.mach[h].Unreachable(p, since, w.now)
		w.sync(h)
	})
}

// tell calls f once for each of p's watchers that is up: its co-holders
// and the members watching its stripes.
func (w *world) tell(p Peer, f func(h Peer)) {
	w.stamp++
	w.marks[p] = w.stamp
	for _, si := range w.nodes[p].holds {
		st := &w.stripes[si]
		for _, group := range [2][]Peer{st.rec.Holders, st.watchers} {
			for _, h := range group {
				if w.marks[h] == w.stamp {
					continue
				}
				w.marks[h] = w.stamp
				if w.on[h] {
					f(h)
				}
			}
		}
	}
}

// sync looks at h's Machine after a call: when a stripe there has left
// idle, its holders' outages that were left to tell late are told now
// (catchUp). A decision in the call that woke it may have counted such a
// holder up (its turn then comes later than it could; a claim that finds
// too few shards backs off).
func (w *world) sync(h Peer) {
	m := w.mach[h]
	for wk := m.Woken(); wk != w.woken[h]; wk = m.Woken() {
		w.woken[h] = wk
		w.catchUp(h) // which can lose a peer and wake more stripes
	}
	w.quiet[h] = m.Quiet()
}

// catchUp tells h's Machine of the outages left to tell late of the
// holders of its stripes that are not idle.
func (w *world) catchUp(h Peer) {
	m := w.mach[h]
	w.scratch = m.AppendBusyPeers(w.scratch[:0])
	slices.Sort(w.scratch) // the Machine's order is a map's: a run must replay
	w.scratch = slices.Compact(w.scratch)
	for _, p := range w.scratch {
		if w.deferred[p] {
			m.Unreachable(p, w.seenDown[p], w.now)
			w.early[p] = append(w.early[p], h)
		}
	}
}

// known is how many of p's outages its peers' History knows: a
// newcomer's grows with its age, about one outage per cycle, and not
// while it is away (so its grace, which depends on it, holds for the
// length of an outage whenever a Machine hears of it).
func (w *world) known(p Peer) int {
	at := w.now
	if !w.toldOn[p] && !w.seenDown[p].IsZero() {
		at = w.seenDown[p] // the outage under way is not one it knows yet
	}
	return int(at.Sub(w.joined[p]).Seconds() / (year.Seconds() / w.cfg.Churn.OutagesPerYear))
}

// returned has a member back from an outage re-check the peers whose
// state changed while it was away (the others it knows), and read its
// mailbox.
func (w *world) returned(p Peer) {
	n := w.nodes[p]
	m := n.m
	for _, si := range n.holds {
		for _, h := range w.stripes[si].rec.Holders {
			if h != p && !w.changed[h].Before(n.missed) {
				// Its own check: an outage it finds starts now in its view
				// (it cannot know when the peer left), so it is told
				// whether or not the others are yet.
				if w.deferred[h] {
					m.Unreachable(h, w.now, w.now)
					w.early[h] = append(w.early[h], p)
				} else {
					m.Checked(h, w.toldOn[h], w.now)
				}
			}
		}
	}
	n.missed = time.Time{}
	w.sync(p)
	for _, r := range n.aborted {
		m.Finish(r, w.now) // an error for a repair superseded since: nothing to do
	}
	n.aborted = nil
	box := n.mailbox
	n.mailbox = nil
	for _, ml := range box {
		m.Handle(ml.from, ml.msg, w.now)
	}
	w.flush(p)
}

// depart makes p leave for good, with its shards, and a newcomer join.
func (w *world) depart(p Peer) {
	n := w.nodes[p]
	if w.toldOn[p] {
		w.seenDown[p] = w.now // else its outage's start stands
	}
	n.gone, n.up, n.told = true, false, false
	w.on[p], w.toldOn[p] = false, false
	n.gen++
	w.res.Departures++
	for _, si := range n.holds {
		st := &w.stripes[si]
		if st.rec.Holders == nil || st.lost {
			continue
		}
		for i, h := range st.rec.Holders {
			if h == p && (i >= len(st.rec.Empty) || !st.rec.Empty[i]) {
				st.alive--
			}
		}
		if st.alive < st.rec.K && !st.lost {
			st.lost = true
			w.res.Lost++
		}
	}
	// Its peers see it gone at their next check; rounds skip the departed,
	// so tell them now (an outage that never ends).
	if w.watch {
		w.tellDown(p, false)
		for _, si := range n.holds {
			for _, h := range w.stripes[si].rec.Holders {
				if hn := w.nodes[h]; h != p && hn.up && !hn.gone && hn.m.Pending() {
					w.flush(h)
				}
			}
		}
	}
	n.m, n.mailbox = nil, nil
	w.mach[p] = nil
	i := w.liveIdx[p]
	last := w.live[len(w.live)-1]
	w.live[i], w.liveIdx[last] = last, i
	w.live = w.live[:len(w.live)-1]
	w.addNode(w.now, false)
}

// flush carries out what p's Machine asks, and what that causes, at once.
func (w *world) flush(p Peer) {
	w.drain(p)
	for i := 0; i < len(w.queue); i++ {
		ml, to := w.queue[i], w.queueTo[i]
		w.queue[i] = mail{}
		n := w.nodes[to]
		if n.gone {
			continue
		}
		if !n.up {
			switch ml.msg.(type) {
			case repair.Done[Peer], repair.Watch[Peer]:
				n.mailbox = append(n.mailbox, ml)
			}
			continue
		}
		n.m.Handle(ml.from, ml.msg, w.now)
		w.drain(to)
	}
	w.queue, w.queueTo = w.queue[:0], w.queueTo[:0]
}

func (w *world) drain(p Peer) {
	n := w.nodes[p]
	if n.m == nil {
		return
	}
	w.sync(p)
	if n.m.Pending() {
		out := n.m.Drain()
		for _, e := range out.Send {
			w.queue = append(w.queue, mail{from: p, msg: e.Msg})
			w.queueTo = append(w.queueTo, e.To)
			if wm, ok := e.Msg.(repair.Watch[Peer]); ok {
				if si, ok := w.index[wm.Record.ID]; ok && !slices.Contains(w.stripes[si].watchers, e.To) {
					w.stripes[si].watchers = append(w.stripes[si].watchers, e.To)
				}
			}
		}
		for _, a := range out.Abort {
			if si, ok := w.index[a.Stripe]; ok {
				if j := w.jobs[si]; j != nil && j.by == p && j.plan.Ballot == a.Ballot {
					delete(w.jobs, si)
				}
			}
		}
		for _, pl := range out.Start {
			w.start(p, pl)
		}
	}
	// Wake it for its repairs' timers; the rounds cover the rest.
	if wk := n.m.NextWake(); !wk.IsZero() && n.m.Busy() && (n.wakeAt.IsZero() || wk.Before(n.wakeAt)) {
		n.wakeAt = wk
		w.push(event{at: wk, kind: evWake, node: p})
	}
}

// start carries out a plan: it checks the sources, places the new shards,
// and schedules the end of the transfer at the repairer's bandwidth.
func (w *world) start(p Peer, pl repair.Plan[Peer]) {
	si := w.index[pl.Record.ID]
	j := &job{by: p, plan: pl}
	srcs := 0 // the sources that can serve now (the simulator writes no empty slots)
	for _, s := range append(slices.Clone(pl.Fetch), pl.Spares...) {
		if n := w.nodes[s.Holder]; s.Holder == p || n.up && !n.gone {
			srcs++
		}
	}
	if srcs >= pl.Record.K && !w.stripes[si].lost {
		if put, err := w.place(pl.Exclude, len(pl.Rebuild), true); err == nil {
			j.ok, j.put = true, map[int]Peer{}
			for i, slot := range pl.Rebuild {
				j.put[slot] = put[i]
			}
		}
	}
	w.jobs[si] = j
	d := time.Second
	if j.ok && w.cfg.Bandwidth > 0 {
		d = max(d, time.Duration(float64(pl.Bytes)/float64(w.cfg.Bandwidth)*1e9))
	}
	w.push(event{at: w.now.Add(d), kind: evRepair, node: p, id: si})
}

// finish ends a repair's transfer: the repairer reports, and a committed
// repair moves the shards.
func (w *world) finish(si int32) {
	j := w.jobs[si]
	if j == nil {
		return
	}
	delete(w.jobs, si)
	n := w.nodes[j.by]
	if n.gone {
		return // it left mid-repair: the work is lost, the claim lapses
	}
	if !n.up {
		// Away when its transfer ended: the work is lost, and its Machine
		// hears so when it is back (else a claim it keeps renewing would
		// stand for a repair that no longer runs).
		n.aborted = append(n.aborted, repair.Result[Peer]{Stripe: j.plan.Record.ID, Ballot: j.plan.Ballot, Err: errors.New("the repairer was away")})
		return
	}
	if !j.ok {
		n.m.Finish(repair.Result[Peer]{Stripe: j.plan.Record.ID, Ballot: j.plan.Ballot, Err: errors.New("sources or new holders missing")}, w.now)
		w.flush(j.by)
		return
	}
	placed := map[int]Peer{}
	for slot, q := range j.put {
		if qn := w.nodes[q]; !qn.gone {
			placed[slot] = q
		}
	}
	if w.now.After(w.warm) {
		w.res.RepairBytes += j.plan.Bytes
	}
	st := &w.stripes[si]
	if err := n.m.Finish(repair.Result[Peer]{Stripe: j.plan.Record.ID, Ballot: j.plan.Ballot, Placed: placed, Moved: j.plan.Bytes}, w.now); err != nil || len(placed) == 0 || st.lost {
		w.flush(j.by)
		return
	}
	// The committed record: the shards now live on the new holders.
	next := slices.Clone(st.rec.Holders)
	for slot, q := range placed {
		old := next[slot]
		if w.nodes[old].gone {
			st.alive++
		}
		if on := w.nodes[old]; !on.gone {
			on.holds = slices.DeleteFunc(on.holds, func(x int32) bool { return x == si })
		}
		next[slot] = q
		w.nodes[q].holds = append(w.nodes[q].holds, si)
		w.res.Rebuilt++
	}
	st.rec.Holders = next
	st.rec.Version++
	st.watchers = nil
	w.res.Repairs++
	w.flush(j.by)
}

// Compare runs the three modes on the same world (same seed) and returns
// their results, off, eager, lazy, parallel of them at once. Eager runs
// eagerDays (0: cfg.Days): it repairs every outage a check sees, which at
// full size is tens of millions of repairs a year, and its traffic per
// month is steady from its first weeks.
func Compare(ctx context.Context, cfg Config, eagerDays, parallel int) ([]*Result, error) {
	return CompareModes(ctx, cfg, []repair.Mode{repair.Off, repair.Eager, repair.Lazy}, eagerDays, parallel)
}

// CompareModes is Compare for the given modes, in their order.
func CompareModes(ctx context.Context, cfg Config, modes []repair.Mode, eagerDays, parallel int) ([]*Result, error) {
	if len(modes) == 0 {
		return nil, errors.New("sim: no mode to run")
	}
	out := make([]*Result, len(modes))
	errs := make([]error, len(modes))
	sem := make(chan struct{}, max(parallel, 1))
	done := make(chan struct{})
	for i, m := range modes {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem; done <- struct{}{} }()
			c := cfg
			c.Mode = m
			if m == repair.Eager && eagerDays > 0 {
				c.Days = eagerDays
			}
			out[i], errs[i] = Run(ctx, c)
		}()
	}
	for range modes {
		<-done
	}
	return out, errors.Join(errs...)
}
