package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/zeebo/blake3"

	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/placement"
)

// The gossip driver runs the protocols of package gossip between real
// nodes: every period a node shuffles its Cyclon view with its oldest
// link's peer and makes one aggregation exchange with a random peer of its
// view, each a request and a reply on a libp2p stream of the cloud's gossip
// protocol. A shuffle or exchange that gets an answer is a probe answered,
// one that does not is a probe unanswered; shard transfers add their
// outcomes (Cloud); reputation reports ride on shuffles. A peer is named by
// the peer ID its connection authenticated, never by what a message says.
//
// Aggregation averages each node's capacity, free space and stored bytes,
// so every node learns the cloud's size and totals, with each disk counted
// once however many nodes share it (attrs, disk.go); slicing and top-k run
// on capacity, a figure nodes state about themselves (a hint: a node that
// lies about room fails its puts and loses reliability). Reliability is
// never ranked by a node's own word: placement ranks members by this
// node's reputation book.

// gossipProtoID is the gossip protocol under the cloud's prefix.
const gossipProtoID = "/gossip/1"

// Aggregated attributes, in order.
const (
	attrCapacity = iota
	attrFree
	attrStored
	numAttrs
)

// Gossip is a node's gossip state.
type Gossip struct {
	n      *Node
	proto  protocol.ID
	period time.Duration

	mu       sync.Mutex // guards the state machines and desc
	rng      *rand.Rand
	cy       *gossip.Cyclon[peer.ID]
	agg      *gossip.Aggregator
	rank     *gossip.Ranker
	top      *gossip.TopK[peer.ID]
	desc     map[peer.ID]descEntry // what peers said of themselves
	topEpoch uint64

	rep *gossip.Reputation[peer.ID] // safe for concurrent use

	computeFree atomic.Int64 // compute slots free, as the compute layer last said (SetComputeFree)

	cycles        atomic.Int64
	sent, recvd   atomic.Int64 // bytes of gossip messages
	lastSizeEpoch atomic.Uint64
}

// descEntry is a peer's descriptor and whether the peer itself sent it
// (rather than a third party passing on a link to it). Placement uses only
// descriptors from the peer itself.
type descEntry struct {
	d         gossip.Descriptor
	firstHand bool
}

// DefaultGossipPeriod is the default gossip cycle.
const DefaultGossipPeriod = 10 * time.Second

// maxDescs bounds the descriptors kept.
const maxDescs = 4096

func newGossip(n *Node) (*Gossip, error) {
	cfg := n.cfg
	seed := blake3.Sum256([]byte(n.ID()))
	g := &Gossip{
		n: n, proto: cfg.Secret.Protocol(gossipProtoID), period: cfg.GossipPeriod,
		rng:  rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), uint64(time.Now().UnixNano()))),
		desc: map[peer.ID]descEntry{},
	}
	g.computeFree.Store(int64(cfg.ComputeSlots))
	var err error
	if g.cy, err = gossip.NewCyclon(n.ID(), gossip.CyclonConfig{}); err != nil {
		return nil, err
	}
	if g.agg, err = gossip.NewAggregator(gossip.AggConfig{Period: cfg.GossipPeriod, EpochCycles: cfg.GossipEpoch, Attributes: numAttrs}, g.rng); err != nil {
		return nil, err
	}
	self := g.self()
	if g.rank, err = gossip.NewRanker(self.Key, 0); err != nil {
		return nil, err
	}
	if g.top, err = gossip.NewTopK(10, gossip.Item[peer.ID]{Peer: n.ID(), Key: self.Key}); err != nil {
		return nil, err
	}
	// Evidence fades over a day of real time, or a thousand cycles when
	// they are short (tests).
	if g.rep, err = gossip.NewReputation(n.ID(), gossip.ReputationConfig{HalfLife: min(24*time.Hour, 1000*cfg.GossipPeriod)}); err != nil {
		return nil, err
	}
	// Tick once before serving, so no exchange reaches an aggregator that
	// has no clock yet.
	g.agg.Tick(cfg.Now(), g.attrs())
	return g, nil
}

