package backup

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/murmur-cloud/murmur/fs/drive"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
)

// A set's forgotten snapshots are a list of their IDs, in a file the set
// root names (SetRoot.Forgotten): version(1) | count | IDs (32 B each),
// sorted. Only the admin key signs the set root, so only it can forget;
// the writers' logs, each signed by its writer, are never rewritten.
const forgottenVersion = 1

func encodeForgotten(ids map[SnapshotID]bool) []byte {
	b := []byte{forgottenVersion}
	list := slices.SortedFunc(maps.Keys(ids), func(a, b SnapshotID) int { return bytes.Compare(a[:], b[:]) })
	b = binary.AppendUvarint(b, uint64(len(list)))
	for _, id := range list {
		b = append(b, id[:]...)
	}
	return b
}

func parseForgotten(b []byte) (map[SnapshotID]bool, error) {
	r := wire.NewReader(b, ErrDamaged)
	if v := r.Byte(); r.Err() == nil && v != forgottenVersion {
		r.Fail("forgotten list version %d", v)
	}
	n := r.Count(maxEntries, 32)
	out := make(map[SnapshotID]bool, n)
	var last SnapshotID
	for i := range n {
		var id SnapshotID
		copy(id[:], r.Bytes(32))
		if i > 0 && bytes.Compare(id[:], last[:]) <= 0 && r.Err() == nil {
			r.Fail("forgotten IDs out of order")
		}
		out[id], last = true, id
	}
	r.Done()
	if err := r.Err(); err != nil {
		return nil, err
	}
	return out, canonical(b, encodeForgotten(out))
}

// forgotten returns the set's forgotten snapshots.
func forgotten(ctx context.Context, cloud Cloud, keys *Keys, root *SetRoot) (map[SnapshotID]bool, error) {
	if len(root.Forgotten) == 0 {
		return map[SnapshotID]bool{}, nil
	}
	m, err := Ref(root.Forgotten).open(keys.Data)
	if err != nil {
		return nil, fmt.Errorf("backup: the forgotten snapshots: %w", err)
	}
	b, err := readFile(ctx, cloud, keys.Data, m)
	if err != nil {
		return nil, fmt.Errorf("backup: read the forgotten snapshots: %w", err)
	}
	return parseForgotten(b)
}

// Forget removes snapshots from the set: they are no longer listed or
// restorable, and their chunks no longer count as used by them (prune
// gives back the space of chunks no snapshot uses). Only the admin key
// may forget.
func Forget(ctx context.Context, cloud Cloud, keys *Keys, ids []SnapshotID) error {
	if keys.AppendOnly() {
		return fmt.Errorf("%w: forgetting needs the admin key", ErrAppendOnly)
	}
	if len(ids) == 0 {
		return nil
	}
	state, err := readState(ctx, cloud, keys)
	if err != nil {
		return err
	}
	seq, root, gone := state.seq, state.root, state.gone
	// Every writer's log as the admin sees it now goes into the archive:
	// a writer that drops entries from its log later loses none.
	if err := archive(ctx, cloud, keys, root, state.ls); err != nil {
		return err
	}
	for _, id := range ids {
		gone[id] = true
	}
	m, err := pipeline.Write(ctx, pipeline.Config{Keys: keys.Data, Sealing: pipeline.SealContent}, cloud, bytes.NewReader(encodeForgotten(gone)))
	if err != nil {
		return fmt.Errorf("backup: store the forgotten snapshots: %w", err)
	}
	if root.Forgotten, err = makeRef(keys.Data, m); err != nil {
		return err
	}
	if len(root.Marshal()) > drive.MaxRootValue {
		return fmt.Errorf("backup: the set's root is full")
	}
	if err := cloud.PublishRoot(ctx, keys.Set, seq+1, root.Marshal()); err != nil {
		return fmt.Errorf("backup: publish the set's root: %w", err)
	}
	return nil
}
