// Reliability: what peers observe of each other, never what a node says of
// itself. See Reputation.

package gossip

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Outcome is one first-hand observation of a peer.
type Outcome uint8

// The outcomes an observer records. Probes measure availability (and, over
// time, session history: a peer that keeps going away keeps collecting
// unanswered probes); transfers measure whether the peer serves what it is
// asked for; audits and corrupt transfers measure whether it keeps what it
// holds intact. Compute results are integrity evidence too: a peer whose
// result the majority of a job's replicas outvoted computed a wrong answer
// and said it was right, which is a lie like a failed proof of storage, and
// one whose result agreed told the truth. They come last so the earlier
// values keep their numbers (outcomes are not sent on any wire: reports
// carry scores).
const (
	ProbeAnswered   Outcome = iota + 1 // the peer answered a probe
	ProbeUnanswered                    // the peer did not answer a probe in time
	TransferOK                         // a shard transfer to or from the peer succeeded
	TransferFailed                     // a shard transfer failed (refused, cut, timed out)
	TransferCorrupt                    // the peer served bytes that do not match their hash
	AuditPassed                        // the peer proved it still holds a shard
	AuditFailed                        // the peer failed a proof of storage
	ComputeAgreed                      // the peer's compute result agreed with the accepted majority
	ComputeWrong                       // the majority outvoted the peer's compute result
)

var outcomeNames = [...]string{"", "probe answered", "probe unanswered", "transfer ok", "transfer failed", "transfer corrupt", "audit passed", "audit failed", "compute agreed", "compute wrong"}

// String names the outcome.
func (o Outcome) String() string {
	if o == 0 || int(o) >= len(outcomeNames) {
		return fmt.Sprintf("outcome(%d)", uint8(o))
	}
	return outcomeNames[o]
}

// The evidence channels. A peer's first-hand score is the product of the
// channels' success rates: the probability that it is up, times that a
// transfer succeeds, times that it still holds what it was given intact,
// which is the probability that asking it for a shard works.
const (
	chanAvail     = iota // probes
	chanTransfer         // transfers
	chanIntegrity        // audits, corrupt transfers and compute results
	numChannels
)

// channelOf maps an outcome to its channel and whether it is a success.
func channelOf(o Outcome) (ch int, good, ok bool) {
	switch o {
	case ProbeAnswered:
		return chanAvail, true, true
	case ProbeUnanswered:
		return chanAvail, false, true
	case TransferOK:
		return chanTransfer, true, true
	case TransferFailed:
		return chanTransfer, false, true
	case TransferCorrupt:
		return chanIntegrity, false, true
	case AuditPassed:
		return chanIntegrity, true, true
	case AuditFailed, ComputeWrong:
		return chanIntegrity, false, true
	case ComputeAgreed:
		return chanIntegrity, true, true
	}
	return 0, false, false
}

// Report is a node's summary of its first-hand evidence about one peer, as
// it gossips it: never hearsay (so lies are not echoed), never about
// itself (a hearer ignores that anyway).
type Report[P comparable] struct {
	Subject P
	Score   float64 // the reporter's first-hand score, in [0,1]
	Weight  float64 // decayed count of observations behind Score, > 0
}

// Rating is what an observer makes of a peer.
type Rating struct {
	// Value is the estimated probability that asking the peer for a shard
	// works, in [0,1]: first-hand evidence and the robust aggregate of
	// hearsay weighted by what each counts for, topped up with
	// ReputationConfig.PriorMean while there is less evidence than
	// PriorWeight. Value does not depend on how much is known of a peer
	// beyond that, so rank peers by Value where newcomers are held back
	// by their Evidence (as placement does).
	Value float64
	// Lower is a conservative Value: the Wilson lower bound of Value at
	// Evidence observations (0 with none), so that a newcomer is trusted
	// only as far as it has been seen. Rank by Lower where newcomers must
	// earn their place by it.
	Lower float64
	// Evidence is the number of observations behind Value: decayed
	// first-hand observations plus hearsay, which counts for at most
	// HearsayWeight however many peers report.
	Evidence float64
	// FirstHand is the part of Evidence the observer saw itself; 0 when it
	// knows the peer by hearsay only.
	FirstHand float64
	// Reporters is the number of reporters whose votes counted.
	Reporters int
}