// tie derives a node's tie-breaker from its peer ID.
func tie(p peer.ID) uint64 {
	h := blake3.Sum256([]byte(p))
	return binary.LittleEndian.Uint64(h[:8])
}

// self returns this node's descriptor.
func (g *Gossip) self() gossip.Descriptor {
	st := g.n.store
	d := gossip.Descriptor{Zone: g.n.cfg.Zone, Capacity: st.Capacity(), Free: -1}
	if d.Capacity > 0 {
		d.Free = max(0, d.Capacity-st.Used())
	}
	d.Key = gossip.Key{Value: float64(d.Capacity), Tie: tie(g.n.ID())}
	d.Slots = uint16(g.n.cfg.ComputeSlots) // at most MaxComputeSlots
	d.SlotsFree = uint16(min(max(g.computeFree.Load(), 0), int64(d.Slots)))
	return d
}

// attrs returns this node's aggregated attributes: its share of what
// the nodes of its disk offer together (the disk's size and free space
// if one of them has no quota, their quotas capped by the disk
// otherwise), divided among them so that the cloud counts each disk once
// (disk.go), and the bytes it stores itself. Placement still sees a node
// without a quota as unlimited: it reads descriptors, not these.
func (g *Gossip) attrs() []float64 {
	d := g.n.Disk()
	share := 1 / float64(max(d.Nodes, 1))
	return []float64{
		attrCapacity: float64(d.Capacity) * share,
		attrFree:     float64(max(d.Avail, 0)) * share,
		attrStored:   float64(g.n.store.Used()),
	}
}

// maxSpace bounds the bytes an estimate reports (4 EiB).
const maxSpace = 1 << 62

// totals returns the last completed epoch's estimate: the members, and
// their capacity, free and stored bytes; ok is false until there is one
// that makes sense.
func (g *Gossip) totals() (size, capacity, free, stored float64, ok bool) {
	g.mu.Lock()
	last := g.agg.Last()
	g.mu.Unlock()
	if len(last.Means) != numAttrs || !(last.Size >= 1) || math.IsInf(last.Size, 0) {
		return 0, 0, 0, 0, false
	}
	capacity, free, stored = last.Total(attrCapacity), last.Total(attrFree), last.Total(attrStored)
	for _, v := range []*float64{&capacity, &free, &stored} {
		if math.IsInf(*v, 0) || math.IsNaN(*v) {
			return 0, 0, 0, 0, false
		}
		*v = min(max(*v, 0), maxSpace) // a liar's figures stay in range
	}
	return last.Size, capacity, free, stored, true
}

// run gossips every period until ctx ends.
func (g *Gossip) run(ctx context.Context) { tick(ctx, g.period, func() { g.cycle(ctx) }) }

// cycle runs one gossip cycle: a shuffle and an exchange, in parallel.
func (g *Gossip) cycle(ctx context.Context) {
	g.cycles.Add(1)
	now := g.n.cfg.Now()
	self := g.self()
	attrs := g.attrs() // reads the disk registry: not under the lock
	g.mu.Lock()
	for _, p := range g.n.Peers() { // members met otherwise (invite, DHT, mDNS), while there is room
		g.cy.Add(p)
	}
	g.agg.Tick(now, attrs)
	if e, _ := g.agg.Epoch(); e != g.topEpoch {
		g.topEpoch = e
		g.top.Reset(gossip.Item[peer.ID]{Peer: g.n.ID(), Key: self.Key})
	}
	g.rank.SetOwn(self.Key)
	to, links, shuffling := g.cy.StartShuffle(g.rng, nil)
	var shuffle []byte
	if shuffling {
		msg := &gossip.ShuffleMsg{From: self, Links: g.linksOf(links, self), Reports: g.reports(now)}
		shuffle, _ = gossip.AppendShuffle(nil, gossip.KindShuffle, msg)
	}
	partner, exchanging := g.cy.Sample(g.rng)
	var exchange []byte
	if exchanging {
		msg := &gossip.ExchangeMsg{From: self, Agg: g.agg.Request(), Top: itemsToWire(g.top.Items())}
		exchange, _ = gossip.AppendExchange(nil, gossip.KindExchange, msg)
	}
	g.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, g.period)
	defer cancel()
	var wg sync.WaitGroup
	if shuffling {
		wg.Go(func() { g.shuffleWith(ctx, to, shuffle) })
	}
	if exchanging {
		wg.Go(func() { g.exchangeWith(ctx, partner, exchange) })
	}
	wg.Wait()
	g.pruneDescs()
}

