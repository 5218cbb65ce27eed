package backup

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
	"github.com/murmur-cloud/murmur/pipeline"
)

// A Change is one difference between two snapshots, at a path.
type Change struct {
	Path string
	// Kind: '+' added, '-' removed, 'M' contents changed, 'T' of another
	// type, 'U' the same contents with other metadata (mode, owner,
	// times, extended attributes, a link's target).
	Kind byte
}

// DiffStats adds up a diff.
type DiffStats struct {
	Added, Removed, Modified, Metadata int
	AddedBytes, RemovedBytes           uint64 // of regular files added, removed or changed (new size, old size)
}

// Diff walks the trees of snapshots a and b together and calls fn for
// each path whose entry differs, in scan order. Contents are compared by
// chunk IDs, without reading them. Only the admin key may.
func Diff(ctx context.Context, cloud Cloud, keys *Keys, a, b *Snapshot, fn func(Change) error) (DiffStats, error) {
	var st DiffStats
	if keys.AppendOnly() {
		return st, fmt.Errorf("%w: a diff needs the admin key", ErrAppendOnly)
	}
	ta, err := openTree(ctx, cloud, keys, a)
	if err != nil {
		return st, err
	}
	tb, err := openTree(ctx, cloud, keys, b)
	if err != nil {
		return st, err
	}
	emit := func(p string, kind byte) error { return fn(Change{Path: "/" + p, Kind: kind}) }
	// gone reports a whole subtree as added or removed.
	var gone func(t *tree, p string, ino fs.Ino, kind byte, depth int) error
	gone = func(t *tree, p string, ino fs.Ino, kind byte, depth int) error {
		if depth > 4096 {
			return fmt.Errorf("%w: the tree is deeper than 4096 directories", ErrDamaged)
		}
		rec, err := t.record(ino)
		if err != nil {
			return err
		}
		if kind == '+' {
			st.Added++
			st.AddedBytes += regularSize(rec)
		} else {
			st.Removed++
			st.RemovedBytes += regularSize(rec)
		}
		if err := emit(p, kind); err != nil {
			return err
		}
		for _, name := range sortedEntries(rec) {
			if err := gone(t, childPath(p, name), rec.Entries[name], kind, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	var walk func(p string, ia, ib fs.Ino, depth int) error
	walk = func(p string, ia, ib fs.Ino, depth int) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if depth > 4096 {
			return fmt.Errorf("%w: the tree is deeper than 4096 directories", ErrDamaged)
		}
		ra, err := ta.record(ia)
		if err != nil {
			return err
		}
		rb, err := tb.record(ib)
		if err != nil {
			return err
		}
		if ra.Attr.Kind != rb.Attr.Kind {
			st.Modified++
			st.RemovedBytes += regularSize(ra)
			st.AddedBytes += regularSize(rb)
			if err := emit(p, 'T'); err != nil {
				return err
			}
			if ra.Attr.Kind == fs.Directory {
				for _, name := range sortedEntries(ra) {
					if err := gone(ta, childPath(p, name), ra.Entries[name], '-', depth+1); err != nil {
						return err
					}
				}
			}
			if rb.Attr.Kind == fs.Directory {
				for _, name := range sortedEntries(rb) {
					if err := gone(tb, childPath(p, name), rb.Entries[name], '+', depth+1); err != nil {
						return err
					}
				}
			}
			return nil
		}
		switch {
		case rb.Attr.Kind == fs.Regular && !sameContents(ra, rb):
			st.Modified++
			st.RemovedBytes += regularSize(ra)
			st.AddedBytes += regularSize(rb)
			if err := emit(p, 'M'); err != nil {
				return err
			}
		case !sameMeta(ra, rb) && p != "":
			st.Metadata++
			if err := emit(p, 'U'); err != nil {
				return err
			}
		}
		if ra.Attr.Kind != fs.Directory {
			return nil
		}
		names := slices.Sorted(func(yield func(string) bool) {
			seen := map[string]bool{}
			for _, m := range []map[string]fs.Ino{ra.Entries, rb.Entries} {
				for n := range m {
					if !seen[n] {
						seen[n] = true
						if !yield(n) {
							return
						}
					}
				}
			}
		})
		for _, name := range names {
			ca, inA := ra.Entries[name]
			cb, inB := rb.Entries[name]
			cp := childPath(p, name)
			var err error
			switch {
			case inA && inB:
				err = walk(cp, ca, cb, depth+1)
			case inA:
				err = gone(ta, cp, ca, '-', depth+1)
			default:
				err = gone(tb, cp, cb, '+', depth+1)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return st, walk("", fs.RootIno, fs.RootIno, 0)
}

func childPath(p, name string) string {
	if p == "" {
		return name
	}
	return p + "/" + name
}

func sortedEntries(r *format.Record) []string {
	if r.Attr.Kind != fs.Directory {
		return nil
	}
	return slices.Sorted(maps.Keys(r.Entries))
}

func regularSize(r *format.Record) uint64 {
	if r.Attr.Kind == fs.Regular {
		return r.Attr.Size
	}
	return 0
}

// sameContents compares two regular files by their chunk IDs.
func sameContents(a, b *format.Record) bool {
	if a.Attr.Size != b.Attr.Size {
		return false
	}
	if bytes.Equal(a.Manifest, b.Manifest) {
		return true
	}
	ma, err1 := pipeline.ParseManifest(a.Manifest)
	mb, err2 := pipeline.ParseManifest(b.Manifest)
	if err1 != nil || err2 != nil || len(ma.Chunks) != len(mb.Chunks) {
		return false
	}
	for i := range ma.Chunks {
		if ma.Chunks[i].ID != mb.Chunks[i].ID {
			return false
		}
	}
	return true
}

// sameMeta compares what a restore sets, but contents and inode numbers.
func sameMeta(a, b *format.Record) bool {
	x, y := a.Attr, b.Attr
	if x.Mode != y.Mode || x.Uid != y.Uid || x.Gid != y.Gid || x.Mtime != y.Mtime || x.Rdev != y.Rdev || a.Target != b.Target {
		return false
	}
	if len(a.Xattrs) != len(b.Xattrs) {
		return false
	}
	for k, v := range a.Xattrs {
		if w, ok := b.Xattrs[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}
