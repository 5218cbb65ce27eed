package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/node/badgerstore"
	"github.com/murmur-cloud/murmur/node/proto"
	"github.com/murmur-cloud/murmur/store"
)

// serve answers one shard request on s. The peer is authenticated by the
// connection's handshake, so the leases it takes or drops are its own.
func (n *Node) serve(s network.Stream) {
	defer s.Close()
	start := time.Now()
	remote := s.Conn().RemotePeer()
	_ = s.SetDeadline(start.Add(n.cfg.RequestTimeout))
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
	defer cancel()

	op, resp, body, undo := n.handle(ctx, s, []byte(remote))
	if resp.Status != proto.StatusOK {
		n.log.Debug("shard request refused", "peer", remote.ShortString(), "op", op, "status", resp.Status, "msg", resp.Message)
	}
	out := proto.AppendResponse(nil, op, resp)
	err := proto.WriteFrame(s, out, body)
	n.served(op, start, err == nil && resp.Status == proto.StatusOK)
	if err != nil {
		s.Reset()
		// The sender did not hear that its shard was stored (it gave up):
		// it counts it as not stored, so it must not be.
		if undo != nil {
			uctx, cancel := context.WithTimeout(context.Background(), n.cfg.RequestTimeout)
			undo(uctx) // the request's own time may be what ran out
			cancel()
		}
	}
}

// undoPut returns what undoes a put of a shard this node did not hold
// before: its sender's lease released, the shard and its records dropped.
func (n *Node) undoPut(id erasure.ShardID, owner []byte) func(context.Context) {
	return func(ctx context.Context) {
		if err := n.store.Release(ctx, []erasure.ShardID{id}, owner); err != nil {
			n.log.Warn("a put its sender gave up on could not be undone; it goes with its lease", "shard", id.Short(), "err", err)
			return
		}
		n.dropShards(ctx, []erasure.ShardID{id})
	}
}

// held reports whether this node holds id (false when it cannot tell).
func (n *Node) held(ctx context.Context, id erasure.ShardID) bool {
	has, err := n.store.Has(ctx, []erasure.ShardID{id})
	return err == nil && has[0]
}

// handle reads and answers one request. body is sent after the encoded
// response (a Get's shard bytes, not copied); undo, when not nil, undoes a
// put of a shard not held before, for when the answer cannot be sent.
func (n *Node) handle(ctx context.Context, s network.Stream, owner []byte) (op proto.Op, resp *proto.Response, body []byte, undo func(context.Context)) {
	op, resp, body, undo = n.handleRequest(ctx, s, owner)
	if resp.Status != proto.StatusOK {
		undo = nil
	}
	return op, resp, body, undo
}

