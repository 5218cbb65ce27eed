package fs

import (
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
)

// What the layers that keep a Tree use: its changes, a locked view of its
// inodes, and loading a whole set of inodes. The Tree knows nothing of
// where it is kept; the drive (fs/drive) saves it to a state directory
// (fs/state) and commits it to the cloud.
//
// Two sets of changes are tracked. Dirty inodes are those whose stored
// state must be saved again (Collect takes them). Changed inodes are those
// changed since the last commit, each with the epoch of its newest change:
// a commit takes them all (BeginCommit), and changes made from then on
// belong to the next epoch. A state that saves each inode's epoch and the
// last committed epoch knows, after any crash, exactly which inodes the
// next commit must write, without rewriting every inode a commit covered.

// errClosed reports use of a closed tree: EIO to a program that still has
// it open.
var errClosed = errors.New("fs: the drive was closed")

// Collect calls fn, with the tree's lock held, for every inode whose
// stored state changed since the last Collect, and for the inodes of also
// (a Contents' own changes): n and f are nil for an inode that is gone,
// f nil for one that is not a regular file, and epoch is the epoch of the
// inode's change not yet committed, 0 if none. fn must not keep n. The
// inodes count as saved; if saving them fails, the caller calls the
// returned retry, and the next Collect takes them again.
func (t *Tree) Collect(also []Ino, fn func(ino Ino, n *Node, f File, epoch uint64)) (retry func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ino := range also {
		t.dirty[ino] = struct{}{}
	}
	for ino := range t.dirty {
		n := t.nodes[ino]
		if n == nil {
			fn(ino, nil, nil, 0)
			continue
		}
		fn(ino, &n.Node, n.file, t.epochOf(ino))
	}
	taken := t.dirty
	t.dirty = map[Ino]struct{}{}
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for ino := range taken {
			t.dirty[ino] = struct{}{}
		}
	}
}

// epochOf returns the epoch of ino's change not yet committed, 0 if none.
// The caller holds t.mu.
func (t *Tree) epochOf(ino Ino) uint64 {
	if e, ok := t.changed[ino]; ok {
		return e
	}
	return t.committing[ino]
}

// MarkDirty records that the stored state of inos changed without a
// change of the namespace (a file's contents were uploaded, its local
// copy dropped): the next Collect takes them, and no commit is due.
func (t *Tree) MarkDirty(inos ...Ino) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ino := range inos {
		t.dirty[ino] = struct{}{}
	}
}

// MarkChanged records that inos changed, for the state and the next
// commit, as any operation on them would: a tree replaced to restore an
// older commit is committed as a change.
func (t *Tree) MarkChanged(inos ...Ino) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.now()
	t.mark(inos...)
}

// BeginCommit starts a commit of every inode changed so far and returns
// its epoch and those inodes, sorted. For each changed inode, skip (if not
// nil) is called with the tree's lock held; an inode it reports true for
// (a file still being written) stays changed, for the next commit. Changes
// from now on belong to the next epoch. Each BeginCommit is followed by
// EndCommit.
func (t *Tree) BeginCommit(skip func(ino Ino, n *Node, f File) bool) (epoch uint64, inos []Ino) {
	t.mu.Lock()
	defer t.mu.Unlock()
	epoch = t.epoch
	t.epoch++
	t.committing = map[Ino]uint64{}
	for ino, e := range t.changed {
		if n := t.nodes[ino]; n != nil && skip != nil && skip(ino, &n.Node, n.file) {
			// Next time: in the next epoch, so the commit under way,
			// once recorded, does not count it as committed.
			t.changed[ino] = t.epoch
			t.dirty[ino] = struct{}{}
			continue
		}
		t.committing[ino] = e
		delete(t.changed, ino)
		inos = append(inos, ino)
	}
	if len(t.changed) > 0 {
		t.changedSince = t.now() // what stays is not overdue: it is being written
	}
	slices.Sort(inos)
	return epoch, inos
}

// EndCommit ends the commit BeginCommit started: if it was not published,
// its inodes are changed again, for the next one.
func (t *Tree) EndCommit(published bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !published {
		if len(t.changed) == 0 && len(t.committing) > 0 {
			t.changedSince = t.now()
		}
		for ino, e := range t.committing {
			if _, ok := t.changed[ino]; !ok {
				t.changed[ino] = e
			}
		}
	}
	t.committing = nil
}

