package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/store/storetest"
)

// newNode starts a node on loopback with a store in a temporary directory.
func newNode(t testing.TB, secret node.CloudSecret, capacity int64) *node.Node {
	t.Helper()
	n, err := node.New(node.Config{Dir: t.TempDir(), Secret: secret, Capacity: capacity, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// pair starts two connected nodes of one cloud and returns a's view of b's store.
func pair(t testing.TB, capacity int64) (a, b *node.Node, remote *node.Remote) {
	t.Helper()
	secret := node.NewCloudSecret()
	a, b = newNode(t, secret, 0), newNode(t, secret, capacity)
	if err := a.Connect(context.Background(), b.AddrInfo()); err != nil {
		t.Fatal(err)
	}
	return a, b, a.Remote(b.ID())
}

func TestRemoteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.ShardStore {
		_, _, r := pair(t, 0)
		return r
	})
}

func TestRemoteCapacity(t *testing.T) {
	storetest.RunCapacity(t, func(t *testing.T, c int64) store.ShardStore {
		_, _, r := pair(t, c)
		return r
	})
}

// TestLeasesAreThePeersOwn: a peer can release only its own lease; the
// shard stays while another owner holds it.
func TestLeasesAreThePeersOwn(t *testing.T) {
	secret := node.NewCloudSecret()
	a, b, c := newNode(t, secret, 0), newNode(t, secret, 0), newNode(t, secret, 0)
	ctx := context.Background()
	for _, n := range []*node.Node{a, c} {
		if err := n.Connect(ctx, b.AddrInfo()); err != nil {
			t.Fatal(err)
		}
	}
	id, data := storetest.Shard(1, 4096)
	if err := a.Remote(b.ID()).Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	// c never put it: its release is a no-op, and it lists nothing.
	if err := c.Remote(b.ID()).Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	n := 0
	c.Remote(b.ID()).Walk(ctx, func(erasure.ShardID, int) error { n++; return nil })
	if n != 0 {
		t.Fatalf("another peer's Walk lists %d of a's shards", n)
	}
	if got, err := a.Remote(b.ID()).Get(ctx, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after a stranger's release: %v", err)
	}
	if err := a.Remote(b.ID()).Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Remote(b.ID()).Get(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after the owner's release: %v", err)
	}
}

// TestWrongSecretCannotConnect: a host of another cloud, or of none,
// cannot connect to a member, so it can read nothing.
func TestWrongSecretCannotConnect(t *testing.T) {
	member := newNode(t, node.NewCloudSecret(), 0)
	id, data := storetest.Shard(2, 100)
	if err := member.Store().Put(context.Background(), id, data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	stranger := newNode(t, node.NewCloudSecret(), 0)
	if err := stranger.Connect(ctx, member.AddrInfo()); err == nil {
		t.Fatal("a node with another cloud's secret connected")
	}
	if _, err := stranger.Remote(member.ID()).Get(ctx, id); err == nil {
		t.Fatal("a node with another cloud's secret read a shard")
	}

	plain, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.Transport(tcp.NewTCPTransport))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Connect(ctx, member.AddrInfo()); err == nil {
		t.Fatal("a host without any cloud secret connected")
	}
}

// TestHostileFrames sends malformed, truncated and oversized requests and
// checks each gets an error and the node keeps serving.
func TestHostileFrames(t *testing.T) {
	a, b, r := pair(t, 0)
	ctx := context.Background()
	id, data := storetest.Shard(3, 2048)
	if err := r.Put(ctx, id, data); err != nil {
		t.Fatal(err)
	}
	proto := node.CloudSecretProtocol(b)
	huge := binary.AppendUvarint(nil, 1<<40)
	for name, frame := range map[string][]byte{
		"garbage":         {3, 0xde, 0xad, 0xbe, 0xef},
		"empty frame":     {0},
		"unknown op":      {2, 1, 99},
		"oversized frame": huge,
		"truncated frame": append(binary.AppendUvarint(nil, 1000), 1, 2, 3),
		"bad shard":       frameOf(t, putWithWrongID(data)),
		"no frame":        {},
	} {
		s, err := a.Host().NewStream(ctx, b.ID(), proto)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.SetDeadline(time.Now().Add(5 * time.Second))
		s.Write(frame)
		s.CloseWrite()
		br := bufio.NewReader(s)
		size, err := binary.ReadUvarint(br)
		if err != nil {
			s.Close()
			t.Fatalf("%s: no answer: %v", name, err)
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(br, body); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s.Close()
		if body[1] == 0 {
			t.Fatalf("%s: the node answered OK", name)
		}
	}
	// Still healthy.
	if got, err := r.Get(ctx, id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after hostile frames: %v", err)
	}
}

func putWithWrongID(data []byte) []byte {
	var wrong [32]byte
	b := proto.PutHeader([]byte{proto.Version, byte(proto.OpPut)}, wrong, 60)
	return append(b, data...)
}

func frameOf(t *testing.T, body []byte) []byte {
	var buf bytes.Buffer
	if err := proto.WriteFrame(&buf, body); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSecretParse(t *testing.T) {
	s := node.NewCloudSecret()
	got, err := node.ParseCloudSecret(s.String())
	if err != nil || got != s {
		t.Fatalf("ParseCloudSecret(String) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("zz", 32)} {
		if _, err := node.ParseCloudSecret(bad); !errors.Is(err, node.ErrBadSecret) {
			t.Errorf("ParseCloudSecret(%q) = %v", bad, err)
		}
	}
	if s.CloudID() == node.NewCloudSecret().CloudID() || strings.Contains(string(s.Protocol("/x")), s.String()) {
		t.Fatal("cloud IDs collide or reveal the secret")
	}
}

// BenchmarkRemote measures one peer's shard protocol on loopback: 1 MiB
// shards through the private network (AES-256-CTR), TLS 1.3 and yamux,
// stored durably, one at a time. Making each shard (random bytes and
// their hash) is not timed.
func BenchmarkRemote(b *testing.B) {
	_, _, r := pair(b, 0)
	ctx := context.Background()
	b.Run("Put", func(b *testing.B) {
		b.SetBytes(1 << 20)
		i := 0
		for b.Loop() {
			b.StopTimer()
			id, data := storetest.Shard(uint64(i), 1<<20)
			i++
			b.StartTimer()
			if err := r.Put(ctx, id, data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		id, data := storetest.Shard(1, 1<<20)
		r.Put(ctx, id, data)
		b.SetBytes(1 << 20)
		for b.Loop() {
			if _, err := r.Get(ctx, id); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestLargestShard: a shard of the largest size the formats allow crosses
// the shard protocol both ways (the resource manager's per-stream memory
// limit must admit a whole frame).
func TestLargestShard(t *testing.T) {
	_, _, r := pair(t, 0)
	ctx := context.Background()
	data := make([]byte, erasure.MaxShardSize)
	rand.Read(data)
	id := erasure.SumShard(data)
	if err := r.Put(ctx, id, data); err != nil {
		t.Fatalf("put of a %d MiB shard: %v", len(data)>>20, err)
	}
	got, err := r.Get(ctx, id)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get of a %d MiB shard: %v", len(data)>>20, err)
	}
	// Three at once exceed what one peer may hold in requests: the one
	// refused hears so at once, not when its deadline passes.
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			b := bytes.Clone(data)
			b[0] = byte(i + 1)
			errs[i] = r.Put(ctx, erasure.SumShard(b), b)
		})
	}
	wg.Wait()
	busy := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, node.ErrBusy):
			busy++
		case err != nil:
			t.Fatalf("concurrent large puts: %v", err)
		}
	}
	if busy == 0 {
		t.Fatal("three 64 MiB requests at once from one peer were all admitted")
	}
}