func (n *Node) handleRequest(ctx context.Context, s network.Stream, owner []byte) (proto.Op, *proto.Response, []byte, func(context.Context)) {
	br := bufio.NewReaderSize(s, 4096)
	size, err := proto.ReadFrameSize(br, proto.MaxFrame)
	if err != nil {
		return 0, refuse(proto.StatusBadRequest, err), nil, nil
	}
	// Account for the frame in the stream's memory scope: the resource
	// manager bounds what one peer, and all peers, may hold in requests.
	if err := s.Scope().ReserveMemory(size, network.ReservationPriorityAlways); err != nil {
		return 0, refuse(proto.StatusBusy, fmt.Errorf("no memory for a %d-byte request: %w", size, err)), nil, nil
	}
	defer s.Scope().ReleaseMemory(size)
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		return 0, refuse(proto.StatusBadRequest, fmt.Errorf("%w: truncated frame: %v", proto.ErrMalformed, err)), nil, nil
	}
	req, err := proto.ParseRequest(buf)
	if err != nil {
		return 0, refuse(proto.StatusBadRequest, err), nil, nil
	}
	if req.Op != proto.OpPut && len(buf) > proto.MaxFrameFor(req.Op) {
		return req.Op, refuse(proto.StatusBadRequest, errors.New("request too large")), nil, nil
	}
	until := n.cfg.Now().Add(time.Duration(req.Lease) * time.Second)
	switch req.Op {
	case proto.OpPut:
		if req.Lease == 0 {
			return req.Op, refuse(proto.StatusBadRequest, errors.New("a put needs a lease")), nil, nil
		}
		if len(req.Data) > erasure.MaxShardSize {
			return req.Op, refuse(proto.StatusBadRequest, fmt.Errorf("a shard of %d bytes exceeds %d", len(req.Data), erasure.MaxShardSize)), nil, nil
		}
		fresh := !n.held(ctx, req.ID)
		if err := n.store.PutLeased(ctx, req.ID, req.Data, owner, until); err != nil {
			return req.Op, refuseErr(err), nil, nil
		}
		n.announce.add(req.ID)
		var undo func(context.Context)
		if fresh {
			undo = n.undoPut(req.ID, owner)
		}
		return req.Op, &proto.Response{}, nil, undo
	case proto.OpGet:
		// The answer is held in memory until sent: account for it like
		// a request, so many gets cannot exhaust the node either.
		size, err := n.store.Size(ctx, req.ID)
		if err != nil {
			return req.Op, refuseErr(err), nil, nil
		}
		if err := s.Scope().ReserveMemory(size, network.ReservationPriorityAlways); err != nil {
			return req.Op, refuse(proto.StatusBusy, fmt.Errorf("no memory for a %d-byte answer: %w", size, err)), nil, nil
		}
		defer s.Scope().ReleaseMemory(size)
		b, err := n.store.Get(ctx, req.ID)
		if err != nil {
			return req.Op, refuseErr(err), nil, nil
		}
		return req.Op, &proto.Response{}, b, nil
	case proto.OpHas:
		has, err := n.store.Has(ctx, req.IDs)
		if err != nil {
			return req.Op, refuseErr(err), nil, nil
		}
		if n.cfg.testHasAll {
			for i := range has {
				has[i] = true
			}
		}
		return req.Op, &proto.Response{Bits: has}, nil, nil
	case proto.OpList:
		list, err := n.store.ListLeased(ctx, owner, req.ID, max(1, req.Limit))
		if err != nil {
			return req.Op, refuseErr(err), nil, nil
		}
		resp := &proto.Response{Entries: make([]proto.Entry, len(list))}
		for i, l := range list {
			resp.Entries[i] = proto.Entry{ID: l.ID, Size: l.Size}
		}
		return req.Op, resp, nil, nil
	case proto.OpRenew:
		held, err := n.store.Renew(ctx, req.IDs, owner, until)
		if err != nil {
			return req.Op, refuseErr(err), nil, nil
		}
		return req.Op, &proto.Response{Bits: held}, nil, nil
	case proto.OpRelease:
		if err := n.store.Release(ctx, req.IDs, owner); err != nil {
			return req.Op, refuseErr(err), nil, nil
		}
		n.dropShards(ctx, req.IDs)
		return req.Op, &proto.Response{}, nil, nil
	case proto.OpPutStripe, proto.OpRecord, proto.OpRenewStripes, proto.OpReleaseStripes:
		if req.Op == proto.OpPutStripe && len(req.Data) > erasure.MaxShardSize {
			return req.Op, refuse(proto.StatusBadRequest, fmt.Errorf("a shard of %d bytes exceeds %d", len(req.Data), erasure.MaxShardSize)), nil, nil
		}
		resp, undo := n.handleStripe(ctx, req, peer.ID(owner))
		return req.Op, resp, nil, undo
	}
	return req.Op, refuse(proto.StatusBadRequest, fmt.Errorf("unknown op %v", req.Op)), nil, nil
}

func refuse(st proto.Status, err error) *proto.Response {
	return &proto.Response{Status: st, Message: err.Error()}
}

// refuseErr classifies a store error for the wire.
func refuseErr(err error) *proto.Response {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse(proto.StatusNotFound, err)
	case errors.Is(err, store.ErrBadShard):
		return refuse(proto.StatusBadShard, err)
	case errors.Is(err, store.ErrFull):
		return refuse(proto.StatusFull, err)
	case errors.Is(err, badgerstore.ErrRefused):
		return refuse(proto.StatusRefused, err)
	}
	return refuse(proto.StatusInternal, err)
}
