package node

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/libp2p/go-libp2p-kad-dht/pb"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-msgio/pbio"

	"github.com/murmur-cloud/murmur/erasure"
)

const (
	// replication is how many of a key's closest members get its record:
	// kad-dht's bucket size, which its Provide and FindProviders use.
	replication = 20
	// maxWalks bounds the walks of one exploration; with random targets
	// they find clouds of several hundred members.
	maxWalks = 64
	// viewTTL is how long a view of the swarm serves fresh batches, unless
	// the routing table has a member it lacks.
	viewTTL = time.Minute
	// sendParallel is how many members one page is sent to at a time.
	sendParallel = 8
	// walkTimeout bounds one DHT walk of an exploration, so a member that
	// never answers cannot stall it.
	walkTimeout = 30 * time.Second
	// kadProtocol is the DHT's protocol under the cloud's prefix.
	kadProtocol = "/kad/1.0.0"
	// sendTimeout bounds each write of ADD_PROVIDER messages (they are not
	// answered).
	sendTimeout = 10 * time.Second
)

var errNoPeers = errors.New("node: no peers in the DHT yet")

// swarm is a view of the cloud's DHT members, as walks found them.
type swarm struct {
	peers []peer.ID
	kad   []kb.ID // each peer's Kademlia ID
	in    map[peer.ID]bool
	at    time.Time
}

func newSwarm(peers []peer.ID, at time.Time) *swarm {
	sw := &swarm{peers: peers, kad: make([]kb.ID, len(peers)), in: make(map[peer.ID]bool, len(peers)), at: at}
	for i, p := range peers {
		sw.kad[i] = kb.ConvertPeerID(p)
		sw.in[p] = true
	}
	return sw
}

// closest appends to dst the indices of the k peers closest (by XOR
// distance) to the Kademlia ID target, nearest first.
func (sw *swarm) closest(target kb.ID, k int, dst []int) []int {
	start := len(dst)
	for i := range sw.peers {
		dst = append(dst, i)
	}
	idx := dst[start:]
	slices.SortFunc(idx, func(a, b int) int {
		ka, kb := sw.kad[a], sw.kad[b]
		for j := range target {
			if c := int(ka[j]^target[j]) - int(kb[j]^target[j]); c != 0 {
				return c
			}
		}
		return bytes.Compare(ka, kb)
	})
	return dst[:start+min(k, len(idx))]
}

// currentView returns the latest view of the swarm, exploring again when it
// is older than viewTTL or the routing table has a member it lacks.
func (a *announcer) currentView(ctx context.Context) (*swarm, error) {
	a.mu.Lock()
	sw := a.view
	a.mu.Unlock()
	if sw != nil && time.Since(sw.at) < viewTTL {
		fresh := true
		for _, p := range a.n.dht.RoutingTable().ListPeers() {
			fresh = fresh && sw.in[p]
		}
		if fresh {
			return sw, nil
		}
	}
	return a.explore(ctx)
}

// explore finds the cloud's DHT members: those in the routing table and
// those walks towards random keys find. One walk that finds fewer than
// replication members has found them all (a cloud of up to 21 nodes);
// otherwise walks go on until two in a row find no one new.
func (a *announcer) explore(ctx context.Context) (*swarm, error) {
	rt := a.n.dht.RoutingTable().ListPeers()
	if len(rt) == 0 {
		return nil, errNoPeers
	}
	seen := make(map[peer.ID]bool, len(rt))
	peers := make([]peer.ID, 0, len(rt))
	note := func(p peer.ID) bool {
		if seen[p] || p == a.n.ID() {
			return false
		}
		seen[p] = true
		peers = append(peers, p)
		return true
	}
	for _, p := range rt {
		note(p)
	}
	walks, quiet := 0, 0
	for walks < maxWalks && quiet < 2 {
		var target [32]byte
		rand.Read(target[:])
		wctx, cancel := context.WithTimeout(ctx, walkTimeout)
		found, err := a.n.dht.GetClosestPeers(wctx, string(target[:]))
		cancel()
		walks++
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			quiet++
			continue
		}
		fresh := 0
		for _, p := range found {
			if note(p) {
				fresh++
			}
		}
		if len(found) < replication {
			break
		}
		if fresh == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
	sw := newSwarm(peers, time.Now())
	a.mu.Lock()
	a.view = sw
	a.stats.Walks += int64(walks)
	a.stats.Peers = len(peers)
	a.mu.Unlock()
	return sw, nil
}

