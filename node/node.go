package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p"
	dht "github.com/libp2p/go-libp2p-kad-dht"
	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/routing"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	lpswarm "github.com/libp2p/go-libp2p/p2p/net/swarm"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// Config configures a Node. Zero fields take the defaults shown.
type Config struct {
	Dir    string      // required: identity key and shard store live here
	Secret CloudSecret // required: the cloud's secret

	// ListenAddrs are multiaddrs to listen on. Default: TCP on 127.0.0.1,
	// a port the system picks. TCP only (the private network wraps TCP).
	ListenAddrs []string
	Capacity    int64 // bytes of shards this node stores for others; 0: no quota

	// Lease is how long a shard this node puts on a peer is held before
	// it must be renewed. Default 7 days.
	Lease time.Duration
	// ReclaimEvery is how often the node deletes the shards whose leases
	// have all expired and gives their space back. Default 1 hour.
	ReclaimEvery time.Duration
	// RequestTimeout bounds one shard request without a deadline of its
	// own. Default 60 s.
	RequestTimeout time.Duration
	// Zone is the failure zone an operator puts the node in ("office",
	// "home"); placement spreads a stripe over zones first.
	Zone string
	// GossipPeriod is the gossip cycle (default 10 s) and GossipEpoch the
	// cycles per aggregation epoch (default 30).
	GossipPeriod time.Duration
	GossipEpoch  int
	// MDNS makes the node announce itself on the LAN and connect to the
	// members of its cloud it hears there, with no invite addresses.
	MDNS bool
	// NoNAT turns NAT traversal off (relays, AutoNAT, hole punching:
	// nat.go); Reachability forces it: ReachPublic, ReachPrivate or
	// ReachAuto (AutoNAT decides).
	NoNAT        bool
	Reachability string
	// ProviderRefresh is how often the node announces again, in one sweep
	// of its store, a provider record for every shard it holds, so that
	// none expires while it holds the shard. Default 22 h; it must be
	// shorter than ProviderValidity.
	ProviderRefresh time.Duration
	// ProviderValidity is how long the node keeps a provider record that
	// a member announced to it. Default 48 h (kad-dht's).
	ProviderValidity time.Duration
	// DiskRegistry is the host's registry of disks, where the nodes whose
	// stores share a filesystem find each other so that they count it
	// once (disk.go). Every node of a host should use the same one.
	// Default DefaultDiskRegistry.
	DiskRegistry string

	// Audit tunes the audits of co-holders and the scrubs of this node's
	// own shards (audit.Config: by default each shard held elsewhere is
	// audited by two of its co-holders at least once a day, and each own
	// shard re-hashed once a week at up to 4 MiB/s).
	Audit audit.Config
	// Repair tunes the repairs of the stripes this node holds (repair.go:
	// by default at most 1 MiB/s of repair traffic, lazy repair).
	Repair RepairConfig

	// ComputeSlots is how many compute jobs the node offers to run at
	// once, gossiped in its descriptor (0, the default: it runs none; at
	// most MaxComputeSlots). ComputeMemory is the memory a job may take,
	// in bytes: local policy, not gossiped. Default DefaultComputeMemory
	// when ComputeSlots > 0. The node only announces the slots; the
	// compute layer runs the jobs and reports its free slots
	// (SetComputeFree).
	ComputeSlots  int
	ComputeMemory int64

	// Registerer, if set, is where libp2p registers its own metrics
	// (package metrics gives one per process); nil: libp2p's metrics are
	// off. OnRequest, if set, is told of every shard request the node
	// serves: its operation (proto.Op's name, "bad" when it did not
	// parse), how long serving it took, and whether it succeeded. It is
	// called from the serving goroutines and must not block.
	Registerer prometheus.Registerer
	OnRequest  func(op string, took time.Duration, ok bool)

	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now

	// manualAudits, for tests, runs no audit loop: the test steps the
	// Auditor itself on its own clock (export_test.go).
	manualAudits bool
	// testAnswers, for tests, answers audit challenges in place of the
	// store when it returns true: a cheating holder.
	testAnswers func(*proof.Challenge) (proto.AuditAnswer, bool)
	// testHasAll, for tests, makes the node say it has every shard it is
	// asked about.
	testHasAll bool

	// onDHTRequest, for tests and benchmarks, sees the type of every DHT
	// request the node receives.
	onDHTRequest func(pb.Message_MessageType)
}

