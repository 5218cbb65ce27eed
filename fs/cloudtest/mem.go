package cloudtest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/store"
)

// Mem is an drive.Cloud in memory: shards in a store.Mem, root records in a
// map. It keeps root records as the DHT does, as their signed encoding
// (internal/rootrec), checked when published and again when looked up,
// and applies the same rule to them (rootrec.CheckNewer). Gets return
// only bytes that hash to the ID asked for. It is safe for concurrent use.
type Mem struct {
	shards   *store.Mem
	capacity int64

	mu      sync.Mutex
	roots   map[string][]byte // drive public key → encoded record
	renewed map[erasure.ShardID]int
}

var _ drive.Cloud = (*Mem)(nil)

// NewMem returns an empty cloud holding at most capacity bytes of shards
// (0: no limit, and Space reports no total, as a cloud that does not know
// its size).
func NewMem(capacity int64) *Mem {
	return &Mem{
		shards: store.NewMem(capacity), capacity: capacity,
		roots: map[string][]byte{}, renewed: map[erasure.ShardID]int{},
	}
}

// Shards returns the store holding the shards, so a test can corrupt or
// delete one behind the drive's back.
func (m *Mem) Shards() *store.Mem { return m.shards }

// Renewed returns how many times Renew named shard id.
func (m *Mem) Renewed(id erasure.ShardID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.renewed[id]
}

// Put implements store.ShardPutter.
func (m *Mem) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	return m.shards.Put(ctx, id, data)
}

// PutStripe implements store.StripePutter. Every stored shard's holder is
// "mem".
func (m *Mem) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	if err := d.Validate(); err != nil {
		return nil, err
	}
	if len(shards) != len(d.Shards) {
		return nil, fmt.Errorf("cloudtest: %d shards for a stripe of %d", len(shards), len(d.Shards))
	}
	holders := make([]store.Holder, len(shards))
	for i, b := range shards {
		if !d.Stored(i) {
			continue
		}
		if err := m.shards.Put(ctx, d.Shards[i].ID, b); err != nil {
			return nil, fmt.Errorf("put shard %d: %w", i, err)
		}
		holders[i] = "mem"
	}
	return holders, nil
}

// Get implements store.ShardGetter; like the cloud's, it returns only
// bytes that hash to id (erasure.ErrCorrupt otherwise).
func (m *Mem) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return store.GetVerified(ctx, m.shards, id, nil)
}

// GetHinted implements store.HintedGetter. The hints are not needed.
func (m *Mem) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	return m.Get(ctx, id)
}

// PublishRoot implements drive.Cloud.
func (m *Mem) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r, err := rootrec.New(keys, seq, value)
	if err != nil {
		return err
	}
	b, err := r.MarshalBinary()
	if err != nil {
		return err
	}
	// Checked as any holder checks what it is sent.
	if r, err = rootrec.Parse(b); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	held, err := m.lookup(r.Drive)
	if err != nil && !errors.Is(err, drive.ErrNoRoot) {
		return err
	}
	if err := rootrec.CheckNewer(r, held); err != nil {
		return fmt.Errorf("cloudtest: publish root: %w", err)
	}
	m.roots[string(r.Drive)] = b
	return nil
}

// LookupRoot implements drive.Cloud.
func (m *Mem) LookupRoot(ctx context.Context, drive ed25519.PublicKey) (uint64, []byte, error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.lookup(drive)
	if err != nil {
		return 0, nil, err
	}
	return r.Seq, r.Value, nil
}

// lookup parses and checks the record held for drive; m.mu is held.
func (m *Mem) lookup(pub ed25519.PublicKey) (*rootrec.Record, error) {
	b, ok := m.roots[string(pub)]
	if !ok {
		return nil, fmt.Errorf("cloudtest: look up drive root: %w", drive.ErrNoRoot)
	}
	r, err := rootrec.Parse(b)
	if err != nil {
		return nil, err
	}
	if !r.Drive.Equal(pub) {
		return nil, fmt.Errorf("%w: filed under another drive", rootrec.ErrBad)
	}
	return r, nil
}

// Renew implements drive.Cloud: it fails, matching store.ErrNotFound, if a
// shard named is not held.
func (m *Mem) Renew(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	has, err := m.shards.Has(ctx, ids)
	if err != nil {
		return err
	}
	missing := 0
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, id := range ids {
		if !has[i] {
			missing++
			continue
		}
		m.renewed[id]++
	}
	if missing > 0 {
		return fmt.Errorf("cloudtest: renew: %d of %d shards: %w", missing, len(ids), store.ErrNotFound)
	}
	return nil
}

// Release gives up the leases on the shards named, as a node's cloud
// does for the one owner a Mem has: they are deleted. Shards not held are
// passed over.
func (m *Mem) Release(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	for _, id := range ids {
		if err := m.shards.Delete(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		m.mu.Lock()
		delete(m.renewed, id)
		m.mu.Unlock()
	}
	return ctx.Err()
}

// Space implements drive.Cloud: the whole cloud is known, so its figures
// are exact (Estimated), and Stored is the bytes of the shards held.
func (m *Mem) Space(ctx context.Context) (drive.CloudSpace, error) {
	if err := ctx.Err(); err != nil {
		return drive.CloudSpace{}, err
	}
	used := uint64(m.shards.Used())
	if m.capacity <= 0 {
		return drive.CloudSpace{Stored: used}, nil
	}
	total := uint64(m.capacity)
	return drive.CloudSpace{Total: total, Free: total - min(total, used), Stored: used, Estimated: true}, nil
}
