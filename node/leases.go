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
	"github.com/murmur-cloud/murmur/stripe"
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
	// Stripes is how many of this node's stripes got a new retention (at
	// one holder at least), or were released.
	Stripes int
}

// Renew extends this node's leases on the shards referenced, at their
// holders: each holder gets one request per batch of shards. A shard with
// no recorded holder is looked for first. Shards a holder no longer has
// are counted as missing: their redundancy is lost there. The stripes
// this node put that have a shard among those referenced get a new
// retention, one signature for them all (renewStripes).
func (c *Cloud) Renew(ctx context.Context, refs []ShardRef) (LeaseReport, error) {
	n, serr := c.renewStripes(ctx, refs)
	rep, err := c.lease(ctx, refs, true)
	rep.Stripes = n
	return rep, errors.Join(err, serr)
}

// Release gives up this node's leases on the shards referenced; a holder
// deletes a shard once no owner holds a lease on it. Only shards no file
// of the owner still references may be released: the caller decides. The
// stripes this node put all of whose shards are released are released,
// with one signature (releaseStripes): their holders delete them and keep
// tombstones.
func (c *Cloud) Release(ctx context.Context, refs []ShardRef) (LeaseReport, error) {
	n, serr := c.releaseStripes(ctx, refs)
	rep, err := c.lease(ctx, refs, false)
	rep.Stripes = n
	return rep, errors.Join(err, serr)
}

// renewStripes renews the retention of the owned stripes that have a
// shard among refs, at every holder their records name, and keeps the
// renewed records. It returns how many stripes some holder kept.
func (c *Cloud) renewStripes(ctx context.Context, refs []ShardRef) (int, error) {
	n := c.n
	recs, err := n.store.OwnedOf(ctx, idsOf(refs))
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	now := n.cfg.Now()
	ids := make([]stripe.ID, len(recs))
	for i, r := range recs {
		ids[i] = r.ID()
	}
	ret, entries, err := stripe.SignRenewal(n.key, now, now.Add(n.retentionTerm()), ids)
	if err != nil {
		return 0, fmt.Errorf("node: renew stripes: %w", err)
	}
	kept := make([]bool, len(recs))
	errs := c.eachHolder(ctx, recs, func(p peer.ID, idx []int) error {
		es := make([]stripe.Entry, len(idx))
		for j, i := range idx {
			es[j] = entries[ids[i]]
		}
		bits, err := n.holder(p).RenewStripes(ctx, &stripe.Renewal{Retention: ret, Entries: es})
		if err != nil {
			return err
		}
		for j, i := range idx {
			if j < len(bits) && bits[j] {
				kept[i] = true
			}
		}
		return nil
	})
	rn := stripe.NewRenewer(ret)
	var renewed []*stripe.Record
	var lapsed []stripe.ID
	for i, r := range recs {
		if !kept[i] {
			if !r.Live(now) {
				lapsed = append(lapsed, ids[i]) // no holder keeps it any more
			}
			continue
		}
		if r2, err := rn.Renew(r, entries[ids[i]].Path, nil, now); err == nil {
			renewed = append(renewed, r2)
		}
	}
	if err := n.store.PutOwned(ctx, renewed); err != nil {
		errs = append(errs, err)
	}
	if len(lapsed) > 0 {
		n.log.Warn("stripes lapsed: their retention ran out before this node renewed it, and no holder keeps them", "stripes", len(lapsed))
		if err := n.store.DeleteOwned(ctx, lapsed); err != nil {
			errs = append(errs, err)
		}
	}
	return len(renewed), errors.Join(errs...)
}

// releaseStripes releases the owned stripes all of whose stored shards
// are among refs, at every holder their records name, and forgets them.
func (c *Cloud) releaseStripes(ctx context.Context, refs []ShardRef) (int, error) {
	n := c.n
	ids := idsOf(refs)
	gone := make(map[erasure.ShardID]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	all, err := n.store.OwnedOf(ctx, ids)
	if err != nil {
		return 0, err
	}
	var recs []*stripe.Record
	var sids []stripe.ID
	for _, r := range all {
		whole := true
		for i, s := range r.Descriptor.Shards {
			whole = whole && (!r.Descriptor.Stored(i) || gone[s.ID])
		}
		if whole {
			recs, sids = append(recs, r), append(sids, r.ID())
		}
	}
	if len(recs) == 0 {
		return 0, nil
	}
	rel, entries, err := stripe.SignReleasing(n.key, n.cfg.Now(), sids)
	if err != nil {
		return 0, fmt.Errorf("node: release stripes: %w", err)
	}
	errs := c.eachHolder(ctx, recs, func(p peer.ID, idx []int) error {
		es := make([]stripe.Entry, len(idx))
		for j, i := range idx {
			es[j] = entries[sids[i]]
		}
		return n.holder(p).ReleaseStripes(ctx, &stripe.Releasing{Release: rel, Entries: es})
	})
	// A holder not reached keeps its shard until the retention ends:
	// nobody renews it any more.
	if err := n.store.DeleteOwned(ctx, sids); err != nil {
		errs = append(errs, err)
	}
	return len(recs), errors.Join(errs...)
}

// eachHolder calls fn, concurrently, for every holder the records' hints
// name, with the indexes (into recs) of its stripes, in batches of at most
// stripe.MaxBatch. It returns the errors, each naming its holder.
func (c *Cloud) eachHolder(ctx context.Context, recs []*stripe.Record, fn func(p peer.ID, idx []int) error) []error {
	by := map[peer.ID][]int{}
	for i, r := range recs {
		for _, p := range holdersOf(r) {
			by[p] = append(by[p], i)
		}
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, lookupsInFlight)
	for p, idx := range by {
		for len(idx) > 0 {
			batch := idx[:min(len(idx), stripe.MaxBatch)]
			idx = idx[len(batch):]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := fn(p, batch); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%s: %w", p.ShortString(), err))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errs
}

func idsOf(refs []ShardRef) []erasure.ShardID {
	ids := make([]erasure.ShardID, len(refs))
	for i, r := range refs {
		ids[i] = r.ID
	}
	return ids
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
		n.sweepStripes(ctx)
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