// sendPage sends the provider record of each shard in ids to its closest
// members in sw (only those in to, unless to is nil), one ADD_PROVIDER
// message each, streamed over the DHT's stream to each member. It returns
// the members some record could not be sent to.
func (a *announcer) sendPage(ctx context.Context, sw *swarm, ids []erasure.ShardID, to map[peer.ID]bool) map[peer.ID]bool {
	if len(ids) == 0 {
		return nil
	}
	keys := make([][]byte, len(ids))
	for i, id := range ids {
		keys[i] = shardKey(id)
	}
	// Which keys go to which member: with at most replication members,
	// every key goes to every member (a nil list: all of them).
	alloc := make([][]int32, len(sw.peers))
	if len(sw.peers) > replication {
		var near []int
		for i, k := range keys {
			near = sw.closest(kb.ConvertKey(string(k)), replication, near[:0])
			for _, j := range near {
				alloc[j] = append(alloc[j], int32(i))
			}
		}
	}
	self := peer.AddrInfo{ID: a.n.ID(), Addrs: a.n.dht.FilteredAddrs()}
	var (
		sent, lost atomic.Int64
		mu         sync.Mutex
		failed     = map[peer.ID]bool{}
		wg         sync.WaitGroup
		slots      = make(chan struct{}, sendParallel)
	)
	for j, p := range sw.peers {
		if to != nil && !to[p] {
			continue
		}
		n := len(keys)
		if len(sw.peers) > replication {
			n = len(alloc[j])
		}
		if n == 0 {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			key := func(i int) []byte {
				if len(sw.peers) > replication {
					return keys[alloc[j][i]]
				}
				return keys[i]
			}
			ok, bad := a.sendTo(ctx, p, self, n, key)
			sent.Add(int64(ok))
			lost.Add(int64(bad))
			if bad > 0 {
				mu.Lock()
				failed[p] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	a.mu.Lock()
	a.stats.Records += sent.Load()
	a.stats.Failed += lost.Load()
	a.mu.Unlock()
	return failed
}

// sendTo sends n provider records to p, key(i) naming the i-th, and
// reports how many were sent and how many were not. They go on a stream of
// the DHT's protocol this node opens itself, with a deadline on every
// write, so a member that stops reading costs a timeout, not a stuck
// announcer (kad-dht's own message sender writes with no deadline).
func (a *announcer) sendTo(ctx context.Context, p peer.ID, self peer.AddrInfo, n int, key func(int) []byte) (sent, failed int) {
	if len(self.Addrs) == 0 {
		return 0, n
	}
	s, err := a.n.host.NewStream(allowLimited(ctx), p, a.n.cfg.Secret.Protocol(kadProtocol))
	if err != nil {
		a.n.log.Debug("provider records not sent", "peer", p.ShortString(), "err", err)
		return 0, n
	}
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	bw := bufio.NewWriterSize(s, 32<<10)
	w := pbio.NewDelimitedWriter(bw)
	msg := pb.NewMessage(pb.Message_ADD_PROVIDER, nil, 0)
	msg.ProviderPeers = pb.RawPeerInfosToPBPeers([]peer.AddrInfo{self})
	buffered := 0
	flush := func() error {
		_ = s.SetWriteDeadline(time.Now().Add(sendTimeout))
		err := bw.Flush()
		if err == nil {
			sent += buffered
			buffered = 0
		}
		return err
	}
	for i := range n {
		msg.Key = key(i)
		_ = s.SetWriteDeadline(time.Now().Add(sendTimeout))
		err := w.WriteMsg(msg)
		if err == nil {
			buffered++
			if bw.Buffered() >= 16<<10 {
				err = flush()
			}
		}
		if err != nil {
			s.Reset()
			if ctx.Err() != nil {
				return sent, 0
			}
			a.n.log.Debug("provider records not sent", "peer", p.ShortString(), "err", err)
			return sent, n - sent
		}
	}
	if err := flush(); err != nil {
		s.Reset()
		if ctx.Err() != nil {
			return sent, 0
		}
		return sent, n - sent
	}
	s.Close()
	return sent, n - sent
}
