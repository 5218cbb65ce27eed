package node

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
)

// A node that stores a shard announces itself in the DHT as a provider of
// the shard's ID, so a reader that does not know where a shard went can
// find its holders without asking every member. Provider records are not
// signed: a reader never trusts one beyond fetching from it, and verifies
// the bytes it gets against the ID.
//
// Records are published in batches, not one DHT walk per shard. kad-dht's
// Provide walks the DHT to find the 20 peers closest to a key (about 5.4
// FIND_NODE requests in a six-node cloud) and then sends each an
// ADD_PROVIDER message. Instead the node explores the swarm once per
// batch or sweep (one walk when the cloud has at most 21 members, as every
// member is then among the 20 closest to every key; a few more for a
// bigger cloud), computes each key's closest members itself, and streams
// the ADD_PROVIDER messages of a whole page of shards to each member over
// the DHT's own stream to it. The messages are kad-dht's, so readers find
// the records with an ordinary FindProviders. kad-dht's own sweeping
// provider (package provider) does the same grouping, but keeps its own
// copy of every key in a keystore and, in a cloud this small (one region),
// loads all of a node's keys into a trie at every reprovide; the store
// already is the list, so paging through it is enough here.
//
// Cost (BenchmarkProviders, six nodes on loopback, 100 000 shards): a
// record per shard per other member (5 in all), no walk per shard, half
// the DHT requests and 7-12x less time per shard than one Provide per
// shard; 50-75 µs a shard with the whole cloud on two cores, so a million
// shards take one to two minutes per sweep (extrapolated, not measured).
//
//   - A shard just stored is queued (bounded; when full it is dropped and
//     counted, and the next sweep announces it) and announced with the
//     others that arrive within announceLinger.
//   - Every Config.ProviderRefresh (default 22 h, under kad-dht's 48 h
//     record validity) a sweep pages through the whole badger store,
//     sweepPage IDs at a time, and announces every shard again. Shards
//     deleted since are simply not announced; their old records expire.
//   - A member that does not have our records — one that joined, came back
//     after a disconnect (kad-dht keeps received records in memory, so a
//     restart loses them), or missed a batch — gets a catch-up pass with
//     only the records it should hold. On start nobody has them, so a
//     (re)started node announces everything on disk once it has peers.
//
// Memory: the announcer keeps nothing per shard (the store is the list);
// a pass holds one page of IDs and keys (sweepPage × ~100 bytes, 0.4 MiB)
// plus, for a cloud of more than 21 members, a per-member index of that
// page (at most sweepPage × 20 × 4 bytes). The cost per shard is on the
// receiving side: each member keeps every record it is sent in kad-dht's
// provider store, in memory, about 230 bytes each (measured), so in a
// cloud of up to 21 a node with a million shards costs every other member
// about 230 MB.

// shardCID is a shard ID as the DHT names content: a CIDv1 (raw) of the
// BLAKE3-256 multihash.
func shardCID(id erasure.ShardID) cid.Cid {
	return cid.NewCidV1(cid.Raw, shardKey(id))
}

// shardKey is the DHT key of a shard's provider records: the BLAKE3-256
// multihash of its ID.
func shardKey(id erasure.ShardID) multihash.Multihash {
	mh, err := multihash.Encode(id[:], multihash.BLAKE3)
	if err != nil {
		panic("node: multihash of a 32-byte BLAKE3 digest: " + err.Error())
	}
	return mh
}

const (
	announceQueue  = 1 << 14                // fresh shards waiting, at most
	announceBatch  = 1 << 10                // fresh shards announced together, at most
	announceLinger = 100 * time.Millisecond // how long a fresh shard waits for others
	sweepPage      = 1 << 12                // shard IDs a sweep holds at a time
	catchupTick    = time.Second            // how often members lacking our records are looked for
	retryBackoff   = 30 * time.Second       // before a member a send failed to is tried again
)

// AnnounceStats describes the node's provider records, for murmur status.
type AnnounceStats struct {
	Queued    int   `json:"queued"`    // fresh shards waiting to be announced
	Dropped   int64 `json:"dropped"`   // fresh shards not queued, the queue being full (the next sweep announces them)
	Announced int64 `json:"announced"` // fresh shards announced
	Records   int64 `json:"records"`   // provider records sent: one per shard per member it goes to
	Failed    int64 `json:"failed"`    // provider records that could not be sent
	Walks     int64 `json:"walks"`     // DHT walks (closest-peer lookups) made to explore the swarm
	Peers     int   `json:"peers"`     // members in the latest view of the swarm

	Sweeps      int64         `json:"sweeps"`       // full sweeps of the store done
	Catchups    int64         `json:"catchups"`     // passes for members that lacked our records
	LastSweep   time.Time     `json:"last_sweep"`   // when the latest full sweep started; zero: none yet
	SweepShards int           `json:"sweep_shards"` // shards it announced
	SweepTook   time.Duration `json:"sweep_took"`   // how long it took
	NextSweep   time.Time     `json:"next_sweep"`   // when the next is due; zero: once the node has peers
}