// Pending reports whether changes wait for a commit.
func (t *Tree) Pending() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.changed) > 0
}

// Activity returns when the oldest change not yet taken by a commit was
// made (0 if there is none) and when the tree was last used, in ns of its
// clock: the drive's background commit waits for the tree to be quiet.
func (t *Tree) Activity() (changedSince, lastUse int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.changed) > 0 {
		changedSince = t.changedSince
	}
	return changedSince, t.active.Load()
}

// Touch records a use of the tree that changed nothing (a read, a fetch).
func (t *Tree) Touch() { t.now() }

// SetReadOnly makes the tree refuse changes (ErrReadOnly), or take them
// again.
func (t *Tree) SetReadOnly(ro bool) { t.readOnly.Store(ro) }

// ReadOnly reports whether the tree refuses changes.
func (t *Tree) ReadOnly() bool { return t.readOnly.Load() }

// View is the tree's inodes while an Inspect call runs, with the tree's
// lock held: nothing changes under it, and nothing it returns may be
// kept past the call.
type View struct{ t *Tree }

// Inspect calls fn with a view of the tree, locked.
func (t *Tree) Inspect(fn func(v View)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fn(View{t})
}

// Get returns inode ino, live or open, and its contents (regular files).
func (v View) Get(ino Ino) (*Node, File, bool) {
	n, ok := v.t.nodes[ino]
	if !ok {
		return nil, nil, false
	}
	return &n.Node, n.file, true
}

// All yields every inode: named, open, or the root.
func (v View) All() iter.Seq2[*Node, File] {
	return func(yield func(*Node, File) bool) {
		for _, n := range v.t.nodes {
			if !yield(&n.Node, n.file) {
				return
			}
		}
	}
}

// Next returns the next inode number the tree hands out.
func (v View) Next() Ino { return v.t.next }

// Changed reports whether ino has a change not yet taken by a commit.
func (v View) Changed(ino Ino) bool {
	_, ok := v.t.changed[ino]
	return ok
}

// Load makes nodes the tree's inodes, replacing all it held: a tree read
// from a state directory or from a commit. files holds each regular
// file's contents; changed the inodes with changes not yet committed,
// with their epochs; next is at least the next inode number to hand out
// (Load raises it past every inode), and changes from now on are of an
// epoch after committed (the last epoch a commit covers) and after every
// one given. What a crash can leave is repaired, each
// repair logged and saved: entries naming missing inodes go, inodes no
// entry names go, link counts are fixed.
func (t *Tree) Load(nodes map[Ino]*Node, files map[Ino]File, changed map[Ino]uint64, next Ino, committed uint64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	inodes, err := t.build(nodes, files)
	if err != nil {
		return err
	}
	for _, n := range t.nodes {
		if n.file != nil {
			t.contents.Free(n.Attr.Ino, n.file)
		}
	}
	t.nodes, t.next = inodes, max(t.next, next, t.nextFree(inodes))
	t.changed, t.committing = map[Ino]uint64{}, nil
	t.epoch = max(t.epoch, committed+1)
	for ino, e := range changed {
		t.changed[ino] = e
		t.epoch = max(t.epoch, e)
	}
	if len(t.changed) > 0 {
		t.changedSince = t.now()
	}
	return nil
}

// build checks that nodes form a tree rooted at RootIno, repairs what a
// crash can leave, and returns them as inodes with their contents. An
// inode dropped by a repair has its contents freed. The caller holds t.mu.
func (t *Tree) build(nodes map[Ino]*Node, files map[Ino]File) (map[Ino]*inode, error) {
	root := nodes[RootIno]
	if root == nil || root.Attr.Kind != Directory {
		return nil, fmt.Errorf("%w: no root directory", ErrDamaged)
	}
	named := map[Ino]int{}
	for _, ino := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[ino]
		for _, name := range slices.Sorted(maps.Keys(n.Entries)) {
			child := n.Entries[name]
			if nodes[child] == nil {
				t.logf("fs: dropping entry %q of directory %d: inode %d is missing", name, ino, child)
				delete(n.Entries, name)
				t.dirty[ino] = struct{}{}
				continue
			}
			named[child]++
		}
	}
	out := make(map[Ino]*inode, len(nodes))
	for ino, n := range nodes {
		f := files[ino]
		if ino != RootIno && named[ino] == 0 {
			t.dirty[ino] = struct{}{}
			if f != nil {
				t.contents.Free(ino, f)
			}
			continue
		}
		if n.Attr.Kind != Directory && n.Attr.Nlink != uint32(named[ino]) {
			t.logf("fs: inode %d has %d names but a link count of %d: fixed", ino, named[ino], n.Attr.Nlink)
			n.Attr.Nlink = uint32(named[ino])
			t.dirty[ino] = struct{}{}
		}
		if n.Attr.Kind == Regular && f == nil {
			return nil, fmt.Errorf("%w: regular file %d without contents", ErrDamaged, ino)
		}
		out[ino] = &inode{Node: *n, file: f}
	}
	return out, nil
}