// ReputationConfig tunes a Reputation. Zero fields take their defaults.
type ReputationConfig struct {
	// HalfLife is how long first-hand probe and transfer evidence, and
	// hearsay votes, take to lose half their weight, so a peer's score
	// follows what it does now and a peer not seen for long becomes a
	// newcomer again. Default 24h.
	HalfLife time.Duration
	// AuditHalfLife is the same for integrity evidence (audits, corrupt
	// transfers, compute results), which is rarer and graver, so it is
	// remembered longer. Default 30 days.
	AuditHalfLife time.Duration
	// PriorMean is the Value of a peer nobody has seen; evidence below
	// PriorWeight observations is topped up with it, so one answered probe
	// does not make a perfect peer. Beyond PriorWeight the prior has no
	// say: were it always mixed in, peers known by capped hearsay would
	// rate below equally good ones the observer probes itself. Defaults
	// 0.5 and 2.
	PriorMean   float64
	PriorWeight float64
	// ReporterCap caps the weight of one reporter's vote, in observations,
	// however much evidence the reporter claims. Default 20.
	ReporterCap float64
	// HearsayWeight is what all the hearsay about a peer counts for, in
	// first-hand observations, however many reporters agree: first-hand
	// evidence soon outweighs it. Default 10.
	HearsayWeight float64
	// Trim is the fraction of the vote weight dropped at each end before
	// the votes about a peer are averaged. The default, 0.5, takes the
	// weighted median: voters holding less than half the weight cannot
	// move it outside the range of the other votes. A smaller Trim
	// averages more votes, tolerating liars only below Trim of the weight;
	// a plain mean (Trim 0) is not offered.
	Trim float64
	// Agree and Judge decide reporters' credibility: a report about a
	// peer the observer has seen Judge times itself (and the reporter at
	// least Judge/2 times) agrees when it is within Agree of the
	// observer's own score. A reporter's votes count in proportion to
	// its credibility, ((agreements+1)/(reports judged+1))²: squared, so
	// that a liar cannot buy back weight cheaply by telling the truth about
	// half the peers. Defaults 0.2 and 8.
	Agree float64
	Judge float64
	// MaxReporters is the number of votes kept per peer. Default 16.
	MaxReporters int
	// MaxSubjects bounds the peers a Reputation keeps (first-hand or by
	// hearsay) and, separately, the reporters it keeps credibility for.
	// Default 4096.
	MaxSubjects int
	// Z is the normal quantile of Rating.Lower; default 1.645 (a one-sided
	// 95% bound).
	Z float64
}

// Limits of ReputationConfig.
const (
	MaxReputationReporters = 256
	MaxReputationSubjects  = 1 << 20
)

// WithDefaults fills the zero fields and checks the rest.
func (c ReputationConfig) WithDefaults() (ReputationConfig, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	if c.HalfLife == 0 {
		c.HalfLife = 24 * time.Hour
	}
	if c.AuditHalfLife == 0 {
		c.AuditHalfLife = 30 * 24 * time.Hour
	}
	def(&c.PriorMean, 0.5)
	def(&c.PriorWeight, 2)
	def(&c.ReporterCap, 20)
	def(&c.HearsayWeight, 10)
	def(&c.Trim, 0.5)
	def(&c.Agree, 0.2)
	def(&c.Judge, 8)
	def(&c.Z, 1.645)
	if c.MaxReporters == 0 {
		c.MaxReporters = 16
	}
	if c.MaxSubjects == 0 {
		c.MaxSubjects = 4096
	}
	in := func(v, lo, hi float64) bool { return v >= lo && v <= hi } // false for NaN
	if c.HalfLife < 0 || c.AuditHalfLife < 0 ||
		!in(c.PriorMean, 0, 1) || !in(c.PriorWeight, 0, math.MaxFloat64) ||
		!in(c.ReporterCap, 0, math.MaxFloat64) || !in(c.HearsayWeight, 0, math.MaxFloat64) ||
		!in(c.Trim, 0, 0.5) || !in(c.Agree, 0, 1) || !in(c.Judge, 0, math.MaxFloat64) || !in(c.Z, 0, 10) ||
		c.MaxReporters < 1 || c.MaxReporters > MaxReputationReporters ||
		c.MaxSubjects < 1 || c.MaxSubjects > MaxReputationSubjects {
		return c, fmt.Errorf("gossip: reputation config %+v out of range", c)
	}
	return c, nil
}

