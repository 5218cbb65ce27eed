package node

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmur-cloud/murmur/audit"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// CloudSecretProtocol returns the shard protocol ID n serves.
func CloudSecretProtocol(n *Node) protocol.ID { return n.shard }

// RoutingTableSize returns how many peers n's DHT routing table holds.
func RoutingTableSize(n *Node) int { return n.dht.RoutingTable().Size() }

// ProvidersHeld returns the providers of a shard that n's own DHT
// provider store holds (records others announced to it).
func ProvidersHeld(n *Node, id erasure.ShardID) []peer.ID {
	ais, _ := n.dht.ProviderStore().GetProviders(context.Background(), shardKey(id))
	var out []peer.ID
	for _, ai := range ais {
		out = append(out, ai.ID)
	}
	return out
}

// ShardKey is the DHT key of a shard's provider records.
func ShardKey(id erasure.ShardID) []byte { return shardKey(id) }

// GossipView returns the peers in n's Cyclon view.
func GossipView(n *Node) []peer.ID {
	g := n.gossip
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []peer.ID
	for _, e := range g.cy.View() {
		out = append(out, e.Peer)
	}
	return out
}

// Rating returns n's rating of p.
func Rating(n *Node, p peer.ID) float64 { return n.gossip.rep.Score(p, n.cfg.Now()).Value }

// Candidates returns n's placement candidates: itself and its connected
// peers, as a Cloud of n places on them.
func Candidates(n *Node) []placement.Candidate {
	return n.candidates(append([]peer.ID{n.ID()}, n.Peers()...))
}

// PrivateConn wraps a TCP connection in the cloud's private network, as
// the transport does with every connection it makes or accepts.
func PrivateConn(c net.Conn, s CloudSecret) (net.Conn, error) {
	mc, err := manet.WrapNetConn(c)
	if err != nil {
		return nil, err
	}
	return newPrivateConn(mc, s), nil
}

// PutRecord puts a value into n's DHT as it is, without PublishRoot's
// look-up of the newest record first: what a stale or rogue member sends.
func PutRecord(ctx context.Context, n *Node, key string, value []byte) error {
	return n.dht.PutValue(ctx, key, value)
}

// MountTmpfs mounts a tmpfs of size bytes (a bound: it takes memory only
// for what is written) on a temporary folder for the test, or skips the
// test if it cannot (it needs root).
func MountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount the tmpfs: %v", err)
			syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// ManualAudits makes a node run no audit loop: the test steps its
// Auditor with AuditStep, on the node's own (injected) clock.
func ManualAudits(c *Config) { c.manualAudits = true }

// AuditStep runs what n's Auditor has due now and returns the results.
func AuditStep(ctx context.Context, n *Node) []audit.Result { return n.audits.step(ctx) }

// AuditNext returns when n's Auditor next has work.
func AuditNext(n *Node) time.Time {
	n.audits.mu.Lock()
	defer n.audits.mu.Unlock()
	return n.audits.a.Next()
}

// AnswerAudits makes a node answer audit challenges with f where f
// returns true: a cheating holder.
func AnswerAudits(c *Config, f func(*proof.Challenge) (proto.AuditAnswer, bool)) { c.testAnswers = f }

// HasAll makes a node say it has every shard it is asked about.
func HasAll(c *Config) { c.testHasAll = true }

// BlobPath returns where n's store keeps the file of shard id (shards of
// the store's file threshold and more).
func BlobPath(n *Node, id erasure.ShardID) string {
	h := id.String()
	return filepath.Join(n.cfg.Dir, "shards", "blobs", h[:1], h)
}

// Reclaim runs n's sweep of expired stripe records and its Reclaim now.
func Reclaim(ctx context.Context, n *Node) error {
	n.sweepStripes(ctx)
	_, _, err := n.store.Reclaim(ctx)
	return err
}