func (g *Gossip) reports(now time.Time) []gossip.Report[string] {
	var out []gossip.Report[string]
	for _, r := range g.rep.Reports(now, 16, g.rng) {
		out = append(out, gossip.Report[string]{Subject: string(r.Subject), Score: r.Score, Weight: r.Weight})
	}
	return out
}

// linksOf turns Cyclon entries into links with the descriptors known.
func (g *Gossip) linksOf(es []gossip.Entry[peer.ID], self gossip.Descriptor) []gossip.Link {
	out := make([]gossip.Link, len(es))
	for i, e := range es {
		de, ok := g.desc[e.Peer]
		d := de.d
		if e.Peer == g.n.ID() {
			d, ok = self, true
		}
		if !ok {
			d.Free = -1
		}
		out[i] = gossip.Link{Peer: string(e.Peer), Age: e.Age, Desc: d}
	}
	return out
}

// entriesOf turns received links into Cyclon entries, keeping their
// descriptors and feeding the ranker; links that do not name a valid peer
// are dropped.
func (g *Gossip) entriesOf(links []gossip.Link) []gossip.Entry[peer.ID] {
	out := make([]gossip.Entry[peer.ID], 0, len(links))
	for _, l := range links {
		p, err := peer.IDFromBytes([]byte(l.Peer))
		if err != nil {
			continue
		}
		out = append(out, gossip.Entry[peer.ID]{Peer: p, Age: l.Age})
		if p != g.n.ID() {
			// A third party's word for a peer: a ranking sample, and a
			// descriptor only until the peer speaks for itself.
			if _, ok := g.desc[p]; !ok {
				g.setDesc(p, descEntry{d: l.Desc})
			}
			g.rank.Observe(l.Desc.Key)
		}
	}
	return out
}

// hear takes a message's reports and descriptor from its sender.
func (g *Gossip) hear(from peer.ID, d gossip.Descriptor, reports []gossip.Report[string], now time.Time) {
	g.setDesc(from, descEntry{d: d, firstHand: true})
	g.rank.Observe(d.Key)
	if len(reports) == 0 {
		return
	}
	rs := make([]gossip.Report[peer.ID], 0, len(reports))
	for _, r := range reports {
		if p, err := peer.IDFromBytes([]byte(r.Subject)); err == nil {
			rs = append(rs, gossip.Report[peer.ID]{Subject: p, Score: r.Score, Weight: r.Weight})
		}
	}
	g.rep.Hear(from, rs, now)
}

func (g *Gossip) shuffleWith(ctx context.Context, to peer.ID, req []byte) {
	b, err := g.call(ctx, to, req)
	var m *gossip.ShuffleMsg
	if err == nil {
		var kind byte
		if kind, m, err = gossip.ParseShuffle(b); err == nil && kind != gossip.KindShuffleReply {
			err = fmt.Errorf("%w: a shuffle answered with kind %d", gossip.ErrWire, kind)
		}
	}
	now := g.n.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.cy.ShuffleFailed(to)
		g.rep.Observe(to, gossip.ProbeUnanswered, now)
		g.n.log.Debug("gossip shuffle failed", "peer", to.ShortString(), "err", err)
		return
	}
	g.rep.Observe(to, gossip.ProbeAnswered, now)
	g.hear(to, m.From, m.Reports, now)
	g.cy.HandleReply(to, g.entriesOf(m.Links))
}

func (g *Gossip) exchangeWith(ctx context.Context, to peer.ID, req []byte) {
	b, err := g.call(ctx, to, req)
	var m *gossip.ExchangeMsg
	if err == nil {
		var kind byte
		if kind, m, err = gossip.ParseExchange(b); err == nil && kind != gossip.KindExchangeRepl {
			err = fmt.Errorf("%w: an exchange answered with kind %d", gossip.ErrWire, kind)
		}
	}
	now := g.n.cfg.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.rep.Observe(to, gossip.ProbeUnanswered, now)
		g.n.log.Debug("gossip exchange failed", "peer", to.ShortString(), "err", err)
		return
	}
	g.rep.Observe(to, gossip.ProbeAnswered, now)
	g.hear(to, m.From, nil, now)
	g.agg.HandleReply(m.Agg)
	g.top.Merge(g.itemsOf(m.Top))
}

