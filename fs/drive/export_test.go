package drive

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
