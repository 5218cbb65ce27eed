package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/store"
)

var (
	// ErrBusy reports a peer that refused a request for lack of resources.
	ErrBusy = errors.New("node: peer busy")
	// ErrPeer reports a peer that failed a request or broke the protocol.
	ErrPeer = errors.New("node: peer failed")
)

// Remote is the store one peer keeps for this node, reached over the
// shard protocol. It implements store.ShardStore: Put takes a lease for
// this node, Delete releases it, and Walk lists what this node holds
// leases on there. Get returns the bytes as the peer sent them: callers
// verify them against the shard ID, because a peer may lie.
type Remote struct {
	n    *Node
	peer peer.ID
}

var _ store.ShardStore = (*Remote)(nil)

// Remote returns the store of peer p.
func (n *Node) Remote(p peer.ID) *Remote { return &Remote{n: n, peer: p} }

// Peer returns the peer.
func (r *Remote) Peer() peer.ID { return r.peer }

// do sends one request and returns the peer's answer; a refusal becomes
// an error classified like the store's own.
func (r *Remote) do(ctx context.Context, req *proto.Request, parts ...[]byte) (*proto.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.n.cfg.RequestTimeout)
		defer cancel()
	}
	s, err := r.n.host.NewStream(allowLimited(ctx), r.peer, r.n.shard)
	if err != nil {
		return nil, r.fail(ctx, req.Op, err)
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}

	var head []byte
	if req.Op == proto.OpPut {
		head = proto.PutHeader([]byte{proto.Version, byte(proto.OpPut)}, req.ID, req.Lease)
	} else if head, err = proto.AppendRequest(nil, req); err != nil {
		return nil, err
	}
	// The request is written while the answer is read: a peer that
	// refuses a large request answers before reading it, and this side must
	// not sit blocked on the write until the deadline. Nothing may read
	// parts after do returns, so the writer is always waited for.
	wrote := make(chan error, 1)
	go func() {
		err := proto.WriteFrame(s, append([][]byte{head}, parts...)...)
		if err == nil {
			err = s.CloseWrite()
		}
		wrote <- err
	}()
	buf, rerr := readResponse(s, proto.MaxFrameFor(req.Op))
	var werr error
	select {
	case werr = <-wrote:
	default:
		s.Reset() // answered before the request was all sent: stop sending
		<-wrote
	}
	if rerr != nil {
		return nil, r.fail(ctx, req.Op, cmpErr(werr, rerr))
	}
	n := len(req.IDs)
	if req.Op == proto.OpRenewStripes {
		n = req.Limit
	}
	resp, err := proto.ParseResponse(buf, req.Op, n)
	if err != nil {
		return nil, r.fail(ctx, req.Op, err)
	}
	switch resp.Status {
	case proto.StatusOK:
		return resp, nil
	case proto.StatusNotFound:
		return nil, fmt.Errorf("%v %s on %s: %w", req.Op, req.ID.Short(), r.peer.ShortString(), store.ErrNotFound)
	case proto.StatusBadShard:
		return nil, fmt.Errorf("%v %s on %s: %w: %s", req.Op, req.ID.Short(), r.peer.ShortString(), store.ErrBadShard, resp.Message)
	case proto.StatusFull:
		return nil, fmt.Errorf("%v on %s: %w: %s", req.Op, r.peer.ShortString(), store.ErrFull, resp.Message)
	case proto.StatusBusy:
		return nil, fmt.Errorf("%v on %s: %w: %s", req.Op, r.peer.ShortString(), ErrBusy, resp.Message)
	case proto.StatusRefused:
		return nil, fmt.Errorf("%v on %s: %w: %s", req.Op, r.peer.ShortString(), ErrRefused, resp.Message)
	}
	return nil, fmt.Errorf("%v on %s: %w: %v: %s", req.Op, r.peer.ShortString(), ErrPeer, resp.Status, resp.Message)
}

