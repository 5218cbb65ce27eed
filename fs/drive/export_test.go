package drive

// Evict runs the cache eviction the background loop runs after commits.
func (d *Drive) Evict() { d.evict() }

// FlushState writes the changed records to the state directory without a
// sync, as the background loop does every FlushEvery.
func (d *Drive) FlushState() error { return d.save(nil, false) }