// Reputation is one observer's book about other peers: how reliable each
// one is, from what the observer saw itself (first-hand) and what other
// peers report they saw (hearsay). A peer's own claims about itself are
// never evidence.
//
// First-hand evidence is kept per peer in three channels — availability
// (probes), transfers, integrity (audits, corrupt transfers) — as counts of
// successes and failures that decay exponentially with the time since they
// were seen (HalfLife; AuditHalfLife for integrity). The first-hand score is
// the product of the channels' success rates; a channel with no evidence
// does not count. Probing at a steady rate makes the availability channel a
// decayed session history: a peer that keeps leaving scores below a steady
// one, and old outages fade.
//
// Hearsay is a vote per reporter per peer (the latest replaces the older),
// weighted by the evidence the reporter claims, capped at ReporterCap,
// decayed with the time since it was heard, and scaled by the reporter's
// credibility: how often its reports agreed with the observer's own
// first-hand scores of the same peers. Votes are combined by a weighted
// trimmed mean (by default the weighted median), so liars — inflating each
// other, smearing honest peers — holding less than half the vote weight
// about a peer cannot drag its score outside the range of the honest
// votes, and liars who smear what the observer can check lose their weight
// (a liar who lies about everyone, while honest peers report only what
// they saw, can hold a large share of the votes about a peer; credibility
// is what keeps that share down). The aggregate counts for at most
// HearsayWeight observations, so first-hand evidence outweighs hearsay.
//
// Memory is bounded: at most MaxReporters votes per peer (a new reporter
// displaces the weakest vote only when it weighs more than twice as much,
// so liars gossiping often cannot crowd out honest votes; the other side
// of this is that an observer that can judge nobody yet keeps the first
// MaxReporters reporters it hears until its own evidence discredits the
// liars among them or their votes age) and at most
// MaxSubjects peers (evicting first peers known by hearsay only, then the
// least-evidenced and longest-untouched ones), and credibility for at most
// MaxSubjects reporters. A peer costs about 150 bytes plus 40 per vote,
// plus what P holds (a string's bytes), and a reporter's credibility about
// 100 bytes: about 1 KB per peer at the defaults (4.2 MB measured for
// 4096 peers with 16 votes each, P a 38-byte string).
//
// Times are passed in (a simulator maps cycles to times) and must lie
// between the years 1678 and 2262; a time earlier than one already seen
// decays nothing. Iteration order is deterministic, so a run with seeded
// generators replays exactly. Reputation is safe for concurrent use.
type Reputation[P comparable] struct {
	mu    sync.Mutex
	self  P
	cfg   ReputationConfig
	recs  map[P]*repRecord[P]
	order []*repRecord[P] // recs in a deterministic order
	creds map[P]*repCredit
	seq   uint64
}

// repChannel holds decayed counts of successes and failures.
type repChannel struct{ good, bad float64 }

// repRecord is what the observer knows of one subject.
type repRecord[P comparable] struct {
	subject P
	ch      [numChannels]repChannel // first-hand, decayed to at
	at      int64                   // unix ns the channels were last decayed to
	votes   []repVote[P]
	touched int64 // unix ns of the latest evidence
	seq     uint64
	idx     int // in order
}

// repVote is one reporter's latest report about a subject.
type repVote[P comparable] struct {
	reporter P
	score    float64
	weight   float64 // capped
	at       int64   // unix ns heard
}

// repCredit is how a reporter's reports compared with first-hand scores.
type repCredit struct {
	agree, disagree float64 // decayed to at
	at              int64
	seq             uint64
}

// NewReputation returns an empty book kept by observer self.
func NewReputation[P comparable](self P, cfg ReputationConfig) (*Reputation[P], error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &Reputation[P]{self: self, cfg: cfg, recs: map[P]*repRecord[P]{}, creds: map[P]*repCredit{}}, nil
}

// Self returns the observer.
func (b *Reputation[P]) Self() P { return b.self }

// Config returns the configuration in use, defaults filled.
func (b *Reputation[P]) Config() ReputationConfig { return b.cfg }

// Observe records first-hand evidence about subject seen at now.
// Observations of the observer itself and unknown outcomes are ignored.
func (b *Reputation[P]) Observe(subject P, o Outcome, now time.Time) {
	ch, good, ok := channelOf(o)
	if !ok || subject == b.self {
		return
	}
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.record(subject, t)
	b.decayTo(r, t)
	if good {
		r.ch[ch].good++
	} else {
		r.ch[ch].bad++
	}
	r.touched = max(r.touched, t)
}

