package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/transport"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/murmur-cloud/murmur/crypt"
)

// The cloud's private network. Every TCP connection a node makes or
// accepts is wrapped, before libp2p's upgrader sees a byte of it, in a
// privateConn keyed by the cloud secret: each side sends a random nonce,
// and everything after is AES-256-CTR under keys derived from the secret
// and both nonces (crypt.ConnCiphers; docs/format.md). A host without the
// secret reads noise and sends noise, so its TLS handshake never
// completes. It replaces libp2p's pnet, whose pure-Go XSalsa20 was the
// largest cost of moving shards (docs/security.md says why this is no
// weaker).
//
// go-libp2p has no hook for another connection protector (its upgrader
// calls pnet directly when given a PSK), so the hook is the upgrader the
// TCP transport is built with: privateUpgrader wraps every connection the
// transport dials and every one its listener accepts, then hands it to
// libp2p's own upgrader for TLS and yamux as before.

// privateTCP returns a constructor, for libp2p.Transport, of a TCP
// transport whose connections are all in secret's private network.
//
// It dials from ephemeral ports, not from the listening port (libp2p's
// default, SO_REUSEPORT): with that, two members that dial each other at
// the same moment (a local cloud coming up, two nodes hearing each other
// on mDNS) make one TCP connection by simultaneous open, on which both
// sides start the handshake as the dialer and fail, and the peer is then
// in dial backoff (go-libp2p issue 2925). bench cluster failed with that
// symptom ("dial backoff" while connecting the local cloud) in 2 of 30 runs
// on a loaded machine. Murmur does no hole punching, which is what dialing
// from the listening port is for.
func privateTCP(secret CloudSecret) func(transport.Upgrader, network.ResourceManager) (*tcp.TcpTransport, error) {
	return func(u transport.Upgrader, rcmgr network.ResourceManager) (*tcp.TcpTransport, error) {
		return tcp.NewTCPTransport(privateUpgrader{u, secret}, rcmgr, nil, tcp.DisableReuseport())
	}
}

// privateUpgrader wraps connections in the private network before
// upgrading them.
type privateUpgrader struct {
	transport.Upgrader
	secret CloudSecret
}

// Upgrade upgrades a connection the transport dialed.
func (u privateUpgrader) Upgrade(ctx context.Context, t transport.Transport, c manet.Conn, dir network.Direction, p peer.ID, scope network.ConnManagementScope) (transport.CapableConn, error) {
	return u.Upgrader.Upgrade(ctx, t, newPrivateConn(c, u.secret), dir, p, scope)
}

// UpgradeGatedMaListener upgrades the connections a listener accepts.
func (u privateUpgrader) UpgradeGatedMaListener(t transport.Transport, l transport.GatedMaListener) transport.Listener {
	return u.Upgrader.UpgradeGatedMaListener(t, privateListener{l, u.secret})
}

// UpgradeListener is the deprecated form of UpgradeGatedMaListener; it must
// not bypass the private network either.
func (u privateUpgrader) UpgradeListener(t transport.Transport, l manet.Listener) transport.Listener {
	return u.UpgradeGatedMaListener(t, u.GateMaListener(l))
}

type privateListener struct {
	transport.GatedMaListener
	secret CloudSecret
}

func (l privateListener) Accept() (manet.Conn, network.ConnManagementScope, error) {
	c, scope, err := l.GatedMaListener.Accept()
	if err != nil {
		return nil, scope, err
	}
	return newPrivateConn(c, l.secret), scope, nil
}

// privateConn is one connection of the private network. The nonces are
// exchanged on the first Read or Write, whichever comes first (so Accept
// never waits for a peer); both sides write theirs before reading, so
// neither waits on the other.
type privateConn struct {
	manet.Conn
	secret CloudSecret

	once       sync.Once
	handshaken error
	send, recv *crypt.ConnCipher

	rmu  sync.Mutex // a Read decrypts what it read before another reads
	wmu  sync.Mutex // writes are encrypted and sent in order
	wbuf []byte
}

func newPrivateConn(c manet.Conn, secret CloudSecret) *privateConn {
	return &privateConn{Conn: c, secret: secret}
}

// privateWriteChunk bounds the buffer a Write encrypts into; libp2p's TLS
// writes records of at most 16 KiB and a little.
const privateWriteChunk = 32 << 10

func (c *privateConn) handshake() error {
	c.once.Do(func() {
		var local, remote [crypt.ConnNonceSize]byte
		rand.Read(local[:]) // never fails (Go ≥ 1.24 crashes instead)
		if _, err := c.Conn.Write(local[:]); err != nil {
			c.handshaken = fmt.Errorf("node: private network: send nonce: %w", err)
			return
		}
		if _, err := io.ReadFull(c.Conn, remote[:]); err != nil {
			c.handshaken = fmt.Errorf("node: private network: read nonce: %w", err)
			return
		}
		secret := [32]byte(c.secret)
		c.send, c.recv, c.handshaken = crypt.ConnCiphers(&secret, &local, &remote)
	})
	return c.handshaken
}

// Read reads and decrypts, in place.
func (c *privateConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := c.Conn.Read(p)
	c.recv.XORKeyStream(p[:n], p[:n])
	return n, err
}

// Write encrypts p into a buffer of the connection's (the caller keeps p
// as it was) and sends it. After an error the stream is out of step and
// the connection unusable, as any connection after a failed write.
func (c *privateConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wbuf == nil {
		c.wbuf = make([]byte, privateWriteChunk)
	}
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), len(c.wbuf))]
		c.send.XORKeyStream(c.wbuf[:len(chunk)], chunk)
		n, err := c.Conn.Write(c.wbuf[:len(chunk)])
		written += n
		if err != nil {
			return written, err
		}
		p = p[len(chunk):]
	}
	return written, nil
}
