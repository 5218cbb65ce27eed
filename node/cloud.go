package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/gossip"
	"github.com/murmur-cloud/murmur/placement"
	"github.com/murmur-cloud/murmur/store"
	"github.com/murmur-cloud/murmur/stripe"
)

// Cloud is the cloud's shards as one node sees them: a store that places
// each stripe's shards on distinct peers (this node among them) and reads
// a shard from whichever holder first answers with the right bytes. It
// implements store.ShardGetter, store.ShardPutter and store.StripePutter,
// which is all the pipeline needs, and store.VerifiedGetter.
//
// Where shards went is remembered in memory; a shard with no known holder
// is looked for by asking the connected peers. A holder that returns bytes
// that do not hash to the ID is logged, counted against it, and skipped.
type Cloud struct {
	n       *Node
	placer  placement.Placer
	hedge   time.Duration
	noLocal bool // place shards on peers only

	lookups atomic.Int64 // shards looked for in the DHT or among members

	mu      sync.Mutex
	holders map[erasure.ShardID][]peer.ID
	lies    map[peer.ID]int
}

var (
	_ store.ShardGetter    = (*Cloud)(nil)
	_ store.HintedGetter   = (*Cloud)(nil)
	_ store.VerifiedGetter = (*Cloud)(nil)
	_ store.ShardPutter    = (*Cloud)(nil)
	_ store.StripePutter   = (*Cloud)(nil)
)

// DefaultHedge is how long a read waits for one holder before asking
// another as well.
const DefaultHedge = 300 * time.Millisecond

// Cloud returns the cloud-wide store seen from n, placing shards with p.
func (n *Node) Cloud(p placement.Placer) *Cloud {
	return &Cloud{n: n, placer: p, hedge: DefaultHedge, holders: map[erasure.ShardID][]peer.ID{}, lies: map[peer.ID]int{}}
}

// PeersOnly makes c place shards on other members only, never on its own
// node (a client that does not store for the cloud). It returns c.
func (c *Cloud) PeersOnly() *Cloud {
	c.noLocal = true
	return c
}

// Lies returns how many times each peer returned wrong bytes.
func (c *Cloud) Lies() map[peer.ID]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[peer.ID]int, len(c.lies))
	for p, n := range c.lies {
		out[p] = n
	}
	return out
}

// members returns this node and its connected peers.
func (c *Cloud) members() []peer.ID {
	return append([]peer.ID{c.n.ID()}, c.n.Peers()...)
}

// storeOf returns p's store: the local one (under this node's own lease)
// or a Remote.
func (c *Cloud) storeOf(p peer.ID) store.ShardStore {
	if p == c.n.ID() {
		return localLeased{c.n}
	}
	return c.n.Remote(p)
}

// localLeased is the node's own store, taking the node's own lease on put.
type localLeased struct{ n *Node }

func (l localLeased) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return l.n.store.Get(ctx, id)
}
func (l localLeased) Put(ctx context.Context, id erasure.ShardID, b []byte) error {
	if err := l.n.store.PutLeased(ctx, id, b, []byte(l.n.ID()), l.n.cfg.Now().Add(l.n.cfg.Lease)); err != nil {
		return err
	}
	l.n.announce.add(id)
	return nil
}
func (l localLeased) Has(ctx context.Context, ids []erasure.ShardID) ([]bool, error) {
	return l.n.store.Has(ctx, ids)
}
func (l localLeased) Delete(ctx context.Context, id erasure.ShardID) error {
	return l.n.store.Release(ctx, []erasure.ShardID{id}, []byte(l.n.ID()))
}
func (l localLeased) Walk(ctx context.Context, fn func(erasure.ShardID, int) error) error {
	return l.n.store.Walk(ctx, fn)
}

// Put stores one shard on one peer chosen by the placer, under a lease
// alone (no stripe record: a shard put this way is not audited).
func (c *Cloud) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	d := &erasure.Descriptor{Shards: []erasure.Shard{{ID: id, Size: len(data)}}}
	_, err := c.place(ctx, d, [][]byte{data}, func(int) bool { return true }, nil)
	return err
}

// PutStripe implements store.StripePutter: every stored shard of the
// stripe goes to a distinct member, with the stripe's record (stripes.go).
// A shard whose holder fails is put on another member not yet used by the
// stripe, and then every holder is handed the record with the final
// hints. If the stripe cannot be stored whole, what was stored of it is
// released again before PutStripe returns, so a failed put leaves no
// shards behind. It returns only when no transfer is still reading the
// shards. The holders it returns are the members' peer IDs.
func (c *Cloud) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	rec, err := c.n.newRecord(d, shards)
	if err != nil {
		return nil, fmt.Errorf("node: put stripe: %w", err)
	}
	return c.place(ctx, d, shards, d.Stored, rec)
}