func (c Config) withDefaults() (Config, error) {
	if c.Dir == "" {
		return c, errors.New("node: Config.Dir is required")
	}
	if c.Secret == (CloudSecret{}) {
		return c, fmt.Errorf("%w: Config.Secret is required", ErrBadSecret)
	}
	if len(c.ListenAddrs) == 0 {
		c.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
	}
	if c.Lease <= 0 {
		c.Lease = 7 * 24 * time.Hour
	}
	if c.Lease > proto.MaxLease*time.Second {
		return c, fmt.Errorf("node: lease %v exceeds %v", c.Lease, proto.MaxLease*time.Second)
	}
	if c.ProviderRefresh <= 0 {
		c.ProviderRefresh = 22 * time.Hour
	}
	if c.ProviderValidity <= 0 {
		c.ProviderValidity = 48 * time.Hour
	}
	if c.ProviderRefresh >= c.ProviderValidity {
		return c, fmt.Errorf("node: provider refresh %v is not shorter than the records' validity %v", c.ProviderRefresh, c.ProviderValidity)
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.ReclaimEvery <= 0 {
		c.ReclaimEvery = time.Hour
	}
	if c.GossipPeriod <= 0 {
		c.GossipPeriod = DefaultGossipPeriod
	}
	if c.GossipEpoch <= 0 {
		c.GossipEpoch = 30
	}
	if len(c.Zone) > gossip.MaxZoneLen {
		return c, fmt.Errorf("node: zone %q is longer than %d bytes", c.Zone, gossip.MaxZoneLen)
	}
	if c.DiskRegistry == "" {
		c.DiskRegistry = DefaultDiskRegistry
	}
	if c.ComputeSlots < 0 || c.ComputeSlots > MaxComputeSlots {
		return c, fmt.Errorf("node: %d compute slots, want 0 to %d", c.ComputeSlots, MaxComputeSlots)
	}
	if c.ComputeMemory < 0 {
		return c, fmt.Errorf("node: compute memory %d bytes is negative", c.ComputeMemory)
	}
	if c.ComputeSlots > 0 && c.ComputeMemory == 0 {
		c.ComputeMemory = DefaultComputeMemory
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}

// Node is one Murmur peer: a libp2p host in the cloud's private network,
// the shard store it keeps for others, and the shard protocol that serves
// it.
type Node struct {
	cfg   Config
	host  host.Host
	dht   *dht.IpfsDHT
	store *badgerstore.Store
	shard protocol.ID
	log   *slog.Logger
	key   ed25519.PrivateKey // the identity key, which signs this node's stripes' retentions

	bw *metrics.BandwidthCounter // bytes in and out over libp2p (traffic.go)

	audits   *audits
	repairs  *repairs
	announce *announcer
	gossip   *Gossip
	disk     diskState
	stopBG   context.CancelFunc // stops the node's background work
	bg       sync.WaitGroup
	mdns     interface{ Close() error }
	reach    atomic.Value // string: public, private, unknown (nat.go)

	mu       sync.Mutex
	closing  bool
	handlers sync.WaitGroup // shard requests being served
}

// Per-peer bounds on the shard protocol, enforced by libp2p's resource
// manager, so one peer's flood cannot take the node down: at most this
// many concurrent inbound requests and this much memory for their frames.
const (
	peerStreams = 32
	peerMemory  = 128 << 20
	allStreams  = 512
	allMemory   = 512 << 20
)

// New starts a node: it opens the store in cfg.Dir and starts a host
// listening on cfg.ListenAddrs in the cloud's private network.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	key, err := LoadIdentity(cfg.Dir)
	if err != nil {
		return nil, err
	}
	owner, err := ownerKeyOf(key)
	if err != nil {
		return nil, err
	}
	st, err := badgerstore.Open(badgerstore.Config{
		Dir: filepath.Join(cfg.Dir, "shards"), Capacity: cfg.Capacity,
		Logger: cfg.Logger, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, store: st, shard: cfg.Secret.Protocol(proto.ID), log: cfg.Logger, key: owner, bw: metrics.NewBandwidthCounter()}

	limits := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&limits)
	// A stream, and so its peer, must be able to hold one frame of the
	// largest shard; the shard protocol's own limits below bound the rest.
	frame := int64(proto.MaxFrame) + 1<<20
	limits.StreamBaseLimit.Memory = max(limits.StreamBaseLimit.Memory, frame)
	limits.PeerBaseLimit.Memory = max(limits.PeerBaseLimit.Memory, 2*frame)
	limits.AddProtocolLimit(n.shard,
		rcmgr.BaseLimit{Streams: allStreams, StreamsInbound: allStreams, StreamsOutbound: allStreams, Memory: allMemory},
		rcmgr.BaseLimitIncrease{})
	limits.AddProtocolPeerLimit(n.shard,
		rcmgr.BaseLimit{Streams: 2 * peerStreams, StreamsInbound: peerStreams, StreamsOutbound: peerStreams, Memory: peerMemory},
		rcmgr.BaseLimitIncrease{})
	var rmOpts []rcmgr.Option
	if cfg.Registerer != nil {
		// The resource manager's series (libp2p registers them when its
		// metrics are on; this one is ours, so it reports to them).
		str, _ := rcmgr.NewStatsTraceReporter() // never fails
		rmOpts = append(rmOpts, rcmgr.WithTraceReporter(str))
	}
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()), rmOpts...)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("node: resource manager: %w", err)
	}
	ref := new(hostRef)
	nat, err := natOptions(cfg, ref)
	if err != nil {
		st.Close()
		return nil, err
	}
	h, err := libp2p.New(append(nat,
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(privateTCP(cfg.Secret)), // the private network: private.go
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.ResourceManager(rm),
		libp2p.BandwidthReporter(n.bw),
		libp2p.UserAgent("murmur"),
		libp2pMetrics(cfg.Registerer),
	)...)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("node: start host: %w", err)
	}
	n.host = h
	ref.set(h)
	// The Kademlia DHT, under the cloud's own protocol prefix so it only
	// ever talks to members, with the validator of drive-root records.
	//
	// The records put to it (drive roots) are kept in the store's
	// database, so that a drive outlives a restart of every node of its
	// cloud, and they never expire: a root is only ever replaced by a
	// newer one (RootValidator.Select), and a drive nobody has written for
	// a year must still be found. (kad-dht stamps a record with the time it
	// was received and treats one older than MaxRecordAge as absent,
	// default 48 h; a non-positive age turns that off, and the sweep that
	// deletes old records with it.) Provider records stay in memory:
	// there is one per shard held, they churn, and the node announces
	// them again after a restart (announcer).
	opts := []dht.Option{
		dht.Mode(dht.ModeServer),
		dht.ProtocolPrefix(cfg.Secret.Protocol("")),
		dht.NamespacedValidator(RootNamespace, RootValidator{}),
		dht.Datastore(st.Records()),
		dht.MaxRecordAge(0),
		dht.ProviderDatastore(dssync.MutexWrap(ds.NewMapDatastore())),
		dht.ProviderManagerOpts(records.ProvideValidity(cfg.ProviderValidity)),
	}
	if f := cfg.onDHTRequest; f != nil {
		opts = append(opts, dht.OnRequestHook(func(_ context.Context, _ network.Stream, m *pb.Message) { f(m.GetType()) }))
	}
	kad, err := dht.New(h, opts...)
	if err != nil {
		h.Close()
		st.Close()
		return nil, fmt.Errorf("node: start DHT: %w", err)
	}
	n.dht = kad
	if n.announce, err = newAnnouncer(n); err != nil {
		kad.Close()
		h.Close()
		st.Close()
		return nil, fmt.Errorf("node: start announcer: %w", err)
	}
	var bg context.Context
	bg, n.stopBG = context.WithCancel(context.Background())
	n.bg.Go(func() { n.reclaimLoop(bg, cfg.ReclaimEvery) })
	if err := n.watchReachability(bg); err != nil {
		n.Close()
		return nil, err
	}
	n.openDisk() // before gossip: its first values count the disk
	n.bg.Go(func() { tick(bg, diskRefresh, n.refreshDisk) })
	if n.gossip, err = newGossip(n); err != nil {
		n.Close()
		return nil, err
	}
	h.SetStreamHandler(n.gossip.proto, func(s network.Stream) { n.tracked(s, n.gossip.serve) })
	n.bg.Go(func() { n.gossip.run(bg) })
	if n.audits, err = newAudits(n); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.audits.load(bg); err != nil {
		n.Close()
		return nil, fmt.Errorf("node: load the stripe records: %w", err)
	}
	h.SetStreamHandler(n.audits.proto, func(s network.Stream) { n.tracked(s, n.audits.serve) })
	if !cfg.manualAudits {
		n.bg.Go(func() { n.audits.run(bg) })
	}
	if err := n.startRepairs(bg); err != nil {
		n.Close()
		return nil, err
	}
	h.SetStreamHandler(n.shard, n.serveTracked)
	if cfg.MDNS {
		if err := n.startMDNS(); err != nil {
			n.Close()
			return nil, err
		}
	}
	return n, nil
}