func (g *Gossip) itemsOf(items []gossip.Item[string]) []gossip.Item[peer.ID] {
	out := make([]gossip.Item[peer.ID], 0, len(items))
	for _, it := range items {
		if p, err := peer.IDFromBytes([]byte(it.Peer)); err == nil {
			out = append(out, gossip.Item[peer.ID]{Peer: p, Key: it.Key})
		}
	}
	return out
}

func itemsToWire(items []gossip.Item[peer.ID]) []gossip.Item[string] {
	out := make([]gossip.Item[string], len(items))
	for i, it := range items {
		out[i] = gossip.Item[string]{Peer: string(it.Peer), Key: it.Key}
	}
	return out
}

// call sends one gossip message to p and returns the answer. A peer met
// only through gossip links, with no address known, is looked up in the
// DHT first.
func (g *Gossip) call(ctx context.Context, p peer.ID, req []byte) ([]byte, error) {
	h := g.n.host
	if h.Network().Connectedness(p) != network.Connected && len(h.Peerstore().Addrs(p)) == 0 {
		ai, err := g.n.dht.FindPeer(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("find %s: %w", p.ShortString(), err)
		}
		h.Peerstore().AddAddrs(ai.ID, ai.Addrs, time.Hour)
	}
	s, err := h.NewStream(allowLimited(ctx), p, g.proto)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if err := proto.WriteFrame(s, req); err != nil {
		return nil, err
	}
	if err := s.CloseWrite(); err != nil {
		return nil, err
	}
	g.sent.Add(int64(len(req)))
	b, err := readGossipFrame(s)
	g.recvd.Add(int64(len(b)))
	return b, err
}

func readGossipFrame(r io.Reader) ([]byte, error) {
	br := bufio.NewReaderSize(r, 512)
	size, err := proto.ReadFrameSize(br, gossip.MaxWireSize)
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, fmt.Errorf("%w: truncated frame: %v", gossip.ErrWire, err)
	}
	return b, nil
}

// serve answers one gossip request.
func (g *Gossip) serve(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	_ = s.SetDeadline(time.Now().Add(g.period))
	req, err := readGossipFrame(s)
	if err != nil {
		s.Reset()
		return
	}
	g.recvd.Add(int64(len(req)))
	reply, err := g.answer(from, req)
	if err != nil {
		g.n.log.Debug("bad gossip message", "peer", from.ShortString(), "err", err)
		s.Reset()
		return
	}
	if proto.WriteFrame(s, reply) == nil {
		g.sent.Add(int64(len(reply)))
	}
}

// answer handles one request from a peer and returns the reply.
func (g *Gossip) answer(from peer.ID, req []byte) ([]byte, error) {
	kind, err := gossip.MessageKind(req)
	if err != nil {
		return nil, err
	}
	now := g.n.cfg.Now()
	self := g.self()
	g.mu.Lock()
	defer g.mu.Unlock()
	// A request is not counted as a probe answered: a peer could send
	// them at will to raise its own rating. Probes are this node's own.
	switch kind {
	case gossip.KindShuffle:
		_, m, err := gossip.ParseShuffle(req)
		if err != nil {
			return nil, err
		}
		g.hear(from, m.From, m.Reports, now)
		reply := g.cy.HandleShuffle(from, g.entriesOf(m.Links), g.rng, nil)
		out := &gossip.ShuffleMsg{From: self, Links: g.linksOf(reply, self), Reports: g.reports(now)}
		return gossip.AppendShuffle(nil, gossip.KindShuffleReply, out)
	case gossip.KindExchange:
		_, m, err := gossip.ParseExchange(req)
		if err != nil {
			return nil, err
		}
		g.hear(from, m.From, nil, now)
		g.cy.Add(from)
		reply := &gossip.ExchangeMsg{From: self, Agg: g.agg.HandleRequest(m.Agg), Top: itemsToWire(g.top.Items())}
		g.top.Merge(g.itemsOf(m.Top))
		return gossip.AppendExchange(nil, gossip.KindExchangeRepl, reply)
	}
	return nil, fmt.Errorf("%w: kind %d is not a request", gossip.ErrWire, kind)
}

