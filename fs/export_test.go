package fs

import "context"

// WriteFirstHalf is the part of WriteAtContext before it retakes Tree.mu
// to set the size (finishWrite): the cache file is written and gen bumped. Used to
// replay, deterministically, a commit that runs between the two halves.
func WriteFirstHalf(t *Tree, ino Ino, p []byte, off int64) (finish func()) {
	t.mu.Lock()
	n := t.nodes[ino]
	c := n.content
	t.mu.Unlock()
	if err := t.writeContent(context.Background(), c, p, off); err != nil {
		panic(err)
	}
	return func() { t.finishWrite(n, off+int64(len(p))) }
}

// Evict runs the cache eviction the background loop runs after commits.
func (d *Drive) Evict() { d.evict() }

// FlushState writes the changed records to the state directory without a
// sync, as the background loop does every FlushEvery.
func (d *Drive) FlushState() error { return d.t.flush(nil, false) }
