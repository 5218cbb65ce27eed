package repair

import (
	"bytes"
	"cmp"
	"container/heap"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/placement"
)

// Mode is a repair policy.
type Mode uint8

// The policies. Lazy is Murmur's; Eager and Off are there to compare with
// (the simulator runs all three).
const (
	// Lazy: a holder is lost once unreachable longer than its grace, and a
	// stripe is repaired when its healthy shards fall to the lazy
	// threshold, every missing shard at once.
	Lazy Mode = iota
	// Eager: a holder is lost at the first check it fails, and every loss
	// is repaired at once (Total Recall's eager repair).
	Eager
	// Off: stripes are watched, never repaired.
	Off
)

var modeNames = [...]string{"lazy", "eager", "off"}

// String names the mode.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode parses a mode's name.
func ParseMode(s string) (Mode, error) {
	for i, n := range modeNames {
		if n == s {
			return Mode(i), nil
		}
	}
	return 0, fmt.Errorf("repair: mode %q (lazy, eager or off)", s)
}

// Defaults of Config.
const (
	DefaultCheckPeriod  = 10 * time.Minute
	DefaultClaimTTL     = 10 * time.Minute
	DefaultBandwidth    = 1 << 20  // bytes a second: 8 Mbit/s, a fraction of a home line
	DefaultBurst        = 64 << 20 // bytes
	DefaultConcurrency  = 2
	DefaultAvailability = 0.9
)

// Config sets up a Machine. Zero fields take their defaults.
type Config[P comparable] struct {
	Self  P
	KeyOf func(P) Key // a peer's key in the stripes' keyspace; required
	// History gives peers' availability and outage statistics; nil: the
	// Machine keeps an OutageLog of its own checks.
	History History[P]
	Mode    Mode
	// Target is the wanted probability that a stripe is readable, as in
	// placement.CodeParams; default placement.DefaultTarget.
	Target float64
	// Availability is a holder's availability when History has no
	// evidence of it; default 0.9.
	Availability float64
	Grace        GraceConfig
	// CheckPeriod is how often each peer is checked (Due); default 10 min.
	CheckPeriod time.Duration
	// ClaimTTL is a claim's lease; default 10 min. A repair longer than
	// that renews it. Patience is how long each rank waits after the one
	// before it (default ClaimTTL/2); Retry how often a claim is sent again
	// to holders that have not answered (default ClaimTTL/8); Margin how
	// long before its lease lapses a repair is aborted, for clock drift and
	// the time to stop (default ClaimTTL/10).
	ClaimTTL time.Duration
	Patience time.Duration
	Retry    time.Duration
	Margin   time.Duration
	// Watchers is the least size of a stripe's watch group: when fewer of
	// its holders are healthy, the members closest to the stripe take over
	// the watch (SetMembers gives the members). Default: the stripe's need
	// plus one.
	Watchers int
	// Storm control: the repair bytes a second this node moves (its token
	// bucket's rate, and Burst its depth) and how many repairs it runs at
	// once. Defaults 1 MiB/s, 64 MiB and 2; a negative Bandwidth: no cap.
	Bandwidth   int64
	Burst       int64
	Concurrency int
	// Sign signs a statement with this node's key (its grants and
	// commits: GrantStatement, CommitStatement); Verify checks p's
	// signature over one. Both are required: node signs with the libp2p
	// identity key, the simulator with a tag of its own.
	Sign   func(stmt []byte) []byte
	Verify func(p P, stmt, sig []byte) bool
}

