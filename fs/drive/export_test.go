package drive

import "context"

// Evict runs the cache eviction the background loop runs after commits.
func (d *Drive) Evict() { d.evict() }

// FlushState writes the changed records to the state directory without a
// sync, as the background loop does every FlushEvery.
func (d *Drive) FlushState() error { return d.save(nil, false) }

// Abandon stops the drive as a crash of its process would: its background
// work ends and its files close, and nothing more is saved or committed.
func (d *Drive) Abandon() {
	d.stopOnce.Do(func() { close(d.stop) })
	d.done.Wait()
	d.closeState()
}

// OpenSynced is Open with synced told of every file of the state
// directory made to survive a crash of the machine, for tests that model
// one (state.Options.Synced).
func OpenSynced(ctx context.Context, cfg Config, synced func(path string)) (*Drive, error) {
	d, err := newDrive(cfg)
	if err != nil {
		return nil, err
	}
	d.synced = synced
	if err := d.open(ctx); err != nil {
		d.closeState()
		return nil, err
	}
	d.start()
	return d, nil
}

// OnRestored makes Restore call fn once the tree is the snapshot's, before
// its commit.
func (d *Drive) OnRestored(fn func()) { d.restored = fn }
