package fs

import (
	"bytes"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/wire"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// The stored formats FuzzParseStored covers, chosen by the input's first
// byte.
const (
	fuzzRecord byte = iota
	fuzzPage
	fuzzSuper
	fuzzRoot
	fuzzMeta
	fuzzContent
	fuzzKinds
)

// seedInputs returns one valid encoding of every stored format.
func seedInputs(t testing.TB) map[string][]byte {
	keys := crypt.MasterKey{1}.Keys(crypt.DriveID{2}) // fixed, so the seeds are too
	m, err := pipeline.Write(context.Background(), pipeline.Config{Keys: keys}, store.NewMem(0), bytes.NewReader([]byte("seed file contents")))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	file := &inode{attr: Attr{Ino: 300, Kind: Regular, Mode: 0o644, Uid: 1000, Gid: 1000, Nlink: 1, Size: uint64(m.Size), Mtime: 5, Ctime: -3}, xattrs: map[string][]byte{"user.a": []byte("b")}}
	dir := &inode{attr: Attr{Ino: 257, Kind: Directory, Mode: 0o755, Nlink: 2}, parent: RootIno, entries: map[string]Ino{"f": 300, "g": 301}}
	link := &inode{attr: Attr{Ino: 301, Kind: Symlink, Mode: 0o777, Nlink: 1, Size: 6}, target: "../abc"}
	page := []byte{pageVersion, 3}
	page = appendRecord(page, dir, nil)
	page = appendRecord(page, file, manifest)
	page = appendRecord(page, link, nil)
	s := &super{Gen: 7, Time: time.Unix(1_800_000_000, 0), Next: 302, Prev: []byte("prev ref"), Pages: map[uint64][]byte{1: manifest}}
	root := &rootValue{Super: []byte("super ref"), Until: time.UnixMilli(1_800_000_000_000), Key: []byte("key file")}
	c, _ := newContent(300, manifest)
	c.mark(0)
	c.dirty = true
	small, _ := newContent(301, nil)
	small.inline, small.data, small.dirty = true, []byte("inline contents"), true
	return map[string][]byte{
		"record":  append([]byte{fuzzRecord}, appendRecord(nil, file, manifest)...),
		"dir":     append([]byte{fuzzRecord}, appendRecord(nil, dir, nil)...),
		"page":    append([]byte{fuzzPage}, pad(page)...),
		"super":   append([]byte{fuzzSuper}, s.marshal()...),
		"root":    append([]byte{fuzzRoot}, root.marshal()...),
		"meta":    append([]byte{fuzzMeta}, (&meta{Seq: 9, Gen: 3, Ref: []byte("ref"), Next: 400}).marshal()...),
		"content": append([]byte{fuzzContent}, c.appendState(nil)...),
		"inline":  append([]byte{fuzzContent}, small.appendState(nil)...),
	}
}

// FuzzParseStored feeds every parser of stored records, pages, supers,
// roots and state: none may panic, and whatever parses must encode back
// to something that parses the same.
func FuzzParseStored(f *testing.F) {
	for _, b := range seedInputs(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		in := b[1:]
		switch b[0] % fuzzKinds {
		case fuzzRecord:
			r := wire.NewReader(in, ErrDamaged)
			n, manifest := parseRecord(r)
			r.Done()
			if r.Err() != nil {
				return
			}
			again := appendRecord(nil, n, manifest)
			r2 := wire.NewReader(again, ErrDamaged)
			n2, m2 := parseRecord(r2)
			r2.Done()
			if r2.Err() != nil || n2.attr != n.attr || !bytes.Equal(m2, manifest) {
				t.Fatalf("record does not survive a round trip: %v", r2.Err())
			}
		case fuzzPage:
			ParsePage(in, 1)
		case fuzzSuper:
			s, err := parseSuper(in)
			if err != nil {
				return
			}
			if s2, err := parseSuper(s.marshal()); err != nil || s2.Gen != s.Gen || len(s2.Pages) != len(s.Pages) {
				t.Fatalf("super does not survive a round trip: %v", err)
			}
		case fuzzRoot:
			v, err := parseRootValue(in)
			if err != nil {
				return
			}
			if v2, err := parseRootValue(v.marshal()); err != nil || !bytes.Equal(v2.Super, v.Super) {
				t.Fatalf("root does not survive a round trip: %v", err)
			}
		case fuzzMeta:
			parseMeta(in)
		case fuzzContent:
			c := &content{}
			c.parseState(in)
		}
	})
}

// TestWriteFuzzSeeds refreshes the committed seed corpus when run with
// -update-seeds.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*updateSeeds {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzParseStored")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seedInputs(t) {
		if err := os.WriteFile(filepath.Join(dir, name), fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPad: padding hides lengths within a bucket and comes off exactly.
func TestPad(t *testing.T) {
	for _, n := range []int{0, 1, PadTo - 8, PadTo - 7, 3 * PadTo} {
		b := bytes.Repeat([]byte{7}, n)
		p := pad(b)
		if len(p)%PadTo != 0 || len(p) < n+8 {
			t.Fatalf("pad(%d) = %d bytes", n, len(p))
		}
		got, err := unpad(p)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("unpad(pad(%d)): %d bytes, %v", n, len(got), err)
		}
	}
	bad := pad([]byte("x"))
	binary.BigEndian.PutUint64(bad, PadTo)
	if _, err := unpad(bad); err == nil {
		t.Fatal("unpad accepted a length past the end")
	}
}
