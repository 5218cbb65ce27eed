package compute

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/node/proto"
)

// The task protocol over libp2p: one stream per run, frames as the shard
// protocol's (a uvarint length, then the message), under the cloud's
// prefix so only members reach it.

// ProtocolSub is the task protocol's name under the cloud's prefix.
const ProtocolSub = "/compute/1"

// streamConn is a Conn over a libp2p stream.
type streamConn struct {
	s     network.Stream
	br    *bufio.Reader
	read  *atomic.Int64 // bytes in, if counted
	wrote *atomic.Int64
}

func newStreamConn(s network.Stream) *streamConn {
	return &streamConn{s: s, br: bufio.NewReaderSize(s, 64<<10)}
}

func (c *streamConn) ReadFrame(max int) ([]byte, error) {
	b, err := readFrame(c.br, max)
	if err == nil && c.read != nil {
		c.read.Add(int64(len(b)))
	}
	return b, err
}

// readFrame reads one frame of at most max bytes.
func readFrame(br *bufio.Reader, max int) ([]byte, error) {
	n, err := proto.ReadFrameSize(br, max)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (c *streamConn) SetDeadline(t time.Time) error { return c.s.SetDeadline(t) }

func (c *streamConn) WriteFrame(b []byte) error {
	if c.wrote != nil {
		c.wrote.Add(int64(len(b)))
	}
	return proto.WriteFrame(c.s, b)
}

// Serve makes n answer the task protocol with w. It returns a function
// that stops serving.
func Serve(n *node.Node, w *Worker) func() {
	pid := n.Protocol(ProtocolSub)
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	n.Host().SetStreamHandler(pid, func(s network.Stream) {
		wg.Add(1)
		defer wg.Done()
		defer s.Close()
		stop := context.AfterFunc(ctx, func() { s.Reset() })
		defer stop()
		if err := w.Serve(ctx, newStreamConn(s), s.Conn().RemotePeer().String()); err != nil {
			s.Reset()
		}
	})
	return func() {
		n.Host().RemoveStreamHandler(pid)
		cancel()
		wg.Wait()
	}
}

// NodeShards is Shards over a node: its own store, and its cloud.
type NodeShards struct {
	N     *node.Node
	Cloud *node.Cloud
}

// Local implements Shards.
func (s NodeShards) Local(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return s.N.Store().Get(ctx, id)
}

// Fetch implements Shards: the shard from its holders, else rebuilt from
// any k shards of its stripe.
func (s NodeShards) Fetch(ctx context.Context, d *erasure.Descriptor, i int) ([]byte, int64, error) {
	b, err := s.Cloud.Get(ctx, d.Shards[i].ID)
	if err == nil {
		return b, int64(len(b)), nil
	}
	if ctx.Err() != nil {
		return nil, 0, ctx.Err()
	}
	shards := make([][]byte, len(d.Shards))
	have, moved := 0, int64(0)
	for j := range d.Shards {
		if have == d.K {
			break
		}
		if j == i {
			continue
		}
		if !d.Stored(j) {
			shards[j] = []byte{}
			if j < d.K {
				have++
			}
			continue
		}
		b, err := s.Cloud.Get(ctx, d.Shards[j].ID)
		if err != nil {
			continue
		}
		shards[j] = b
		moved += int64(len(b))
		have++
	}
	if have < d.K {
		return nil, moved, fmt.Errorf("shard %d of its stripe: %w", i, &erasure.TooFewShardsError{Found: have, Need: d.K})
	}
	if _, err := erasure.Reconstruct(d, shards, false); err != nil {
		return nil, moved, err
	}
	return shards[i], moved, nil
}

// Traffic counts the bytes of a job's task-protocol messages.
type Traffic struct{ In, Out atomic.Int64 }

// Dialer runs a task's run on a peer over the task protocol.
type Dialer struct {
	N   *node.Node
	pid protocol.ID
	// Self, if set, runs the runs this node gives itself (a host has no
	// stream to itself): over an in-memory pipe, the same messages.
	Self *Worker
}

// NewDialer returns the owner's side of the task protocol on n.
func NewDialer(n *node.Node) *Dialer { return &Dialer{N: n, pid: n.Protocol(ProtocolSub)} }

// ErrUnreachable reports a run whose peer could not be reached or whose
// stream failed.
var ErrUnreachable = errors.New("compute: peer unreachable")

// Run sends t to peer p, answers its needs (module: wasm; key: grant) and
// returns its result.
func (d *Dialer) Run(ctx context.Context, p string, t *Task, wasm []byte, grant func(*Need) *Grant, timeout time.Duration, tr *Traffic) (*Result, error) {
	id := peer.ID(p) // raw, as NodeEnv names peers
	if err := id.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if id == d.N.ID() {
		return d.runSelf(ctx, t, wasm, grant, tr)
	}
	s, err := d.N.Host().NewStream(network.WithAllowLimitedConn(ctx, "compute"), id, d.pid)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, id.ShortString(), err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	c := newStreamConn(s)
	c.read, c.wrote = &tr.In, &tr.Out
	res, err := exchange(c, t, wasm, grant)
	if err != nil && !errors.Is(err, ErrMalformed) {
		return nil, d.fail(ctx, id, err)
	}
	if res != nil {
		// The output is the job's result, not traffic it cost.
		tr.In.Add(-int64(len(res.Output)))
	}
	return res, err
}

// runSelf runs t on this node's own worker.
func (d *Dialer) runSelf(ctx context.Context, t *Task, wasm []byte, grant func(*Need) *Grant, tr *Traffic) (*Result, error) {
	if d.Self == nil {
		return nil, fmt.Errorf("%w: this node runs no tasks", ErrUnreachable)
	}
	a, b := net.Pipe()
	defer a.Close()
	stop := context.AfterFunc(ctx, func() { a.Close(); b.Close() })
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer b.Close()
		_ = d.Self.Serve(ctx, &pipeConn{rw: b, br: bufio.NewReader(b)}, "self")
	}()
	res, err := exchange(&pipeConn{rw: a, br: bufio.NewReader(a)}, t, wasm, grant)
	a.Close()
	<-done
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, ctx.Err())
	}
	return res, err
}

