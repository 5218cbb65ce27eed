package fs

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/murmur-cloud/murmur/internal/wire"
)

// flush writes the records of every inode changed since the last flush to
// the state directory in one atomic batch, with meta if not nil; with
// sync, it also syncs badger's log, so all of it survives a crash of the
// machine.
func (t *Tree) flush(meta []byte, sync bool) error {
	t.mu.Lock()
	b := &batch{records: map[Ino][]byte{}, contents: map[Ino][]byte{}, changed: map[Ino]bool{}, meta: meta}
	for ino := range t.dirty {
		_, b.changed[ino] = t.changed[ino]
		n, ok := t.nodes[ino]
		if !ok {
			b.records[ino], b.contents[ino] = nil, nil
			continue
		}
		var manifest []byte
		if n.content != nil {
			n.content.mu.Lock()
			manifest = n.content.manifest
			b.contents[ino] = n.content.appendState(nil)
			n.content.mu.Unlock()
		}
		b.records[ino] = appendRecord(nil, n, manifest)
	}
	dirty := t.dirty
	t.dirty = map[Ino]struct{}{}
	var inline []*content
	if sync {
		for ino := range b.contents {
			if n := t.nodes[ino]; n != nil && n.content != nil {
				inline = append(inline, n.content)
			}
		}
	}
	t.mu.Unlock()
	if err := t.st.write(b, sync); err != nil {
		t.mu.Lock()
		maps.Copy(t.dirty, dirty) // try again next time
		t.mu.Unlock()
		return err
	}
	for _, c := range inline {
		c.mu.Lock()
		if c.inline {
			c.synced = true
		}
		c.mu.Unlock()
	}
	return nil
}

// loadState reads the inodes kept in the state directory into a tree.
// What a crash can leave behind is repaired: an inode that no directory
// names (it was unlinked while open) is dropped, and an entry naming an
// inode whose record is missing is removed; each repair is logged.
func (t *Tree) loadState() error {
	nodes := map[Ino]*inode{}
	err := t.st.scan(keyRecord, func(ino Ino, v []byte) error {
		r := wire.NewReader(v, ErrDamaged)
		n, manifest := parseRecord(r)
		r.Done()
		if err := r.Err(); err != nil {
			return fmt.Errorf("inode %d: %w", ino, err)
		}
		if n.attr.Ino != ino {
			return fmt.Errorf("%w: inode %d filed under %d", ErrDamaged, n.attr.Ino, ino)
		}
		if n.attr.Kind == Regular {
			c, err := newContent(ino, manifest)
			if err != nil {
				return err
			}
			c.trim = int64(n.attr.Size)
			n.content = c
		}
		nodes[ino] = n
		return nil
	})
	if err == nil {
		err = t.st.scan(keyContent, func(ino Ino, v []byte) error {
			if n := nodes[ino]; n != nil && n.content != nil {
				return n.content.parseState(v)
			}
			return nil
		})
	}
	if err == nil {
		for ino, n := range nodes {
			if n.content != nil && n.content.inline {
				// Inline means no cache file: one a crash left behind
				// (written as the file grew, before the state said so)
				// goes.
				os.Remove(t.st.cachePath(ino))
			}
		}
		err = t.st.scan(keyChanged, func(ino Ino, _ []byte) error {
			t.changed[ino] = struct{}{}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("fs: load state: %w", err)
	}
	return t.adopt(nodes)
}

// adopt makes nodes the tree's inodes, after checking that they form a
// tree rooted at RootIno and repairing what a crash can leave.
func (t *Tree) adopt(nodes map[Ino]*inode) error {
	next, err := t.repair(nodes)
	if err != nil {
		return err
	}
	t.nodes, t.next = nodes, max(t.next, next)
	for ino, n := range nodes {
		if n.content != nil && n.content.dirty {
			t.changed[ino] = struct{}{} // not uploaded before the last stop
		}
	}
	return nil
}

// repair checks that nodes form a tree rooted at RootIno, drops entries
// naming missing inodes and inodes no entry names, fixes link counts, and
// returns the next free inode number. Each repair is logged and marked.
func (t *Tree) repair(nodes map[Ino]*inode) (Ino, error) {
	root := nodes[RootIno]
	if root == nil || !root.isDir() {
		return 0, fmt.Errorf("%w: no root directory", ErrDamaged)
	}
	named := map[Ino]int{}
	next := RootIno + 1
	for _, ino := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[ino]
		next = max(next, ino+1)
		for name, child := range n.entries {
			if nodes[child] == nil {
				t.logf("fs: dropping entry %q of directory %d: inode %d is missing", name, ino, child)
				delete(n.entries, name)
				t.dirty[ino] = struct{}{}
				continue
			}
			named[child]++
		}
	}
	for ino, n := range nodes {
		if ino != RootIno && named[ino] == 0 {
			delete(nodes, ino)
			t.dirty[ino] = struct{}{}
			if n.content != nil && t.st != nil {
				t.freeContent(n.content)
			}
			continue
		}
		if !n.isDir() && n.attr.Nlink != uint32(named[ino]) {
			t.logf("fs: inode %d has %d names but a link count of %d: fixed", ino, named[ino], n.attr.Nlink)
			n.attr.Nlink = uint32(named[ino])
			t.dirty[ino] = struct{}{}
		}
	}
	return next, nil
}

func (t *Tree) logf(format string, args ...any) {
	if t.log != nil {
		t.log.Warn(fmt.Sprintf(format, args...))
	}
}

// errClosed reports use of a closed drive: EIO to a program that still
// has it open.
var errClosed = errors.New("fs: the drive was closed")

// distrustCache forgets which blocks of uploaded contents are local, after
// a crash: they are fetched again when read. Blocks of contents not yet
// uploaded are the only copy, and stay.
func (t *Tree) distrustCache() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ino, n := range t.nodes {
		if c := n.content; c != nil && c.m != nil && !c.dirty {
			c.have, c.limit = nil, c.m.Size
			t.dirty[ino] = struct{}{}
		}
	}
}

