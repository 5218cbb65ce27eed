package node

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestSwarmClosest: the members a record goes to are the ones kbucket
// (the DHT's own code) sorts closest to the key.
func TestSwarmClosest(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomID := func() peer.ID {
		b := make([]byte, 34)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return peer.ID(b)
	}
	for _, n := range []int{1, 5, 20, 21, 50, 300} {
		var peers []peer.ID
		for range n {
			peers = append(peers, randomID())
		}
		sw := newSwarm(peers, time.Time{})
		for range 50 {
			key := string(randomID())
			var got []peer.ID
			for _, i := range sw.closest(kb.ConvertKey(key), replication, nil) {
				got = append(got, sw.peers[i])
			}
			want := kb.SortClosestPeers(slices.Clone(peers), kb.ConvertKey(key))
			want = want[:min(replication, n)]
			if !slices.Equal(got, want) {
				t.Fatalf("%d peers: closest %v, kbucket says %v", n, got, want)
			}
		}
	}
}