// AnnounceStats reports on the node's provider records.
func (n *Node) AnnounceStats() AnnounceStats {
	a := n.announce
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.stats
	s.Queued = len(a.queue)
	if !s.LastSweep.IsZero() {
		s.NextSweep = s.LastSweep.Add(a.refresh)
	}
	return s
}

// announcer publishes and refreshes the node's provider records.
type announcer struct {
	n       *Node
	refresh time.Duration
	queue   chan erasure.ShardID
	stop    context.CancelFunc
	wg      sync.WaitGroup

	mu      sync.Mutex
	stats   AnnounceStats
	view    *swarm                // latest view of the swarm; nil: none yet
	covered map[peer.ID]bool      // members holding all our records, connected since
	retry   map[peer.ID]time.Time // members a send failed to, not before then
	catchup map[peer.ID]catchupState
}

func newAnnouncer(n *Node) (*announcer, error) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &announcer{
		n: n, refresh: n.cfg.ProviderRefresh, stop: cancel,
		queue:   make(chan erasure.ShardID, announceQueue),
		covered: map[peer.ID]bool{}, retry: map[peer.ID]time.Time{}, catchup: map[peer.ID]catchupState{},
	}
	sub, err := n.host.EventBus().Subscribe(new(event.EvtPeerConnectednessChanged))
	if err != nil {
		cancel()
		return nil, err
	}
	a.wg.Go(func() {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case e := <-sub.Out():
				if ev := e.(event.EvtPeerConnectednessChanged); ev.Connectedness != network.Connected {
					a.forget(ev.Peer)
				}
			}
		}
	})
	a.wg.Go(func() { a.batcher(ctx) })
	a.wg.Go(func() { a.sweeper(ctx) })
	return a, nil
}

// add queues a freshly stored shard for announcement. It never blocks: when
// the queue is full the shard is counted as dropped and left to the next
// sweep (up to ProviderRefresh later; readers ask the members meanwhile).
func (a *announcer) add(id erasure.ShardID) {
	select {
	case a.queue <- id:
	default:
		a.mu.Lock()
		a.stats.Dropped++
		a.mu.Unlock()
	}
}

func (a *announcer) close() {
	a.stop()
	a.wg.Wait()
}

// catchupState spaces out the catch-up passes a member gets: each pass
// pages through the whole store, so a member that keeps reconnecting must
// not get one every time. The gap doubles while passes come within two
// gaps of each other, and falls back once the member stays away longer.
type catchupState struct {
	last time.Time
	gap  time.Duration
}

// after returns the state once a catch-up pass ran at now.
func (c catchupState) after(now time.Time) catchupState {
	if c.gap == 0 || now.Sub(c.last) > 2*c.gap {
		c.gap = minCatchupGap
	} else {
		c.gap = min(2*c.gap, maxCatchupGap)
	}
	c.last = now
	return c
}

// allows reports whether a catch-up pass may run at now.
func (c catchupState) allows(now time.Time) bool { return c.gap == 0 || !now.Before(c.last.Add(c.gap)) }

const (
	minCatchupGap = time.Second
	maxCatchupGap = time.Hour
)

// forget notes that p disconnected: it may have lost our records (a
// restart does), so it gets a catch-up pass when it is back.
func (a *announcer) forget(p peer.ID) {
	a.mu.Lock()
	delete(a.covered, p)
	delete(a.retry, p)
	a.mu.Unlock()
}

// batcher announces fresh shards, up to announceBatch at a time, each
// waiting at most announceLinger for others to join it.
func (a *announcer) batcher(ctx context.Context) {
	batch := make([]erasure.ShardID, 0, announceBatch)
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-a.queue:
			batch = append(batch[:0], id)
		}
		linger := time.NewTimer(announceLinger)
	fill:
		for len(batch) < announceBatch {
			select {
			case <-ctx.Done():
				linger.Stop()
				return
			case id := <-a.queue:
				batch = append(batch, id)
			case <-linger.C:
				break fill
			}
		}
		linger.Stop()
		a.announceFresh(ctx, batch)
	}
}

// announceFresh sends the records of a batch of fresh shards to the
// closest members in the current view of the swarm. With no peers yet it
// does nothing: the first pass once there are peers covers the shards.
func (a *announcer) announceFresh(ctx context.Context, ids []erasure.ShardID) {
	sw, err := a.currentView(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.n.log.Debug("provider records not published", "shards", len(ids), "err", err)
		}
		return
	}
	failed := a.sendPage(ctx, sw, ids, nil)
	a.mu.Lock()
	a.stats.Announced += int64(len(ids))
	a.noteFailedLocked(failed)
	a.mu.Unlock()
}

