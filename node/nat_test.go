package node_test

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	ma "github.com/multiformats/go-multiaddr"
	msmux "github.com/multiformats/go-multistream"

	"github.com/murmur-cloud/murmur/node"
)

// TestRelayedTransfer: a member forced public runs the relay; a member
// forced private reserves a slot on it, found among its connected
// members; a third reaches it through the circuit address alone and
// moves 8 MiB over it (the default relay limit, 128 KiB, would cut it).
func TestRelayedTransfer(t *testing.T) {
	secret := node.NewCloudSecret()
	mk := func(reach string) *node.Node {
		n, err := node.New(node.Config{Dir: t.TempDir(), Secret: secret, Reachability: reach, RequestTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	r, a, b := mk(node.ReachPublic), mk(node.ReachPrivate), mk(node.ReachPrivate)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []*node.Node{a, b} {
		if err := n.Connect(ctx, r.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Reachability(); got != "public" {
		t.Fatalf("relay reachability %q", got)
	}
	// The circuit address through r. (autorelay only advertises circuit
	// addresses over public relay addresses, so on loopback A does not
	// list it: B dials it, polling until A's reservation is in place.)
	circuit := r.AddrInfo().Addrs[0].Encapsulate(ma.StringCast("/p2p/" + r.ID().String() + "/p2p-circuit"))
	const pid = "/murmur-test/nat/1"
	a.Host().SetStreamHandler(pid, func(s network.Stream) {
		defer s.Close()
		io.Copy(io.Discard, s)
	})
	for {
		b.Host().Peerstore().ClearAddrs(a.ID())
		b.Host().Network().(*swarm.Swarm).Backoff().Clear(a.ID())
		err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: []ma.Multiaddr{circuit}})
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no relayed connection within the deadline: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond): // poll A's reservation
		}
	}
	t.Logf("B to A after connect: %s", b.ConnKind(a.ID()))
	buf := make([]byte, 8<<20)
	rng := rand.New(rand.NewPCG(14, 14))
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	relayed := false
	for _, c := range b.Host().Network().ConnsToPeer(a.ID()) {
		path := "direct"
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT); err == nil {
			path, relayed = "relayed", true
		}
		s, err := c.NewStream(ctx)
		if err != nil {
			t.Fatalf("%s stream: %v", path, err)
		}
		if err := msmux.SelectProtoOrFail(protocol.ID(pid), s); err != nil {
			t.Fatalf("%s stream: %v", path, err)
		}
		start := time.Now()
		if _, err := io.Copy(s, bytes.NewReader(buf)); err != nil {
			t.Fatalf("%s transfer: %v", path, err)
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, s) // waits for A's close: all bytes read
		el := time.Since(start)
		t.Logf("B->A %s over %s: %d MiB in %v, %.1f MB/s", path, c.RemoteMultiaddr(), len(buf)>>20, el, float64(len(buf))/el.Seconds()/1e6)
	}
	if !relayed {
		// DCUtR upgraded B's connection and the relayed one closed: time
		// a relayed transfer on a circuit of the relay transport itself.
		sw := b.Host().Network().(*swarm.Swarm)
		full := circuit.Encapsulate(ma.StringCast("/p2p/" + a.ID().String()))
		var cc transport.CapableConn
		for {
			var err error
			if cc, err = sw.TransportForDialing(circuit).Dial(ctx, full, a.ID()); err == nil {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("relayed dial: %v", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond): // poll A's reservation
			}
		}
		defer cc.Close()
		s, err := cc.OpenStream(ctx)
		if err != nil {
			t.Fatalf("relayed stream: %v", err)
		}
		if err := msmux.SelectProtoOrFail(protocol.ID(pid), s); err != nil {
			t.Fatalf("relayed stream: %v", err)
		}
		start := time.Now()
		if _, err := io.Copy(s, bytes.NewReader(buf)); err != nil {
			t.Fatalf("relayed transfer: %v", err)
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, s)
		el := time.Since(start)
		t.Logf("B->A relayed via %s: %d MiB in %v, %.1f MB/s", circuit, len(buf)>>20, el, float64(len(buf))/el.Seconds()/1e6)
	}
}
