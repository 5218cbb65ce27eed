package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Leases are how space is given back without letting anyone but a shard's
// owner delete it. A holder keeps a shard while some owner's lease on it is
// live; leases are keyed by the owner's peer ID, which the holder learns
// from the authenticated connection, so no member can renew or release
// leases for another. An owner renews the leases of every shard its files
// still reference (Cloud.Renew, a few times per lease term) and releases
// at once those of a file it deletes (Cloud.Release). A shard nobody
// renews (its file deleted while the owner was down, or its owner gone for
// good) outlives its lease by at most one reclaim interval: each node
// reclaims, on a schedule, the shards whose leases have all expired.
//
// The price of safety by expiry is that an owner must be online at least
// once per lease term (Config.Lease, a week by default, at most 90 days).

// lookupsInFlight bounds the shard lookups a Renew or Release runs at once.
const lookupsInFlight = 8

// LeaseTerm is how long the leases this node takes last unless renewed.
func (n *Node) LeaseTerm() time.Duration { return n.cfg.Lease }

// ShardRef names a shard a file references and, when known, its holder.
type ShardRef struct {
	ID     erasure.ShardID
	Holder store.Holder // "" when not recorded
}

// LeaseReport counts what a Renew or Release did.
type LeaseReport struct {
	Done    int // shards renewed, or released
	Missing int // shards their holder does not have (renew only)
	Failed  int // shards whose holder could not be reached or found
}

// Renew extends this node's leases on the shards referenced, at their
// holders: each holder gets one request per batch of shards. A shard with
// no recorded holder is looked for first. Shards a holder no longer has
// are counted as missing: their redundancy is lost there.
func (c *Cloud) Renew(ctx context.Context, refs []ShardRef) (LeaseReport, error) {
	return c.lease(ctx, refs, true)
}

// Release gives up this node's leases on the shards referenced; a holder
// deletes a shard once no owner holds a lease on it. Only shards no file
// of the owner still references may be released: the caller decides.
func (c *Cloud) Release(ctx context.Context, refs []ShardRef) (LeaseReport, error) {
	return c.lease(ctx, refs, false)
}

func (c *Cloud) lease(ctx context.Context, refs []ShardRef, renew bool) (LeaseReport, error) {
	var rep LeaseReport
	// Where each shard is: remembered or hinted, else looked up, a few
	// lookups at a time.
	where := make([][]peer.ID, len(refs))
	sem := make(chan struct{}, lookupsInFlight)
	var lwg sync.WaitGroup
	for i, r := range refs {
		where[i] = c.Holders(r.ID)
		if p := peer.ID(r.Holder); p != "" && !slices.Contains(where[i], p) {
			where[i] = append(where[i], p)
		}
		if len(where[i]) == 0 {
			sem <- struct{}{}
			lwg.Go(func() {
				defer func() { <-sem }()
				where[i] = c.find(ctx, r.ID)
			})
		}
	}
	lwg.Wait()
	byHolder := map[peer.ID][]erasure.ShardID{}
	type pair struct {
		p  peer.ID
		id erasure.ShardID
	}
	seen := map[pair]bool{}
	for i, r := range refs {
		if len(where[i]) == 0 {
			rep.Failed++
			continue
		}
		for _, p := range where[i] {
			if k := (pair{p, r.ID}); !seen[k] {
				seen[k] = true
				byHolder[p] = append(byHolder[p], r.ID)
			}
		}
		if !renew {
			c.forget(r.ID)
		}
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for p, ids := range byHolder {
		wg.Go(func() {
			held, err := c.leaseAt(ctx, p, ids, renew)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				rep.Failed += len(ids)
				errs = append(errs, fmt.Errorf("%s: %w", p.ShortString(), err))
				return
			}
			for _, h := range held {
				if h {
					rep.Done++
				} else {
					rep.Missing++
				}
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, errors.Join(errs...)
}

// leaseAt renews or releases leases at one holder; for a release every
// shard counts as done.
func (c *Cloud) leaseAt(ctx context.Context, p peer.ID, ids []erasure.ShardID, renew bool) ([]bool, error) {
	n := c.n
	owner := []byte(n.ID())
	switch {
	case p == n.ID() && renew:
		return n.store.Renew(ctx, ids, owner, n.cfg.Now().Add(n.cfg.Lease))
	case p == n.ID():
		return allTrue(len(ids)), n.store.Release(ctx, ids, owner)
	case renew:
		return n.Remote(p).Renew(ctx, ids)
	default:
		return allTrue(len(ids)), n.Remote(p).Release(ctx, ids)
	}
}

func allTrue(n int) []bool {
	b := make([]bool, n)
	for i := range b {
		b[i] = true
	}
	return b
}

// reclaimLoop reclaims this node's expired shards every interval until the
// node closes.
func (n *Node) reclaimLoop(ctx context.Context, every time.Duration) {
	tick(ctx, every, func() {
		shards, freed, err := n.store.Reclaim(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			n.log.Warn("reclaiming expired shards failed", "err", err)
		case shards > 0:
			n.log.Info("reclaimed expired shards", "shards", shards, "bytes", freed)
		}
	})
}

// tick calls fn every period until ctx ends.
func tick(ctx context.Context, period time.Duration, fn func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}
