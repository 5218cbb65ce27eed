package drive

import (
	"bytes"
	"context"
	"time"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/fs/state"
)

// start runs the background work: saving the state, committing and
// renewing the lease, or following new roots.
func (d *Drive) start() {
	d.done.Add(2)
	go func() {
		defer d.done.Done()
		d.loop()
	}()
	go func() {
		defer d.done.Done()
		d.leaseLoop()
	}()
}

// dueForCommit says whether the background commit should run now: when
// the drive has been idle for Quiet (uploading competes with what the
// user is doing), or its oldest uncommitted change is MaxDirty old.
func (d *Drive) dueForCommit() bool {
	since, last := d.t.Activity()
	if since == 0 {
		return false
	}
	now := d.cfg.Clock().UnixNano()
	return now-last >= int64(Quiet) || now-since >= int64(MaxDirty)
}

func (d *Drive) loop() {
	flush := time.NewTicker(d.cfg.FlushEvery)
	defer flush.Stop()
	commit := time.NewTicker(min(d.cfg.CommitEvery, d.cfg.LeaseTerm/3))
	defer commit.Stop()
	follow := time.NewTicker(d.cfg.FollowEvery)
	defer follow.Stop()
	renew := time.NewTimer(time.Minute)
	defer renew.Stop()
	lastCommit := d.cfg.Clock()
	for {
		select {
		case <-d.stop:
			return
		case <-flush.C:
			d.save(nil, false) // a failure is logged and kept for Status; the next tick retries
		case <-commit.C:
			d.mu.Lock()
			writing := d.writing
			d.mu.Unlock()
			now := d.cfg.Clock()
			if !writing || now.Sub(lastCommit) < d.cfg.CommitEvery || !d.dueForCommit() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
			if err := d.commit(ctx, false); err != nil {
				d.log.Error("fs: commit", "err", err)
			}
			cancel()
			lastCommit = now
			d.evict()
		case <-follow.C:
			d.mu.Lock()
			follow := !d.writing && !d.frozen
			d.mu.Unlock()
			if follow && d.cfg.Snapshot == 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				if err := d.Follow(ctx); err != nil {
					d.log.Warn("fs: follow the drive's root", "err", err)
				}
				cancel()
			}
		case <-renew.C:
			renew.Reset(d.cfg.RenewEvery)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			if err := d.RenewShards(ctx); err != nil {
				d.log.Warn("fs: renew shard leases", "err", err)
			}
			cancel()
		}
	}
}

// Follow loads the drive's newest root if it differs from the one this
// read-only mount shows, and reports the inodes that changed to OnChange's
// function. A mount that holds changes it could not commit never follows:
// they stay as they are.
func (d *Drive) Follow(ctx context.Context) error {
	d.commitMu.Lock()
	defer d.commitMu.Unlock()
	d.mu.Lock()
	frozen := d.frozen
	d.mu.Unlock()
	if frozen {
		return nil
	}
	seq, value, err := d.cfg.Cloud.LookupRoot(ctx, d.cfg.Keys.PublicKey())
	if err != nil {
		return err
	}
	root, err := format.ParseRoot(value)
	if err != nil {
		return err
	}
	d.mu.Lock()
	same := bytes.Equal(root.Super, d.ref)
	d.seq = max(d.seq, seq)
	d.mu.Unlock()
	if same {
		return nil
	}
	s, err := d.loadSuper(ctx, root.Super)
	if err != nil {
		return err
	}
	return d.switchTo(ctx, root.Super, s)
}

// switchTo makes the commit s (whose reference is ref) the tree this
// mount shows, and records it in the state directory in one batch with
// the records it changed. A file whose contents the commit changed keeps
// its open handles, with the new contents as its base.
func (d *Drive) switchTo(ctx context.Context, ref []byte, s *format.Super) error {
	changed, err := d.replace(ctx, s)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.ref, d.gen, d.pages = ref, s.Gen, s.Pages
	fn := d.onChange
	d.mu.Unlock()
	if fn != nil {
		fn(changed)
	}
	return d.save(d.meta(false, nil), false)
}

// replace makes the tree the one commit s holds, and returns the inodes
// that changed.
func (d *Drive) replace(ctx context.Context, s *format.Super) ([]fs.Ino, error) {
	return d.replaceTree(ctx, s, d.t.Replace)
}

// replaceTree is replace with the Tree's Replace or ReplaceChanged.
func (d *Drive) replaceTree(ctx context.Context, s *format.Super, replace func(map[fs.Ino]*fs.Node, func(fs.Ino, *fs.Node, fs.File) (fs.File, bool), fs.Ino) ([]fs.Ino, error)) ([]fs.Ino, error) {
	nodes, manifests, err := d.loadPages(ctx, s)
	if err != nil {
		return nil, err
	}
	var ferr error
	changed, err := replace(nodes, func(ino fs.Ino, _ *fs.Node, old fs.File) (fs.File, bool) {
		m := manifests[ino]
		if of, ok := old.(*state.File); ok {
			if of.SameBase(m) {
				return of, false
			}
			if err := of.Rebase(m); err != nil && ferr == nil {
				ferr = err
			}
			return of, true
		}
		f, err := d.st.NewBase(ino, m)
		if err != nil && ferr == nil {
			ferr = err
		}
		return f, true
	}, s.Next)
	if err == nil {
		err = ferr
	}
	return changed, err
}
