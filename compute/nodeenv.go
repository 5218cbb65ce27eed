package compute

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/compute/sandbox"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/stripe/proof"
)

// NodeEnv is an owner's Env on a node: gossip's compute peers, the
// cloud's holder lookups, the node's own stripe records, the task
// protocol, and the reputation book. It names peers by their raw libp2p
// IDs, as manifests' holder hints do (store.Holder).
type NodeEnv struct {
	N      *node.Node
	Cloud  *node.Cloud
	Dialer *Dialer

	mu    sync.Mutex
	roots map[erasure.ShardID]proof.Root
}

// NewNodeEnv returns the Env of an owner on n.
func NewNodeEnv(n *node.Node, c *node.Cloud) *NodeEnv {
	return &NodeEnv{N: n, Cloud: c, Dialer: NewDialer(n), roots: map[erasure.ShardID]proof.Root{}}
}

// MinReliability is the reliability below which a compute peer gets no
// runs: one whose results were outvoted, or that drops what it is sent.
const MinReliability = 0.5

// Peers implements Env: the compute peers gossip knows, but those ranked
// below MinReliability.
func (e *NodeEnv) Peers() []Peer {
	var out []Peer
	for _, p := range e.N.ComputePeers() {
		if p.Reliability >= MinReliability {
			out = append(out, Peer{ID: string(p.ID), Slots: p.Slots, Free: p.Free})
		}
	}
	return out
}

// Holders implements Env.
func (e *NodeEnv) Holders(ctx context.Context, id erasure.ShardID) []string {
	var out []string
	for _, p := range e.N.FindHolders(ctx, id, 4) {
		out = append(out, string(p))
	}
	return out
}

// Root implements Env, from the stripe's record this node keeps as its
// owner.
func (e *NodeEnv) Root(ctx context.Context, d *erasure.Descriptor, i int) (proof.Root, error) {
	id := d.Shards[i].ID
	e.mu.Lock()
	root, ok := e.roots[id]
	e.mu.Unlock()
	if ok {
		return root, nil
	}
	recs, err := e.N.Store().OwnedOf(ctx, []erasure.ShardID{id})
	if err != nil {
		return proof.Root{}, err
	}
	for _, r := range recs {
		if r != nil && len(r.Roots) == len(r.Descriptor.Shards) && i < len(r.Roots) && r.Descriptor.Shards[i].ID == id {
			e.mu.Lock()
			e.roots[id] = r.Roots[i]
			e.mu.Unlock()
			return r.Roots[i], nil
		}
	}
	return proof.Root{}, fmt.Errorf("no record of the stripe of shard %s: only its owner hands out its chunks' keys", id.Short())
}

// Run implements Env.
func (e *NodeEnv) Run(ctx context.Context, p string, t *Task, wasm []byte, grant func(*Need) *Grant, timeout time.Duration, tr *Traffic) (*Result, error) {
	return e.Dialer.Run(ctx, p, t, wasm, grant, timeout, tr)
}

// Observe implements Env.
func (e *NodeEnv) Observe(p string, agreed bool) {
	id := peer.ID(p)
	if id.Validate() != nil || id == e.N.ID() {
		return
	}
	o := gossip.ComputeAgreed
	if !agreed {
		o = gossip.ComputeWrong
	}
	e.N.Observe(id, o)
}

// StartNode makes n a compute peer if it offers slots: a sandbox whose
// instances may take n's per-task memory, a Worker serving the task
// protocol on n's host, and n's gossip told how many slots are free. It
// returns the worker (nil if n offers none) and a function that stops it.
func StartNode(ctx context.Context, n *node.Node, c *node.Cloud, log *slog.Logger, corrupt func(*Result)) (*Worker, func(), error) {
	slots, mem := n.ComputeConfig()
	if slots <= 0 {
		return nil, func() {}, nil
	}
	rt, err := sandbox.New(ctx, sandbox.Config{MemoryLimit: mem, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	w, err := NewWorker(WorkerConfig{Slots: slots, Memory: mem, Runtime: rt, Shards: NodeShards{N: n, Cloud: c}, Logger: log,
		Corrupt: corrupt, OnFree: n.SetComputeFree})
	if err != nil {
		rt.Close(ctx)
		return nil, nil, err
	}
	stop := Serve(n, w)
	return w, func() {
		stop()
		rt.Close(context.Background())
	}, nil
}
