package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
	"github.com/murmur-cloud/murmur/pipeline"
)

// catalog is the node's list of files, a JSON document (catalogDoc)
// rewritten atomically on every change, and published to the cloud by
// catalogsync.go.
type catalog struct {
	path string
	mu   sync.Mutex
	st   catalogState
	now  func() time.Time
	// changed is signalled (without blocking) on every local change, for
	// the publisher.
	changed chan struct{}
}

func openCatalog(path string) (*catalog, error) {
	c := &catalog{path: path, st: newCatalogState(), now: time.Now, changed: make(chan struct{}, 1)}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("api: read catalog: %w", err)
	}
	if c.st, err = parseCatalogDoc(b); err != nil {
		return nil, fmt.Errorf("api: catalog %s is damaged: %w", path, err)
	}
	return c, nil
}

func (c *catalog) add(e client.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.st.clone()
	c.st.add(e)
	if err := c.saveLocked(); err != nil {
		c.st = prev
		return err
	}
	c.signal()
	return nil
}

// remove takes a file out of the catalog and returns it with the entries
// left.
func (c *catalog) remove(id string) (client.Entry, []client.Entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.st.clone()
	e, ok := c.st.remove(id, c.now())
	if !ok {
		return client.Entry{}, nil, fmt.Errorf("%w: %s", client.ErrNoFile, id)
	}
	if err := c.saveLocked(); err != nil {
		c.st = prev
		return client.Entry{}, nil, err
	}
	c.signal()
	return e, c.listLocked(), nil
}

// merge folds a catalog found in the cloud into this one and returns the
// files its removals took out, with the entries left.
func (c *catalog) merge(o catalogState) (gone, rest []client.Entry, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev := c.st.clone()
	gone = c.st.merge(o)
	if err := c.saveLocked(); err != nil {
		c.st = prev
		return nil, nil, err
	}
	return gone, c.listLocked(), nil
}

// snapshot returns a copy of the catalog's state.
func (c *catalog) snapshot() catalogState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.clone()
}

func (c *catalog) signal() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *catalog) saveLocked() error {
	b, err := c.st.marshal()
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path, b, 0o600)
}

func (c *catalog) get(id string) (client.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.st.files[id]
	return e, ok
}

func (c *catalog) list() []client.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listLocked()
}

func (c *catalog) listLocked() []client.Entry {
	out := make([]client.Entry, 0, len(c.st.files))
	for _, e := range c.st.files {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// checkCatalogKey refuses a key under which none of the catalog's
// manifests opens: a drive.key replaced after files were stored with another
// (which would publish entries no holder of either key can read).
func checkCatalogKey(keys *crypt.Keys, c *catalog) error {
	var bad int
	var first error
	list := c.list()
	for _, e := range list {
		id, err := pipeline.ParseManifestID(e.ID)
		if err == nil {
			_, err = pipeline.OpenManifest(keys, id, e.Manifest)
		}
		if errors.Is(err, crypt.ErrAuth) {
			bad++
			if first == nil {
				first = err
			}
		}
	}
	// One damaged entry is that file's problem (its reads and renewals
	// say so); none opening at all is the wrong key.
	if bad > 0 && bad == len(list) {
		return fmt.Errorf("none of the %d files of catalog.json was stored under this key (%w): put back the drive.key they were stored with", len(list), first)
	}
	return nil
}
