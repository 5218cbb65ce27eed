package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/murmur-cloud/murmur/client"
)

// The catalog of the node's flat file store is a set of entries with
// removals, merged as a last-writer-wins element set: for each file ID the
// latest add (an entry's Created) and the latest removal (a tombstone's
// At) are kept, and the file is listed when its add is the later. Merging
// is commutative, associative and idempotent, so any number of nodes
// holding the catalog's key can each merge what they find in the cloud
// with what they did, in any order, and agree.

// catalogVersion is the version of the catalog's document, on disk and in
// the cloud. Version 1, a bare JSON list of entries, is still read.
const catalogVersion = 2

// maxCatalogDoc bounds a catalog document read from the cloud or disk.
const maxCatalogDoc = 256 << 20

// errCatalogDoc reports a catalog document that cannot be read.
var errCatalogDoc = errors.New("api: malformed catalog document")

// catalogDoc is the catalog as it is kept on disk and published: its
// files, with their sealed manifests, and its removals.
type catalogDoc struct {
	Version int            `json:"version"`
	Files   []client.Entry `json:"files"`
	Removed []tombstone    `json:"removed,omitempty"`
}

// tombstone records that a file was removed, and when.
type tombstone struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// catalogState is a catalog in memory.
type catalogState struct {
	files   map[string]client.Entry
	removed map[string]time.Time
}

func newCatalogState() catalogState {
	return catalogState{files: map[string]client.Entry{}, removed: map[string]time.Time{}}
}

// parseCatalogDoc reads a catalog document of either version. Every entry
// needs an ID, and no ID may repeat.
func parseCatalogDoc(b []byte) (catalogState, error) {
	st := newCatalogState()
	if len(b) > maxCatalogDoc {
		return st, fmt.Errorf("%w: %d bytes, more than %d", errCatalogDoc, len(b), maxCatalogDoc)
	}
	var d catalogDoc
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] == '[' { // version 1
		if err := json.Unmarshal(trimmed, &d.Files); err != nil {
			return st, fmt.Errorf("%w: %w", errCatalogDoc, err)
		}
	} else {
		if err := json.Unmarshal(trimmed, &d); err != nil {
			return st, fmt.Errorf("%w: %w", errCatalogDoc, err)
		}
		if d.Version != catalogVersion {
			return st, fmt.Errorf("%w: version %d (this murmur reads %d)", errCatalogDoc, d.Version, catalogVersion)
		}
	}
	for _, e := range d.Files {
		if e.ID == "" {
			return st, fmt.Errorf("%w: an entry without an ID", errCatalogDoc)
		}
		if _, dup := st.files[e.ID]; dup {
			return st, fmt.Errorf("%w: file %s listed twice", errCatalogDoc, e.ID)
		}
		st.files[e.ID] = e
	}
	for _, t := range d.Removed {
		if t.ID == "" {
			return st, fmt.Errorf("%w: a removal without an ID", errCatalogDoc)
		}
		if _, dup := st.removed[t.ID]; dup {
			return st, fmt.Errorf("%w: removal of %s listed twice", errCatalogDoc, t.ID)
		}
		st.removed[t.ID] = t.At
	}
	// A document as this code writes it lists no file removed after it
	// was added; one that does is brought to the same meaning.
	for id, e := range st.files {
		if at, ok := st.removed[id]; ok && !e.Created.After(at) {
			delete(st.files, id)
		}
	}
	return st, nil
}

// marshal encodes the state canonically: files and removals sorted by
// ID, so equal states have equal bytes.
func (st catalogState) marshal() ([]byte, error) {
	d := catalogDoc{Version: catalogVersion, Files: make([]client.Entry, 0, len(st.files))}
	for _, id := range slices.Sorted(maps.Keys(st.files)) {
		d.Files = append(d.Files, st.files[id])
	}
	for _, id := range slices.Sorted(maps.Keys(st.removed)) {
		d.Removed = append(d.Removed, tombstone{ID: id, At: st.removed[id]})
	}
	return json.Marshal(d)
}

// clone returns a copy of st that shares no map with it.
func (st catalogState) clone() catalogState {
	return catalogState{files: maps.Clone(st.files), removed: maps.Clone(st.removed)}
}

// merge folds o into st and returns the files st listed that o's removals
// took out.
func (st catalogState) merge(o catalogState) (gone []client.Entry) {
	before := maps.Clone(st.files)
	for id, at := range o.removed {
		if mine, ok := st.removed[id]; !ok || at.After(mine) {
			st.removed[id] = at
		}
	}
	for id, e := range o.files {
		if mine, ok := st.files[id]; !ok || e.Created.After(mine.Created) {
			st.files[id] = e
		}
	}
	for id, e := range st.files {
		if at, ok := st.removed[id]; ok && !e.Created.After(at) {
			delete(st.files, id)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(before)) {
		if _, ok := st.files[id]; !ok {
			gone = append(gone, before[id])
		}
	}
	return gone
}

// remove takes a file out, with a tombstone later than its add even if
// this machine's clock is behind the one that added it.
func (st catalogState) remove(id string, now time.Time) (client.Entry, bool) {
	e, ok := st.files[id]
	if !ok {
		return e, false
	}
	delete(st.files, id)
	at := now.UTC()
	if !at.After(e.Created) {
		at = e.Created.Add(time.Nanosecond)
	}
	st.removed[id] = at
	return e, true
}

// add puts a file in, later than any removal of the same ID (the same
// bytes stored again after a removal).
func (st catalogState) add(e client.Entry) client.Entry {
	if at, ok := st.removed[e.ID]; ok && !e.Created.After(at) {
		e.Created = at.Add(time.Nanosecond)
	}
	st.files[e.ID] = e
	return e
}
