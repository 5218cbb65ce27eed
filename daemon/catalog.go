package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/internal/atomicfile"
)

// catalog is the node's list of files, a JSON file rewritten atomically.
type catalog struct {
	path string
	mu   sync.Mutex
	byID map[string]client.Entry
}

func openCatalog(path string) (*catalog, error) {
	c := &catalog{path: path, byID: map[string]client.Entry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("api: read catalog: %w", err)
	}
	var list []client.Entry
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("api: catalog %s is damaged: %w", path, err)
	}
	for _, e := range list {
		c.byID[e.ID] = e
	}
	return c, nil
}

func (c *catalog) add(e client.Entry) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[e.ID] = e
	return c.saveLocked()
}

// remove takes a file out of the catalog and returns it with the entries
// left.
func (c *catalog) remove(id string) (client.Entry, []client.Entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !ok {
		return client.Entry{}, nil, fmt.Errorf("%w: %s", client.ErrNoFile, id)
	}
	delete(c.byID, id)
	if err := c.saveLocked(); err != nil {
		c.byID[id] = e
		return client.Entry{}, nil, err
	}
	return e, c.listLocked(), nil
}

func (c *catalog) saveLocked() error {
	b, err := json.Marshal(c.listLocked())
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.path, b, 0o600)
}

func (c *catalog) get(id string) (client.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	return e, ok
}

func (c *catalog) list() []client.Entry {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.listLocked()
}

func (c *catalog) listLocked() []client.Entry {
	out := make([]client.Entry, 0, len(c.byID))
	for _, e := range c.byID {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}
