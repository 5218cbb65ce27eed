package fs_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/store"
)

// testCloud is a stand-in until fs/cloudtest's Mem lands.
type testCloud struct {
	*store.Mem
	mu    sync.Mutex
	roots map[string]root
}

type root struct {
	seq   uint64
	value []byte
}

func newTestCloud(t *testing.T) fs.Cloud {
	return &testCloud{Mem: store.NewMem(0), roots: map[string]root{}}
}

func (c *testCloud) PutStripe(ctx context.Context, d *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	h := make([]store.Holder, len(shards))
	for i, s := range shards {
		if s == nil {
			continue
		}
		if err := c.Put(ctx, d.Shards[i].ID, s); err != nil {
			return nil, err
		}
		h[i] = "mem"
	}
	return h, nil
}

func (c *testCloud) GetHinted(ctx context.Context, id erasure.ShardID, _ []store.Holder) ([]byte, error) {
	return store.GetVerified(ctx, c.Mem, id, nil)
}

func (c *testCloud) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := string(keys.PublicKey())
	if r, ok := c.roots[k]; ok && r.seq >= seq {
		return fmt.Errorf("seq %d not above %d", seq, r.seq)
	}
	c.roots[k] = root{seq, append([]byte(nil), value...)}
	return nil
}

func (c *testCloud) LookupRoot(ctx context.Context, drive ed25519.PublicKey) (uint64, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.roots[string(drive)]
	if !ok {
		return 0, nil, fs.ErrNoRoot
	}
	return r.seq, r.value, nil
}

func (c *testCloud) Renew(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	return nil
}

func (c *testCloud) Space(ctx context.Context) (uint64, uint64, error) { return 1 << 40, 1 << 39, nil }