// Hear takes reports gossiped by reporter at now. Reports from the
// observer itself, about the reporter itself or about the observer, and
// malformed ones (a score outside [0,1], a weight not > 0, NaN) are
// ignored. Each report replaces the reporter's earlier vote about the same
// subject. Before the votes are stored, reports about peers the observer
// knows first-hand update the reporter's credibility.
func (b *Reputation[P]) Hear(reporter P, reports []Report[P], now time.Time) {
	if reporter == b.self {
		return
	}
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	valid := func(rp Report[P]) bool {
		return rp.Subject != reporter && rp.Subject != b.self &&
			rp.Score >= 0 && rp.Score <= 1 && rp.Weight > 0 // false for NaN
	}
	// Judge the reporter by what can be checked.
	var cr *repCredit
	for _, rp := range reports {
		if !valid(rp) || rp.Weight < b.cfg.Judge/2 {
			continue
		}
		r := b.recs[rp.Subject]
		if r == nil {
			continue
		}
		own, n := b.firstHand(r, t)
		if n < b.cfg.Judge {
			continue
		}
		if cr == nil {
			cr = b.credit(reporter, t)
		}
		if math.Abs(rp.Score-own) <= b.cfg.Agree {
			cr.agree++
		} else {
			cr.disagree++
		}
	}
	cred := b.credibility(reporter, t)
	for _, rp := range reports {
		if !valid(rp) {
			continue
		}
		v := repVote[P]{reporter: reporter, score: rp.Score, weight: min(rp.Weight, b.cfg.ReporterCap), at: t}
		r := b.record(rp.Subject, t)
		b.vote(r, v, cred, t)
	}
}

// vote stores v in r: in place of the reporter's earlier vote, in a free
// slot, or in place of the weakest vote if v weighs more than twice as much.
func (b *Reputation[P]) vote(r *repRecord[P], v repVote[P], cred float64, t int64) {
	r.touched = max(r.touched, t)
	for i := range r.votes {
		if r.votes[i].reporter == v.reporter {
			r.votes[i] = v
			return
		}
	}
	if len(r.votes) < b.cfg.MaxReporters {
		r.votes = append(r.votes, v)
		return
	}
	weakest, least := -1, math.Inf(1)
	for i, o := range r.votes {
		if w := b.voteWeight(o, t); weakest < 0 || w < least || w == least && o.at < r.votes[weakest].at {
			weakest, least = i, w
		}
	}
	if v.weight*cred > 2*least {
		r.votes[weakest] = v
	}
}

// voteWeight is what a vote counts for at t.
func (b *Reputation[P]) voteWeight(v repVote[P], t int64) float64 {
	return v.weight * repDecay(t-v.at, b.cfg.HalfLife) * b.credibility(v.reporter, t)
}

// Score returns the observer's rating of subject at now. A subject it
// knows nothing of gets PriorMean with no evidence.
func (b *Reputation[P]) Score(subject P, now time.Time) Rating {
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.recs[subject]
	if r == nil || subject == b.self {
		return b.rating(0, 0, 0, 0, 0)
	}
	vf, nf := b.firstHand(r, t)
	votes := make([]repWeighted, 0, len(r.votes))
	var total float64
	for _, v := range r.votes {
		if w := b.voteWeight(v, t); w > 0 {
			votes = append(votes, repWeighted{v.score, w})
			total += w
		}
	}
	var vh, nh float64
	if total > 0 {
		vh, nh = repTrimmedMean(votes, b.cfg.Trim), min(total, b.cfg.HearsayWeight)
	}
	return b.rating(vf, nf, vh, nh, len(votes))
}

func (b *Reputation[P]) rating(vf, nf, vh, nh float64, reporters int) Rating {
	n := nf + nh
	a := max(0, b.cfg.PriorWeight-n) // the prior tops evidence up to PriorWeight
	value := b.cfg.PriorMean
	if d := n + a; d > 0 {
		value = (nf*vf + nh*vh + a*b.cfg.PriorMean) / d
	}
	return Rating{Value: value, Lower: wilsonLower(value, n, b.cfg.Z), Evidence: n, FirstHand: nf, Reporters: reporters}
}