func (t *Tree) nextFree(nodes map[Ino]*inode) Ino {
	next := RootIno + 1
	for ino := range nodes {
		next = max(next, ino+1)
	}
	return next
}

func (t *Tree) logf(format string, args ...any) {
	if t.log != nil {
		t.log.Warn(fmt.Sprintf(format, args...))
	}
}

// Replace makes nodes, another commit of the drive (followed, or
// restored), the tree's inodes, and returns every inode that changed. An
// inode that stays keeps its open handles; file gives each regular file
// of nodes its contents, from its contents in the tree so far (old, nil
// for a new inode): the caller rebases old onto the new commit's version
// or makes new contents. An inode that went but is open stays, with no
// names, until released; file reports whether the contents changed.
// Every change is dirty; none is changed for a commit (the tree is the
// commit's).
func (t *Tree) Replace(nodes map[Ino]*Node, file func(ino Ino, n *Node, old File) (f File, changed bool), next Ino) ([]Ino, error) {
	return t.replace(nodes, file, next, false)
}

// ReplaceChanged is Replace for a restore: every inode that changed is
// also changed for the next commit, as MarkChanged would make it, under
// the same lock, so that no Collect between the two saves the replaced
// inodes as committed.
func (t *Tree) ReplaceChanged(nodes map[Ino]*Node, file func(ino Ino, n *Node, old File) (f File, changed bool), next Ino) ([]Ino, error) {
	return t.replace(nodes, file, next, true)
}

func (t *Tree) replace(nodes map[Ino]*Node, file func(ino Ino, n *Node, old File) (f File, changed bool), next Ino, mark bool) ([]Ino, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	files := map[Ino]File{}
	rebased := map[Ino]bool{}
	for ino, n := range nodes {
		if n.Attr.Kind == Regular {
			var old File
			if o := t.nodes[ino]; o != nil {
				old = o.file
			}
			files[ino], rebased[ino] = file(ino, n, old)
		}
	}
	inodes, err := t.build(nodes, files)
	if err != nil {
		return nil, err
	}
	var changed []Ino
	for ino, n := range inodes {
		old := t.nodes[ino]
		if old == nil || !sameNode(&old.Node, &n.Node) || old.file != n.file || rebased[ino] {
			changed = append(changed, ino)
			t.dirty[ino] = struct{}{}
		}
		if old != nil {
			n.opens = old.opens
		}
	}
	for ino, old := range t.nodes {
		if inodes[ino] != nil {
			continue
		}
		changed = append(changed, ino)
		t.dirty[ino] = struct{}{}
		if old.opens > 0 {
			cp := *old
			cp.Attr.Nlink = 0
			inodes[ino] = &cp
			continue
		}
		if old.file != nil && old.file != files[ino] {
			t.contents.Free(ino, old.file)
		}
	}
	t.nodes, t.next = inodes, max(t.next, next, t.nextFree(inodes))
	slices.Sort(changed)
	if mark && len(changed) > 0 {
		t.now()
		t.mark(changed...)
	}
	return changed, nil
}

// sameNode reports whether a and b store the same inode.
func sameNode(a, b *Node) bool {
	return a.Attr == b.Attr && a.Parent == b.Parent && a.Target == b.Target &&
		maps.Equal(a.Entries, b.Entries) && maps.EqualFunc(a.Xattrs, b.Xattrs, func(x, y []byte) bool { return string(x) == string(y) })
}
