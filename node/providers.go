package node

import (
	"context"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"

	"github.com/murmur-cloud/murmur/erasure"
)

// A node that stores a shard announces itself in the DHT as a provider of
// the shard's ID, so a reader that does not know where a shard went can
// find its holders without asking every member. Provider records are not
// signed: a reader never trusts one beyond fetching from it, and verifies
// the bytes it gets against the ID.
//
// Announcing costs a DHT walk per shard (kad-dht's Provide), so it runs in
// the background, a few at a time, and a put never waits for it. Records
// expire (kad-dht's provider validity); re-announcing a node's shards in
// batches before they do is not done yet.

// shardCID is a shard ID as the DHT names content: a CIDv1 (raw) of the
// BLAKE3-256 multihash.
func shardCID(id erasure.ShardID) cid.Cid {
	mh, err := multihash.Encode(id[:], multihash.BLAKE3)
	if err != nil {
		panic("node: multihash of a 32-byte BLAKE3 digest: " + err.Error())
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// announcer publishes provider records in the background.
type announcer struct {
	n     *Node
	queue chan erasure.ShardID
	wg    sync.WaitGroup
	stop  context.CancelFunc

	mu      sync.Mutex
	done    int
	dropped int
	took    time.Duration
}

const (
	announceQueue   = 1 << 14
	announceWorkers = 4
)

func newAnnouncer(n *Node) *announcer {
	ctx, cancel := context.WithCancel(context.Background())
	a := &announcer{n: n, queue: make(chan erasure.ShardID, announceQueue), stop: cancel}
	for range announceWorkers {
		a.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-a.queue:
					start := time.Now()
					actx, cancel := context.WithTimeout(ctx, 30*time.Second)
					err := n.dht.Provide(actx, shardCID(id), true)
					cancel()
					a.mu.Lock()
					if err == nil {
						a.done++
						a.took += time.Since(start)
					}
					a.mu.Unlock()
					if err != nil && ctx.Err() == nil {
						n.log.Debug("provider record not published", "shard", id.Short(), "err", err)
					}
				}
			}
		})
	}
	return a
}

// add queues a shard to announce; when the queue is full the announcement
// is dropped (readers then find the shard by asking members).
func (a *announcer) add(id erasure.ShardID) {
	select {
	case a.queue <- id:
	default:
		a.mu.Lock()
		a.dropped++
		a.mu.Unlock()
	}
}

func (a *announcer) close() {
	a.stop()
	a.wg.Wait()
}

// AnnounceStats reports provider records published, the mean time one
// took, and announcements dropped because the queue was full.
func (n *Node) AnnounceStats() (published int, mean time.Duration, dropped int) {
	a := n.announce
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done > 0 {
		mean = a.took / time.Duration(a.done)
	}
	return a.done, mean, a.dropped
}

// FindHolders asks the DHT which members provide a shard, for up to max
// of them.
func (n *Node) FindHolders(ctx context.Context, id erasure.ShardID, max int) []peer.ID {
	var out []peer.ID
	for ai := range n.dht.FindProvidersAsync(ctx, shardCID(id), max) {
		if ai.ID != "" {
			out = append(out, ai.ID)
		}
	}
	return out
}
