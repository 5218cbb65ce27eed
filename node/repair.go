package node

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/ping"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/repair"
	"github.com/murmur-cloud/murmur/repair/rebuild"
	"github.com/murmur-cloud/murmur/stripe"
)

// Repairs. Every node runs one repair.Machine over the stripes it holds
// (and those it was asked to watch), on the node's clock; this file is its
// driver, repair_wire.go its messages and executor. Every stripe record
// the store keeps goes to the Machine (at start, and as puts and newer
// records arrive; releases and expiry drop it); the peers the Machine
// names are checked with one libp2p ping each per check period, the
// answers feeding the Machine and the reputation book; the outages the
// checks see make each peer's grace (an OutageLog), the reputation book
// its availability. The Machine's messages go over the repair protocol,
// its plans to a rebuild.Rebuilder paced at the repair rate; a committed
// repair's next record goes to the store and, in the Done messages, to
// every holder. The audits' repair candidates (TakeRepairs) tell the
// Machine which shards are damaged.

// RepairConfig tunes a node's repairs. Zero fields take their defaults.
type RepairConfig struct {
	// Rate caps the bytes a second this node's repairs move, fetched and
	// stored: both the Machine's bucket (when a repair may start) and the
	// pacer of every transfer. Default repair.DefaultBandwidth (1 MiB/s);
	// negative: no cap.
	Rate int64
	// Machine tunes the repair Machine: its mode, check period, graces,
	// claims and concurrency (repair.Config). Self, KeyOf, History and
	// Bandwidth are the node's own.
	Machine repair.Config[peer.ID]
	// CheckTimeout bounds one check of a peer. Default 10 s.
	CheckTimeout time.Duration

	// busy, for tests, counts the repair work in flight (checks,
	// deliveries, plans, discards); nodes that share one counter are
	// quiet together when it is zero.
	busy *atomic.Int64
}

// pacerChunk is the most bytes one wait of the repair pacer admits: the
// limiter's burst, so the rate holds over short windows too.
const pacerChunk = 64 << 10

// RepairStatus is what this node's repairs see and did.
type RepairStatus struct {
	Stripes int `json:"stripes"` // held or watched
	// Health counts the stripes by how many of their stored shards are
	// not healthy: Health[0] are whole (k+m), Health[1] one short, and so
	// on down to k; BelowK cannot be rebuilt until holders return.
	Health  []int `json:"health"`
	BelowK  int   `json:"below_k"`
	Backlog int   `json:"backlog"` // repairs waiting their turn
	Running int   `json:"running"` // repairs claimed or under way here
	Peers   int   `json:"peers"`   // peers checked
	Down    int   `json:"down"`    // … whose last check failed
	Lost    int   `json:"lost"`    // … away longer than their grace
	// Done and Failed count this node's committed and failed repairs;
	// Rebuilt the shards they placed; Aborted the repairs whose claim
	// lapsed.
	Done     int   `json:"done"`
	Failed   int   `json:"failed"`
	Aborted  int   `json:"aborted"`
	Rebuilt  int   `json:"rebuilt"`
	BytesIn  int64 `json:"bytes_in"`  // repair bytes fetched from peers
	BytesOut int64 `json:"bytes_out"` // repair bytes stored on peers
	Rate     int64 `json:"rate"`      // bytes/s; negative: no cap
}

