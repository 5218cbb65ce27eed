package backup

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/murmur-cloud/murmur/fs"
	"github.com/murmur-cloud/murmur/fs/format"
)

func dirItem(p string) *Item {
	return &Item{Path: p, Node: fs.Node{Attr: fs.Attr{Kind: fs.Directory, Mode: 0o755}}}
}

func fileItem(p string, nlink uint32) *Item {
	return &Item{Path: p, Node: fs.Node{Attr: fs.Attr{Kind: fs.Regular, Mode: 0o644, Nlink: nlink, Size: 10}}}
}

// TestTreeBuilder: a tree of more than one page comes out as complete
// pages, each flushed once, with the right entries, parents and link
// counts; hard links share an inode.
func TestTreeBuilder(t *testing.T) {
	got := map[uint64][]format.Record{}
	tb := newTreeBuilder(func(i uint64, recs []format.Record) error {
		if _, dup := got[i]; dup {
			return fmt.Errorf("page %d flushed twice", i)
		}
		got[i] = recs
		return nil
	})
	add := func(it *Item) fs.Ino {
		t.Helper()
		ino, err := tb.Add(it)
		if err != nil {
			t.Fatal(err)
		}
		return ino
	}
	add(dirItem(""))
	add(dirItem("a"))
	var files []fs.Ino
	for i := range 600 {
		files = append(files, add(fileItem(fmt.Sprintf("a/f%03d", i), 1)))
	}
	add(dirItem("a/sub"))
	link := add(fileItem("a/sub/x", 2))
	files = append(files, link)
	add(dirItem("b"))
	if ino := add(&Item{Path: "b/y", Link: "a/sub/x"}); ino != link {
		t.Fatalf("the link got inode %d, not %d", ino, link)
	}
	add(&Item{Path: "b/s", Node: fs.Node{Attr: fs.Attr{Kind: fs.Symlink, Mode: 0o777, Nlink: 1}, Target: "../a"}})
	if len(got) != 0 {
		t.Fatalf("pages %v flushed before their files' contents", slices.Collect(maps.Keys(got)))
	}
	for _, ino := range files {
		if err := tb.SetContents(ino, nil, 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) == 0 {
		t.Fatal("no page flushed once the early pages were complete")
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	recs := map[fs.Ino]*format.Record{}
	for i, pg := range got {
		for k := range pg {
			r := &pg[k]
			if format.PageOf(r.Attr.Ino) != i {
				t.Fatalf("inode %d in page %d", r.Attr.Ino, i)
			}
			recs[r.Attr.Ino] = r
		}
	}
	if len(recs) != int(tb.Next())-1 {
		t.Fatalf("%d records for %d inodes", len(recs), tb.Next()-1)
	}
	root := recs[fs.RootIno]
	a := recs[root.Entries["a"]]
	if root.Parent != fs.RootIno || a.Parent != fs.RootIno || len(a.Entries) != 601 || a.Attr.Nlink != 3 || root.Attr.Nlink != 4 {
		t.Fatalf("root %+v, a: parent %d, %d entries, nlink %d", root.Attr, a.Parent, len(a.Entries), a.Attr.Nlink)
	}
	if x := recs[link]; x.Attr.Nlink != 2 || recs[root.Entries["b"]].Entries["y"] != link {
		t.Fatalf("hard link: nlink %d", x.Attr.Nlink)
	}
	// Every page encodes and parses back.
	for i, pg := range got {
		b, err := format.EncodePage(i, pg)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		if err := format.ParsePage(b, i, func(*format.Record) error { n++; return nil }); err != nil || n != len(pg) {
			t.Fatalf("page %d: %v, %d of %d records", i, err, n, len(pg))
		}
	}
}

// TestTreeBuilderOrder: entries out of scan order are refused.
func TestTreeBuilderOrder(t *testing.T) {
	tb := newTreeBuilder(func(uint64, []format.Record) error { return nil })
	if _, err := tb.Add(dirItem("a")); err == nil {
		t.Fatal("a tree starting below its root")
	}
	tb = newTreeBuilder(func(uint64, []format.Record) error { return nil })
	tb.Add(dirItem(""))
	tb.Add(dirItem("a"))
	tb.Add(dirItem("b"))
	if _, err := tb.Add(fileItem("a/late", 1)); err == nil {
		t.Fatal("an entry of a directory already left")
	}
	if _, err := tb.Add(&Item{Path: "b/l", Link: "nowhere"}); err == nil {
		t.Fatal("a link to nothing")
	}
}

// TestPathLess: scan order, component by component.
func TestPathLess(t *testing.T) {
	order := []string{"", "a", "a/b", "a/b/c", "a/c", "a.b", "a0", "b", "b/a"}
	for i := range order {
		for j := range order {
			if pathLess(order[i], order[j]) != (i < j) {
				t.Errorf("pathLess(%q, %q) = %v", order[i], order[j], !(i < j))
			}
		}
	}
}
