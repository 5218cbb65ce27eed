package backup

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
)

// A snapshot's tree is stored as a drive commit is (fs/format): inode
// records cut into pages of format.PageInodes, and a super naming every
// page's manifest. Inodes are numbered in the order the scan meets them,
// the root (the file system's "/") first, so a page is complete as soon
// as every inode in it is: its directories' entries all seen, its files'
// contents stored. Only pages still open are held in memory.

// Item is one entry of a tree being backed up.
type Item struct {
	// Path is the entry's place in the snapshot: slash-separated,
	// without a leading slash, "" for the root.
	Path string
	// Node holds what is kept: Attr (its Ino is ignored; its Nlink is
	// the source's, used to tell when every name of a hard-linked file
	// has been seen), Target, Xattrs.
	Node fs.Node
	// Link is the Path of an earlier item this one is a hard link to.
	Link string
}

// treeBuilder numbers the inodes of a tree given in scan order (a
// directory before what it holds, each directory's entries in order) and
// hands each page to flush once complete.
type treeBuilder struct {
	next  fs.Ino
	stack []*format.Record // the open directories, the root first
	paths []string         // their paths
	pages map[uint64]*openPage
	flush func(page uint64, records []format.Record) error

	// Hard-linked files: inode by path, and names seen against the
	// source's link count, until every name is seen.
	links map[string]fs.Ino
	names map[fs.Ino]*linkCount
}

type openPage struct {
	records map[fs.Ino]*format.Record
	open    int // inodes of the page not yet complete
}

type linkCount struct{ seen, want uint32 }

func newTreeBuilder(flush func(page uint64, records []format.Record) error) *treeBuilder {
	return &treeBuilder{
		next: fs.RootIno, pages: make(map[uint64]*openPage), flush: flush,
		links: make(map[string]fs.Ino), names: make(map[fs.Ino]*linkCount),
	}
}

// Add adds it to the tree and returns its inode. A regular file's record
// is complete only when SetContents gives its manifest (or at once for an
// empty file, nil contents); other kinds are complete when added, but a
// directory's only when the scan has left it.
func (t *treeBuilder) Add(it *Item) (fs.Ino, error) {
	if err := t.leave(it.Path); err != nil {
		return 0, err
	}
	if it.Link != "" {
		ino, ok := t.links[it.Link]
		if !ok {
			return 0, fmt.Errorf("backup: %q is a link to %q, which is not in the snapshot", it.Path, it.Link)
		}
		if err := t.enter(it.Path, ino); err != nil {
			return 0, err
		}
		rec := t.pages[format.PageOf(ino)].records[ino]
		rec.Attr.Nlink++
		if lc := t.names[ino]; lc != nil {
			lc.seen++
			if lc.seen >= lc.want {
				delete(t.names, ino)
				delete(t.links, it.Link)
				return ino, t.completeName(ino)
			}
		}
		return ino, nil
	}
	ino := t.next
	if ino == fs.RootIno && it.Path != "" {
		return 0, fmt.Errorf("backup: the tree must start at its root, not %q", it.Path)
	}
	if ino != fs.RootIno {
		if err := t.enter(it.Path, ino); err != nil {
			return 0, err
		}
	}
	t.next++
	rec := &format.Record{Node: fs.Node{Attr: it.Node.Attr, Target: it.Node.Target, Xattrs: it.Node.Xattrs}}
	rec.Attr.Ino = ino
	pg := t.page(ino)
	pg.records[ino] = rec
	pg.open++
	switch rec.Attr.Kind {
	case fs.Directory:
		rec.Entries = make(map[string]fs.Ino)
		rec.Attr.Nlink, rec.Attr.Size = 2, 0
		rec.Parent = ino
		if len(t.stack) > 0 {
			rec.Parent = t.stack[len(t.stack)-1].Attr.Ino
		}
		t.stack = append(t.stack, rec)
		t.paths = append(t.paths, it.Path)
	case fs.Regular:
		want := it.Node.Attr.Nlink
		rec.Attr.Nlink = 1
		if want > 1 {
			t.links[it.Path] = ino
			t.names[ino] = &linkCount{seen: 1, want: want}
			pg.open++ // the names still to come, besides the contents
		}
	default:
		// A symlink's size is its target's length, anything else's 0,
		// as the record's parser checks.
		rec.Attr.Nlink, rec.Attr.Size = 1, 0
		if rec.Attr.Kind == fs.Symlink {
			rec.Attr.Size = uint64(len(rec.Target))
		}
		if it.Node.Attr.Nlink > 1 {
			t.links[it.Path] = ino
			t.names[ino] = &linkCount{seen: 1, want: it.Node.Attr.Nlink}
		} else if err := t.complete(ino); err != nil {
			return 0, err
		}
	}
	if err := t.passed(ino); err != nil {
		return 0, err
	}
	return ino, nil
}

