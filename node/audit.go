package node

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// Audits and scrubs. Every stripe this node holds a shard of is in its
// audit.Auditor, which decides when to challenge which co-holder and when
// to re-hash which of its own shards; this file is the Auditor's driver.
// Challenges go out in batches over the audit protocol (proto.AuditID);
// a holder answers each with a proof of storage built from the bytes it
// has (stripe/proof), or says it does not have the shard. Each result
// goes to the reputation book as first-hand evidence (audit.Result's
// Outcome: a pass or failure of integrity, an unanswered probe), so a peer
// that drops or corrupts shards falls out of placement; failures are
// logged, and failed, missing and corrupt shards join the repair queue
// (TakeRepairs), which the repair executor consumes.

// maxRepairs bounds the repair queue; the oldest candidates give way.
const maxRepairs = 1 << 16

// silentRepair is how many audits of a shard at a peer in a row may go
// unanswered before the shard is a repair candidate too: a holder gone
// for good, or one that dropped the shard and keeps quiet rather than
// say so (which would be Missing), must not keep it out of repair.
const silentRepair = 3

// maxServing bounds the audit requests a node answers at once (each may
// read up to MaxAuditBatch × MaxChallengeLeaves leaves, and holds its
// proofs in memory until sent): more wait for a turn, within the request's
// time.
const maxServing = 4

// AuditStatus is what this node's audits and scrubs found.
type AuditStatus struct {
	Stripes      int   `json:"stripes"` // stripes held, whose co-holders this node audits
	Targets      int   `json:"targets"` // shards at peers this node audits
	Passed       int64 `json:"passed"`
	Failed       int64 `json:"failed"`
	Missing      int64 `json:"missing"`
	TimedOut     int64 `json:"timed_out"`
	Scrubbed     int64 `json:"scrubbed"`      // own shards re-hashed
	ScrubCorrupt int64 `json:"scrub_corrupt"` // … that did not match their ID
	ScrubMissing int64 `json:"scrub_missing"` // … that were gone or short
	// ScrubLag is how far scrubbing is behind its schedule, in seconds.
	ScrubLag    float64      `json:"scrub_lag_seconds"`
	RepairQueue int          `json:"repair_queue"` // repair candidates waiting
	Peers       []PeerAudits `json:"peers,omitempty"`
}

// PeerAudits is this node's audit record of one peer.
type PeerAudits struct {
	ID       string    `json:"id"`
	Passed   int64     `json:"passed"`
	Failed   int64     `json:"failed"`
	Missing  int64     `json:"missing"`
	TimedOut int64     `json:"timed_out"`
	Last     time.Time `json:"last"` // of the latest result
}

type repairKey struct {
	stripe stripe.ID
	shard  int
	peer   string
}

// audits drives the node's Auditor.
type audits struct {
	n       *Node
	proto   protocol.ID
	kick    chan struct{}
	ready   chan struct{} // signalled when repair candidates arrive
	serving chan struct{} // a slot per audit request being answered

	mu      sync.Mutex
	a       *audit.Auditor
	stripes map[stripe.ID]bool
	st      AuditStatus
	peers   map[string]*PeerAudits
	repairs []audit.Result
	queued  map[repairKey]bool
	silent  map[repairKey]int // audits unanswered in a row
}