// repairs drives the node's repair Machine.
type repairs struct {
	n          *Node
	proto      protocol.ID // the claim protocol's messages
	putProto   protocol.ID // repair puts: a rebuilt shard with its record
	ownerProto protocol.ID // records owed to their stripes' owners
	cfg        RepairConfig
	rate       int64
	pacer      rebuild.Pacer
	rb         *rebuild.Rebuilder[peer.ID]
	placer     *placement.Reliable
	kick       chan struct{}
	ctx        context.Context // ends at Close
	stop       context.CancelFunc

	wg       sync.WaitGroup // every goroutine started by go_
	ownerMu  sync.Mutex     // serialises ownerTakes
	mu       sync.Mutex
	closed   bool
	m        *repair.Machine[peer.ID]
	recs     map[repair.StripeID]*stripe.Record // the record each stripe of the Machine is at
	dones    map[repair.StripeID]*stripe.Record // while a commit's output drains: the record its Done carries
	runs     map[repair.StripeID]planRun
	retry    map[peer.ID][]proto.RepairMsg // Done and Watch not delivered yet
	owed     map[peer.ID]*owing            // owners this node's store keeps records owed to
	checking map[peer.ID]bool
	swept    time.Time          // when expired records were last dropped
	kept     map[stripe.ID]bool // stripes whose replaced shards discard kept
	rekept   time.Time          // when they were last discarded again

	bytesIn, bytesOut atomic.Int64
	busy              *atomic.Int64
	// onPace, for tests, sees every admission of the pacer.
	onPace atomic.Pointer[func(n int)]
}

type planRun struct {
	ballot uint64
	cancel context.CancelFunc
}

// verifyPeer checks p's signature over stmt with the public key its peer
// ID embeds (an ed25519 identity's does).
func verifyPeer(p peer.ID, stmt, sig []byte) bool {
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return false
	}
	ok, err := pub.Verify(stmt, sig)
	return err == nil && ok
}

// peerKey is a peer's position in the stripes' keyspace: the SHA-256 of
// its peer ID, as in the DHT.
func peerKey(p peer.ID) repair.Key { return sha256.Sum256([]byte(p)) }

// repairHistory is what the Machine knows of peers' pasts: availability
// from the reputation book, outages from its own checks.
type repairHistory struct {
	n   *Node
	log *repair.OutageLog[peer.ID]
}

func (h repairHistory) Availability(p peer.ID, now time.Time) (float64, float64) {
	r := h.n.gossip.rep.Score(p, now)
	return r.Value, r.FirstHand
}

func (h repairHistory) OutageQuantile(p peer.ID, q float64) (time.Duration, int) {
	return h.log.OutageQuantile(p, q)
}

func (h repairHistory) RecordOutage(p peer.ID, start, end time.Time) {
	h.log.RecordOutage(p, start, end)
}