// SetContents completes a regular file's record with its manifest (nil:
// empty) and its size.
func (t *treeBuilder) SetContents(ino fs.Ino, manifest []byte, size uint64) error {
	pg := t.pages[format.PageOf(ino)]
	if pg == nil || pg.records[ino] == nil || pg.records[ino].Attr.Kind != fs.Regular {
		return fmt.Errorf("backup: contents for inode %d, which is no open file", ino)
	}
	rec := pg.records[ino]
	rec.Manifest, rec.Attr.Size = manifest, size
	return t.complete(ino)
}

// Close leaves every open directory, completes the hard-linked files not
// all of whose names were in the tree, and flushes every page left. Every
// regular file must have its contents by then.
func (t *treeBuilder) Close() error {
	if err := t.leave(""); err != nil {
		return err
	}
	if len(t.stack) == 1 {
		if err := t.popDir(); err != nil {
			return err
		}
	}
	for _, ino := range slices.Sorted(maps.Keys(t.names)) {
		delete(t.names, ino)
		if err := t.completeName(ino); err != nil {
			return err
		}
	}
	for _, i := range slices.Sorted(maps.Keys(t.pages)) {
		if pg := t.pages[i]; pg.open > 0 {
			return fmt.Errorf("backup: page %d has %d inodes incomplete at the end", i, pg.open)
		}
		if err := t.flushPage(i); err != nil {
			return err
		}
	}
	return nil
}

// Next is the next inode number: one past the highest used.
func (t *treeBuilder) Next() fs.Ino { return t.next }

func (t *treeBuilder) page(ino fs.Ino) *openPage {
	i := format.PageOf(ino)
	pg := t.pages[i]
	if pg == nil {
		pg = &openPage{records: make(map[fs.Ino]*format.Record)}
		t.pages[i] = pg
	}
	return pg
}

// enter names ino in the directory open above p, which must be p's parent.
func (t *treeBuilder) enter(p string, ino fs.Ino) error {
	if len(t.stack) == 0 {
		return fmt.Errorf("backup: %q comes before the tree's root", p)
	}
	dir, name := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	if top := t.paths[len(t.paths)-1]; top != dir || name == "" || name == "." || name == ".." {
		return fmt.Errorf("backup: %q is not an entry of the directory open (%q): out of scan order", p, top)
	}
	parent := t.stack[len(t.stack)-1]
	if _, dup := parent.Entries[name]; dup {
		return fmt.Errorf("backup: %q twice", p)
	}
	parent.Entries[name] = ino
	return nil
}

// leave pops the open directories that do not contain p.
func (t *treeBuilder) leave(p string) error {
	for len(t.stack) > 1 {
		top := t.paths[len(t.paths)-1]
		if strings.HasPrefix(p, top+"/") {
			break
		}
		if err := t.popDir(); err != nil {
			return err
		}
	}
	return nil
}

func (t *treeBuilder) popDir() error {
	n := len(t.stack) - 1
	rec := t.stack[n]
	t.stack, t.paths = t.stack[:n], t.paths[:n]
	if n > 0 {
		t.stack[n-1].Attr.Nlink++
	}
	return t.complete(rec.Attr.Ino)
}

// completeName completes a hard-linked file's names.
func (t *treeBuilder) completeName(ino fs.Ino) error {
	if t.pages[format.PageOf(ino)].records[ino].Attr.Kind == fs.Regular {
		return t.complete(ino) // its names' share; its contents are the other
	}
	return t.complete(ino)
}

func (t *treeBuilder) complete(ino fs.Ino) error {
	i := format.PageOf(ino)
	pg := t.pages[i]
	pg.open--
	if pg.open == 0 && format.PageOf(t.next) > i {
		return t.flushPage(i)
	}
	return nil
}

// passed flushes the page before ino's when ino is the first of its page.
func (t *treeBuilder) passed(ino fs.Ino) error {
	i := format.PageOf(ino)
	if i == 0 || format.PageOf(ino-1) == i {
		return nil
	}
	if pg := t.pages[i-1]; pg != nil && pg.open == 0 {
		return t.flushPage(i - 1)
	}
	return nil
}

func (t *treeBuilder) flushPage(i uint64) error {
	pg := t.pages[i]
	delete(t.pages, i)
	recs := make([]format.Record, 0, len(pg.records))
	for _, ino := range slices.Sorted(maps.Keys(pg.records)) {
		recs = append(recs, *pg.records[ino])
	}
	return t.flush(i, recs)
}
