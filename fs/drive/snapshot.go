package drive

import (
	"context"
	"time"

	"github.com/murmur-cloud/murmur/fs"
)

// Snapshot is one commit of the drive.
type Snapshot struct {
	Gen   uint64    `json:"gen"`
	Time  time.Time `json:"time"`
	Pages int       `json:"pages"`
}

// Snapshots lists the drive's commits, newest first, back to the oldest
// still readable: a commit's objects stay in the cloud at least one shard
// lease term after a newer commit replaced them.
func (d *Drive) Snapshots(ctx context.Context) ([]Snapshot, error) {
	d.mu.Lock()
	ref := d.ref
	d.mu.Unlock()
	var out []Snapshot
	for len(ref) > 0 {
		s, err := d.loadSuper(ctx, ref)
		if err != nil {
			if len(out) == 0 {
				return nil, err
			}
			d.log.Info("fs: older snapshots are gone", "after", out[len(out)-1].Gen, "err", err)
			break
		}
		out = append(out, Snapshot{Gen: s.Gen, Time: s.Time, Pages: len(s.Pages)})
		ref = s.Prev
	}
	return out, nil
}

// Restore makes snapshot gen the drive's current tree again, as a new
// commit whose previous one is the current: nothing is lost, and the
// restore itself can be undone by restoring the commit before it. The
// mount must hold the writer lease; what it has not committed is
// committed first. The tree this mount shows becomes the restored one: it
// changes to the snapshot's, and that change is committed as any other,
// so a crash at any point leaves the state and the cloud agreeing.
func (d *Drive) Restore(ctx context.Context, gen uint64) error {
	if err := d.Commit(ctx); err != nil {
		return err
	}
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	ref, writing := d.ref, d.writing
	d.mu.Unlock()
	if !writing {
		return fs.ErrReadOnly
	}
	_, s, err := d.findSnapshot(ctx, ref, gen)
	if err != nil {
		return err
	}
	// The tree changes to the snapshot's and those changes are marked
	// for the commit at one instant: a flush between would save the
	// snapshot's inodes as committed, and a crash then leave the state
	// showing a tree the cloud does not hold, never to commit it.
	if _, err := d.replaceTree(ctx, s, d.t.ReplaceChanged); err != nil {
		return err
	}
	if d.restored != nil {
		d.restored()
	}
	err = d.commitLocked(ctx, true)
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
	return err
}
