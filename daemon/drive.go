package daemon

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	fsdrive "github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/rootrec"
	"github.com/murmur-cloud/murmur/node"
	"github.com/murmur-cloud/murmur/store"
)

// DriveCloud is the fsdrive.Cloud of a drive mounted in the daemon's own
// process: shards through the node's Cloud, root records through its DHT,
// leases taken and renewed in the node's name. The daemon's API serves
// the same DriveCloud to a mount in another process (client.Client's Drive).
type DriveCloud struct {
	n     *node.Node
	cloud *node.Cloud
}

var _ fsdrive.Cloud = (*DriveCloud)(nil)

// NewDriveCloud returns the fsdrive.Cloud of node n, whose cloud-wide store is c.
func NewDriveCloud(n *node.Node, c *node.Cloud) *DriveCloud {
	return &DriveCloud{n: n, cloud: c}
}

// Put implements store.ShardPutter.
func (d *DriveCloud) Put(ctx context.Context, id erasure.ShardID, data []byte) error {
	return d.cloud.Put(ctx, id, data)
}

// PutStripe implements store.StripePutter: the holders are peer IDs.
func (d *DriveCloud) PutStripe(ctx context.Context, desc *erasure.Descriptor, shards [][]byte) ([]store.Holder, error) {
	return d.cloud.PutStripe(ctx, desc, shards)
}

// Get implements store.ShardGetter; the bytes returned hash to id.
func (d *DriveCloud) Get(ctx context.Context, id erasure.ShardID) ([]byte, error) {
	return d.cloud.Get(ctx, id)
}

// GetHinted implements store.HintedGetter.
func (d *DriveCloud) GetHinted(ctx context.Context, id erasure.ShardID, hints []store.Holder) ([]byte, error) {
	return d.cloud.GetHinted(ctx, id, hints)
}

// PublishRoot implements fsdrive.Cloud: the record is signed here, in the
// caller's process, and published through the node's DHT.
func (d *DriveCloud) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	r, err := node.NewRootRecord(keys, seq, value)
	if err != nil {
		return err
	}
	return d.publish(ctx, r)
}

// publish publishes a record signed elsewhere; the DHT checks it.
func (d *DriveCloud) publish(ctx context.Context, r *node.RootRecord) error {
	return d.n.PublishRoot(ctx, r)
}

// LookupRoot implements fsdrive.Cloud.
func (d *DriveCloud) LookupRoot(ctx context.Context, drive ed25519.PublicKey) (uint64, []byte, error) {
	r, err := d.lookup(ctx, drive)
	if err != nil {
		return 0, nil, err
	}
	return r.Seq, r.Value, nil
}

// lookup returns the newest record of drive, with the DHT's not-found
// translated to fsdrive.ErrNoRoot.
func (d *DriveCloud) lookup(ctx context.Context, drive ed25519.PublicKey) (*node.RootRecord, error) {
	r, err := d.n.LookupRoot(ctx, drive)
	if errors.Is(err, node.ErrNoRoot) {
		return nil, fmt.Errorf("%w: %w", fsdrive.ErrNoRoot, err)
	}
	if err != nil {
		return nil, err
	}
	if !r.Drive.Equal(drive) { // the DHT's validator checks this too
		return nil, fmt.Errorf("%w: the DHT answered with another drive's record", rootrec.ErrBad)
	}
	return r, nil
}

// Renew implements fsdrive.Cloud. It fails, matching store.ErrNotFound, if a
// shard's holder no longer has it or no holder was found; the leases that
// could be renewed are renewed all the same.
func (d *DriveCloud) Renew(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	refs := make([]node.ShardRef, len(ids))
	for i, id := range ids {
		refs[i].ID = id
		if i < len(hints) {
			refs[i].Holder = hints[i]
		}
	}
	rep, err := d.cloud.Renew(ctx, refs)
	if err != nil {
		return fmt.Errorf("api: renew the leases of %d shards: %w", len(ids), err)
	}
	if rep.Missing+rep.Failed > 0 {
		return fmt.Errorf("api: renew the leases of %d shards: %d not held by their holder, %d with no holder found: %w",
			len(ids), rep.Missing, rep.Failed, store.ErrNotFound)
	}
	return nil
}

// Release gives up the node's leases on the shards named
// (node.Cloud.Release): their holders delete what no lease is left on,
// and the stripes the node put whole are released with a signature. It
// fails, matching store.ErrNotFound, if no holder was found for a shard.
func (d *DriveCloud) Release(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error {
	if len(ids) == 0 {
		return ctx.Err()
	}
	refs := make([]node.ShardRef, len(ids))
	for i, id := range ids {
		refs[i].ID = id
		if i < len(hints) {
			refs[i].Holder = hints[i]
		}
	}
	rep, err := d.cloud.Release(ctx, refs)
	if err != nil {
		return fmt.Errorf("api: release the leases of %d shards: %w", len(ids), err)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("api: release the leases of %d shards: %d with no holder found: %w", len(ids), rep.Failed, store.ErrNotFound)
	}
	return nil
}

// Space implements fsdrive.Cloud: the cloud's room as the node knows it
// (node.Space): gossip's estimate, with each disk counted once however
// many nodes share it; before the first estimate, the node's own disk or
// quota and those of the members it sees there, not marked Estimated.
func (d *DriveCloud) Space(ctx context.Context) (fsdrive.CloudSpace, error) {
	if err := ctx.Err(); err != nil {
		return fsdrive.CloudSpace{}, err
	}
	sp, _ := d.n.Space()
	return fsdrive.CloudSpace{Total: sp.Total, Free: min(sp.Free, sp.Total), Stored: sp.Stored, Estimated: sp.Estimated}, nil
}
