package backup

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/pipeline"
)

func seedSetRoot() []byte {
	r := &SetRoot{Box: [32]byte{1}, Admin: [32]byte{2}, Forgotten: []byte("f"), KeyFile: []byte("key"),
		Appenders: []Appender{{Key: [32]byte{3}, Name: "laptop", Wrapped: bytes.Repeat([]byte{4}, 73)}}}
	return r.Marshal()
}

func seedSnapshot() []byte {
	m := &pipeline.Manifest{}
	enc, _ := m.MarshalBinary()
	s := &Snapshot{Time: time.Unix(1700000000, 5), Host: "h", Paths: []string{"/a", "/b"}, Tags: []string{"t"},
		Stats: Stats{Files: 1, Bytes: 2}, Super: enc}
	return s.marshal()
}

// fuzzParse checks one fuzzed input of a parser: never a panic, only
// errors matching ErrDamaged, and what parses encodes back to the same
// bytes.
func fuzzParse[T any](t *testing.T, b []byte, parse func([]byte) (T, error), encode func(T) []byte) {
	v, err := parse(b)
	if err != nil {
		if !errors.Is(err, ErrDamaged) {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(encode(v), b) {
		t.Fatal("parse and encode are not each other's inverse")
	}
}

func seedSetRootRemoved() []byte {
	r, _ := ParseSetRoot(seedSetRoot())
	r.Removed = []RemovedKey{{Key: [32]byte{5}, Name: "stolen laptop"}}
	return r.Marshal()
}

func FuzzParseSetRoot(f *testing.F) {
	f.Add(seedSetRoot())
	f.Add(seedSetRootRemoved())
	f.Add([]byte{setRootVersion})
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, b, ParseSetRoot, (*SetRoot).Marshal) })
}

func FuzzParseWriterRoot(f *testing.F) {
	f.Add((&WriterRoot{Log: []byte("log")}).Marshal())
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, b, ParseWriterRoot, (*WriterRoot).Marshal) })
}

func FuzzParseLog(f *testing.F) {
	f.Add(encodeLog([]LogEntry{{Box: []byte("box"), Index: Ref("ref")}, {Box: []byte("b2")}}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, b, parseLog, encodeLog) })
}

func FuzzParseSnapshot(f *testing.F) {
	f.Add(seedSnapshot())
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, b, parseSnapshot, (*Snapshot).marshal) })
}

func FuzzPendingIndex(f *testing.F) {
	f.Add(appendBytes(nil, []byte{pipeline.ManifestV1, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range parsePendingIndex(b) {
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func FuzzParseForgotten(f *testing.F) {
	f.Add(encodeForgotten(map[SnapshotID]bool{{1}: true, {2}: true}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, b, parseForgotten, encodeForgotten) })
}

func FuzzParsePruneList(f *testing.F) {
	f.Add((&pruneList{condemned: map[StripeKey]time.Time{{1}: time.Unix(1700000000, 0)}, released: map[StripeKey]bool{{2}: true}}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzParse(t, b, parsePruneList, (*pruneList).encode)
	})
}

func FuzzParseArchive(f *testing.F) {
	f.Add(encodeArchive(map[[32]byte][]LogEntry{{1}: {{Box: []byte("b"), Index: Ref("i")}}, {2}: {{Box: []byte("c")}}}))
	f.Fuzz(func(t *testing.T, b []byte) { fuzzParse(t, b, parseArchive, encodeArchive) })
}

// FuzzCache: a damaged cache is no cache, or a shorter one: reading it
// never panics, and every entry it yields was whole.
func FuzzCache(f *testing.F) {
	dir := f.TempDir()
	w, err := createCache(filepath.Join(dir, "seed"))
	if err != nil {
		f.Fatal(err)
	}
	w.add(&cacheEntry{path: "a/b", dev: 1, ino: 2, size: 3, mtime: 4, ctime: 5, manifest: []byte{1, 0, 0, 0}})
	w.commit(SnapshotID{9})
	seed, _ := os.ReadFile(filepath.Join(dir, "seed"))
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		name := filepath.Join(t.TempDir(), "c")
		os.WriteFile(name, b, 0o600)
		c := openCache(name)
		defer c.close()
		for c != nil && c.cur != nil {
			c.advance()
		}
	})
}