func newRepairs(n *Node) (*repairs, error) {
	cfg := n.cfg.Repair
	if cfg.CheckTimeout <= 0 {
		cfg.CheckTimeout = 10 * time.Second
	}
	rate := cfg.Rate
	if rate == 0 {
		rate = repair.DefaultBandwidth
	}
	mc := cfg.Machine
	mc.Self, mc.KeyOf, mc.Bandwidth = n.ID(), peerKey, rate
	mc.Sign = func(stmt []byte) []byte { return ed25519.Sign(n.key, stmt) }
	mc.Verify = verifyPeer
	mc.History = repairHistory{n: n, log: repair.NewOutageLog[peer.ID](0)}
	m, err := repair.New(mc, n.cfg.Now())
	if err != nil {
		return nil, err
	}
	key := peerKey(n.ID())
	pl, err := placement.NewReliable(placement.ReliableConfig{Seed: uint64(key[0]) | uint64(key[1])<<8 | uint64(key[2])<<16 | uint64(key[3])<<24})
	if err != nil {
		return nil, err
	}
	r := &repairs{
		n: n, proto: n.cfg.Secret.Protocol(proto.RepairID), putProto: n.cfg.Secret.Protocol(proto.RepairID + "/put"),
		ownerProto: n.cfg.Secret.Protocol(proto.OwnerID), owed: map[peer.ID]*owing{},
		cfg: cfg, rate: rate, placer: pl, kick: make(chan struct{}, 1),
		m: m, recs: map[repair.StripeID]*stripe.Record{}, dones: map[repair.StripeID]*stripe.Record{}, runs: map[repair.StripeID]planRun{},
		retry: map[peer.ID][]proto.RepairMsg{}, checking: map[peer.ID]bool{}, kept: map[stripe.ID]bool{},
	}
	r.ctx, r.stop = context.WithCancel(context.Background())
	if r.busy = cfg.busy; r.busy == nil {
		r.busy = new(atomic.Int64)
	}
	if rate > 0 {
		r.pacer = newChunkPacer(rate, r)
	}
	r.rb, err = rebuild.New(rebuild.Config[peer.ID]{
		Self: n.ID(), Shards: repairShards{r}, Placer: repairPlacer{r},
		Name: func(p peer.ID) string { return string(p) }, Pacer: r.pacer, Now: n.cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// go_ runs f in a goroutine Close waits for, unless closing.
func (r *repairs) go_(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.busy.Add(1)
	r.wg.Go(func() {
		defer r.busy.Add(-1)
		f()
	})
}

// close stops every check, delivery and repair, and waits for them.
func (r *repairs) close() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	r.wg.Wait()
}

// adapt returns the Machine's view of a record: one holder per slot (this
// node when the hints name it, else the first valid peer hinted), the
// empty data slots, the version (Seq) and the retention's end.
func adapt(rec *stripe.Record, self peer.ID) repair.Stripe[peer.ID] {
	d := rec.Descriptor
	s := repair.Stripe[peer.ID]{
		ID: repair.StripeID(rec.ID()), K: d.K, M: d.M, ShardSize: int64(d.ShardSize),
		Holders: make([]peer.ID, len(d.Shards)), Version: rec.Seq, Retain: rec.Retention.Until,
	}
	for i := range d.Shards {
		if !d.Stored(i) {
			if s.Empty == nil {
				s.Empty = make([]bool, len(d.Shards))
			}
			s.Empty[i] = true
			continue
		}
		if rec.Holders == nil {
			continue
		}
		for _, h := range rec.Holders[i] {
			p := peer.ID(h)
			if p == self {
				s.Holders[i] = p
				break
			}
			if s.Holders[i] == "" && p.Validate() == nil {
				s.Holders[i] = p
			}
		}
	}
	return s
}

// load hands the Machine every stripe record the store holds (at start).
func (r *repairs) load(ctx context.Context) error {
	var recs []*stripe.Record
	err := r.n.store.WalkHeld(ctx, func(h *badgerstore.Held) error {
		recs = append(recs, h.Record)
		return nil
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	for _, rec := range recs {
		r.holdLocked(rec)
	}
	w := r.drainLocked()
	r.mu.Unlock()
	r.do(w)
	return nil
}

// hold hands the Machine the record the store now keeps of a stripe.
func (r *repairs) hold(rec *stripe.Record) {
	if r == nil {
		return // not started yet
	}
	r.mu.Lock()
	r.holdLocked(rec)
	w := r.drainLocked()
	r.mu.Unlock()
	r.do(w)
}

func (r *repairs) holdLocked(rec *stripe.Record) {
	v := adapt(rec, r.n.ID())
	if err := r.m.Hold(v, r.n.cfg.Now()); err != nil {
		r.n.log.Warn("a stripe record cannot be watched for repair", "stripe", v.ID.Short(), "err", err)
		return
	}
	r.took(v.ID, rec)
}

// took keeps rec as the stripe's record if the Machine now holds its
// version.
func (r *repairs) took(id repair.StripeID, rec *stripe.Record) {
	if h, ok := r.m.Health(id); ok && h.Version == rec.Seq {
		r.recs[id] = rec
	} else if !ok {
		delete(r.recs, id)
	}
}

// drop forgets a stripe (released or expired).
func (r *repairs) drop(id stripe.ID) {
	if r == nil {
		return // not started yet
	}
	r.mu.Lock()
	r.m.Drop(repair.StripeID(id), r.n.cfg.Now())
	delete(r.recs, repair.StripeID(id))
	w := r.drainLocked()
	r.mu.Unlock()
	r.do(w)
}

// resync hands the Machine what the store now holds of stripe id, or
// drops it.
func (r *repairs) resync(ctx context.Context, id stripe.ID) {
	if r == nil {
		return // not started yet
	}
	h, err := r.n.store.GetHeld(ctx, id)
	switch {
	case err != nil:
	case h == nil || !h.Record.Live(r.n.cfg.Now()):
		r.drop(id)
	default:
		r.hold(h.Record)
	}
}

// run steps the Machine until ctx ends: its timers, the checks it asks
// for, the audits' repair candidates, and the expiry of watched records.
func (r *repairs) run() {
	ctx := r.ctx
	r.step(ctx)
	for {
		r.mu.Lock()
		next, check := r.m.NextWake(), r.m.NextCheck()
		r.mu.Unlock()
		now := r.n.cfg.Now()
		wait := r.m.Config().CheckPeriod
		for _, at := range []time.Time{next, check} {
			if !at.IsZero() {
				wait = min(wait, at.Sub(now))
			}
		}
		t := time.NewTimer(max(wait, 10*time.Millisecond))
		var ready <-chan struct{}
		if !r.n.cfg.manualAudits {
			ready = r.n.RepairsReady()
		}
		select {
		case <-ctx.Done():
		case <-r.kick:
		case <-t.C:
		case <-ready:
			r.takeAudits()
		}
		t.Stop()
		if ctx.Err() != nil {
			return
		}
		r.step(ctx)
	}
}

// step does what is due now.
func (r *repairs) step(ctx context.Context) {
	now := r.n.cfg.Now()
	members := append([]peer.ID{r.n.ID()}, r.n.Peers()...)
	r.mu.Lock()
	r.m.SetMembers(members)
	var expired []stripe.ID
	if now.Sub(r.swept) >= r.m.Config().CheckPeriod {
		r.swept = now
		for id, rec := range r.recs {
			if !rec.Live(now) {
				expired = append(expired, stripe.ID(id))
			}
		}
	}
	r.m.Tick(now)
	var due []peer.ID
	for _, p := range r.m.Due(now) {
		if !r.checking[p] {
			r.checking[p] = true
			due = append(due, p)
		}
	}
	var again []stripe.ID
	if len(r.kept) > 0 && now.Sub(r.rekept) >= r.m.Config().CheckPeriod {
		r.rekept = now
		for id := range r.kept {
			again = append(again, id)
		}
		clear(r.kept)
	}
	w := r.drainLocked()
	r.mu.Unlock()
	w.discards = append(w.discards, again...)
	r.do(w)
	// A record past its retention may have been renewed in the store
	// since (renewals change the retention, not the version): take the
	// store's, and drop what it no longer keeps live.
	for _, id := range expired {
		r.resync(ctx, id)
	}
	for _, p := range due {
		r.go_(func() { r.check(ctx, p) })
	}
	r.offerDue(now)
}

// check pings p once and reports the answer to the Machine and the
// reputation book; a peer that answers gets the Done and Watch messages
// it missed.
func (r *repairs) check(ctx context.Context, p peer.ID) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.CheckTimeout)
	h := r.n.host
	if h.Network().Connectedness(p) != network.Connected && len(h.Peerstore().Addrs(p)) == 0 {
		// Its addresses expired while it was away: ask the DHT.
		if ai, err := r.n.dht.FindPeer(cctx, p); err == nil {
			h.Peerstore().AddAddrs(ai.ID, ai.Addrs, peerstore.TempAddrTTL)
		}
	}
	res := <-ping.Ping(cctx, h, p)
	cancel()
	if ctx.Err() != nil {
		return
	}
	up := res.Error == nil
	if up {
		r.n.Observe(p, gossip.ProbeAnswered)
	} else {
		r.n.Observe(p, gossip.ProbeUnanswered)
	}
	r.mu.Lock()
	delete(r.checking, p)
	r.m.Checked(p, up, r.n.cfg.Now())
	w := r.drainLocked()
	if up && len(r.retry[p]) > 0 {
		w.send(p, r.retry[p]...)
		delete(r.retry, p)
	}
	r.mu.Unlock()
	r.do(w)
	if up {
		r.offer(p)
	}
}

// takeAudits gives the Machine the audits' repair candidates: each shard
// an audit found missing or corrupt at a holder, or a scrub in this
// node's own store, is damaged.
func (r *repairs) takeAudits() {
	for {
		rs := r.n.TakeRepairs(1024)
		if len(rs) == 0 {
			return
		}
		r.damaged(rs)
	}
}

func (r *repairs) damaged(rs []audit.Result) {
	now := r.n.cfg.Now()
	r.mu.Lock()
	for _, res := range rs {
		holder := peer.ID(res.Peer)
		if res.Scrub {
			holder = r.n.ID()
		}
		if err := r.m.Damaged(repair.StripeID(res.Stripe), res.Shard, holder, now); err != nil {
			r.n.log.Debug("a repair candidate the Machine does not take", "stripe", res.Stripe.Short(), "shard", res.Shard, "err", err)
		}
	}
	w := r.drainLocked()
	r.mu.Unlock()
	r.do(w)
}

// ownDamaged tells the Machine that this node's own copy of shard sh is
// missing or corrupt, as an audit of it just found (a record must name
// this node for it): the node then claims the repair of its own slot
// itself, rather than wait for its auditors' findings to reach a
// majority of the holders (a shard has two auditors by default).
func (r *repairs) ownDamaged(sh erasure.ShardID) {
	if r == nil {
		return // not started yet
	}
	now := r.n.cfg.Now()
	r.mu.Lock()
	for id, rec := range r.recs {
		for i, d := range rec.Descriptor.Shards {
			if d.ID == sh && slices.Contains(holderNames(rec, i), string(r.n.ID())) {
				_ = r.m.Damaged(id, i, r.n.ID(), now)
			}
		}
	}
	w := r.drainLocked()
	r.mu.Unlock()
	r.do(w)
}

// work is what the Machine asked for, to do outside the lock.
type work struct {
	sends    map[peer.ID][]proto.RepairMsg
	starts   []start
	discards []stripe.ID
	below    []repair.StripeID
}

type start struct {
	ctx  context.Context
	plan repair.Plan[peer.ID]
	rec  *stripe.Record
}

func (w *work) send(p peer.ID, msgs ...proto.RepairMsg) {
	if w.sends == nil {
		w.sends = map[peer.ID][]proto.RepairMsg{}
	}
	w.sends[p] = append(w.sends[p], msgs...)
}

// drainLocked takes the Machine's output: the messages encoded with the
// records they carry, the plans registered (their contexts cancelled at
// Abort).
func (r *repairs) drainLocked() work {
	var w work
	out := r.m.Drain()
	for _, a := range out.Abort {
		if run, ok := r.runs[a.Stripe]; ok && run.ballot == a.Ballot {
			run.cancel()
			delete(r.runs, a.Stripe)
		}
	}
	for _, e := range out.Send {
		if msg, ok := r.wireMsg(e.Msg); ok {
			w.send(e.To, msg)
		}
	}
	for _, pl := range out.Start {
		rec := r.recs[pl.Record.ID]
		ctx, cancel := context.WithCancel(r.ctx)
		if old, ok := r.runs[pl.Record.ID]; ok {
			old.cancel()
		}
		r.runs[pl.Record.ID] = planRun{ballot: pl.Ballot, cancel: cancel}
		w.starts = append(w.starts, start{ctx: ctx, plan: pl, rec: rec})
	}
	for _, id := range out.Discard {
		delete(r.recs, id)
		w.discards = append(w.discards, stripe.ID(id))
	}
	w.below = out.Below
	for _, x := range out.Refused {
		r.n.log.Warn("a repair message's newer record refused: it changes holders without a valid grant certificate", "stripe", x.Stripe.Short(), "peer", x.From.ShortString(), "err", x.Err)
	}
	return w
}

// do carries out w.
func (r *repairs) do(w work) {
	for p, msgs := range w.sends {
		if p == r.n.ID() {
			continue
		}
		r.go_(func() { r.deliver(p, msgs) })
	}
	for _, s := range w.starts {
		r.go_(func() { r.execute(s) })
	}
	if len(w.discards) > 0 {
		r.go_(func() { r.discard(w.discards) })
	}
	for _, id := range w.below {
		r.n.log.Warn("a stripe fell below the shards that rebuild it: it cannot be repaired until its holders return", "stripe", id.Short())
	}
}

// Status returns what this node's repairs see and did.
func (r *repairs) Status() RepairStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := RepairStatus{
		Stripes: r.m.Stripes(), Backlog: r.m.Backlog(), Running: len(r.runs), Peers: r.m.Peers(),
		BytesIn: r.bytesIn.Load(), BytesOut: r.bytesOut.Load(), Rate: r.rate,
	}
	st.Down, st.Lost = r.m.Down()
	ms := r.m.Stats()
	st.Done, st.Failed, st.Aborted, st.Rebuilt = ms.Commits, ms.Failures, ms.Aborts, ms.Rebuilt
	for id := range r.recs {
		h, ok := r.m.Health(id)
		if !ok {
			continue
		}
		if h.Healthy < h.Need {
			st.BelowK++
			continue
		}
		j := h.Stored - h.Healthy
		for len(st.Health) <= j {
			st.Health = append(st.Health, 0)
		}
		st.Health[j]++
	}
	if st.Health == nil {
		st.Health = []int{0}
	}
	return st
}

// RepairStatus returns what this node's repairs see and did.
func (n *Node) RepairStatus() RepairStatus { return n.repairs.Status() }

// whole reports whether every stripe of st is whole and no repair waits.
func (st RepairStatus) whole() bool {
	return st.BelowK == 0 && st.Backlog == 0 && st.Running == 0 && !slices.ContainsFunc(st.Health[1:], func(c int) bool { return c > 0 })
}

// startRepairs starts the node's repairs: the Machine with every stripe
// the store holds, the repair protocols' handlers and the loop.
func (n *Node) startRepairs(ctx context.Context) error {
	r, err := newRepairs(n)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	n.repairs = r
	if err := r.load(ctx); err != nil {
		return fmt.Errorf("node: load the stripe records for repair: %w", err)
	}
	if err := r.loadOwed(ctx); err != nil {
		return fmt.Errorf("node: load the records owed to owners: %w", err)
	}
	n.host.SetStreamHandler(r.proto, func(s network.Stream) { n.tracked(s, r.serve) })
	n.host.SetStreamHandler(r.putProto, func(s network.Stream) { n.tracked(s, r.servePut) })
	n.host.SetStreamHandler(r.ownerProto, func(s network.Stream) { n.tracked(s, r.serveOwner) })
	r.watchConnections()
	r.watchDisconnects()
	n.bg.Go(r.run)
	return nil
}

// watchDisconnects checks a peer the Machine checks as soon as its last
// connection to this node closes: a node that stops is noticed then, not
// up to a CheckPeriod later. The check decides, not the disconnection (a
// connection trimmed or dropped by a router is dialled again and
// answers).
func (r *repairs) watchDisconnects() {
	r.n.host.Network().Notify(&network.NotifyBundle{
		DisconnectedF: func(nw network.Network, c network.Conn) {
			p := c.RemotePeer()
			if nw.Connectedness(p) == network.Connected || r.ctx.Err() != nil {
				return
			}
			r.mu.Lock()
			now := r.m.Checks(p) && !r.checking[p]
			if now {
				r.checking[p] = true
			}
			r.mu.Unlock()
			if now {
				r.go_(func() { r.check(r.ctx, p) })
			}
		},
	})
}
