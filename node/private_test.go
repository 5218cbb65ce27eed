package node_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/node"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (a, b net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	a, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	for _, c := range []net.Conn{a, b} {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		t.Cleanup(func() { c.Close() })
	}
	return a, b
}

func private(t testing.TB, c net.Conn, s node.CloudSecret) net.Conn {
	t.Helper()
	p, err := node.PrivateConn(c, s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func seededSecret(seed uint64) node.CloudSecret {
	var s node.CloudSecret
	rand.NewChaCha8([32]byte{byte(seed)}).Read(s[:])
	return s
}

// TestPrivateConnRoundTrip: both directions at once, in writes of many
// sizes, arrive intact, and a Write leaves the caller's buffer alone.
func TestPrivateConnRoundTrip(t *testing.T) {
	secret := seededSecret(1)
	a0, b0 := tcpPair(t)
	a, b := private(t, a0, secret), private(t, b0, secret)
	msg := make([]byte, 300_000)
	rand.NewChaCha8([32]byte{2}).Read(msg)
	orig := bytes.Clone(msg)
	send := func(c net.Conn) error {
		for off, step := 0, 1; off < len(msg); off, step = off+step, step*2+7 {
			if _, err := c.Write(msg[off:min(off+step, len(msg))]); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make(chan error, 2)
	go func() { errs <- send(a) }()
	go func() { errs <- send(b) }()
	for _, c := range []net.Conn{a, b} {
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, orig) {
			t.Fatal("the bytes read are not the bytes written")
		}
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(msg, orig) {
		t.Fatal("Write changed the caller's buffer")
	}
}

// TestPrivateConnOnTheWire: the wire carries a nonce and then bytes that
// are not the plaintext; a side with another secret reads noise.
func TestPrivateConnOnTheWire(t *testing.T) {
	a0, raw := tcpPair(t)
	a := private(t, a0, seededSecret(1))
	msg := bytes.Repeat([]byte("murmur private network "), 100)
	go a.Write(msg)
	wire := make([]byte, crypt.ConnNonceSize+len(msg))
	raw.Write(make([]byte, crypt.ConnNonceSize)) // a waits for a nonce before it writes
	if _, err := io.ReadFull(raw, wire); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wire, []byte("murmur")) {
		t.Fatal("plaintext on the wire")
	}

	c0, d0 := tcpPair(t)
	c, d := private(t, c0, seededSecret(1)), private(t, d0, seededSecret(2))
	go c.Write(msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(d, got); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("murmur")) {
		t.Fatal("a side with another secret read the plaintext")
	}
}

// TestPrivateConnRefusesReflection: a peer that sends back our own nonce
// (so that both directions would share a key stream) is refused.
func TestPrivateConnRefusesReflection(t *testing.T) {
	a0, raw := tcpPair(t)
	a := private(t, a0, seededSecret(1))
	go func() {
		nonce := make([]byte, crypt.ConnNonceSize)
		if _, err := io.ReadFull(raw, nonce); err == nil {
			raw.Write(nonce)
		}
	}()
	if _, err := a.Read(make([]byte, 10)); !errors.Is(err, crypt.ErrReflectedNonce) {
		t.Fatalf("Read after a reflected nonce: %v", err)
	}
	if _, err := a.Write([]byte("x")); !errors.Is(err, crypt.ErrReflectedNonce) {
		t.Fatalf("Write after a reflected nonce: %v", err)
	}
}

// FuzzPrivateConn feeds a private connection whatever a hostile peer
// might send: it must not panic, and must read exactly what follows the
// peer's nonce (as noise, without the secret), or fail.
func FuzzPrivateConn(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("short"))
	f.Add(bytes.Repeat([]byte{0}, crypt.ConnNonceSize))
	f.Add(append(bytes.Repeat([]byte{7}, crypt.ConnNonceSize), "/multistream/1.0.0\n"...))
	f.Fuzz(func(t *testing.T, in []byte) {
		a0, raw := tcpPair(t)
		a := private(t, a0, seededSecret(1))
		go func() {
			raw.Write(in)
			raw.(*net.TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(a)
		switch {
		case len(in) < crypt.ConnNonceSize:
			if err == nil {
				t.Fatalf("a %d-byte nonce was accepted", len(in))
			}
		case err != nil:
			t.Fatalf("after a full nonce: %v", err)
		case len(got) != len(in)-crypt.ConnNonceSize:
			t.Fatalf("read %d bytes after the nonce, want %d", len(got), len(in)-crypt.ConnNonceSize)
		}
	})
}
