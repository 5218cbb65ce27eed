package audit

import (
	"cmp"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// Config tunes an Auditor. Zero fields take their defaults.
type Config struct {
	// Period is the longest a shard held elsewhere goes unaudited by
	// each of its auditors. Default 24h.
	Period time.Duration
	// Jitter spreads the gaps between audits of one target over
	// [(1−Jitter)·(Period−Deadline), Period−Deadline]. Default 0.5;
	// 0 < Jitter ≤ 1.
	Jitter float64
	// Auditors is how many holders of a stripe audit each of its shards.
	// Default 2.
	Auditors int
	// Leaves is how many random leaves a challenge asks for (all of a
	// shard with fewer). Default 4, at most proof.MaxChallengeLeaves.
	Leaves int
	// Deadline is how long a peer has to answer a batch. Default 1 min;
	// less than Period/2.
	Deadline time.Duration
	// BatchWindow: a batch to a peer takes its audits due within
	// BatchWindow of the one that is due. Default Period/8.
	BatchWindow time.Duration
	// MaxBatch bounds the challenges in one batch. Default 32.
	MaxBatch int
	// ScrubPeriod is how often each own shard is re-hashed. Default 7 days.
	ScrubPeriod time.Duration
	// ScrubRate bounds the bytes per second scrubbing reads. Default
	// 4 MiB/s: a terabyte a little over three days. The shards a node
	// holds must fit ScrubRate·ScrubPeriod, or scrubs fall behind
	// (ScrubLag says by how much).
	ScrubRate int64
	// Seed seeds the Auditor's randomness (challenge times, leaves and
	// nonces). Zero: one from crypto/rand, so that peers cannot predict
	// when they are audited.
	Seed [32]byte
}

// WithDefaults fills the zero fields and checks the rest.
func (c Config) WithDefaults() (Config, error) {
	if c.Period == 0 {
		c.Period = 24 * time.Hour
	}
	if c.Jitter == 0 {
		c.Jitter = 0.5
	}
	if c.Auditors == 0 {
		c.Auditors = 2
	}
	if c.Leaves == 0 {
		c.Leaves = 4
	}
	if c.Deadline == 0 {
		c.Deadline = time.Minute
	}
	if c.BatchWindow == 0 {
		c.BatchWindow = c.Period / 8
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 32
	}
	if c.ScrubPeriod == 0 {
		c.ScrubPeriod = 7 * 24 * time.Hour
	}
	if c.ScrubRate == 0 {
		c.ScrubRate = 4 << 20
	}
	if c.Seed == [32]byte{} {
		crand.Read(c.Seed[:])
	}
	switch {
	case c.Period < 0 || c.Deadline <= 0 || 2*c.Deadline >= c.Period:
		return c, fmt.Errorf("audit: a period of %v with a deadline of %v: the deadline must be positive and under half the period", c.Period, c.Deadline)
	case !(c.Jitter > 0 && c.Jitter <= 1):
		return c, fmt.Errorf("audit: jitter %v out of (0, 1]", c.Jitter)
	case c.Auditors < 1 || c.Leaves < 1 || c.Leaves > proof.MaxChallengeLeaves || c.MaxBatch < 1:
		return c, fmt.Errorf("audit: auditors %d, leaves %d (at most %d) and batches of %d must be at least 1", c.Auditors, c.Leaves, proof.MaxChallengeLeaves, c.MaxBatch)
	case c.BatchWindow < 0 || c.ScrubPeriod < 0 || c.ScrubRate < 1:
		return c, errors.New("audit: the batch window and scrub period must not be negative, the scrub rate must be positive")
	}
	return c, nil
}

// Verdict is what an audit or a scrub found.
type Verdict uint8

const (
	Passed   Verdict = iota + 1 // the proof verified; a scrubbed shard is intact
	Failed                      // the proof did not verify; a scrubbed shard is corrupt
	Missing                     // the holder said it does not have the shard
	TimedOut                    // no answer by the deadline
)

var verdictNames = [...]string{"", "passed", "failed", "missing", "timed out"}

// String names the verdict.
func (v Verdict) String() string {
	if v == 0 || int(v) >= len(verdictNames) {
		return fmt.Sprintf("verdict(%d)", uint8(v))
	}
	return verdictNames[v]
}

// Result is the verdict of one audit of a shard at a peer, or of one
// scrub of this node's own shard.
type Result struct {
	Peer    string // the audited holder; this node's own name for a scrub
	Scrub   bool   // a scrub of this node's shard, not an audit
	Stripe  stripe.ID
	Shard   int // the shard's index in the stripe
	ShardID erasure.ShardID
	Verdict Verdict
	Err     error // why a proof failed
	At      time.Time
}

// Outcome returns what an audit's result tells gossip.Reputation about
// the peer: a pass or a failure of integrity, or an unanswered probe. A
// scrub's result is not evidence about a peer: it returns 0.
func (r Result) Outcome() gossip.Outcome {
	if r.Scrub {
		return 0
	}
	switch r.Verdict {
	case Passed:
		return gossip.AuditPassed
	case Failed, Missing:
		return gossip.AuditFailed
	case TimedOut:
		return gossip.ProbeUnanswered
	}
	return 0
}

// Repair reports whether the shard goes to the repair queue: it is
// corrupt or gone at that holder.
func (r Result) Repair() bool { return r.Verdict == Failed || r.Verdict == Missing }

// Batch is the challenges to send to one peer at once.
type Batch struct {
	Peer       string
	Challenges []*proof.Challenge
	Deadline   time.Time
}

// Reply is a peer's answer to one challenge of a batch.
type Reply struct {
	Nonce proof.Nonce
	Held  bool   // false: the peer says it does not hold the shard
	Proof []byte // the encoded proof, when Held
}

// Scrub asks the node to read its shard and check it against its ID,
// then to report with Scrubbed.
type Scrub struct {
	Shard erasure.ShardID
	Size  int
}

// Work is what a Tick hands the node.
type Work struct {
	Batches []Batch  // to send
	Results []Result // audits that timed out
	Scrub   *Scrub   // a shard to scrub, or nil
}

// key names an audit target's shard; a target is a key at a peer.
type key struct {
	stripe stripe.ID
	shard  int
}

type peerState struct {
	due      map[key]time.Time
	busy     int       // challenges of its batch still unanswered
	deadline time.Time // of its outstanding batch
}

type pending struct {
	peer     string
	key      key
	ch       *proof.Challenge
	root     proof.Root
	deadline time.Time
}

type held struct {
	rec     *stripe.Record
	mine    []int // the shards of the stripe this node holds, ascending
	targets []target
}

type target struct {
	key
	peer string
}

type ownShard struct {
	id   erasure.ShardID
	size int
	due  time.Time
	at   []key // where the shard is in stripes (identical shards share one)
}

// Auditor is one node's audit and scrub schedule. Peers are named by
// the record's holder hints (for node, string(peer.ID)).
type Auditor struct {
	cfg     Config
	self    string
	rng     *rand.Rand
	stripes map[stripe.ID]*held
	peers   map[string]*peerState
	pending map[proof.Nonce]*pending

	own       map[erasure.ShardID]*ownShard
	scrubbing erasure.ShardID // the scrub handed out and not yet reported
	scrubbed  bool            // whether scrubbing is one
	scrubFree time.Time       // when the rate allows the next scrub
}

// New returns an Auditor for the node named self.
func New(self string, cfg Config) (*Auditor, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &Auditor{
		cfg: cfg, self: self, rng: rand.New(rand.NewChaCha8(cfg.Seed)),
		stripes: map[stripe.ID]*held{}, peers: map[string]*peerState{}, pending: map[proof.Nonce]*pending{},
		own: map[erasure.ShardID]*ownShard{},
	}, nil
}

// Config returns the Auditor's configuration, defaults filled.
func (a *Auditor) Config() Config { return a.cfg }

// Hold records that this node holds shard i of rec's stripe, and takes rec
// as the stripe's newest record (its hints say whom to audit). The caller
// has checked rec (stripe.Receive) and the shard (Record.CheckShard).
func (a *Auditor) Hold(rec *stripe.Record, i int, now time.Time) error {
	if i < 0 || i >= len(rec.Descriptor.Shards) || !rec.Descriptor.Stored(i) {
		return fmt.Errorf("audit: stripe %s has no stored shard %d", rec.ID().Short(), i)
	}
	id := rec.ID()
	h := a.stripes[id]
	if h == nil {
		h = &held{}
		a.stripes[id] = h
	}
	h.rec = rec
	if j, found := slices.BinarySearch(h.mine, i); !found {
		h.mine = slices.Insert(h.mine, j, i)
		s := rec.Descriptor.Shards[i]
		o := a.own[s.ID]
		if o == nil {
			o = &ownShard{id: s.ID, size: s.Size, due: now.Add(a.uniform(a.cfg.ScrubPeriod))}
			a.own[s.ID] = o
		}
		o.at = append(o.at, key{id, i})
	}
	a.retarget(id, h, now)
	return nil
}

// Update takes rec as its stripe's newest record (new hints), if this
// node holds a shard of it.
func (a *Auditor) Update(rec *stripe.Record, now time.Time) {
	id := rec.ID()
	if h := a.stripes[id]; h != nil {
		h.rec = rec
		a.retarget(id, h, now)
	}
}

// Drop records that this node no longer holds shard i of stripe id.
func (a *Auditor) Drop(id stripe.ID, i int, now time.Time) {
	h := a.stripes[id]
	if h == nil {
		return
	}
	j, found := slices.BinarySearch(h.mine, i)
	if !found {
		return
	}
	h.mine = slices.Delete(h.mine, j, j+1)
	sid := h.rec.Descriptor.Shards[i].ID
	if o := a.own[sid]; o != nil {
		o.at = slices.DeleteFunc(o.at, func(k key) bool { return k == key{id, i} })
		if len(o.at) == 0 {
			delete(a.own, sid)
		}
	}
	if len(h.mine) == 0 {
		h.rec = nil
	}
	a.retarget(id, h, now)
	if h.rec == nil {
		delete(a.stripes, id)
	}
}

// Forget drops every shard of stripe id this node holds (the stripe was
// released or expired).
func (a *Auditor) Forget(id stripe.ID, now time.Time) {
	if h := a.stripes[id]; h != nil {
		for _, i := range slices.Clone(h.mine) {
			a.Drop(id, i, now)
		}
	}
}

// uniform returns a random duration in [0, d).
func (a *Auditor) uniform(d time.Duration) time.Duration {
	return time.Duration(a.rng.Float64() * float64(d))
}

// span is the longest gap between two challenges of one target that still
// leaves the answer its whole deadline within the period.
func (a *Auditor) span() time.Duration { return a.cfg.Period - a.cfg.Deadline }

// gap returns the random time from one challenge of a target to the next.
func (a *Auditor) gap() time.Duration {
	lo := time.Duration((1 - a.cfg.Jitter) * float64(a.span()))
	return lo + a.uniform(a.span()-lo)
}

// assign returns the targets this node audits in a stripe: for each shard
// it holds, the Auditors stored shards after it, at each hinted holder but
// itself.
func (a *Auditor) assign(id stripe.ID, h *held) []target {
	if h.rec == nil {
		return nil
	}
	d := h.rec.Descriptor
	var stored []int
	for i := range d.Shards {
		if d.Stored(i) {
			stored = append(stored, i)
		}
	}
	var out []target
	for _, i := range h.mine {
		p, _ := slices.BinarySearch(stored, i)
		for step := 1; step <= min(a.cfg.Auditors, len(stored)-1); step++ {
			j := stored[(p+step)%len(stored)]
			if h.rec.Holders == nil {
				continue
			}
			for _, peer := range h.rec.Holders[j] {
				if t := (target{key{id, j}, peer}); peer != a.self && !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// retarget brings the stripe's audit targets in line with its record:
// new ones are first due within a period, gone ones are dropped.
func (a *Auditor) retarget(id stripe.ID, h *held, now time.Time) {
	want := a.assign(id, h)
	for _, t := range h.targets {
		if !slices.Contains(want, t) {
			if ps := a.peers[t.peer]; ps != nil {
				delete(ps.due, t.key)
				if len(ps.due) == 0 && ps.busy == 0 {
					delete(a.peers, t.peer)
				}
			}
		}
	}
	for _, t := range want {
		ps := a.peers[t.peer]
		if ps == nil {
			ps = &peerState{due: map[key]time.Time{}}
			a.peers[t.peer] = ps
		}
		if _, ok := ps.due[t.key]; !ok {
			ps.due[t.key] = now.Add(a.uniform(a.span()))
		}
	}
	h.targets = want
}

// Targets returns the number of audit targets (shards at peers).
func (a *Auditor) Targets() int {
	n := 0
	for _, ps := range a.peers {
		n += len(ps.due)
	}
	return n
}

// Next returns when Tick next has work: a challenge due, a deadline, a
// scrub; the zero time for none.
func (a *Auditor) Next() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, ps := range a.peers {
		if ps.busy > 0 {
			earlier(ps.deadline)
			continue
		}
		for _, due := range ps.due {
			earlier(due)
		}
	}
	if !a.scrubbed {
		if o := a.nextScrub(); o != nil {
			earlier(later(o.due, a.scrubFree))
		}
	}
	return next
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Tick does what is due at now: it times out unanswered challenges,
// makes the batches due, and hands out a scrub.
func (a *Auditor) Tick(now time.Time) Work {
	var w Work
	for nonce, p := range a.pending {
		if !now.Before(p.deadline) {
			w.Results = append(w.Results, a.resolve(nonce, p, TimedOut, nil, now))
		}
	}
	sortResults(w.Results)
	var due []string
	for name, ps := range a.peers {
		if ps.busy == 0 && a.peerDue(ps, now) {
			due = append(due, name)
		}
	}
	slices.Sort(due)
	for _, name := range due {
		w.Batches = append(w.Batches, a.batch(name, a.peers[name], now))
	}
	if !a.scrubbed && !now.Before(a.scrubFree) {
		if o := a.nextScrub(); o != nil && !now.Before(o.due) {
			a.scrubbing, a.scrubbed = o.id, true
			a.scrubFree = now.Add(time.Duration(float64(o.size) / float64(a.cfg.ScrubRate) * float64(time.Second)))
			w.Scrub = &Scrub{Shard: o.id, Size: o.size}
		}
	}
	return w
}

func (a *Auditor) peerDue(ps *peerState, now time.Time) bool {
	for _, due := range ps.due {
		if !now.Before(due) {
			return true
		}
	}
	return false
}

// batch challenges peer for its targets due by now plus the batch window,
// earliest first, and schedules their next audits.
func (a *Auditor) batch(peer string, ps *peerState, now time.Time) Batch {
	horizon := now.Add(a.cfg.BatchWindow)
	var keys []key
	for k, due := range ps.due {
		if !due.After(horizon) {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y key) int {
		if c := ps.due[x].Compare(ps.due[y]); c != 0 {
			return c
		}
		if c := cmp.Compare(string(x.stripe[:]), string(y.stripe[:])); c != 0 {
			return c
		}
		return cmp.Compare(x.shard, y.shard)
	})
	keys = keys[:min(len(keys), a.cfg.MaxBatch)]
	b := Batch{Peer: peer, Deadline: now.Add(a.cfg.Deadline)}
	for _, k := range keys {
		rec := a.stripes[k.stripe].rec
		s := rec.Descriptor.Shards[k.shard]
		ch := &proof.Challenge{Shard: s.ID, Leaves: a.pickLeaves(proof.Leaves(s.Size))}
		for {
			for i := range ch.Nonce {
				ch.Nonce[i] = byte(a.rng.Uint32())
			}
			if _, taken := a.pending[ch.Nonce]; !taken {
				break
			}
		}
		a.pending[ch.Nonce] = &pending{peer: peer, key: k, ch: ch, root: rec.Roots[k.shard], deadline: b.Deadline}
		b.Challenges = append(b.Challenges, ch)
		ps.due[k] = now.Add(a.gap())
	}
	ps.busy, ps.deadline = len(keys), b.Deadline
	return b
}

// pickLeaves returns Leaves distinct random leaves of n, ascending.
func (a *Auditor) pickLeaves(n int) []int {
	c := min(a.cfg.Leaves, n)
	picked := make([]int, 0, c)
	for len(picked) < c {
		i := a.rng.IntN(n)
		if j, found := slices.BinarySearch(picked, i); !found {
			picked = slices.Insert(picked, j, i)
		}
	}
	return picked
}

// Answer takes a peer's replies to its batch and returns their results.
// A reply to no outstanding challenge of that peer is ignored; one after
// its deadline counts as timed out.
func (a *Auditor) Answer(peer string, replies []Reply, now time.Time) []Result {
	var out []Result
	for _, r := range replies {
		p := a.pending[r.Nonce]
		if p == nil || p.peer != peer {
			continue
		}
		switch {
		case !now.Before(p.deadline):
			out = append(out, a.resolve(r.Nonce, p, TimedOut, nil, now))
		case !r.Held:
			out = append(out, a.resolve(r.Nonce, p, Missing, nil, now))
		default:
			pr, err := proof.ParseProof(r.Proof)
			if err == nil {
				err = proof.Verify(p.root, p.ch, pr)
			}
			v := Passed
			if err != nil {
				v = Failed
			}
			out = append(out, a.resolve(r.Nonce, p, v, err, now))
		}
	}
	return out
}

// resolve ends an outstanding challenge with its verdict.
func (a *Auditor) resolve(nonce proof.Nonce, p *pending, v Verdict, err error, now time.Time) Result {
	delete(a.pending, nonce)
	if ps := a.peers[p.peer]; ps != nil {
		ps.busy--
		if ps.busy == 0 && len(ps.due) == 0 {
			delete(a.peers, p.peer)
		}
	}
	return Result{Peer: p.peer, Stripe: p.key.stripe, Shard: p.key.shard, ShardID: p.ch.Shard, Verdict: v, Err: err, At: now}
}

func sortResults(rs []Result) {
	slices.SortFunc(rs, func(x, y Result) int {
		if c := cmp.Compare(x.Peer, y.Peer); c != 0 {
			return c
		}
		if c := cmp.Compare(string(x.Stripe[:]), string(y.Stripe[:])); c != 0 {
			return c
		}
		return cmp.Compare(x.Shard, y.Shard)
	})
}

// nextScrub returns the own shard due first (nil: none).
func (a *Auditor) nextScrub() *ownShard {
	var best *ownShard
	for _, o := range a.own {
		if best == nil || o.due.Before(best.due) || o.due.Equal(best.due) && string(o.id[:]) < string(best.id[:]) {
			best = o
		}
	}
	return best
}

// Scrubbed takes the node's report of the scrub Tick handed out: Passed
// (the bytes hash to the ID), Failed (they do not) or Missing (the shard
// is gone). It returns a Result for each place the shard has in a stripe
// unless it passed.
func (a *Auditor) Scrubbed(id erasure.ShardID, v Verdict, now time.Time) []Result {
	if a.scrubbed && a.scrubbing == id {
		a.scrubbed = false
	}
	o := a.own[id]
	if o == nil {
		return nil
	}
	o.due = now.Add(a.cfg.ScrubPeriod)
	if v == Passed {
		return nil
	}
	out := make([]Result, len(o.at))
	for i, k := range o.at {
		out[i] = Result{Peer: a.self, Scrub: true, Stripe: k.stripe, Shard: k.shard, ShardID: id, Verdict: v, At: now}
	}
	return out
}

// ScrubLag returns how far behind its schedule scrubbing is at now: how
// long ago the most overdue own shard was due (0 when none is).
func (a *Auditor) ScrubLag(now time.Time) time.Duration {
	if o := a.nextScrub(); o != nil && now.After(o.due) {
		return now.Sub(o.due)
	}
	return 0
}
