package drive

import (
	"context"
	"crypto/ed25519"
	"errors"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/store"
)

// Cloud is what a drive needs from the cloud that stores it. A node
// implements it in process (daemon.DriveCloud), and the daemon's API
// serves it to a mount in another process (client.Client's Drive); this
// package imports neither. Shards are sealed before they reach a Cloud,
// and root records are signed by the caller's keys before they leave it:
// a Cloud never sees a drive's keys.
type Cloud interface {
	store.ShardPutter
	store.StripePutter
	store.ShardGetter
	store.HintedGetter

	// PublishRoot signs a root record for the drive of keys, with sequence
	// number seq and the given value (at most MaxRootValue bytes), and
	// stores it where LookupRoot finds it. A record whose seq is not above
	// the newest one held is refused.
	PublishRoot(ctx context.Context, keys *crypt.Keys, seq uint64, value []byte) error
	// LookupRoot returns the newest root record of the drive whose public
	// key is drive, checked against that key, or an error matching
	// ErrNoRoot if the cloud holds none.
	LookupRoot(ctx context.Context, drive ed25519.PublicKey) (seq uint64, value []byte, err error)
	// Renew extends the cloud's leases on the shards named, so they
	// outlive the lease term; hints[i], if any, is where ids[i] was put.
	Renew(ctx context.Context, ids []erasure.ShardID, hints []store.Holder) error
	// Space reports the cloud's room in raw bytes (shards, parity
	// included): see CloudSpace.
	Space(ctx context.Context) (CloudSpace, error)
}

// CloudSpace is the cloud's room in raw bytes, parity included, as its
// members offer it: a drive scales it by its code's overhead.
type CloudSpace struct {
	Total  uint64 // the capacity: the members' quotas, or their disks' size where they set none, each disk once; 0 if unknown
	Free   uint64 // what can still be written, at most Total
	Stored uint64 // what the members store, for every drive and file of the cloud
	// Estimated is set when the figures are for the whole cloud (gossip's
	// estimate); before there is one, they are what the cloud's node
	// knows itself: its disk or quota, and the members it sees there.
	Estimated bool
}

// MaxRootValue bounds a root record's value (node.MaxRootValueLen).
const MaxRootValue = format.MaxRootValue

// ErrNoRoot reports a drive the cloud holds no root record for.
var ErrNoRoot = errors.New("fs: the cloud holds no root for this drive")
