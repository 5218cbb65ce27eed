package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"

	"github.com/murmur-cloud/murmur/pipeline"
)

// PublishLogAnyway publishes, as keys' writer, its log with the entry of
// snapshot id (another writer's) added: what a removed machine that
// still holds its keys could do.
func PublishLogAnyway(ctx context.Context, cloud Cloud, keys *Keys, id SnapshotID) error {
	state, err := readState(ctx, cloud, keys)
	if err != nil {
		return err
	}
	var entry *LogEntry
	for _, l := range state.ls {
		for i, e := range l.entries {
			if sha256.Sum256(e.Box) == id {
				entry = &l.entries[i]
			}
		}
	}
	if entry == nil {
		return fmt.Errorf("no snapshot %s", id.Short())
	}
	var me [32]byte
	copy(me[:], keys.Writer.PublicKey())
	mine, err := readLog(ctx, cloud, keys, me)
	if err != nil {
		return err
	}
	m, err := pipeline.Write(ctx, pipeline.Config{Keys: keys.Data, Sealing: pipeline.SealContent}, cloud,
		bytes.NewReader(encodeLog(append(mine.entries, *entry))))
	if err != nil {
		return err
	}
	ref, err := makeRef(keys.Data, m)
	if err != nil {
		return err
	}
	return cloud.PublishRoot(ctx, keys.Writer, mine.seq+1, (&WriterRoot{Set: keys.ID, Log: ref}).Marshal())
}
