package node

import (
	"context"
	"sync"

	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/store"
)

// Tracked is a Cloud that remembers the stripes and shards put through
// it, so that a write that fails after some of them were stored (a file
// whose last stripe is refused) can give their space back at once rather
// than when their leases run out. It is safe for concurrent use.
//
// Until Done or Undo, its shards count as in use by a put in progress:
// another Tracked of the same Cloud that undoes (the same bytes put twice
// at once, one put failing) and a failed stripe put keep them, since the
// file that references them may not be in any catalog yet. A Tracked must
// end with Done or Undo.
type Tracked struct {
	*Cloud
	mu   sync.Mutex
	refs []ShardRef
	seen map[ShardRef]bool
	ids  map[erasure.ShardID]bool // counted in Cloud.tracked
	done bool
}

// trackedBy returns how many Trackeds of c hold shard id.
func (c *Cloud) trackedBy(id erasure.ShardID) int {
	c.trackMu.Lock()
	defer c.trackMu.Unlock()
	return c.tracked[id]
}

var (
	_ store.ShardPutter  = (*Tracked)(nil)
	_ store.StripePutter = (*Tracked)(nil)
)

// Track returns c, remembering what is put through it.
func (c *Cloud) Track() *Tracked {
	return &Tracked{Cloud: c, seen: map[ShardRef]bool{}, ids: map[erasure.ShardID]bool{}}
}

func (t *Tracked) add(r ShardRef) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.seen[r] {
		t.seen[r] = true
		t.refs = append(t.refs, r)
	}
	if !t.ids[r.ID] && !t.done {
		t.ids[r.ID] = true
		t.trackMu.Lock()
		if t.tracked == nil {
			t.tracked = map[erasure.ShardID]int{}
		}
		t.tracked[r.ID]++
		t.trackMu.Unlock()
	}
}

// Done ends t's put: its shards no longer count as in use by it (the
// file that references them is in its catalog, or nowhere).
func (t *Tracked) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	t.trackMu.Lock()
	defer t.trackMu.Unlock()
	for id := range t.ids {
		if t.tracked[id]--; t.tracked[id] <= 0 {
			delete(t.tracked, id)
		}
	}
}

// Put implements store.ShardPutter.
func (t *Tracked) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	if err := t.Cloud.Put(ctx, id, data); err != nil {
		return err
	}
	for _, p := range t.Holders(id) {
		t.add(ShardRef{ID: id, Holder: store.Holder(p)})
	}
	return nil
}

// PutStripe implements store.StripePutter.
func (t *Tracked) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	holders, err := t.Cloud.PutStripe(ctx, d, shards)
	if err != nil {
		return nil, err
	}
	for i, h := range holders {
		if d.Stored(i) {
			t.add(ShardRef{ID: d.Shards[i].ID, Holder: h})
		}
	}
	return holders, nil
}

// Refs returns the shards put through t, with their holders.
func (t *Tracked) Refs() []ShardRef {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]ShardRef(nil), t.refs...)
}

// Undo releases what was put through t, except the shards keep reports
// (those other files still reference: the caller knows which) and those
// another Tracked of the same Cloud stored too and is not done with. It
// ends t (Done).
func (t *Tracked) Undo(ctx context.Context, keep func(erasure.ShardID) bool) (LeaseReport, error) {
	all := t.Refs()
	t.Done()
	var refs []ShardRef
	for _, r := range all {
		if (keep == nil || !keep(r.ID)) && t.trackedBy(r.ID) == 0 {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return LeaseReport{}, nil
	}
	return t.Cloud.Release(ctx, refs)
}