// replaceTree makes nodes, a commit loaded from the cloud, the tree's
// inodes (a followed or restored commit). An inode that stays keeps its
// content object, so open handles' pins stay right, with its base
// replaced if it changed; an open inode that went stays until released.
// Every inode that changed is marked for the state directory and
// returned. The caller holds t.mu.
func (t *Tree) replaceTree(nodes map[Ino]*inode, next Ino) ([]Ino, error) {
	if _, err := t.repair(nodes); err != nil {
		return nil, err
	}
	var changed []Ino
	for ino, n := range nodes {
		old := t.nodes[ino]
		if old == nil || !sameInode(old, n) {
			changed = append(changed, ino)
			t.dirty[ino] = struct{}{}
		}
		if old == nil {
			continue
		}
		n.opens = old.opens
		if oc := old.content; oc != nil && n.content != nil {
			oc.mu.Lock()
			if !bytes.Equal(oc.manifest, n.content.manifest) {
				oc.manifest, oc.m, oc.have, oc.limit = n.content.manifest, n.content.m, nil, 0
				oc.inline, oc.data = false, nil // fetched from the new base
				// The cache file holds the old version: none of it may show
				// through when the file grows.
				if oc.f != nil {
					oc.f.Truncate(0)
				} else if t.st != nil {
					os.Truncate(t.st.cachePath(ino), 0)
				}
				if oc.m != nil {
					oc.limit = oc.m.Size
				}
				oc.dirty = false
				oc.gen++
			}
			oc.mu.Unlock()
			n.content = oc
		}
	}
	for ino, old := range t.nodes {
		if nodes[ino] != nil {
			continue
		}
		changed = append(changed, ino)
		t.dirty[ino] = struct{}{}
		if old.opens > 0 {
			cp := *old
			cp.attr.Nlink = 0
			nodes[ino] = &cp
			continue
		}
		if old.content != nil {
			t.freeContent(old.content)
		}
	}
	t.nodes, t.next = nodes, max(t.next, next)
	return changed, nil
}
