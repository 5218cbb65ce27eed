package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/pipeline"
)

// TestCatalogMerge: replicas that each add and remove files and merge
// each other's states in random orders all end in the same state, that
// of applying every operation by time; merging is idempotent.
func TestCatalogMerge(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		reps := []catalogState{newCatalogState(), newCatalogState(), newCatalogState()}
		// Truth by last write: id -> (time, present).
		type op struct {
			at      time.Time
			present bool
		}
		truth := map[string]op{}
		for i := range 60 {
			r := reps[rng.IntN(len(reps))]
			id := fmt.Sprintf("%02d", rng.IntN(8))
			at := base.Add(time.Duration(i) * time.Second)
			switch rng.IntN(3) {
			case 0, 1:
				e := r.add(client.Entry{ID: id, Name: "n" + id, Created: at})
				truth[id] = op{e.Created, true}
			case 2:
				if _, ok := r.remove(id, at); ok {
					truth[id] = op{at, false}
				}
			}
			if rng.IntN(4) == 0 { // a sync between two replicas
				x, y := reps[rng.IntN(3)], reps[rng.IntN(3)]
				x.merge(y.clone())
			}
		}
		// Everyone merges everyone, in a random order, twice.
		for range 2 {
			for _, i := range rng.Perm(3) {
				for _, j := range rng.Perm(3) {
					reps[i].merge(reps[j].clone())
				}
			}
		}
		want := listed(reps[0])
		for i, r := range reps {
			if got := listed(r); !slices.Equal(got, want) {
				t.Fatalf("seed %d: replica %d lists %v, replica 0 %v", seed, i, got, want)
			}
		}
		// Every operation is later than the ones before it, so each file
		// ends as its last operation left it, wherever that was made.
		var truly []string
		for id, o := range truth {
			if o.present {
				truly = append(truly, id)
			}
		}
		slices.Sort(truly)
		if !slices.Equal(want, truly) {
			t.Fatalf("seed %d: the replicas list %v, the operations leave %v", seed, want, truly)
		}
		b0, _ := reps[0].marshal()
		again := reps[0].clone()
		if gone := again.merge(reps[0].clone()); len(gone) != 0 {
			t.Fatalf("seed %d: merging a state into itself removed %v", seed, gone)
		}
		if b1, _ := again.marshal(); !bytes.Equal(b0, b1) {
			t.Fatalf("seed %d: merge is not idempotent", seed)
		}
		back, err := parseCatalogDoc(b0)
		if err != nil {
			t.Fatal(err)
		}
		if b2, _ := back.marshal(); !bytes.Equal(b0, b2) {
			t.Fatalf("seed %d: a document does not read back as written", seed)
		}
	}
}

func listed(st catalogState) []string {
	var out []string
	for id := range st.files {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// TestCatalogRemoveReAdd: a file removed and stored again stays, even
// where the remover's clock is ahead; a removal by a machine whose clock
// is behind the adder's still wins over that add.
func TestCatalogRemoveReAdd(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, b := newCatalogState(), newCatalogState()
	a.add(client.Entry{ID: "f", Created: t0})
	b.merge(a.clone())
	// b's clock is an hour behind: its removal still takes the file out.
	if _, ok := b.remove("f", t0.Add(-time.Hour)); !ok {
		t.Fatal("b cannot remove f")
	}
	if gone := a.merge(b.clone()); len(gone) != 1 || len(a.files) != 0 {
		t.Fatalf("a after b's removal: gone %v, files %v", gone, a.files)
	}
	// Stored again through a, at a time before the tombstone: it stays.
	a.add(client.Entry{ID: "f", Created: t0})
	b.merge(a.clone())
	if len(a.files) != 1 || len(b.files) != 1 {
		t.Fatalf("a file stored again after its removal: a %v, b %v", a.files, b.files)
	}
}

func TestParseCatalogDoc(t *testing.T) {
	// Version 1: a bare list, as catalogs were written before.
	v1 := []byte(`[{"id":"aa","name":"x","size":3,"created":"2026-01-01T00:00:00Z","manifest":"AQI="}]`)
	st, err := parseCatalogDoc(v1)
	if err != nil || len(st.files) != 1 || st.files["aa"].Name != "x" || !bytes.Equal(st.files["aa"].Manifest, []byte{1, 2}) {
		t.Fatalf("version 1: %v, %v", st.files, err)
	}
	for _, bad := range []string{
		``, `{`, `[{"name":"no id"}]`, `{"version":3,"files":[]}`,
		`{"version":2,"files":[{"id":"a"},{"id":"a"}]}`,
		`{"version":2,"files":[],"removed":[{"id":""}]}`,
		`{"version":2,"files":[],"removed":[{"id":"a","at":"2026-01-01T00:00:00Z"},{"id":"a","at":"2026-01-01T00:00:00Z"}]}`,
	} {
		if _, err := parseCatalogDoc([]byte(bad)); !errors.Is(err, errCatalogDoc) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestCatalogRef(t *testing.T) {
	r := catalogRef{ID: pipeline.ManifestID{1, 2, 3}, Sealed: []byte("sealed manifest")}
	back, err := parseCatalogRef(r.marshal())
	if err != nil || back.ID != r.ID || !bytes.Equal(back.Sealed, r.Sealed) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	for _, bad := range [][]byte{nil, {1}, append([]byte{2}, r.marshal()[1:]...), r.marshal()[:33], make([]byte, 9<<10)} {
		if _, err := parseCatalogRef(bad); !errors.Is(err, errCatalogRef) {
			t.Errorf("%x: %v", bad[:min(len(bad), 8)], err)
		}
	}
}

func FuzzParseCatalogDoc(f *testing.F) {
	f.Add([]byte(`[{"id":"aa","name":"x","size":3,"created":"2026-01-01T00:00:00Z"}]`))
	f.Add([]byte(`{"version":2,"files":[{"id":"a","created":"2026-01-02T00:00:00Z"}],"removed":[{"id":"a","at":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":2,"files":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseCatalogDoc(b)
		if err != nil {
			if !errors.Is(err, errCatalogDoc) {
				t.Fatalf("an error that is not errCatalogDoc: %v", err)
			}
			return
		}
		// What reads, writes and reads back the same.
		out, err := st.marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := parseCatalogDoc(out)
		if err != nil {
			t.Fatalf("a written document does not read: %v", err)
		}
		if out2, _ := back.marshal(); !bytes.Equal(out, out2) {
			t.Fatal("a document does not read back as written")
		}
	})
}

func FuzzParseCatalogRef(f *testing.F) {
	f.Add(catalogRef{ID: pipeline.ManifestID{9}, Sealed: []byte("x")}.marshal())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseCatalogRef(b)
		if err != nil {
			if !errors.Is(err, errCatalogRef) {
				t.Fatalf("an error that is not errCatalogRef: %v", err)
			}
			return
		}
		if !bytes.Equal(r.marshal(), b) {
			t.Fatal("a reference does not encode back to its bytes")
		}
	})
}