// pipeConn is a Conn over an in-memory pipe.
type pipeConn struct {
	rw net.Conn
	br *bufio.Reader
}

func (c *pipeConn) SetDeadline(t time.Time) error { return c.rw.SetDeadline(t) }

func (c *pipeConn) ReadFrame(max int) ([]byte, error) { return readFrame(c.br, max) }

func (c *pipeConn) WriteFrame(b []byte) error { return proto.WriteFrame(c.rw, b) }

// exchange is the owner's side of one run on c.
func exchange(c Conn, t *Task, wasm []byte, grant func(*Need) *Grant) (*Result, error) {
	b, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	if err := c.WriteFrame(b); err != nil {
		return nil, err
	}
	for range 3 { // module, key, result
		b, err := c.ReadFrame(maxFrameSize)
		if err != nil {
			return nil, err
		}
		switch messageType(b) {
		case msgResult:
			return ParseResult(b)
		case msgNeed:
			n, err := ParseNeed(b)
			if err != nil {
				return nil, err
			}
			var reply []byte
			if n.Module {
				reply = marshalModule(wasm)
			} else if reply, err = grant(n).MarshalBinary(); err != nil {
				return nil, err
			}
			if err := c.WriteFrame(reply); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: message type %d", ErrMalformed, messageType(b))
		}
	}
	return nil, fmt.Errorf("%w: the worker asked for too much", ErrMalformed)
}

func (d *Dialer) fail(ctx context.Context, id peer.ID, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, id.ShortString(), ctx.Err())
	}
	return fmt.Errorf("%w: %s: %v", ErrUnreachable, id.ShortString(), err)
}