// serveTracked serves a request unless the node is closing, so Close can
// wait for every request to leave the store before closing it.
func (n *Node) serveTracked(s network.Stream) { n.tracked(s, n.serve) }

func (n *Node) tracked(s network.Stream, serve func(network.Stream)) {
	n.mu.Lock()
	if n.closing {
		n.mu.Unlock()
		s.Reset()
		return
	}
	n.handlers.Add(1)
	n.mu.Unlock()
	defer n.handlers.Done()
	serve(s)
}

// Close stops the DHT and the host (which resets open streams), waits for
// the requests being served, and then closes the store (whose Records wait
// for, or refuse, the DHT's handlers that are still running).
func (n *Node) Close() error {
	n.mu.Lock()
	n.closing = true
	n.mu.Unlock()
	var err error
	if n.mdns != nil {
		err = n.mdns.Close()
	}
	n.announce.close()
	n.stopBG()
	if n.repairs != nil {
		n.repairs.close()
	}
	n.bg.Wait()
	err = errors.Join(err, n.closeDisk(), n.dht.Close(), n.host.Close())
	n.handlers.Wait()
	return errors.Join(err, n.store.Close())
}

// ErrNoRoot reports a drive the DHT holds no root record for.
var ErrNoRoot = errors.New("node: no root record for this drive")