// putShard puts shard i of a stripe on member p: with the stripe's record
// when there is one.
func (c *Cloud) putShard(ctx context.Context, p peer.ID, rec *stripe.Record, i int, id erasure.ShardID, data []byte) error {
	switch {
	case rec == nil:
		return c.storeOf(p).Put(ctx, id, data)
	case p == c.n.ID():
		return c.n.putStriped(ctx, rec, i, data, p)
	}
	return c.n.Remote(p).PutStriped(ctx, rec, i, data)
}

func (c *Cloud) place(ctx context.Context, d *erasure.Descriptor, shards [][]byte, stored func(int) bool, rec *stripe.Record) ([]store.Holder, error) {
	members := c.members()
	if c.noLocal {
		members = members[1:]
	}
	cands := c.n.candidates(members)
	var which []int // shard indexes to place
	var sizes []int
	for i := range shards {
		if stored(i) {
			which = append(which, i)
			sizes = append(sizes, len(shards[i]))
		}
	}
	chosen, err := c.placer.Place(cands, sizes)
	if err != nil {
		return nil, fmt.Errorf("node: place %d shards on %d members: %w", len(sizes), len(members), err)
	}
	if rec != nil {
		// The record goes out with the planned holders; a change of plan
		// is sent after.
		for j, i := range which {
			if rec, err = rec.WithHolders(i, []string{string(members[chosen[j]])}, c.n.cfg.Now()); err != nil {
				return nil, fmt.Errorf("node: put stripe: %w", err)
			}
		}
	}
	holders := make([]store.Holder, len(shards))
	var mu sync.Mutex
	used := make([]bool, len(members))
	for _, m := range chosen {
		used[m] = true
	}
	// spare returns an unused member for a shard whose holder failed.
	spare := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		for i := range used {
			if !used[i] {
				used[i] = true
				return i, true
			}
		}
		return 0, false
	}
	errs := make([]error, len(which))
	done := make([]bool, len(which))
	at := make([]peer.ID, len(which))      // where each shard was stored
	tried := make([][]peer.ID, len(which)) // members a put of it may have reached though it failed
	var wg sync.WaitGroup
	for j, i := range which {
		wg.Go(func() {
			id, m := d.Shards[i].ID, chosen[j]
			for {
				err := c.putShard(ctx, members[m], rec, i, id, shards[i])
				c.observe(ctx, members[m], err)
				if err == nil {
					c.addHolder(id, members[m])
					holders[i] = store.Holder(members[m])
					at[j], done[j] = members[m], true
					return
				}
				errs[j] = fmt.Errorf("shard %d (%s) on %s: %w", i, id.Short(), members[m].ShortString(), err)
				refused := errors.Is(err, store.ErrBadShard) || errors.Is(err, ErrRefused) || errors.Is(err, store.ErrFull) || errors.Is(err, ErrBusy)
				if !refused && members[m] != c.n.ID() {
					tried[j] = append(tried[j], members[m])
				}
				if ctx.Err() != nil || errors.Is(err, store.ErrBadShard) || errors.Is(err, ErrRefused) {
					return
				}
				c.n.log.Warn("shard put failed, trying another member", "shard", id.Short(), "peer", members[m].ShortString(), "err", err)
				var ok bool
				if m, ok = spare(); !ok {
					return
				}
			}
		})
	}
	wg.Wait()
	// Every copy counts: with k=1 the parity shards are copies of the data
	// shard under its ID, so "some member holds the ID" is not enough.
	var failed []error
	for j := range which {
		if !done[j] {
			failed = append(failed, errs[j])
		}
	}
	if len(failed) > 0 {
		if rec == nil {
			tried = nil // a lease-only put: its shard may be an older put's
		}
		c.undo(d, which, done, at, tried)
		return nil, errors.Join(failed...)
	}
	if rec != nil {
		c.settle(ctx, rec, which, chosen, members, at)
	}
	return holders, nil
}

