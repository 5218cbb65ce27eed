package backup

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/pipeline"
)

// ErrReadOnly reports a write to a snapshot mounted as a drive.
var ErrReadOnly = errors.New("backup: a snapshot is read-only")

// SnapshotDrive presents snapshot s as a drive: a snapshot's tree is a
// drive commit, so fs/drive opens it read-only, and fs/mount mounts it, as
// any drive's (drive.Config{Keys: the keys returned, Cloud: the cloud
// returned, ReadOnly: true}). The cloud answers the drive's root lookups
// with a root whose super is the snapshot's, and refuses to publish one;
// everything else goes to cloud. Only the admin key may.
func SnapshotDrive(cloud Cloud, keys *Keys, s *Snapshot) (Cloud, *crypt.Keys, error) {
	if keys.AppendOnly() {
		return nil, nil, fmt.Errorf("%w: mounting a snapshot needs the admin key", ErrAppendOnly)
	}
	m, err := pipeline.ParseManifest(s.Super)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: the snapshot's super: %w", ErrDamaged, err)
	}
	ref, err := makeRef(keys.Data, m)
	if err != nil {
		return nil, nil, err
	}
	root := &format.Root{Super: ref}
	return &snapshotCloud{Cloud: cloud, pub: keys.Data.PublicKey(), value: root.Marshal()}, keys.Data, nil
}

// snapshotCloud is a cloud in which one drive root, the snapshot's, is
// fixed.
type snapshotCloud struct {
	Cloud
	pub   ed25519.PublicKey
	value []byte
}

func (c *snapshotCloud) LookupRoot(ctx context.Context, pub ed25519.PublicKey) (uint64, []byte, error) {
	if pub.Equal(c.pub) {
		return 1, c.value, ctx.Err()
	}
	return c.Cloud.LookupRoot(ctx, pub)
}

func (c *snapshotCloud) PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error {
	if keys.PublicKey().Equal(c.pub) {
		return ErrReadOnly
	}
	return c.Cloud.PublishRoot(ctx, keys, seq, value)
}