func newAudits(n *Node) (*audits, error) {
	a, err := audit.New(string(n.ID()), n.cfg.Audit)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return &audits{
		n: n, proto: n.cfg.Secret.Protocol(proto.AuditID), a: a,
		kick: make(chan struct{}, 1), ready: make(chan struct{}, 1), serving: make(chan struct{}, maxServing),
		stripes: map[stripe.ID]bool{}, peers: map[string]*PeerAudits{}, queued: map[repairKey]bool{}, silent: map[repairKey]int{},
	}, nil
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// load schedules the stripes held in the store (at start).
func (au *audits) load(ctx context.Context) error {
	return au.n.store.WalkHeld(ctx, func(h *badgerstore.Held) error {
		for _, i := range h.Shards {
			au.hold(h.Record, i)
		}
		return nil
	})
}

func (au *audits) hold(rec *stripe.Record, i int) {
	au.mu.Lock()
	err := au.a.Hold(rec, i, au.n.cfg.Now())
	if err == nil {
		au.stripes[rec.ID()] = true
	}
	au.mu.Unlock()
	if err != nil {
		au.n.log.Warn("a held shard cannot be audited", "stripe", rec.ID().Short(), "shard", i, "err", err)
	}
	signal(au.kick)
}

func (au *audits) update(rec *stripe.Record) {
	au.mu.Lock()
	au.a.Update(rec, au.n.cfg.Now())
	au.mu.Unlock()
	signal(au.kick)
}

func (au *audits) forget(id stripe.ID) {
	au.mu.Lock()
	au.a.Forget(id, au.n.cfg.Now())
	delete(au.stripes, id)
	for k := range au.silent {
		if k.stripe == id {
			delete(au.silent, k)
		}
	}
	au.mu.Unlock()
}

// resync schedules stripe id as the store now holds it.
func (au *audits) resync(ctx context.Context, id stripe.ID) {
	h, err := au.n.store.GetHeld(ctx, id)
	if err != nil {
		return
	}
	au.forget(id)
	if h != nil {
		for _, i := range h.Shards {
			au.hold(h.Record, i)
		}
	}
}

// run steps the Auditor whenever it has work, on the node's clock, until
// ctx ends.
func (au *audits) run(ctx context.Context) {
	for {
		au.mu.Lock()
		next := au.a.Next()
		au.mu.Unlock()
		var due <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(max(0, next.Sub(au.n.cfg.Now())))
			due = t.C
		}
		fired := false
		select {
		case <-ctx.Done():
		case <-au.kick:
		case <-due:
			fired = true
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if fired {
			au.step(ctx)
		}
	}
}

// step does what the Auditor has due now: it times out unanswered
// challenges, sends the batches due and waits for their answers (each
// bounded by the audit deadline), and runs a scrub. It returns the
// results, which it has recorded.
func (au *audits) step(ctx context.Context) []audit.Result {
	au.mu.Lock()
	w := au.a.Tick(au.n.cfg.Now())
	au.mu.Unlock()
	results := w.Results
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, b := range w.Batches {
		wg.Go(func() {
			rs := au.send(ctx, b)
			mu.Lock()
			results = append(results, rs...)
			mu.Unlock()
		})
	}
	if w.Scrub != nil {
		rs := au.scrub(ctx, w.Scrub)
		mu.Lock()
		results = append(results, rs...)
		mu.Unlock()
	}
	wg.Wait()
	results = au.stillHeld(ctx, results)
	au.record(results)
	return results
}

// stillHeld drops the failures of audits of stripes this node no longer
// keeps a live record of (released, expired, or its shard dropped while
// the challenge was out), or whose retention ends within stripe.MaxSkew
// (a holder whose clock is that far ahead has rightly dropped it): their
// holders may rightly have deleted them, so the verdict is no evidence.
// It forgets those stripes.
func (au *audits) stillHeld(ctx context.Context, results []audit.Result) []audit.Result {
	now := au.n.cfg.Now()
	live := map[stripe.ID]bool{}
	out := results[:0]
	for _, r := range results {
		if r.Verdict != audit.Passed && !r.Scrub {
			ok, seen := live[r.Stripe]
			if !seen {
				h, err := au.n.store.GetHeld(ctx, r.Stripe)
				// A read error keeps the verdict. A retention ending
				// within MaxSkew may have ended by the holder's clock.
				ok = err != nil || (h != nil && h.Record.Live(now.Add(stripe.MaxSkew)))
				live[r.Stripe] = ok
				if !ok {
					au.forget(r.Stripe)
				}
			}
			if !ok {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// send challenges one peer with a batch and returns the results of its
// answers. A peer that cannot be reached or does not answer gets no
// results here: its challenges time out at their deadline (Tick).
func (au *audits) send(ctx context.Context, b audit.Batch) []audit.Result {
	p := peer.ID(b.Peer)
	enc := make([][]byte, len(b.Challenges))
	for i, ch := range b.Challenges {
		var err error
		if enc[i], err = ch.MarshalBinary(); err != nil {
			au.n.log.Error("an audit challenge does not encode", "err", err)
			return nil
		}
	}
	body, err := proto.AppendAuditRequest(nil, enc)
	if err != nil {
		au.n.log.Error("an audit batch does not encode", "err", err)
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, au.a.Config().Deadline)
	defer cancel()
	answers, err := au.ask(ctx, p, body, len(enc))
	if err != nil {
		au.n.log.Debug("audit batch unanswered", "peer", p.ShortString(), "challenges", len(enc), "err", err)
		return nil
	}
	replies := make([]audit.Reply, len(answers))
	for i, a := range answers {
		replies[i] = audit.Reply{Nonce: b.Challenges[i].Nonce, Held: a.Held, Proof: a.Proof}
	}
	au.mu.Lock()
	defer au.mu.Unlock()
	return au.a.Answer(b.Peer, replies, au.n.cfg.Now())
}

// possession challenges p for shard i of rec once, outside the audit
// schedule, and checks its proof against the record's root: nil if p
// proves it holds the shard's bytes.
func (au *audits) possession(ctx context.Context, p peer.ID, rec *stripe.Record, i int) error {
	sh := rec.Descriptor.Shards[i]
	ch := proof.Challenge{Shard: sh.ID}
	if _, err := rand.Read(ch.Nonce[:]); err != nil {
		return err
	}
	n := proof.Leaves(sh.Size)
	picks := map[int]bool{}
	for len(picks) < min(n, au.a.Config().Leaves) {
		picks[mrand.IntN(n)] = true
	}
	ch.Leaves = slices.Sorted(maps.Keys(picks))
	enc, err := ch.MarshalBinary()
	if err != nil {
		return err
	}
	body, err := proto.AppendAuditRequest(nil, [][]byte{enc})
	if err != nil {
		return err
	}
	answers, err := au.ask(ctx, p, body, 1)
	switch {
	case err != nil:
		return err
	case !answers[0].Held || answers[0].Proof == nil:
		return fmt.Errorf("%w: no proof of shard %s", ErrPeer, sh.ID.Short())
	}
	pr, err := proof.ParseProof(answers[0].Proof)
	if err != nil {
		return err
	}
	return proof.Verify(rec.Roots[i], &ch, pr)
}

// ask sends one audit request to p and returns its answers.
func (au *audits) ask(ctx context.Context, p peer.ID, body []byte, n int) ([]proto.AuditAnswer, error) {
	buf, err := au.n.exchange(ctx, p, au.proto, body, proto.MaxAuditResponse)
	if err != nil {
		return nil, err
	}
	st, msg, answers, err := proto.ParseAuditResponse(buf, n)
	if err != nil {
		return nil, err
	}
	if st != proto.StatusOK {
		return nil, fmt.Errorf("%w: %v: %s", ErrPeer, st, msg)
	}
	return answers, nil
}

// scrub re-hashes one of this node's shards and reports it.
func (au *audits) scrub(ctx context.Context, s *audit.Scrub) []audit.Result {
	b, err := au.n.store.Get(ctx, s.Shard)
	v := audit.Passed
	switch {
	case ctx.Err() != nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		v = audit.Missing
	case err != nil, len(b) != s.Size, !s.Shard.Verify(b):
		v = audit.Failed
	}
	au.mu.Lock()
	defer au.mu.Unlock()
	au.st.Scrubbed++
	return au.a.Scrubbed(s.Shard, v, au.n.cfg.Now())
}

// record takes results into the reputation book, the counts, the log
// and the repair queue.
func (au *audits) record(results []audit.Result) {
	for _, r := range results {
		if !r.Scrub {
			au.n.Observe(peer.ID(r.Peer), r.Outcome())
		}
		switch {
		case r.Scrub && r.Verdict != audit.Passed:
			au.n.log.Warn("scrub found a damaged shard", "shard", r.ShardID.Short(), "stripe", r.Stripe.Short(), "index", r.Shard, "verdict", r.Verdict)
		case r.Verdict == audit.Failed || r.Verdict == audit.Missing:
			au.n.log.Warn("audit failed", "peer", peer.ID(r.Peer).ShortString(), "shard", r.ShardID.Short(), "stripe", r.Stripe.Short(), "index", r.Shard, "verdict", r.Verdict, "err", r.Err)
		case r.Verdict == audit.TimedOut:
			au.n.log.Info("audit timed out", "peer", peer.ID(r.Peer).ShortString(), "shard", r.ShardID.Short())
		}
	}
	au.mu.Lock()
	defer au.mu.Unlock()
	queued := false
	for _, r := range results {
		if r.Scrub {
			switch r.Verdict {
			case audit.Failed:
				au.st.ScrubCorrupt++
			case audit.Missing:
				au.st.ScrubMissing++
			}
		} else {
			pa := au.peers[r.Peer]
			if pa == nil {
				pa = &PeerAudits{ID: peer.ID(r.Peer).String()}
				au.peers[r.Peer] = pa
			}
			pa.Last = r.At
			switch r.Verdict {
			case audit.Passed:
				au.st.Passed++
				pa.Passed++
			case audit.Failed:
				au.st.Failed++
				pa.Failed++
			case audit.Missing:
				au.st.Missing++
				pa.Missing++
			case audit.TimedOut:
				au.st.TimedOut++
				pa.TimedOut++
			}
		}
		k := repairKey{r.Stripe, r.Shard, r.Peer}
		repair := r.Repair()
		if !r.Scrub {
			if r.Verdict == audit.TimedOut {
				au.silent[k]++
				repair = au.silent[k] >= silentRepair
			} else {
				delete(au.silent, k)
			}
		}
		if repair && !au.queued[k] {
			if len(au.repairs) >= maxRepairs {
				old := au.repairs[0]
				delete(au.queued, repairKey{old.Stripe, old.Shard, old.Peer})
				au.repairs = au.repairs[1:]
			}
			au.queued[k] = true
			au.repairs = append(au.repairs, r)
			queued = true
		}
	}
	if queued {
		signal(au.ready)
	}
}

// serve answers one audit request on s: a proof for each challenge from
// the bytes this node holds, or "not held".
func (au *audits) serve(s network.Stream) {
	defer s.Close()
	n := au.n
	remote := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(n.cfg.RequestTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()
	answer := func(st proto.Status, msg string, answers []proto.AuditAnswer) {
		if err := proto.WriteFrame(s, proto.AppendAuditResponse(nil, st, msg, answers)); err != nil {
			s.Reset()
		}
	}
	br := bufio.NewReaderSize(s, 4096)
	size, err := proto.ReadFrameSize(br, proto.MaxAuditRequest)
	if err != nil {
		answer(proto.StatusBadRequest, err.Error(), nil)
		return
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		answer(proto.StatusBadRequest, "truncated frame", nil)
		return
	}
	chs, err := proto.ParseAuditRequest(buf)
	if err != nil {
		answer(proto.StatusBadRequest, err.Error(), nil)
		return
	}
	select {
	case au.serving <- struct{}{}:
		defer func() { <-au.serving }()
	case <-ctx.Done():
		answer(proto.StatusBusy, "answering other audits", nil)
		return
	}
	answers := make([]proto.AuditAnswer, len(chs))
	for i, ch := range chs {
		answers[i] = au.prove(ctx, ch, remote)
	}
	if ctx.Err() != nil {
		// Out of time: the challenges not proved would go as held
		// without a proof, a failure of integrity where the truth is
		// only a slow answer. Say nothing: they time out instead.
		s.Reset()
		return
	}
	answer(proto.StatusOK, "", answers)
}

// prove answers one challenge.
func (au *audits) prove(ctx context.Context, ch *proof.Challenge, from peer.ID) proto.AuditAnswer {
	n := au.n
	if n.cfg.testAnswers != nil {
		if a, ok := n.cfg.testAnswers(ch); ok {
			return a
		}
	}
	pr, err := n.store.Prove(ctx, ch)
	switch {
	case errors.Is(err, store.ErrNotFound):
		n.log.Info("audited for a shard this node does not hold", "peer", from.ShortString(), "shard", ch.Shard.Short(), "err", err)
		n.repairs.ownDamaged(ch.Shard) // if a record names this node for it
		return proto.AuditAnswer{}
	case errors.Is(err, proof.ErrCorrupt):
		n.log.Warn("an audit found this node's copy of a shard damaged", "peer", from.ShortString(), "shard", ch.Shard.Short(), "err", err)
		n.repairs.ownDamaged(ch.Shard)
		return proto.AuditAnswer{Held: true}
	case err != nil:
		n.log.Info("an audit challenge was not answered", "peer", from.ShortString(), "shard", ch.Shard.Short(), "err", err)
		return proto.AuditAnswer{Held: true}
	}
	enc, err := pr.MarshalBinary()
	if err != nil {
		return proto.AuditAnswer{Held: true}
	}
	return proto.AuditAnswer{Held: true, Proof: enc}
}

// AuditStatus returns what this node's audits and scrubs found.
func (n *Node) AuditStatus() AuditStatus {
	au := n.audits
	now := n.cfg.Now()
	au.mu.Lock()
	defer au.mu.Unlock()
	st := au.st
	st.Stripes, st.Targets = len(au.stripes), au.a.Targets()
	st.ScrubLag = au.a.ScrubLag(now).Seconds()
	st.RepairQueue = len(au.repairs)
	for _, pa := range au.peers {
		st.Peers = append(st.Peers, *pa)
	}
	slices.SortFunc(st.Peers, func(a, b PeerAudits) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return st
}

// TakeRepairs removes and returns up to max repair candidates, oldest
// first: shards that failed an audit or were missing at a peer, shards
// whose audits at a peer went unanswered silentRepair times in a row
// (Verdict TimedOut), and own shards a scrub found corrupt or missing. Each is queued once until
// taken. RepairsReady is signalled when candidates arrive.
func (n *Node) TakeRepairs(max int) []audit.Result {
	au := n.audits
	au.mu.Lock()
	defer au.mu.Unlock()
	k := min(max, len(au.repairs))
	out := slices.Clone(au.repairs[:k])
	au.repairs = au.repairs[k:]
	for _, r := range out {
		delete(au.queued, repairKey{r.Stripe, r.Shard, r.Peer})
	}
	return out
}

// RepairsReady returns a channel that receives when repair candidates
// have been queued since it last did.
func (n *Node) RepairsReady() <-chan struct{} { return n.audits.ready }