// WithDefaults fills the zero fields and checks the rest.
func (c Config[P]) WithDefaults() (Config[P], error) {
	if c.KeyOf == nil {
		return c, errors.New("repair: Config.KeyOf is required")
	}
	if c.Sign == nil || c.Verify == nil {
		return c, errors.New("repair: Config.Sign and Config.Verify are required")
	}
	if c.Target == 0 {
		c.Target = placement.DefaultTarget
	}
	if c.Availability == 0 {
		c.Availability = DefaultAvailability
	}
	c.Grace = c.Grace.WithDefaults()
	if c.CheckPeriod == 0 {
		c.CheckPeriod = DefaultCheckPeriod
	}
	if c.ClaimTTL == 0 {
		c.ClaimTTL = DefaultClaimTTL
	}
	if c.Patience == 0 {
		c.Patience = c.ClaimTTL / 2
	}
	if c.Retry == 0 {
		c.Retry = c.ClaimTTL / 8
	}
	if c.Margin == 0 {
		c.Margin = c.ClaimTTL / 10
	}
	if c.Bandwidth == 0 {
		c.Bandwidth = DefaultBandwidth
	}
	if c.Burst == 0 {
		c.Burst = DefaultBurst
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	switch {
	case !(c.Target > 0 && c.Target < 1), !(c.Availability > 0 && c.Availability <= 1):
		return c, fmt.Errorf("repair: target %v or availability %v out of range", c.Target, c.Availability)
	case c.Mode > Off:
		return c, fmt.Errorf("repair: %v", c.Mode)
	case c.CheckPeriod < 0 || c.ClaimTTL <= 0 || c.Patience < 0 || c.Retry <= 0 || c.Margin < 0 || 2*c.Margin >= c.ClaimTTL:
		return c, fmt.Errorf("repair: periods out of range (check %v, claim %v, patience %v, retry %v, margin %v)", c.CheckPeriod, c.ClaimTTL, c.Patience, c.Retry, c.Margin)
	case c.Concurrency < 1 || c.Watchers < 0 || c.Burst < 1:
		return c, fmt.Errorf("repair: concurrency %d, watchers %d, burst %d", c.Concurrency, c.Watchers, c.Burst)
	case !(c.Grace.Quantile > 0 && c.Grace.Quantile <= 1) || c.Grace.Min < 0 || c.Grace.Max < c.Grace.Min:
		return c, fmt.Errorf("repair: grace %+v", c.Grace)
	}
	return c, nil
}

// Machine is one node's repair state: the stripes it holds or watches,
// the peers it checks, their outages and graces, each stripe's health, the
// repairs it waits for, claims and runs, and its storm control. It is a
// state machine: every input is a call with the time (Hold, Drop, Checked,
// Handle, Finish, Tick) and every output waits in Drain, so node and the
// simulator are two drivers of the same code. It is not safe for
// concurrent use.
type Machine[P comparable] struct {
	cfg     Config[P]
	selfKey Key
	hist    History[P]
	rec     OutageRecorder[P]
	stripes map[StripeID]*stripe[P]
	peers   map[P]*peer[P]
	members []P
	queue   repairQueue[P]
	timers  timerHeap[P]
	bucket  *Bucket
	bucketT uint32       // generation of the bucket's wake
	active  int          // claims and repairs under way
	busy    []*stripe[P] // stripes not idle (Quiet), each at its bidx
	woken   uint64       // stripes that left idle, ever (Woken)
	ballot  uint64
	out     Output[P]
	stats   Stats
	dist    []Key             // scratch: holders' distances to a stripe, by slot
	ends    []time.Time       // scratch: grants' ends
	ranked  []rankedSource[P] // scratch: a plan's sources by availability
	sent    []P               // scratch: the peers a Done went to
}

type rankedSource[P comparable] struct {
	Source[P]
	avail float64
}

// model returns the thresholds of a stripe and its risk at healthy, with
// the availability rounded to a thousandth (so repeated records cost one
// computation). They are pure functions of the key and the target, so the
// Machines of a process share one memo (the simulator runs thousands of
// Machines, and a memo each would cost gigabytes).
func (m *Machine[P]) model(need, stored, healthy int, avail float64) memoVal {
	k := memoKey{int16(need), int16(stored), int16(healthy), uint16(avail*1000 + 0.5), m.cfg.Target}
	sh := &memo[(uint(k.need)*31+uint(k.stored)*17+uint(k.healthy)*7+uint(k.avail))%uint(len(memo))]
	sh.Lock()
	v, ok := sh.m[k]
	sh.Unlock()
	if ok {
		return v
	}
	a := float64(k.avail) / 1000
	v.lazy, v.urgent = Thresholds(need, stored, a, m.cfg.Target)
	v.risk = 1
	if healthy >= need {
		v.risk = 1 - placement.StripeAvailability(need, healthy-need, a)
	}
	sh.Lock()
	if sh.m == nil || len(sh.m) > 1<<14 {
		sh.m = map[memoKey]memoVal{}
	}
	sh.m[k] = v
	sh.Unlock()
	return v
}

type memoKey struct {
	need, stored, healthy int16
	avail                 uint16
	target                float64
}

type memoVal struct {
	lazy, urgent int
	risk         float64
}

// memo is the shared memo of model, in shards that each lock.
var memo [64]struct {
	sync.Mutex
	m map[memoKey]memoVal
	_ [40]byte // a shard a cache line
}

// Stats counts what a Machine did.
type Stats struct {
	Claims, Commits, Aborts, Failures int
	Rebuilt                           int   // slots committed
	Moved                             int64 // bytes reported by Finish
	Refused                           int   // newer records not taken: no valid certificate (Output.Refused)
}

type peer[P comparable] struct {
	id        P
	up        bool
	lost      bool
	downSince time.Time
	lastCheck time.Time
	gen       uint32
	stripes   []*stripe[P]
	one       [1]*stripe[P] // stripes' first backing: most peers share one stripe
}

type stripeState uint8

const (
	idle      stripeState = iota // nothing to do
	waiting                      // needs repair; waits its turn (or for holders to come back)
	queued                       // in the repair queue
	claiming                     // claim sent, gathering grants
	repairing                    // plan out, under lease
)

type grantRec[P comparable] struct {
	to      P
	ballot  uint64
	slots   []int // the claim's
	expires time.Time
}

// heldClaim is a claim a holder could not grant when it came, and when.
type heldClaim[P comparable] struct {
	claim Claim[P]
	at    time.Time
}

type vote[P comparable] struct {
	from P
	sent time.Time
	sig  []byte // over the claim's GrantStatement
}

type stripe[P comparable] struct {
	rec       Stripe[P]
	holder    bool // this node holds a slot (else it watches)
	slot      int
	order     []int      // stored slots, closest holder to the stripe first
	peerAt    []*peer[P] // by slot: the peer holding it (nil: this node, nobody or an empty slot)
	need      int
	stored    int
	healthy   int
	reachable int
	lazy      int
	urgent    int
	avail     float64
	risk      float64 // probability that the stripe is unreadable at its health
	below     bool
	watchers  []P    // members this node asked to watch
	damaged   []bool // by slot: the shard there is missing or corrupt (Damaged); nil: none
	ndamaged  int

	state     stripeState
	bidx      int // in Machine.busy, when not idle
	needSince time.Time
	wakeAt    time.Time
	gen       uint32
	qidx      int
	grant     grantRec[P]   // the grant this node gives for the current version
	pending   *heldClaim[P] // the last claim it could not grant yet (see handleClaim)
	cert      *Cert[P]      // what brought rec's holders; nil: none did (the owner's, or no repair since)
	ballot    uint64
	slots     []int // the slots this node's claim replaces
	votes     []vote[P]
	claimFrom time.Time // when the claim began
	renewed   time.Time // when the lease's renewal was last asked for
	leaseEnd  time.Time
	reserved  int64
}

// New returns a Machine with no stripes at now.
func New[P comparable](cfg Config[P], now time.Time) (*Machine[P], error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	m := &Machine[P]{
		cfg: cfg, selfKey: cfg.KeyOf(cfg.Self), hist: cfg.History,
		stripes: map[StripeID]*stripe[P]{}, peers: map[P]*peer[P]{},
		bucket: NewBucket(cfg.Bandwidth, cfg.Burst, now),
	}
	if m.hist == nil {
		m.hist = NewOutageLog[P](0)
	}
	m.rec, _ = m.hist.(OutageRecorder[P])
	return m, nil
}

// Config returns the configuration in use, defaults filled.
func (m *Machine[P]) Config() Config[P] { return m.cfg }

// Stats returns the counters.
func (m *Machine[P]) Stats() Stats { return m.stats }

// Drain returns what the Machine asks of its driver since the last Drain.
func (m *Machine[P]) Drain() Output[P] {
	o := m.out
	m.out = Output[P]{}
	return o
}

// Busy reports whether the Machine has repairs queued, being claimed or
// running: a driver that ticks it at a coarse period should also wake it
// at NextWake while it is busy.
func (m *Machine[P]) Busy() bool { return m.active > 0 || len(m.queue) > 0 }

// Backlog returns how many stripes wait in the repair queue.
func (m *Machine[P]) Backlog() int { return len(m.queue) }

// Pending reports whether Drain has anything.
func (m *Machine[P]) Pending() bool {
	return len(m.out.Send)+len(m.out.Start)+len(m.out.Abort)+len(m.out.Discard)+len(m.out.Below)+len(m.out.Refused) > 0
}

// SetMembers gives the cloud's members, from which watchers are chosen
// when a stripe's holders fall below the watch group (node: its routing
// table and gossip view). The Machine keeps the slice.
func (m *Machine[P]) SetMembers(members []P) { m.members = members }

// Hold gives the Machine a stripe's record: one this node holds a shard of
// (it watches the other holders), or one it was asked to watch. A record
// older than the one known is ignored; a newer one that no longer names
// this node ends its part (Drain's Discard says to delete the shard).
func (m *Machine[P]) Hold(rec Stripe[P], now time.Time) error {
	if !rec.valid() {
		return fmt.Errorf("repair: stripe %s: malformed record (k=%d m=%d, %d holders)", rec.ID.Short(), rec.K, rec.M, len(rec.Holders))
	}
	m.hold(rec, false, nil, now)
	m.pump(now)
	return nil
}

// Drop forgets a stripe: its retention ended or its owner released it.
func (m *Machine[P]) Drop(id StripeID, now time.Time) {
	if s := m.stripes[id]; s != nil {
		m.forget(s, now)
	}
	m.pump(now)
}

// Health returns what the Machine knows of a stripe: its healthy and
// reachable shards, its thresholds, and whether a repair of it is waiting,
// claimed or running here.
func (m *Machine[P]) Health(id StripeID) (h Health, ok bool) {
	s := m.stripes[id]
	if s == nil {
		return h, false
	}
	return Health{
		Version: s.rec.Version, Need: s.need, Stored: s.stored, Healthy: s.healthy, Reachable: s.reachable, Damaged: s.ndamaged,
		Lazy: s.lazy, Urgent: s.urgent, Availability: s.avail, Holder: s.holder,
		Waiting: s.state == waiting || s.state == queued, Claiming: s.state == claiming, Repairing: s.state == repairing,
	}, true
}

// Health is a stripe's state as one Machine sees it.
type Health struct {
	Version                          uint64
	Need, Stored, Healthy, Reachable int
	Damaged                          int // shards reported missing or corrupt (Damaged)
	Lazy, Urgent                     int
	Availability                     float64
	Holder                           bool // else a watcher
	Waiting, Claiming, Repairing     bool
}

// Stripes returns how many stripes the Machine holds or watches.
func (m *Machine[P]) Stripes() int { return len(m.stripes) }

// Peers returns how many peers it checks.
func (m *Machine[P]) Peers() int { return len(m.peers) }

// Checks reports whether p is one of the peers it checks.
func (m *Machine[P]) Checks(p P) bool { return m.peers[p] != nil }

// Due returns the peers whose check is due at now, and counts them checked
// from now: node sends each one batched check (one request for every
// stripe the two share) and reports the outcome with Checked. The slice is
// the caller's.
func (m *Machine[P]) Due(now time.Time) []P {
	var out []P
	for _, p := range m.peers {
		if now.Sub(p.lastCheck) >= m.cfg.CheckPeriod {
			p.lastCheck = now
			out = append(out, p.id)
		}
	}
	slices.SortFunc(out, func(a, b P) int { return cmp.Compare(m.keyCmp(a, b), 0) })
	return out
}

// NextCheck returns when the next peer's check falls due (zero when the
// Machine checks nobody): a check's period runs from when Due handed it
// out, not from its answer, so every peer is checked once a CheckPeriod.
func (m *Machine[P]) NextCheck() time.Time {
	var next time.Time
	for _, p := range m.peers {
		if at := p.lastCheck.Add(m.cfg.CheckPeriod); next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

func (m *Machine[P]) keyCmp(a, b P) int {
	ka, kb := m.cfg.KeyOf(a), m.cfg.KeyOf(b)
	return slices.Compare(ka[:], kb[:])
}

// Checked reports a check of p at now: whether it answered. The first
// unanswered check after an answered one starts p's outage; p is lost once
// the outage outlasts its grace (at the first failure in Eager mode), and
// found again when it answers. Repeating an outcome changes nothing, so a
// driver may report only the changes.
func (m *Machine[P]) Checked(p P, up bool, now time.Time) {
	m.checked(p, up, now, now)
}

// Unreachable reports that p has not answered since since (at or before
// now): Checked with the outage's start known. Its grace runs from since,
// so a peer whose outage already outlasts it is lost at once. It returns
// whether that was news (p was up in its view).
func (m *Machine[P]) Unreachable(p P, since, now time.Time) bool {
	return m.checked(p, false, since, now)
}

func (m *Machine[P]) checked(p P, up bool, since, now time.Time) (changed bool) {
	pe := m.peers[p]
	if pe == nil {
		return false
	}
	switch {
	case up && !pe.up:
		wasLost := pe.lost
		pe.up, pe.lost = true, false
		pe.gen++
		if m.rec != nil && !pe.downSince.IsZero() {
			m.rec.RecordOutage(p, pe.downSince, now)
		}
		pe.downSince = time.Time{}
		for _, s := range pe.stripes {
			if s.damagedAt(pe) {
				continue // its shard there is no good, up or not
			}
			s.reachable++
			if wasLost {
				s.healthy++
				m.health(s)
			}
		}
		for _, s := range pe.stripes {
			m.evaluate(s, now)
		}
		changed = true
	case !up && pe.up:
		pe.up = false
		pe.downSince = since
		pe.gen++
		for _, s := range pe.stripes {
			if !s.damagedAt(pe) {
				s.reachable--
			}
		}
		if g := m.grace(p, now); since.Add(g).After(now) {
			m.timers.push(timer[P]{at: since.Add(g), peer: pe, gen: pe.gen})
		} else {
			m.lose(pe, now)
		}
		for _, s := range pe.stripes {
			m.evaluate(s, now)
		}
		changed = true
	}
	m.pump(now)
	return changed
}

// grace is how long p may be away before it is lost.
func (m *Machine[P]) grace(p P, now time.Time) time.Duration {
	if m.cfg.Mode == Eager {
		return 0
	}
	q, n := m.hist.OutageQuantile(p, m.cfg.Grace.Quantile)
	return m.cfg.Grace.Grace(q, n)
}

func (m *Machine[P]) lose(pe *peer[P], now time.Time) {
	if pe.lost || pe.up {
		return
	}
	pe.lost = true
	for _, s := range pe.stripes {
		if s.damagedAt(pe) {
			continue
		}
		s.healthy--
		m.health(s)
	}
	for _, s := range pe.stripes {
		m.evaluate(s, now)
		m.retryClaim(s, now)
	}
}

// retryClaim answers the claim s holds back (handleClaim) now that this
// node's view of s changed, if it came within the last Retry: the
// claimant asks again every Retry while it still claims, so an older one
// may be a claim given up.
func (m *Machine[P]) retryClaim(s *stripe[P], now time.Time) {
	if p := s.pending; p != nil {
		s.pending = nil
		if now.Sub(p.at) <= m.cfg.Retry {
			m.handleClaim(p.claim, now)
			if q := s.pending; q != nil && q.claim.Claimant == p.claim.Claimant && q.claim.Ballot == p.claim.Ballot {
				q.at = p.at // held again: its Retry still runs from when it came
			}
		}
	}
}

// Tick runs what is due at now: graces that ran out, turns to claim,
// claims to send again or give up, leases to renew, repairs to abort, and
// queued repairs the storm control now lets start. NextWake says when the
// next is due.
func (m *Machine[P]) Tick(now time.Time) {
	for len(m.timers) > 0 && !m.timers[0].at.After(now) {
		t := m.timers.pop()
		switch {
		case t.peer != nil:
			if t.gen == t.peer.gen {
				m.lose(t.peer, now)
			}
		case t.s != nil:
			if t.gen == t.s.gen && m.stripes[t.s.rec.ID] == t.s {
				t.s.wakeAt = time.Time{}
				m.fire(t.s, now)
			}
		default: // the bucket
			if t.gen == m.bucketT {
				m.bucketT++
			}
		}
	}
	m.pump(now)
}

// NextWake returns when Tick next has something to do (zero: nothing
// scheduled). Timers of superseded states may wake it for nothing.
func (m *Machine[P]) NextWake() time.Time {
	if len(m.timers) == 0 {
		return time.Time{}
	}
	return m.timers[0].at
}

// admit reports whether rec, a record from the wire, may replace s's
// (nil: none held, nothing to lose): an older or equal one is ignored
// anyway; a newer one must change no holder or carry a certificate that
// CheckCert accepts against s's record. A refusal goes to Output.Refused.
func (m *Machine[P]) admit(s *stripe[P], rec Stripe[P], c *Cert[P], from P) bool {
	if s == nil || rec.Version <= s.rec.Version {
		return true
	}
	if err := CheckCert(s.rec, rec, c, m.cfg.KeyOf, m.cfg.Verify); err != nil {
		m.stats.Refused++
		m.out.Refused = append(m.out.Refused, Refusal[P]{Stripe: rec.ID, From: from, Err: err})
		return false
	}
	return true
}

// certFor reports whether c is a valid certificate of the commit that
// made rec: its last link's grants are a majority of the holders it
// names for the version before, and its commit signs rec's version and
// the holders rec has in the slots it changed. A node that came to rec
// by a repair put checks the Done's certificate this way before keeping
// it for its own commits' chains (it holds no record before rec's).
func (m *Machine[P]) certFor(rec Stripe[P], c *Cert[P]) bool {
	if c == nil || len(c.Holders) != len(rec.Holders) {
		return false
	}
	prev := rec
	prev.Holders, prev.Version = c.Holders, c.Version
	if prev.Version >= rec.Version || len(Changed(prev, rec)) == 0 {
		return false
	}
	last := *c
	last.Prev = nil
	return CheckCert(prev, rec, &last, m.cfg.KeyOf, m.cfg.Verify) == nil
}

// hold installs or updates rec; watch is set when asked to watch it; cert
// is what brought rec's holders (nil: none, or the one kept when the
// holders are those of the record held).
func (m *Machine[P]) hold(rec Stripe[P], watch bool, cert *Cert[P], now time.Time) {
	s := m.stripes[rec.ID]
	if s != nil && (rec.Version <= s.rec.Version || slices.Equal(s.rec.Holders, rec.Holders) && slices.Equal(s.rec.Empty, rec.Empty)) {
		// Not newer. A record with the same holders is not newer whatever
		// its version says: only a commit (which changes holders, under
		// its certificate) advances a version, and a member that bumps
		// one must not abort claims or reset grants. A certificate for the
		// record held, when none is (it came by a repair put), is kept.
		if s.cert == nil && cert != nil && rec.Version == s.rec.Version && slices.Equal(s.rec.Holders, rec.Holders) && m.certFor(s.rec, cert) {
			s.cert = cert
		}
		return
	}
	slot := rec.slotOf(m.cfg.Self)
	if slot < 0 && !watch && (s == nil || s.holder) {
		// Not named: a holder replaced by a newer record.
		if s != nil {
			m.forget(s, now)
			m.out.Discard = append(m.out.Discard, rec.ID)
		}
		return
	}
	var old []P
	if s == nil {
		s = &stripe[P]{qidx: -1, bidx: -1}
		m.stripes[rec.ID] = s
	} else {
		if s.state == repairing {
			m.out.Abort = append(m.out.Abort, Abort{Stripe: rec.ID, Ballot: s.ballot})
			m.stats.Aborts++
		}
		m.endClaim(s, now)
		m.dequeue(s)
		m.setState(s, idle)
		m.disarm(s)
		old = s.rec.Holders
	}
	s.carryDamage(rec)
	s.rec, s.slot, s.holder, s.cert = rec, slot, slot >= 0, cert
	s.grant, s.pending = grantRec[P]{}, nil
	s.watchers = nil
	s.need, s.stored = rec.need(), 0
	s.order = s.order[:0]
	var sum float64
	for i, h := range rec.Holders {
		if !rec.stored(i) {
			continue
		}
		s.stored++
		var zero P
		if h == zero {
			sum += m.cfg.Availability
			continue
		}
		s.order = append(s.order, i)
		if h != m.cfg.Self && !slices.Contains(old, h) {
			m.link(s, h, now)
		}
		a, ev := m.hist.Availability(h, now)
		if !(ev > 0) {
			a = m.cfg.Availability
		}
		sum += a
	}
	// Closest first: each holder's distance to the stripe computed once.
	if len(m.dist) < len(rec.Holders) {
		m.dist = make([]Key, len(rec.Holders))
	}
	for _, i := range s.order {
		m.dist[i] = Distance(Key(rec.ID), m.cfg.KeyOf(rec.Holders[i]))
	}
	slices.SortFunc(s.order, func(a, b int) int { return bytes.Compare(m.dist[a][:], m.dist[b][:]) })
	// Peers of the old record that the new one does not name.
	for _, h := range old {
		if h != m.cfg.Self && rec.slotOf(h) < 0 {
			m.unlinkPeer(s, h)
		}
	}
	s.avail = max(sum/float64(max(s.stored, 1)), 1e-6)
	v := m.model(s.need, s.stored, s.stored, s.avail)
	s.lazy, s.urgent = v.lazy, v.urgent
	s.healthy, s.reachable = 0, 0
	if cap(s.peerAt) < len(rec.Holders) {
		s.peerAt = make([]*peer[P], len(rec.Holders))
	}
	s.peerAt = s.peerAt[:len(rec.Holders)]
	clear(s.peerAt)
	for _, i := range s.order {
		h := rec.Holders[i]
		if h == m.cfg.Self {
			if !s.isDamaged(i) {
				s.healthy++
				s.reachable++
			}
			continue
		}
		pe := m.peers[h]
		s.peerAt[i] = pe // stays linked, so stays this pointer, until the next record
		if s.isDamaged(i) {
			continue
		}
		if !pe.lost {
			s.healthy++
		}
		if pe.up {
			s.reachable++
		}
	}
	m.health(s)
	m.evaluate(s, now)
}

// link makes p a peer checked for s.
func (m *Machine[P]) link(s *stripe[P], p P, now time.Time) {
	pe := m.peers[p]
	if pe == nil {
		// A new peer is taken as up until a check says otherwise, and is
		// checked at once.
		pe = &peer[P]{id: p, up: true}
		pe.stripes = pe.one[:0]
		m.peers[p] = pe
	}
	pe.stripes = append(pe.stripes, s)
}

// unlink removes s from its holders' peers.
func (m *Machine[P]) unlink(s *stripe[P]) {
	for _, i := range s.order {
		if h := s.rec.Holders[i]; h != m.cfg.Self {
			m.unlinkPeer(s, h)
		}
	}
}

// unlinkPeer removes s from p's stripes, and p once it shares none.
func (m *Machine[P]) unlinkPeer(s *stripe[P], p P) {
	pe := m.peers[p]
	if pe == nil {
		return
	}
	if j := slices.Index(pe.stripes, s); j >= 0 {
		last := len(pe.stripes) - 1
		pe.stripes[j] = pe.stripes[last]
		pe.stripes[last] = nil
		pe.stripes = pe.stripes[:last]
	}
	if len(pe.stripes) == 0 {
		pe.gen++
		delete(m.peers, p)
	}
}

// forget drops s entirely.
func (m *Machine[P]) forget(s *stripe[P], now time.Time) {
	m.endClaim(s, now)
	m.unlink(s)
	m.dequeue(s)
	m.setState(s, idle)
	s.gen++
	delete(m.stripes, s.rec.ID)
}

// setState moves s to st, counting the stripes that are not idle.
func (m *Machine[P]) setState(s *stripe[P], st stripeState) {
	switch {
	case s.state == idle && st != idle:
		s.bidx = len(m.busy)
		m.busy = append(m.busy, s)
		m.woken++
	case s.state != idle && st == idle:
		last := m.busy[len(m.busy)-1]
		m.busy[s.bidx], last.bidx = last, s.bidx
		m.busy[len(m.busy)-1] = nil
		m.busy = m.busy[:len(m.busy)-1]
	}
	s.state = st
}

// Quiet reports whether every stripe is idle: none waits for a repair,
// is queued, claimed or repaired. An idle stripe's decisions depend on
// which of its holders are lost, never on which are up (a loss takes a
// grace), so a driver may tell a Machine of an outage late, with
// Unreachable and the outage's start, as long as the grace has not run
// out and the stripes it shares with the peer are idle: the simulator
// does (repair/sim), with Quiet, Woken and AppendBusyPeers.
func (m *Machine[P]) Quiet() bool { return len(m.busy) == 0 }

// Woken counts the times a stripe left idle.
func (m *Machine[P]) Woken() uint64 { return m.woken }

// AppendBusyPeers appends to dst the holders of the stripes that are not
// idle (with repeats), the peers whose outages those stripes' decisions
// need.
func (m *Machine[P]) AppendBusyPeers(dst []P) []P {
	for _, s := range m.busy {
		for _, i := range s.order {
			if h := s.rec.Holders[i]; h != m.cfg.Self {
				dst = append(dst, h)
			}
		}
	}
	return dst
}

// health recomputes s's risk and whether it is below need.
func (m *Machine[P]) health(s *stripe[P]) {
	s.risk = m.model(s.need, s.stored, s.healthy, s.avail).risk
	below := s.healthy < s.need
	if below && !s.below {
		m.out.Below = append(m.out.Below, s.rec.ID)
	}
	s.below = below
}

// watchGroup is the least size of s's watch group.
func (m *Machine[P]) watchGroup(s *stripe[P]) int {
	if m.cfg.Watchers > 0 {
		return m.cfg.Watchers
	}
	return s.need + 1
}

// needsRepair reports whether s's health calls for a repair.
func (m *Machine[P]) needsRepair(s *stripe[P]) bool {
	switch {
	case m.cfg.Mode == Off || s.healthy >= s.stored:
		return false
	case m.cfg.Mode == Eager:
		return true
	}
	return s.healthy <= s.lazy
}

// rank is this node's turn to claim s: how many reachable holders are
// closer to the stripe (a watcher comes after every reachable holder).
func (m *Machine[P]) rank(s *stripe[P]) int {
	r := 0
	for _, i := range s.order {
		h := s.rec.Holders[i]
		if h == m.cfg.Self {
			return r
		}
		if pe := s.peerAt[i]; pe != nil && pe.up {
			r++
		}
	}
	return r
}

// evaluate acts on s's health.
func (m *Machine[P]) evaluate(s *stripe[P], now time.Time) {
	if s.holder {
		m.takeover(s, now)
	}
	need := m.needsRepair(s)
	switch s.state {
	case idle:
		if need {
			m.setState(s, waiting)
			s.needSince = now
			m.arm(s, now)
		}
	case waiting:
		if !need {
			m.setState(s, idle)
			m.disarm(s)
		} else {
			m.arm(s, now)
		}
	case queued:
		if !need || s.reachable < s.need {
			m.dequeue(s)
			m.setState(s, idle)
			if need {
				m.setState(s, waiting)
				m.arm(s, now)
			}
		} else {
			heap.Fix(&m.queue, s.qidx)
		}
	case claiming:
		if !need {
			m.endClaim(s, now)
			m.setState(s, idle)
		}
	}
}

// takeover asks the members closest to s to watch it while too few of its
// holders are healthy.
func (m *Machine[P]) takeover(s *stripe[P], now time.Time) {
	w := m.watchGroup(s)
	if s.healthy >= w || len(m.members) == 0 || len(s.watchers) >= w-s.healthy {
		return
	}
	isHolder := func(p P) bool { return s.rec.slotOf(p) >= 0 || slices.Contains(s.watchers, p) }
	for _, p := range Closest(s.rec.ID, m.members, m.cfg.KeyOf, w-s.healthy-len(s.watchers), isHolder) {
		s.watchers = append(s.watchers, p)
		m.send(p, Watch[P]{Record: s.rec, Cert: s.cert})
	}
}

// arm schedules s's turn to claim, or leaves it waiting for holders to
// return when too few can be fetched from.
func (m *Machine[P]) arm(s *stripe[P], now time.Time) {
	if s.reachable < s.need {
		m.disarm(s)
		return
	}
	wait := time.Duration(m.rank(s)) * m.cfg.Patience
	at := s.needSince.Add(wait)
	if s.grant.to != m.cfg.Self && s.grant.expires.After(now) {
		at = later(at, s.grant.expires.Add(wait))
	}
	if !at.After(now) {
		m.disarm(s)
		m.setState(s, queued)
		heap.Push(&m.queue, s)
		return
	}
	m.schedule(s, at)
}

func (m *Machine[P]) schedule(s *stripe[P], at time.Time) {
	if s.wakeAt.Equal(at) {
		return
	}
	s.gen++
	s.wakeAt = at
	m.timers.push(timer[P]{at: at, s: s, gen: s.gen})
}

func (m *Machine[P]) disarm(s *stripe[P]) {
	if !s.wakeAt.IsZero() {
		s.gen++
		s.wakeAt = time.Time{}
	}
}

func (m *Machine[P]) dequeue(s *stripe[P]) {
	if s.qidx >= 0 {
		heap.Remove(&m.queue, s.qidx)
	}
}

// fire handles s's timer.
func (m *Machine[P]) fire(s *stripe[P], now time.Time) {
	switch s.state {
	case waiting:
		m.arm(s, now)
	case claiming:
		if !now.Before(s.claimFrom.Add(m.cfg.ClaimTTL - m.cfg.Margin)) {
			// No quorum in time: give up, let the grants lapse, and try again
			// after the others had their turn.
			m.endClaim(s, now)
			m.backoff(s, now, 0)
			return
		}
		m.sendClaim(s, now, true)
		m.schedule(s, earlier(now.Add(m.cfg.Retry), s.claimFrom.Add(m.cfg.ClaimTTL-m.cfg.Margin)))
	case repairing:
		deadline := s.leaseEnd.Add(-m.cfg.Margin)
		if !now.Before(deadline) {
			m.out.Abort = append(m.out.Abort, Abort{Stripe: s.rec.ID, Ballot: s.ballot})
			m.stats.Aborts++
			m.endClaim(s, now)
			m.backoff(s, now, 0)
			return
		}
		renew := s.leaseEnd.Add(-m.cfg.ClaimTTL / 2)
		if !now.Before(renew) {
			s.renewed = now
			m.sendClaim(s, now, false)
			m.schedule(s, earlier(now.Add(m.cfg.Retry), deadline))
		} else {
			m.schedule(s, renew)
		}
	}
}

// backoff puts s back to waiting its turn, after extra.
func (m *Machine[P]) backoff(s *stripe[P], now time.Time, extra time.Duration) {
	m.setState(s, idle)
	if m.needsRepair(s) {
		m.setState(s, waiting)
		s.needSince = now.Add(m.cfg.Retry + extra)
		m.arm(s, now)
	}
}

// pump starts queued repairs while the concurrency cap and the bucket allow.
func (m *Machine[P]) pump(now time.Time) {
	for m.active < m.cfg.Concurrency && len(m.queue) > 0 {
		s := m.queue[0]
		if s.reachable < s.need || (s.grant.to != m.cfg.Self && s.grant.expires.After(now)) {
			heap.Pop(&m.queue)
			m.setState(s, waiting)
			m.arm(s, now)
			continue
		}
		b := m.estimate(s)
		if !m.bucket.Take(b, now) {
			m.bucketT++
			m.timers.push(timer[P]{at: m.bucket.When(b, now), gen: m.bucketT})
			return
		}
		heap.Pop(&m.queue)
		m.active++
		s.reserved = b
		m.startClaim(s, now)
	}
}

// missing returns the stored slots of s whose holders are lost (or none).
func (m *Machine[P]) missing(s *stripe[P]) []int {
	var out []int
	var zero P
	for i, h := range s.rec.Holders {
		if !s.rec.stored(i) {
			continue
		}
		if s.isDamaged(i) {
			out = append(out, i)
			continue
		}
		if h == m.cfg.Self {
			continue
		}
		if pe := s.peerAt[i]; h == zero || pe == nil || pe.lost {
			out = append(out, i)
		}
	}
	return out
}

// estimate is the bytes a repair of s moves: the remote fetches and the
// rebuilt shards.
func (m *Machine[P]) estimate(s *stripe[P]) int64 {
	fetch := s.need
	if s.holder && !s.isDamaged(s.slot) {
		fetch--
	}
	return int64(fetch+s.stored-s.healthy) * s.rec.ShardSize
}

func (m *Machine[P]) startClaim(s *stripe[P], now time.Time) {
	m.ballot++
	m.stats.Claims++
	m.setState(s, claiming)
	s.ballot, s.claimFrom, s.renewed = m.ballot, now, time.Time{}
	s.slots = m.missing(s)
	s.votes = s.votes[:0]
	s.leaseEnd = time.Time{}
	if s.holder {
		s.grant = grantRec[P]{to: m.cfg.Self, ballot: s.ballot, slots: s.slots, expires: now.Add(m.cfg.ClaimTTL)}
		sig := m.cfg.Sign(GrantStatement(s.rec.ID, s.rec.Version, s.ballot, m.selfKey, s.slots))
		s.votes = append(s.votes, vote[P]{from: m.cfg.Self, sent: now, sig: sig})
	}
	m.sendClaim(s, now, false)
	if !m.tryLease(s, now) {
		m.schedule(s, earlier(now.Add(m.cfg.Retry), s.claimFrom.Add(m.cfg.ClaimTTL-m.cfg.Margin)))
	}
}

// sendClaim sends s's claim to its holders (only to those that have not
// granted it when onlyMissing).
func (m *Machine[P]) sendClaim(s *stripe[P], now time.Time, onlyMissing bool) {
	if s.holder {
		s.grant = grantRec[P]{to: m.cfg.Self, ballot: s.ballot, slots: s.slots, expires: now.Add(m.cfg.ClaimTTL)}
		m.addVote(s, m.cfg.Self, now, nil)
	}
	var c Message[P] = Claim[P]{Record: s.rec, Claimant: m.cfg.Self, Ballot: s.ballot, Sent: now, TTL: m.cfg.ClaimTTL, Slots: s.slots, Cert: s.cert}
	for _, i := range s.order {
		h := s.rec.Holders[i]
		if h == m.cfg.Self || onlyMissing && slices.ContainsFunc(s.votes, func(v vote[P]) bool { return v.from == h }) {
			continue
		}
		m.send(h, c)
	}
}

// addVote counts from's grant, sent at sent; sig is its signature (nil:
// keep the one counted, a renewal's).
func (m *Machine[P]) addVote(s *stripe[P], from P, sent time.Time, sig []byte) {
	for i := range s.votes {
		if s.votes[i].from == from {
			s.votes[i].sent = later(s.votes[i].sent, sent)
			return
		}
	}
	s.votes = append(s.votes, vote[P]{from: from, sent: sent, sig: sig})
}

// tryLease starts the repair once a majority of the holders grant the
// claim, and extends the lease of a running one: the lease lasts while a
// majority of the grants run, each until its Claim's Sent+TTL by this
// node's clock.
func (m *Machine[P]) tryLease(s *stripe[P], now time.Time) bool {
	q := quorum(s.stored)
	if len(s.votes) < q {
		return false
	}
	ends := m.ends[:0]
	for _, v := range s.votes {
		ends = append(ends, v.sent.Add(m.cfg.ClaimTTL))
	}
	m.ends = ends
	slices.SortFunc(ends, func(a, b time.Time) int { return b.Compare(a) })
	lease := ends[q-1]
	if !lease.Add(-m.cfg.Margin).After(now) {
		return false
	}
	s.leaseEnd = lease
	if s.state == claiming {
		m.setState(s, repairing)
		m.out.Start = append(m.out.Start, m.plan(s, now))
	}
	at := earlier(s.leaseEnd.Add(-m.cfg.ClaimTTL/2), s.leaseEnd.Add(-m.cfg.Margin))
	if !at.After(now) && !s.renewed.IsZero() && now.Sub(s.renewed) < m.cfg.Retry {
		// The renewal was asked for and this grant did not extend the
		// lease (the other grants are old): ask again after a Retry, not
		// at once, or a renewal no majority answers yet spins here. Not
		// yet asked for (a majority that came late), it goes at once.
		at = earlier(s.renewed.Add(m.cfg.Retry), s.leaseEnd.Add(-m.cfg.Margin))
	}
	m.schedule(s, at)
	return true
}

// plan makes s's repair plan.
func (m *Machine[P]) plan(s *stripe[P], now time.Time) Plan[P] {
	// Only the slots claimed, and granted, may be replaced.
	rebuild := slices.DeleteFunc(m.missing(s), func(i int) bool { _, ok := slices.BinarySearch(s.slots, i); return !ok })
	p := Plan[P]{Record: s.rec, Ballot: s.ballot, Rebuild: rebuild, Deadline: s.leaseEnd.Add(-m.cfg.Margin), Urgent: s.healthy <= s.urgent}
	var cands []Source[P]
	for _, i := range s.order {
		h := s.rec.Holders[i]
		p.Exclude = append(p.Exclude, h)
		if s.isDamaged(i) {
			continue // no source
		}
		if h == m.cfg.Self {
			p.Fetch = append(p.Fetch, Source[P]{Slot: i, Holder: h})
		} else if pe := s.peerAt[i]; pe != nil && pe.up {
			cands = append(cands, Source[P]{Slot: i, Holder: h})
		}
	}
	// The most available first, each holder's availability asked once.
	ranked := m.ranked[:0]
	for _, c := range cands {
		a, _ := m.hist.Availability(c.Holder, now)
		ranked = append(ranked, rankedSource[P]{c, a})
	}
	slices.SortStableFunc(ranked, func(a, b rankedSource[P]) int { return cmp.Compare(b.avail, a.avail) })
	for i, r := range ranked {
		cands[i] = r.Source
	}
	m.ranked = ranked
	n := min(len(cands), s.need-len(p.Fetch))
	p.Fetch = append(p.Fetch, cands[:n]...)
	p.Spares = cands[n:]
	remote := len(p.Fetch)
	if len(p.Fetch) > 0 && p.Fetch[0].Holder == m.cfg.Self {
		remote--
	}
	p.Bytes = int64(remote+len(p.Rebuild)) * s.rec.ShardSize
	return p
}

// endClaim ends this node's claim of s, if any: grants released, the
// reservation returned.
func (m *Machine[P]) endClaim(s *stripe[P], now time.Time) {
	if s.state != claiming && s.state != repairing {
		return
	}
	for _, v := range s.votes {
		if v.from != m.cfg.Self {
			m.send(v.from, Release[P]{Stripe: s.rec.ID, Ballot: s.ballot})
		}
	}
	if s.grant.to == m.cfg.Self {
		s.grant = grantRec[P]{}
	}
	if s.state == claiming {
		m.bucket.Refund(s.reserved, now)
	}
	s.votes = s.votes[:0]
	s.reserved = 0
	m.setState(s, idle)
	s.leaseEnd = time.Time{}
	m.disarm(s)
	m.active--
}

// Finish reports the result of a plan. A result for a plan that is no
// longer running (aborted, superseded by a newer record) is refused with an
// error, and nothing of it is committed; otherwise the repair commits: the
// next record names the new holders, goes to every old and new holder and
// watcher (Done), and replaces this node's.
func (m *Machine[P]) Finish(r Result[P], now time.Time) error {
	defer m.pump(now)
	s := m.stripes[r.Stripe]
	if s == nil || s.state != repairing || s.ballot != r.Ballot {
		return fmt.Errorf("repair: stripe %s: no repair of ballot %d is running", r.Stripe.Short(), r.Ballot)
	}
	if !now.Before(s.leaseEnd) {
		m.stats.Aborts++
		m.endClaim(s, now)
		m.backoff(s, now, 0)
		return fmt.Errorf("repair: stripe %s: the claim lapsed before the repair finished", r.Stripe.Short())
	}
	m.stats.Moved += r.Moved
	if r.Err != nil || len(r.Placed) == 0 {
		m.stats.Failures++
		m.endClaim(s, now)
		m.backoff(s, now, m.cfg.Patience)
		return nil
	}
	next := s.rec
	next.Holders = slices.Clone(s.rec.Holders)
	for slot, p := range r.Placed {
		if _, granted := slices.BinarySearch(s.slots, slot); granted && p != next.Holders[slot] {
			next.Holders[slot] = p
			m.stats.Rebuilt++
		}
	}
	// The certificate: the grants of the claim's majority, and this node's
	// signature over what it put in the granted slots.
	cert := &Cert[P]{Version: s.rec.Version, Ballot: s.ballot, Claimant: m.cfg.Self, Slots: slices.Clone(s.slots), Holders: s.rec.Holders}
	for _, v := range s.votes {
		cert.Grants = append(cert.Grants, Signed[P]{From: v.from, Sig: v.sig})
	}
	next.Version++
	if r.Version > s.rec.Version {
		next.Version = r.Version
	}
	cert.Commit = m.cfg.Sign(commitOf(s.rec, next, s.ballot, Changed(s.rec, next), m.cfg.KeyOf))
	cert = chain(cert, s.cert)
	if r.Moved < s.reserved {
		m.bucket.Refund(s.reserved-r.Moved, now)
	}
	s.reserved = 0
	m.stats.Commits++
	var done Message[P] = Done[P]{Record: next, Repairer: m.cfg.Self, Cert: cert}
	sent := append(m.sent[:0], m.cfg.Self)
	var zero P
	for _, group := range [3][]P{s.rec.Holders, next.Holders, s.watchers} {
		for _, p := range group {
			if p != zero && !slices.Contains(sent, p) {
				sent = append(sent, p)
				m.send(p, done)
			}
		}
	}
	m.sent = sent
	m.setState(s, idle) // the claim ends with the record it was for
	s.votes = s.votes[:0]
	m.active--
	m.disarm(s)
	m.hold(next, !s.holder, cert, now)
	return nil
}

// Handle takes a message from a peer.
func (m *Machine[P]) Handle(from P, msg Message[P], now time.Time) {
	defer m.pump(now)
	switch x := msg.(type) {
	case Claim[P]:
		m.handleClaim(x, now)
	case Grant[P]:
		s := m.stripes[x.Stripe]
		if s == nil || s.rec.Version != x.Version || s.ballot != x.Ballot || (s.state != claiming && s.state != repairing) {
			return
		}
		if s.rec.slotOf(from) < 0 {
			return // only holders vote
		}
		if !m.cfg.Verify(from, GrantStatement(s.rec.ID, s.rec.Version, s.ballot, m.selfKey, s.slots), x.Sig) {
			return // a grant that would not count in the certificate
		}
		m.addVote(s, from, x.Sent, x.Sig)
		m.tryLease(s, now)
	case Deny[P]:
		s := m.stripes[x.Stripe]
		if s == nil || s.rec.Version != x.Version || s.ballot != x.Ballot || s.state != claiming {
			return
		}
		if from == m.cfg.Self || s.rec.slotOf(from) < 0 {
			return // only holders grant, so only holders deny
		}
		if m.better(s, x.Holder, m.cfg.Self) {
			// A claimant with a better turn has it: stand aside until its
			// grant would have lapsed, which no holder's grant outlasts.
			m.endClaim(s, now)
			m.backoff(s, now, m.capTTL(x.Remaining))
		}
	case Stale[P]:
		if x.Record.valid() && m.admit(m.stripes[x.Record.ID], x.Record, x.Cert, from) {
			m.hold(x.Record, false, x.Cert, now)
		}
	case Release[P]:
		s := m.stripes[x.Stripe]
		if s != nil && s.grant.to == from && s.grant.ballot == x.Ballot && from != m.cfg.Self {
			s.grant = grantRec[P]{}
			if s.state == waiting {
				m.arm(s, now)
			}
		}
	case Done[P]:
		if !x.Record.valid() {
			return
		}
		s := m.stripes[x.Record.ID]
		if !m.admit(s, x.Record, x.Cert, from) {
			return
		}
		if s != nil && !s.holder && x.Record.slotOf(m.cfg.Self) < 0 {
			if x.Record.Version > s.rec.Version {
				m.forget(s, now) // repaired: the watch ends (its holders ask again if need be)
			}
			return
		}
		m.hold(x.Record, false, x.Cert, now)
	case Watch[P]:
		if x.Record.valid() && m.admit(m.stripes[x.Record.ID], x.Record, x.Cert, from) {
			m.hold(x.Record, true, x.Cert, now)
		}
	}
}

// better reports whether claimant a has a better turn for s than b: it
// is a holder closer to the stripe (holders before watchers).
func (m *Machine[P]) better(s *stripe[P], a, b P) bool {
	ha, hb := s.rec.slotOf(a) >= 0, s.rec.slotOf(b) >= 0
	if ha != hb {
		return ha
	}
	return closer(Key(s.rec.ID), m.cfg.KeyOf(a), m.cfg.KeyOf(b))
}

func (m *Machine[P]) handleClaim(c Claim[P], now time.Time) {
	if !c.Record.valid() || c.Claimant == m.cfg.Self {
		return
	}
	s := m.stripes[c.Record.ID]
	if s == nil || c.Record.Version > s.rec.Version {
		if c.Record.slotOf(m.cfg.Self) < 0 && s == nil {
			return // not ours to vote on
		}
		if !m.admit(s, c.Record, c.Cert, c.Claimant) {
			return
		}
		m.hold(c.Record, s != nil && !s.holder, c.Cert, now)
		if s = m.stripes[c.Record.ID]; s == nil {
			return
		}
	}
	if s.rec.Version > c.Record.Version {
		m.send(c.Claimant, Stale[P]{Record: s.rec, Cert: s.cert})
		return
	}
	if !s.holder || s.rec.Version != c.Record.Version {
		return // watchers do not vote, nor a holder that did not take the claim's record
	}
	running := s.grant.expires.After(now)
	if s.grant.to != c.Claimant && running {
		m.send(c.Claimant, Deny[P]{Stripe: s.rec.ID, Version: s.rec.Version, Ballot: c.Ballot, Holder: s.grant.to, Remaining: s.grant.expires.Sub(now)})
		return
	}
	renewal := running && s.grant.ballot == c.Ballot && slices.Equal(s.grant.slots, c.Slots)
	if !renewal && !m.replaceable(s, c.Slots, c.Claimant) {
		// Not in this node's view (yet): no answer, and the claimant asks
		// again until its claim's time is up. The claim is kept a Retry,
		// and granted at once if the view comes round in that time (its
		// grace for the holder runs out a moment after the claimant's):
		// granted as if it had come again then.
		s.pending = &heldClaim[P]{claim: c, at: now}
		return
	}
	s.pending = nil
	if s.state == claiming {
		// Our own grant lapsed while claiming: the claim has no quorum and
		// gives way.
		m.endClaim(s, now)
		m.setState(s, idle)
	}
	// The grant runs this node's ClaimTTL at most, whatever the claim asks.
	s.grant = grantRec[P]{to: c.Claimant, ballot: c.Ballot, slots: slices.Clone(c.Slots), expires: now.Add(m.capTTL(c.TTL))}
	switch s.state {
	case queued:
		m.dequeue(s)
		m.setState(s, waiting)
		m.arm(s, now)
	case waiting:
		m.arm(s, now)
	case idle:
		m.evaluate(s, now)
	}
	sig := m.cfg.Sign(GrantStatement(s.rec.ID, s.rec.Version, c.Ballot, m.cfg.KeyOf(c.Claimant), c.Slots))
	m.send(c.Claimant, Grant[P]{Stripe: s.rec.ID, Version: s.rec.Version, Ballot: c.Ballot, Sent: c.Sent, Sig: sig})
}

// replaceable reports whether claimant may replace slots of s: stored
// slots, ascending, each one whose holder this node holds for lost or
// damaged (its own only when damaged), or the claimant's own (it gives up
// its shard: a scrub found it damaged).
func (m *Machine[P]) replaceable(s *stripe[P], slots []int, claimant P) bool {
	if !checkSlots(&s.rec, slots) {
		return false
	}
	missing := m.missing(s)
	for _, i := range slots {
		if !slices.Contains(missing, i) && s.rec.Holders[i] != claimant {
			return false
		}
	}
	return true
}

// capTTL bounds a term taken from the wire to [0, ClaimTTL]: no grant
// outlasts this node's ClaimTTL.
func (m *Machine[P]) capTTL(d time.Duration) time.Duration {
	return min(max(d, 0), m.cfg.ClaimTTL)
}

func (m *Machine[P]) send(to P, msg Message[P]) {
	m.out.Send = append(m.out.Send, Envelope[P]{To: to, Msg: msg})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// repairQueue orders the stripes waiting for a repair slot: the most
// urgent first — below the urgent threshold before the rest, then by the
// probability that the stripe is unreadable at its health, then by its
// margin over need, then by ID.
type repairQueue[P comparable] []*stripe[P]

func (q repairQueue[P]) Len() int { return len(q) }
func (q repairQueue[P]) Less(i, j int) bool {
	a, b := q[i], q[j]
	ua, ub := a.healthy <= a.urgent, b.healthy <= b.urgent
	if ua != ub {
		return ua
	}
	if a.risk != b.risk {
		return a.risk > b.risk
	}
	if ma, mb := a.healthy-a.need, b.healthy-b.need; ma != mb {
		return ma < mb
	}
	return slices.Compare(a.rec.ID[:], b.rec.ID[:]) < 0
}
func (q repairQueue[P]) Swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].qidx, q[j].qidx = i, j
}
func (q *repairQueue[P]) Push(x any) {
	s := x.(*stripe[P])
	s.qidx = len(*q)
	*q = append(*q, s)
}
func (q *repairQueue[P]) Pop() any {
	old := *q
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	s.qidx = -1
	return s
}

// timer is a wake-up: for a peer's grace, a stripe's next step, or (both
// nil) the bucket. gen must still match for it to count.
type timer[P comparable] struct {
	at   time.Time
	peer *peer[P]
	s    *stripe[P]
	gen  uint32
}

type timerHeap[P comparable] []timer[P]

func (h *timerHeap[P]) push(t timer[P]) {
	*h = append(*h, t)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if !a[i].at.Before(a[p].at) {
			break
		}
		a[i], a[p] = a[p], a[i]
		i = p
	}
}

func (h *timerHeap[P]) pop() timer[P] {
	a := *h
	t := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a[last] = timer[P]{}
	a = a[:last]
	for i := 0; ; {
		l, r, small := 2*i+1, 2*i+2, i
		if l < len(a) && a[l].at.Before(a[small].at) {
			small = l
		}
		if r < len(a) && a[r].at.Before(a[small].at) {
			small = r
		}
		if small == i {
			break
		}
		a[i], a[small] = a[small], a[i]
		i = small
	}
	*h = a
	return t
}