// setDesc stores a descriptor, within maxDescs: when full, a second-hand
// one makes room by pruning, and is dropped if that frees nothing.
func (g *Gossip) setDesc(p peer.ID, e descEntry) {
	if _, ok := g.desc[p]; !ok && len(g.desc) >= maxDescs {
		g.pruneLocked()
		if len(g.desc) >= maxDescs && !e.firstHand {
			return
		}
	}
	g.desc[p] = e
}

// pruneDescs forgets descriptors of peers neither in view nor connected
// once there are too many.
func (g *Gossip) pruneDescs() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.desc) > maxDescs*3/4 {
		g.pruneLocked()
	}
}

func (g *Gossip) pruneLocked() {
	keep := map[peer.ID]bool{}
	for _, e := range g.cy.View() {
		keep[e.Peer] = true
	}
	for _, p := range g.n.Peers() {
		keep[p] = true
	}
	for p := range g.desc {
		if !keep[p] {
			delete(g.desc, p)
		}
	}
}

// Observe records the outcome of an interaction with a peer (a shard
// transfer, an audit) in this node's reputation book.
func (n *Node) Observe(p peer.ID, o gossip.Outcome) {
	if p != n.ID() {
		n.gossip.rep.Observe(p, o, n.cfg.Now())
	}
}

// GossipStatus is what gossip has taught a node.
type GossipStatus struct {
	Cycles      int64        `json:"cycles"`
	Epoch       uint64       `json:"epoch"`
	Size        float64      `json:"size"`            // estimated members, from the last completed epoch
	Instances   int          `json:"instances"`       // counting instances it is the median of
	Capacity    float64      `json:"capacity"`        // total bytes the members offer
	Free        float64      `json:"free"`            // total bytes they can still take
	Stored      float64      `json:"stored"`          // total bytes they store
	View        int          `json:"view"`            // links in the Cyclon view
	Rank        float64      `json:"rank"`            // this node's rank by capacity, 0 lowest
	Slice       int          `json:"slice"`           // of 10, by capacity
	BytesPerCyc float64      `json:"bytes_per_cycle"` // gossip traffic, sent and received
	Peers       []PeerStatus `json:"peers"`
}

// PeerStatus is this node's view of one member.
type PeerStatus struct {
	ID          string  `json:"id"`
	Zone        string  `json:"zone,omitempty"`
	Reliability float64 `json:"reliability"`
	Evidence    float64 `json:"evidence"`
	Free        int64   `json:"free"`
	Slots       int     `json:"slots,omitempty"`      // compute slots it offers
	SlotsFree   int     `json:"slots_free,omitempty"` // of which free, by its last descriptor
}

// GossipStatus returns what gossip has taught this node.
func (n *Node) GossipStatus() GossipStatus {
	g := n.gossip
	now := n.cfg.Now()
	g.mu.Lock()
	last := g.agg.Last()
	epoch, _ := g.agg.Epoch()
	st := GossipStatus{
		Cycles: g.cycles.Load(), Epoch: epoch, Size: last.Size, Instances: last.Instances,
		View: g.cy.Len(), Rank: g.rank.Rank(), Slice: g.rank.Slice(10),
	}
	if len(last.Means) == numAttrs {
		st.Capacity, st.Free, st.Stored = last.Total(attrCapacity), last.Total(attrFree), last.Total(attrStored)
	}
	descs := make(map[peer.ID]gossip.Descriptor, len(g.desc))
	for p, e := range g.desc {
		descs[p] = e.d
	}
	g.mu.Unlock()
	for _, v := range []*float64{&st.Size, &st.Capacity, &st.Free, &st.Stored} {
		if math.IsInf(*v, 0) || math.IsNaN(*v) {
			*v = 0 // unknown: a member sent figures that make no sense
		}
	}
	if c := st.Cycles; c > 0 {
		st.BytesPerCyc = float64(g.sent.Load()+g.recvd.Load()) / float64(c)
	}
	for _, p := range n.Peers() {
		r := g.rep.Score(p, now)
		d, ok := descs[p]
		if !ok {
			d.Free = -1
		}
		st.Peers = append(st.Peers, PeerStatus{ID: p.String(), Zone: d.Zone, Reliability: r.Value, Evidence: r.Evidence, Free: d.Free,
			Slots: int(d.Slots), SlotsFree: int(d.SlotsFree)})
	}
	return st
}