// Reports returns up to max summaries of the observer's first-hand
// evidence at now, to gossip; when there are more subjects than max, a
// uniform sample drawn with rng (if rng is nil, the first max in the
// book's order). The slice is the caller's.
func (b *Reputation[P]) Reports(now time.Time, max int, rng *rand.Rand) []Report[P] {
	if max <= 0 {
		return nil
	}
	t := now.UnixNano()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Report[P]
	if rng != nil && len(b.order) > 4*max {
		// A large book: draw subjects at random rather than scoring them
		// all (a report rides on every shuffle).
		picked := make(map[int]bool, max)
		for tries := 0; len(out) < max && tries < 8*max; tries++ {
			i := rng.IntN(len(b.order))
			if picked[i] {
				continue
			}
			picked[i] = true
			r := b.order[i]
			if v, n := b.firstHand(r, t); n > 0 {
				out = append(out, Report[P]{Subject: r.subject, Score: v, Weight: n})
			}
		}
		return out
	}
	for _, r := range b.order {
		if v, n := b.firstHand(r, t); n > 0 {
			out = append(out, Report[P]{Subject: r.subject, Score: v, Weight: n})
		}
	}
	if len(out) <= max {
		return out
	}
	if rng != nil {
		for i := range max { // a partial Fisher-Yates shuffle
			j := i + rng.IntN(len(out)-i)
			out[i], out[j] = out[j], out[i]
		}
	}
	return slices.Clip(out[:max])
}

// Subjects returns the peers the observer has any evidence about, in a
// deterministic order. The slice is the caller's.
func (b *Reputation[P]) Subjects() []P {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]P, len(b.order))
	for i, r := range b.order {
		out[i] = r.subject
	}
	return out
}

// Len returns the number of peers the observer keeps.
func (b *Reputation[P]) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.order)
}

// Forget drops what the observer knows of subject and its credibility as
// a reporter: for a peer gone for good. Its votes about other peers stay
// until they fade or are displaced.
func (b *Reputation[P]) Forget(subject P) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.creds, subject)
	r := b.recs[subject]
	if r == nil {
		return
	}
	delete(b.recs, subject)
	last := b.order[len(b.order)-1]
	b.order[r.idx], last.idx = last, r.idx
	b.order[len(b.order)-1] = nil
	b.order = b.order[:len(b.order)-1]
}

// record returns subject's record, creating it (and evicting others if the
// book is full).
func (b *Reputation[P]) record(subject P, t int64) *repRecord[P] {
	if r := b.recs[subject]; r != nil {
		return r
	}
	if len(b.order) >= b.cfg.MaxSubjects {
		b.evictSubjects(t)
	}
	b.seq++
	r := &repRecord[P]{subject: subject, at: t, touched: t, seq: b.seq, idx: len(b.order)}
	b.recs[subject] = r
	b.order = append(b.order, r)
	return r
}

// evictSubjects drops an eighth of the book (at least one subject): those
// known by hearsay only first, then the least evidence, then the longest
// untouched. Evicting in batches keeps a flood of new subjects cheap.
func (b *Reputation[P]) evictSubjects(t int64) {
	type cand struct {
		r        *repRecord[P]
		first    bool
		evidence float64
	}
	cs := make([]cand, len(b.order))
	for i, r := range b.order {
		_, nf := b.firstHand(r, t)
		e := nf
		for _, v := range r.votes {
			e += v.weight * repDecay(t-v.at, b.cfg.HalfLife)
		}
		cs[i] = cand{r, nf > 0, e}
	}
	slices.SortFunc(cs, func(x, y cand) int {
		if x.first != y.first {
			if x.first {
				return 1
			}
			return -1
		}
		return cmp.Or(cmp.Compare(x.evidence, y.evidence), cmp.Compare(x.r.touched, y.r.touched), cmp.Compare(x.r.seq, y.r.seq))
	})
	n := max(1, len(cs)/8)
	for _, c := range cs[:n] {
		delete(b.recs, c.r.subject)
	}
	kept := b.order[:0]
	for _, r := range b.order {
		if b.recs[r.subject] == r {
			r.idx = len(kept)
			kept = append(kept, r)
		}
	}
	clear(b.order[len(kept):])
	b.order = kept
}

// credit returns reporter's credibility record decayed to t, creating it
// (and evicting others if there are too many).
func (b *Reputation[P]) credit(reporter P, t int64) *repCredit {
	c := b.creds[reporter]
	if c == nil {
		if len(b.creds) >= b.cfg.MaxSubjects {
			b.evictCredits(t)
		}
		b.seq++
		c = &repCredit{at: t, seq: b.seq}
		b.creds[reporter] = c
	}
	if t > c.at {
		f := repDecay(t-c.at, b.cfg.HalfLife)
		c.agree, c.disagree, c.at = c.agree*f, c.disagree*f, t
	}
	return c
}

