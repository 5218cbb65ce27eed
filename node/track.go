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
type Tracked struct {
	*Cloud
	mu   sync.Mutex
	refs []ShardRef
	seen map[ShardRef]bool
}

var (
	_ store.ShardPutter  = (*Tracked)(nil)
	_ store.StripePutter = (*Tracked)(nil)
)

// Track returns c, remembering what is put through it.
func (c *Cloud) Track() *Tracked { return &Tracked{Cloud: c, seen: map[ShardRef]bool{}} }

func (t *Tracked) add(r ShardRef) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.seen[r] {
		t.seen[r] = true
		t.refs = append(t.refs, r)
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
// (those other files still reference: the caller knows which).
func (t *Tracked) Undo(ctx context.Context, keep func(erasure.ShardID) bool) (LeaseReport, error) {
	var refs []ShardRef
	for _, r := range t.Refs() {
		if keep == nil || !keep(r.ID) {
			refs = append(refs, r)
		}
	}
	if len(refs) == 0 {
		return LeaseReport{}, nil
	}
	return t.Cloud.Release(ctx, refs)
}