// candidates describes members for placement: their rating in this
// node's book, their zone and free space as they gossip them, and their
// subnet and host from the address this node reaches them at.
func (n *Node) candidates(members []peer.ID) []placement.Candidate {
	g := n.gossip
	now := n.cfg.Now()
	self := g.self()
	g.mu.Lock()
	descs := make([]gossip.Descriptor, len(members))
	known := make([]bool, len(members))
	for i, p := range members {
		e, ok := g.desc[p]
		descs[i], known[i] = e.d, ok && e.firstHand
		if p == n.ID() {
			descs[i], known[i] = self, true
		}
	}
	g.mu.Unlock()
	out := make([]placement.Candidate, len(members))
	for i, p := range members {
		c := placement.Candidate{ID: string(p), Free: -1, Reliability: -1}
		if known[i] {
			c.Zone, c.Free = descs[i].Zone, descs[i].Free
		}
		if p == n.ID() {
			// A node vouches for itself only as far as it is up: it is.
			c.Reliability, c.Evidence = 1, selfEvidence
		} else {
			r := g.rep.Score(p, now)
			c.Reliability, c.Evidence = r.Value, r.Evidence
			c.Subnet, c.Host = n.whereIs(p)
		}
		out[i] = c
	}
	return out
}

// selfEvidence is the evidence a node has of itself being up.
const selfEvidence = 1e6

// whereIs returns the /24 (IPv4) or /48 (IPv6) and the IP of the address
// this node's connection to p uses.
func (n *Node) whereIs(p peer.ID) (subnet, host string) {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		ip, err := manet.ToIP(c.RemoteMultiaddr())
		if err != nil {
			continue
		}
		mask := net.CIDRMask(48, 128)
		if ip4 := ip.To4(); ip4 != nil {
			ip, mask = ip4, net.CIDRMask(24, 32)
		}
		return ip.Mask(mask).String(), ip.String()
	}
	return "", ""
}

// AssumedAvailability is the availability assumed of members while this
// node has too little evidence to rate them.
const AssumedAvailability = 0.9

// CodeParams returns the figures from gossip that choosing a drive's k and
// m needs: how many members can hold a shard of a stripe (the size
// estimate, but no more than this node and the members it is connected
// to) and their mean availability as this node rates them, or
// AssumedAvailability while it has seen less than vetting needs. At
// least two members may vanish once the cloud has six or more.
func (n *Node) CodeParams(target float64) placement.CodeParams {
	return n.CodeParamsFrom(n.GossipStatus(), target)
}

// CodeParamsFrom is CodeParams from a GossipStatus already in hand.
func (n *Node) CodeParamsFrom(est GossipStatus, target float64) placement.CodeParams {
	peers := 1 + len(n.Peers())
	if est.Size >= 1 && est.Size <= 1e6 {
		peers = min(peers, int(math.Round(est.Size)))
	}
	var sum, evidence float64
	for _, p := range est.Peers {
		sum += p.Reliability
		evidence += p.Evidence
	}
	avail := AssumedAvailability
	if k := len(est.Peers); k > 0 && evidence/float64(k) >= vetted {
		avail = sum / float64(k)
	}
	minM := 1
	if peers >= 6 {
		minM = 2
	}
	return placement.CodeParams{Peers: peers, Availability: avail, Target: target, MinM: minM, MaxK: maxK}
}

// maxK bounds the data shards of a stripe the daemon writes: wider
// stripes save little storage and make a degraded read fetch more.
const maxK = 8

// vetted is the evidence per member after which this node trusts its own
// ratings for choosing a code.
const vetted = 8