// evictCredits drops an eighth of the credibility records, the least
// evidenced and longest untouched first.
func (b *Reputation[P]) evictCredits(t int64) {
	type cand struct {
		p P
		c *repCredit
		n float64
	}
	cs := make([]cand, 0, len(b.creds))
	for p, c := range b.creds {
		cs = append(cs, cand{p, c, (c.agree + c.disagree) * repDecay(t-c.at, b.cfg.HalfLife)})
	}
	slices.SortFunc(cs, func(x, y cand) int {
		return cmp.Or(cmp.Compare(x.n, y.n), cmp.Compare(x.c.at, y.c.at), cmp.Compare(x.c.seq, y.c.seq))
	})
	for _, c := range cs[:max(1, len(cs)/8)] {
		delete(b.creds, c.p)
	}
}

// credibility returns how much reporter's votes count at t, in (0,1]: 1
// for a reporter never judged.
func (b *Reputation[P]) credibility(reporter P, t int64) float64 {
	c := b.creds[reporter]
	if c == nil {
		return 1
	}
	f := repDecay(t-c.at, b.cfg.HalfLife)
	a, d := c.agree*f, c.disagree*f
	share := (a + 1) / (a + d + 1)
	return share * share
}

// decayTo ages r's first-hand channels to t.
func (b *Reputation[P]) decayTo(r *repRecord[P], t int64) {
	if t <= r.at {
		return
	}
	for c := range r.ch {
		f := repDecay(t-r.at, b.halfLife(c))
		r.ch[c].good *= f
		r.ch[c].bad *= f
	}
	r.at = t
}

func (b *Reputation[P]) halfLife(ch int) time.Duration {
	if ch == chanIntegrity {
		return b.cfg.AuditHalfLife
	}
	return b.cfg.HalfLife
}

// repNone is evidence too faint to count.
const repNone = 1e-9

// firstHand returns r's first-hand score and decayed evidence at t.
func (b *Reputation[P]) firstHand(r *repRecord[P], t int64) (score, n float64) {
	score = 1
	for c, ch := range r.ch {
		f := repDecay(t-r.at, b.halfLife(c))
		g, bad := ch.good*f, ch.bad*f
		if g+bad > repNone {
			score *= g / (g + bad)
			n += g + bad
		}
	}
	if n <= repNone {
		return 0, 0
	}
	return score, n
}

// repDecay is the weight left after dt nanoseconds with half-life hl; 1
// when dt <= 0.
func repDecay(dt int64, hl time.Duration) float64 {
	if dt <= 0 || hl <= 0 {
		return 1
	}
	return math.Exp2(-float64(dt) / float64(hl))
}

// repWeighted is a value with a weight.
type repWeighted struct{ v, w float64 }

// repTrimmedMean returns the weighted mean of the values after dropping
// trim of the total weight from each end of their order; at trim 0.5 the
// weighted median (the mean of the two middle values when the weight
// splits exactly between them). It sorts vs in place; the weights must be
// positive. With no votes it returns NaN.
func repTrimmedMean(vs []repWeighted, trim float64) float64 {
	var total float64
	for _, x := range vs {
		total += x.w
	}
	if len(vs) == 0 || !(total > 0) {
		return math.NaN()
	}
	slices.SortFunc(vs, func(x, y repWeighted) int { return cmp.Compare(x.v, y.v) })
	lo, hi := trim*total, (1-trim)*total
	tol := 1e-12 * total
	if hi-lo <= tol { // the weighted median
		var cum float64
		for i, x := range vs {
			cum += x.w
			switch {
			case cum > total/2+tol:
				return x.v
			case cum >= total/2-tol && i+1 < len(vs):
				return (x.v + vs[i+1].v) / 2
			}
		}
		return vs[len(vs)-1].v
	}
	var cum, sum float64
	for _, x := range vs {
		a, b := cum, cum+x.w
		if o := min(b, hi) - max(a, lo); o > 0 {
			sum += o * x.v
		}
		cum = b
	}
	return sum / (hi - lo)
}

// wilsonLower is the Wilson score lower bound of a proportion p observed
// over n trials, at normal quantile z; 0 with no trials.
func wilsonLower(p, n, z float64) float64 {
	if !(n > 0) {
		return 0
	}
	z2 := z * z
	centre := p + z2/(2*n)
	adj := z * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	return min(1, max(0, (centre-adj)/(1+z2/n)))
}