// undo releases the shards a failed put stored, so that they do not hold
// space until their lease runs out: those stored, and those whose put
// failed in transfer (it may have been stored all the same; a holder also
// undoes a put whose answer it could not send). It runs even when the
// put's context has ended, within a bounded time of its own.
//
// A shard that a stripe this node put earlier also has (the same bytes
// stored again) is kept: that stripe still needs it.
func (c *Cloud) undo(d *erasure.Descriptor, which []int, done []bool, at []peer.ID, tried [][]peer.ID) {
	ctx, cancel := context.WithTimeout(context.Background(), c.n.cfg.RequestTimeout)
	defer cancel()
	var ids []erasure.ShardID
	for j, i := range which {
		if done[j] || (tried != nil && len(tried[j]) > 0) {
			ids = append(ids, d.Shards[i].ID)
		}
	}
	keep := map[erasure.ShardID]bool{}
	owned, err := c.n.store.OwnedOf(ctx, ids)
	if err != nil {
		c.n.log.Warn("a failed put's shards are kept: this node's stripes could not be read", "err", err)
		return
	}
	for _, r := range owned {
		for _, s := range r.Descriptor.Shards {
			keep[s.ID] = true
		}
	}
	type put struct {
		id erasure.ShardID
		p  peer.ID
	}
	var puts []put
	for j, i := range which {
		id := d.Shards[i].ID
		if keep[id] {
			continue
		}
		if done[j] {
			puts = append(puts, put{id, at[j]})
		}
		if tried != nil {
			for _, p := range tried[j] {
				puts = append(puts, put{id, p})
			}
		}
	}
	var wg sync.WaitGroup
	for _, u := range puts {
		id, p := u.id, u.p
		c.forget(id)
		wg.Go(func() {
			var err error
			if p == c.n.ID() {
				if err = c.n.store.Release(ctx, []erasure.ShardID{id}, []byte(p)); err == nil {
					c.n.dropShards(ctx, []erasure.ShardID{id})
				}
			} else {
				err = c.n.Remote(p).Release(ctx, []erasure.ShardID{id})
			}
			if err != nil {
				c.n.log.Warn("a failed put's shard could not be released; it goes when its lease ends", "shard", id.Short(), "peer", p.ShortString(), "err", err)
			}
		})
	}
	wg.Wait()
}

// settle finishes a stripe put: when a shard went to another member than
// planned, every holder is handed the record with the holders as they are;
// and the record is kept among this node's own, for renewals and releases.
func (c *Cloud) settle(ctx context.Context, rec *stripe.Record, which, chosen []int, members []peer.ID, at []peer.ID) {
	moved := false
	for j, i := range which {
		if at[j] != members[chosen[j]] {
			moved = true
			var err error
			if rec, err = rec.WithHolders(i, []string{string(at[j])}, c.n.cfg.Now()); err != nil {
				c.n.log.Error("a stripe's hints", "err", err)
			}
		}
	}
	if moved {
		var wg sync.WaitGroup
		for _, p := range holdersOf(rec) {
			wg.Go(func() {
				var err error
				if p == c.n.ID() {
					var kept *stripe.Record
					var held bool
					if kept, held, err = c.n.store.UpdateHeld(ctx, rec); held {
						c.n.audits.update(kept)
						c.n.repairs.hold(kept)
					}
				} else {
					err = c.n.Remote(p).PushRecord(ctx, rec)
				}
				if err != nil {
					c.n.log.Warn("a holder did not take a stripe's new hints", "peer", p.ShortString(), "stripe", rec.ID().Short(), "err", err)
				}
			})
		}
		wg.Wait()
	}
	if err := c.n.store.PutOwned(ctx, []*stripe.Record{rec}); err != nil {
		c.n.log.Warn("this node's record of its stripe was not kept; it will not be renewed", "stripe", rec.ID().Short(), "err", err)
	}
}

// maxHolders bounds the shards whose holders a Cloud remembers: it is a
// cache (manifests carry holder hints, and the DHT knows the rest).
const maxHolders = 1 << 17

func (c *Cloud) addHolder(id erasure.ShardID, p peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, q := range c.holders[id] {
		if q == p {
			return
		}
	}
	if _, ok := c.holders[id]; !ok && len(c.holders) >= maxHolders {
		for k := range c.holders { // drop about half, arbitrarily
			if len(c.holders) < maxHolders/2 {
				break
			}
			delete(c.holders, k)
		}
	}
	c.holders[id] = append(c.holders[id], p)
}

// forget drops what the Cloud remembers of a shard's holders.
func (c *Cloud) forget(id erasure.ShardID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.holders, id)
}

// observe records a transfer's outcome in the node's reputation book: a
// refusal for lack of room or a missing shard says nothing of the peer's
// reliability, and neither does a transfer this node gave up on.
func (c *Cloud) observe(ctx context.Context, p peer.ID, err error) {
	switch {
	case err == nil:
		c.n.Observe(p, gossip.TransferOK)
	case ctx.Err() != nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrFull) || errors.Is(err, store.ErrBadShard) || errors.Is(err, ErrRefused):
	default:
		c.n.Observe(p, gossip.TransferFailed)
	}
}

// Lookups returns how many times a shard's holders had to be looked for
// (in the DHT, then among the members) because none was known or hinted.
func (c *Cloud) Lookups() int64 { return c.lookups.Load() }

// Holders returns the members known to hold a shard.
func (c *Cloud) Holders(id erasure.ShardID) []peer.ID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]peer.ID(nil), c.holders[id]...)
}