// PublishRoot puts a drive-root record into the DHT. A record whose seq is
// not above that of the newest record the DHT holds for the drive is
// refused with an error matching rootrec.ErrStale. The DHT alone would
// only refuse a record older than this node's own copy, and would take
// another record of the same seq, so the newest is looked up first; two
// writers racing with the same seq are the drive's lease's to prevent.
func (n *Node) PublishRoot(ctx context.Context, r *RootRecord) error {
	b, err := r.MarshalBinary()
	if err != nil {
		return err
	}
	if err := (RootValidator{}).Validate(RootKey(r.Drive), b); err != nil {
		return fmt.Errorf("node: publish root of seq %d: %w", r.Seq, err)
	}
	held, err := n.LookupRoot(ctx, r.Drive)
	switch {
	case errors.Is(err, ErrNoRoot):
		held = nil
	case err != nil:
		return fmt.Errorf("node: publish root of seq %d: %w", r.Seq, err)
	}
	if err := rootrec.CheckNewer(r, held); err != nil {
		return fmt.Errorf("node: publish root: %w", err)
	}
	if err := n.dht.PutValue(ctx, RootKey(r.Drive), b); err != nil {
		return fmt.Errorf("node: publish root of seq %d: %w", r.Seq, err)
	}
	return nil
}

// LookupRoot finds the newest valid root record of a drive in the DHT, or
// returns an error matching ErrNoRoot if the DHT holds none.
func (n *Node) LookupRoot(ctx context.Context, drive ed25519.PublicKey) (*RootRecord, error) {
	b, err := n.dht.GetValue(ctx, RootKey(drive), dht.Quorum(3))
	if errors.Is(err, routing.ErrNotFound) {
		return nil, fmt.Errorf("node: look up drive root: %w: %w", ErrNoRoot, err)
	}
	if err != nil {
		return nil, fmt.Errorf("node: look up drive root: %w", err)
	}
	return ParseRootRecord(b)
}

// CloudID returns the public name of the node's cloud.
func (n *Node) CloudID() string { return n.cfg.Secret.CloudID() }

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Host returns the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// Store returns the node's own shard store.
func (n *Node) Store() *badgerstore.Store { return n.store }

// AddrInfo returns the node's ID and listen addresses.
func (n *Node) AddrInfo() peer.AddrInfo {
	return peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()}
}

// Addrs returns the node's full multiaddrs (with /p2p/ID), for invites.
func (n *Node) Addrs() []multiaddr.Multiaddr {
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: n.host.ID(), Addrs: n.host.Addrs()})
	if err != nil {
		return nil
	}
	return addrs
}

// Connect connects to a peer of the cloud.
//
// An explicit connect is a deliberate request: it is not refused because a
// background dial (the DHT, autorelay, a repair probe) to the same peer
// failed moments ago, as it would be while the peer was down and is when it
// has just come back on the same address.
func (n *Node) Connect(ctx context.Context, ai peer.AddrInfo) error {
	if sw, ok := n.host.Network().(*lpswarm.Swarm); ok {
		sw.Backoff().Clear(ai.ID)
	}
	if err := n.host.Connect(ctx, ai); err != nil {
		return fmt.Errorf("node: connect to %s: %w", ai.ID.ShortString(), err)
	}
	return nil
}

// Peers returns the peers this node is connected to.
func (n *Node) Peers() []peer.ID {
	var out []peer.ID
	for _, p := range n.host.Network().Peers() {
		if n.host.Network().Connectedness(p) == network.Connected {
			out = append(out, p)
		}
	}
	return out
}
