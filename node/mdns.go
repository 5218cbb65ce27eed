package node

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
)

// mdnsService is the DNS-SD service name a cloud's nodes announce on the
// LAN: derived from the cloud ID, so nodes of one cloud find each other
// and ignore others (which could not connect anyway, lacking the secret).
func (s CloudSecret) mdnsService() string { return "_murmur-" + s.CloudID() + "._udp" }

// mdnsNotifee connects to every member mDNS finds.
type mdnsNotifee struct{ n *Node }

func (m mdnsNotifee) HandlePeerFound(ai peer.AddrInfo) {
	if ai.ID == m.n.ID() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.n.Connect(ctx, ai); err != nil {
		m.n.log.Debug("mDNS: could not connect to a member found on the LAN", "peer", ai.ID.ShortString(), "err", err)
		return
	}
	m.n.log.Info("mDNS: connected to a member found on the LAN", "peer", ai.ID.ShortString())
}

// startMDNS announces the node on the LAN and connects to the members it hears.
func (n *Node) startMDNS() error {
	svc := mdns.NewMdnsService(n.host, n.cfg.Secret.mdnsService(), mdnsNotifee{n})
	if err := svc.Start(); err != nil {
		return fmt.Errorf("node: mDNS: %w", err)
	}
	n.mdns = svc
	return nil
}