// exchange opens a stream of protocol pid to p, writes body as one
// request frame, and returns the response frame (at most max bytes). The
// stream is reset when ctx ends.
func (n *Node) exchange(ctx context.Context, p peer.ID, pid protocol.ID, body []byte, max int) ([]byte, error) {
	s, err := n.host.NewStream(allowLimited(ctx), p, pid)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if err := proto.WriteFrame(s, body); err != nil {
		return nil, err
	}
	if err := s.CloseWrite(); err != nil {
		return nil, err
	}
	return readResponse(s, max)
}

// readResponse reads one response frame of at most max bytes.
func readResponse(s io.Reader, max int) ([]byte, error) {
	br := bufio.NewReaderSize(s, 4096)
	size, err := proto.ReadFrameSize(br, max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// cmpErr returns the first non-nil error.
func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// fail reports a transport failure, or the context's end if that caused it.
func (r *Remote) fail(ctx context.Context, op proto.Op, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%v on %s: %w", op, r.peer.ShortString(), ctx.Err())
	}
	return fmt.Errorf("%v on %s: %w: %v", op, r.peer.ShortString(), ErrPeer, err)
}

// Get implements store.ShardGetter.
func (r *Remote) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	resp, err := r.do(ctx, &proto.Request{Op: proto.OpGet, ID: id})
	if err != nil {
		return nil, err
	}
	return resp.Data, nil
}

// Put implements store.ShardPutter: the peer verifies the ID, stores the
// shard durably and gives this node a lease of Config.Lease on it.
func (r *Remote) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	_, err := r.do(ctx, &proto.Request{Op: proto.OpPut, ID: id, Lease: r.leaseSeconds()}, data)
	return err
}

func (r *Remote) leaseSeconds() uint32 { return uint32(r.n.cfg.Lease / time.Second) }

// Has implements store.ShardStatter, in batches.
func (r *Remote) Has(ctx context.Context, ids []erasure.ShardID) ([]bool, error) {
	out := make([]bool, 0, len(ids))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), proto.MaxBatch)]
		ids = ids[len(batch):]
		resp, err := r.do(ctx, &proto.Request{Op: proto.OpHas, IDs: batch})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Bits...)
	}
	return out, nil
}

// Renew extends this node's leases on the shards named; it reports which
// the peer holds.
func (r *Remote) Renew(ctx context.Context, ids []erasure.ShardID) ([]bool, error) {
	out := make([]bool, 0, len(ids))
	for len(ids) > 0 {
		batch := ids[:min(len(ids), proto.MaxBatch)]
		ids = ids[len(batch):]
		resp, err := r.do(ctx, &proto.Request{Op: proto.OpRenew, Lease: r.leaseSeconds(), IDs: batch})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.Bits...)
	}
	return out, nil
}

// Delete implements store.ShardDeleter: it releases this node's lease; the
// peer deletes the shard when no other owner holds it.
func (r *Remote) Delete(ctx context.Context, id erasure.ShardID) error {
	return r.Release(ctx, []erasure.ShardID{id})
}

// Release gives up this node's leases on the shards named, in batches.
func (r *Remote) Release(ctx context.Context, ids []erasure.ShardID) error {
	for len(ids) > 0 {
		batch := ids[:min(len(ids), proto.MaxBatch)]
		ids = ids[len(batch):]
		if _, err := r.do(ctx, &proto.Request{Op: proto.OpRelease, IDs: batch}); err != nil {
			return err
		}
	}
	return nil
}

// Walk implements store.ShardWalker over the shards this node holds
// leases on at the peer, page by page.
func (r *Remote) Walk(ctx context.Context, fn func(id erasure.ShardID, size int) error) error {
	var after erasure.ShardID
	for {
		resp, err := r.do(ctx, &proto.Request{Op: proto.OpList, ID: after, Limit: proto.MaxList})
		if err != nil {
			return err
		}
		for _, e := range resp.Entries {
			if err := fn(e.ID, e.Size); err != nil {
				return err
			}
		}
		if len(resp.Entries) < proto.MaxList {
			return nil
		}
		after = resp.Entries[len(resp.Entries)-1].ID
	}
}
