package node

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/autorelay"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	ma "github.com/multiformats/go-multiaddr"
)

// Peers behind NAT (issue 14).
//
// Every node runs AutoNAT (v2, and the v1 dial-back service for its
// members, whose answers are what tells a home PC in a small cloud that it
// is private) to learn whether it is reachable from the outside. A member AutoNAT finds publicly reachable starts a circuit relay
// v2 service (libp2p starts it on the reachability event); a member behind
// a home router reserves a slot on a relay chosen among the cloud's own
// connected members (natPeerSource) and advertises the circuit address;
// DCUtR then tries to upgrade a relayed connection to a direct one by a
// TCP simultaneous open. Relaying stays within the cloud: every
// connection, the one to the relay included, is a privateTCP connection
// gated by the cloud's PSK (private.go), so a stranger can neither reach
// the relay nor be relayed by it.

// Reachability values for Config.Reachability.
const (
	ReachAuto    = ""        // AutoNAT decides
	ReachPublic  = "public"  // forced: the node is reachable, runs a relay
	ReachPrivate = "private" // forced: the node is behind NAT, uses relays
)

// relayResources are sized for a cloud: a relayed connection carries whole
// shard transfers, so it has no data or time limit (the tiny defaults cut
// a connection after 128 KiB or 2 min), and a member relays for many peers.
func relayResources() relayv2.Resources {
	rc := relayv2.DefaultResources()
	rc.Limit = nil // no per-connection data or duration limit
	rc.ReservationTTL = time.Hour
	rc.MaxReservations = 1024
	rc.MaxCircuits = 64
	rc.BufferSize = 256 << 10
	rc.MaxReservationsPerIP = 64
	rc.MaxReservationsPerASN = 256
	return rc
}

// hostRef holds the host for the relay peer source, which libp2p may call
// before libp2p.New has returned.
type hostRef struct{ h atomic.Pointer[host.Host] }

func (r *hostRef) set(h host.Host) { r.h.Store(&h) }

// peerSource offers the cloud's connected members, with direct (not
// relayed) connections, as relay candidates.
func (r *hostRef) peerSource(ctx context.Context, num int) <-chan peer.AddrInfo {
	ch := make(chan peer.AddrInfo, num)
	defer close(ch)
	hp := r.h.Load()
	if hp == nil {
		return ch
	}
	h := *hp
	for _, p := range h.Network().Peers() {
		if len(ch) == num {
			break
		}
		if connKind(h, p) != "direct" {
			continue
		}
		ch <- peer.AddrInfo{ID: p, Addrs: h.Peerstore().Addrs(p)}
	}
	return ch
}

// natOptions are the libp2p options for NAT traversal, or DisableRelay
// when cfg.NoNAT.
func natOptions(cfg Config, ref *hostRef) ([]libp2p.Option, error) {
	if cfg.NoNAT {
		return []libp2p.Option{libp2p.DisableRelay()}, nil
	}
	opts := []libp2p.Option{
		libp2p.EnableRelay(),
		libp2p.EnableAutoNATv2(),
		libp2p.EnableNATService(),
		libp2p.EnableHolePunching(),
		libp2p.EnableRelayService(relayv2.WithResources(relayResources())),
		libp2p.EnableAutoRelayWithPeerSource(ref.peerSource,
			autorelay.WithMinInterval(5*time.Second),
			autorelay.WithBootDelay(0),
			autorelay.WithNumRelays(1),
			autorelay.WithMinCandidates(1)),
	}
	switch cfg.Reachability {
	case ReachAuto:
	case ReachPublic:
		opts = append(opts, libp2p.ForceReachabilityPublic())
	case ReachPrivate:
		opts = append(opts, libp2p.ForceReachabilityPrivate())
	default:
		return nil, fmt.Errorf("node: reachability %q: want public, private or empty", cfg.Reachability)
	}
	return opts, nil
}

// allowLimited lets a stream open on a relayed (Limited) connection: the
// cloud's relays carry no data limit (relayResources).
func allowLimited(ctx context.Context) context.Context {
	return network.WithAllowLimitedConn(ctx, "murmur: relays carry whole transfers")
}

// Reachability is the node's reachability as AutoNAT last found it:
// "public", "private" or "unknown".
func (n *Node) Reachability() string {
	if s, ok := n.reach.Load().(string); ok {
		return s
	}
	return "unknown"
}

// ConnKind is "direct" or "relayed" for the node's connection to p, or ""
// when there is none.
func (n *Node) ConnKind(p peer.ID) string { return connKind(n.host, p) }

// connKind tells a relayed connection by its /p2p-circuit address: with
// no relay limit (relayResources) libp2p does not mark it Limited.
func connKind(h host.Host, p peer.ID) string {
	kind := ""
	for _, c := range h.Network().ConnsToPeer(p) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err != nil {
			return "direct"
		}
		kind = "relayed"
	}
	return kind
}

// watchReachability keeps n.reach up to date from AutoNAT's events.
func (n *Node) watchReachability(ctx context.Context) error {
	n.reach.Store("unknown")
	switch n.cfg.Reachability {
	case ReachPublic, ReachPrivate:
		n.reach.Store(n.cfg.Reachability)
	}
	sub, err := n.host.EventBus().Subscribe(new(event.EvtLocalReachabilityChanged))
	if err != nil {
		return fmt.Errorf("node: reachability events: %w", err)
	}
	n.bg.Go(func() {
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				switch e.(event.EvtLocalReachabilityChanged).Reachability {
				case network.ReachabilityPublic:
					n.reach.Store("public")
				case network.ReachabilityPrivate:
					n.reach.Store("private")
				default:
					n.reach.Store("unknown")
				}
			}
		}
	})
	return nil
}