// noteFailedLocked marks the members a send failed to as lacking our
// records, to be tried again after retryBackoff.
func (a *announcer) noteFailedLocked(failed map[peer.ID]bool) {
	for p := range failed {
		delete(a.covered, p)
		a.retry[p] = time.Now().Add(retryBackoff)
	}
}

// sweeper runs a full sweep once the node first has peers and then every
// refresh interval, and between them the catch-up passes for members that
// lack our records.
func (a *announcer) sweeper(ctx context.Context) {
	tick := time.NewTicker(catchupTick)
	defer tick.Stop()
	var lastFull time.Time
	var pending []peer.ID // members found lacking at the previous tick
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := !lastFull.IsZero() && time.Since(lastFull) >= a.refresh
		lacking := a.lacking()
		if !due {
			// Wait until the set of members lacking our records is the
			// same for two ticks, so a cloud coming up gets one pass, not
			// one per member connecting.
			if len(lacking) == 0 || !samePeers(lacking, pending) {
				pending = lacking
				continue
			}
		}
		pending = nil
		only := lacking
		if due || lastFull.IsZero() {
			only = nil // a full sweep
		}
		start := time.Now()
		if a.pass(ctx, only) && only == nil {
			lastFull = start
		}
	}
}

// lacking lists the connected members of the DHT's routing table that do
// not hold all our records and are not waiting out a failure.
func (a *announcer) lacking() []peer.ID {
	rt := a.n.dht.RoutingTable().ListPeers()
	now := time.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []peer.ID
	for _, p := range rt {
		if a.covered[p] || now.Before(a.retry[p]) || a.n.host.Network().Connectedness(p) != network.Connected {
			continue
		}
		if !a.catchup[p].allows(now) {
			continue
		}
		out = append(out, p)
	}
	return out
}

func samePeers(a, b []peer.ID) bool {
	if len(a) != len(b) {
		return false
	}
	in := make(map[peer.ID]bool, len(a))
	for _, p := range a {
		in[p] = true
	}
	for _, p := range b {
		if !in[p] {
			return false
		}
	}
	return true
}

// pass pages through the whole store and sends each shard's record to its
// closest members: to all of them when only is nil (a full sweep), else
// only to the members in only. It reports whether it got through the
// store.
func (a *announcer) pass(ctx context.Context, only []peer.ID) bool {
	start := time.Now()
	sw, err := a.explore(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.n.log.Debug("provider sweep not started", "err", err)
		}
		return false
	}
	var to map[peer.ID]bool
	if only != nil {
		to = make(map[peer.ID]bool, len(only))
		for _, p := range only {
			to[p] = true
		}
	}
	// Members that disconnect during the pass are forgotten as usual;
	// those still connected at its end hold our records.
	targets := sw.peers
	if only != nil {
		targets = only
	}
	failed := map[peer.ID]bool{}
	buf := make([]erasure.ShardID, sweepPage)
	var from erasure.ShardID
	shards := 0
	for {
		ids, err := a.n.store.IDsFrom(ctx, from, buf)
		if err != nil {
			if ctx.Err() == nil {
				a.n.log.Warn("provider sweep stopped", "err", err)
			}
			return false
		}
		for p := range a.sendPage(ctx, sw, ids, to) {
			failed[p] = true
		}
		shards += len(ids)
		if len(ids) < len(buf) {
			break
		}
		var more bool
		if from, more = badgerstore.Next(ids[len(ids)-1]); !more {
			break
		}
	}
	if ctx.Err() != nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range targets {
		if !failed[p] && a.n.host.Network().Connectedness(p) == network.Connected {
			a.covered[p] = true
		}
	}
	a.noteFailedLocked(failed)
	if only == nil {
		a.stats.Sweeps++
		a.stats.LastSweep, a.stats.SweepShards, a.stats.SweepTook = start, shards, time.Since(start)
	} else {
		a.stats.Catchups++
		now := time.Now()
		for _, p := range targets {
			a.catchup[p] = a.catchup[p].after(now)
		}
		for p, c := range a.catchup { // bounded by the members heard of lately
			if now.Sub(c.last) > 2*maxCatchupGap {
				delete(a.catchup, p)
			}
		}
	}
	a.n.log.Debug("provider records swept", "shards", shards, "peers", len(targets), "took", time.Since(start))
	return true
}

// FindHolders returns, for up to max of them, the members that hold a
// shard: this node if it does, then the providers the DHT knows.
func (n *Node) FindHolders(ctx context.Context, id erasure.ShardID, max int) []peer.ID {
	var out []peer.ID
	if has, err := n.store.Has(ctx, []erasure.ShardID{id}); err == nil && has[0] {
		out = append(out, n.ID())
	}
	if len(out) >= max {
		return out
	}
	for ai := range n.dht.FindProvidersAsync(ctx, shardCID(id), max) {
		if ai.ID != "" && ai.ID != n.ID() && len(out) < max {
			out = append(out, ai.ID)
		}
	}
	return out
}