// find looks for the holders of id: first the providers the DHT knows
// (those still connected), then, if none, every member is asked.
func (c *Cloud) find(ctx context.Context, id erasure.ShardID) []peer.ID {
	c.lookups.Add(1)
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	providers := c.n.FindHolders(dctx, id, 20)
	cancel()
	var out []peer.ID
	for _, p := range providers {
		if p == c.n.ID() || c.n.host.Network().Connectedness(p) == network.Connected {
			out = append(out, p)
			c.addHolder(id, p)
		}
	}
	if len(out) > 0 {
		return out
	}
	return c.askMembers(ctx, id)
}

// askMembers asks every member whether it holds id.
func (c *Cloud) askMembers(ctx context.Context, id erasure.ShardID) []peer.ID {
	members := c.members()
	found := make([]bool, len(members))
	var wg sync.WaitGroup
	for i, p := range members {
		wg.Go(func() {
			has, err := c.storeOf(p).Has(ctx, []erasure.ShardID{id})
			found[i] = err == nil && has[0]
		})
	}
	wg.Wait()
	var out []peer.ID
	for i, p := range members {
		if found[i] {
			out = append(out, p)
			c.addHolder(id, p)
		}
	}
	return out
}

// Get implements store.ShardGetter: it asks the shard's holders, one more
// every hedge interval while none has answered, and returns the first
// answer that hashes to id. Wrong bytes are counted against their sender
// and never returned.
func (c *Cloud) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return c.GetHinted(ctx, id, nil)
}

// GetHinted implements store.HintedGetter: the hinted holders (peer IDs a
// manifest recorded) are asked first, with the holders this node already
// knows of; only when none of them has the shard is it looked for in the
// DHT and then among the members.
func (c *Cloud) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	known := c.Holders(id)
	for _, h := range hints {
		p := peer.ID(h)
		if p.Validate() == nil && !slices.Contains(known, p) {
			known = append(known, p)
		}
	}
	if len(known) > 0 {
		b, err := c.getFrom(ctx, id, known)
		if err == nil || ctx.Err() != nil {
			return b, err
		}
		// Every holder we knew of failed (churn): look again.
		var fresh []peer.ID
		for _, p := range c.find(ctx, id) {
			if !slices.Contains(known, p) {
				fresh = append(fresh, p)
			}
		}
		if len(fresh) == 0 {
			return nil, err
		}
		return c.getFrom(ctx, id, fresh)
	}
	return c.getFrom(ctx, id, c.find(ctx, id))
}

// GetVerified implements store.VerifiedGetter: Get returns only bytes that
// hash to id, so the pipeline need not hash them again.
func (c *Cloud) GetVerified(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return c.Get(ctx, id)
}

// getFrom asks the holders given, hedging, for id.
func (c *Cloud) getFrom(ctx context.Context, id erasure.ShardID, holders []peer.ID) ([]byte, error) {
	if len(holders) == 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("get %s: no member holds it: %w", id.Short(), store.ErrNotFound)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		p   peer.ID
		b   []byte
		err error
		bad bool // b does not hash to id
	}
	results := make(chan result, len(holders))
	next, running := 0, 0
	launch := func() {
		p := holders[next]
		next++
		running++
		go func() {
			b, err := c.storeOf(p).Get(ctx, id)
			bad := err == nil && !id.Verify(b) // hashed once, here
			if bad {
				c.n.Observe(p, gossip.TransferCorrupt)
			} else {
				c.observe(ctx, p, err)
			}
			results <- result{p, b, err, bad}
		}()
	}
	launch()
	hedge := time.NewTimer(c.hedge)
	defer hedge.Stop()
	var errs []error
	for running > 0 {
		select {
		case <-hedge.C:
			if next < len(holders) {
				launch()
				hedge.Reset(c.hedge)
			}
		case r := <-results:
			running--
			switch {
			case r.err != nil:
				errs = append(errs, r.err)
			case r.bad:
				c.mu.Lock()
				c.lies[r.p]++
				c.mu.Unlock()
				c.n.log.Warn("peer returned wrong bytes for a shard", "peer", r.p.ShortString(), "shard", id.Short())
				errs = append(errs, fmt.Errorf("get %s from %s: %w", id.Short(), r.p.ShortString(), erasure.ErrCorrupt))
			default:
				return r.b, nil
			}
			if next < len(holders) {
				launch()
				hedge.Reset(c.hedge)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Not found only if every holder said so; otherwise the holders failed.
	notFound := true
	for _, e := range errs {
		notFound = notFound && errors.Is(e, store.ErrNotFound)
	}
	if notFound {
		return nil, fmt.Errorf("get %s: %w", id.Short(), errors.Join(errs...))
	}
	return nil, fmt.Errorf("get %s: every holder failed: %w", id.Short(), errors.Join(append(errs, ErrPeer)...))
}
