package mount

import (
	"sync"
	"weak"

	"github.com/murmur-cloud/murmur/fs"
)

// registry finds the kernel's node of an inode, so Invalidate can name
// it. go-fuse keeps at most one live node per inode, but a Lookup may
// build a node that go-fuse then drops for the one it already has; the
// registry holds nodes weakly, so such a node is collected, and notifying
// it (the kernel never heard of it) is harmless.
type registry struct {
	mu    sync.Mutex
	nodes map[fs.Ino][]weak.Pointer[node]
}

// add records n as a node of its inode, dropping collected ones.
func (r *registry) add(n *node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.nodes == nil {
		r.nodes = make(map[fs.Ino][]weak.Pointer[node])
	}
	r.nodes[n.ino] = append(live(r.nodes[n.ino]), weak.Make(n))
}

// remove forgets n, which the kernel forgot.
func (r *registry) remove(n *node) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keep []weak.Pointer[node]
	for _, p := range r.nodes[n.ino] {
		if v := p.Value(); v != nil && v != n {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		delete(r.nodes, n.ino)
		return
	}
	r.nodes[n.ino] = keep
}

// lookup returns the nodes of inode ino still in memory.
func (r *registry) lookup(ino fs.Ino) []*node {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*node
	for _, p := range r.nodes[ino] {
		if v := p.Value(); v != nil {
			out = append(out, v)
		}
	}
	return out
}

// live returns the pointers of ps that still point somewhere.
func live(ps []weak.Pointer[node]) []weak.Pointer[node] {
	out := ps[:0]
	for _, p := range ps {
		if p.Value() != nil {
			out = append(out, p)
		}
	}
	return out
}
