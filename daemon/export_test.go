package daemon

import (
	"context"
	"path/filepath"

	"github.com/murmur-cloud/murmur/client"
	"github.com/murmur-cloud/murmur/crypt"
)

// AddEntry puts an entry into the server's catalog as it is.
func AddEntry(s *Server, e client.Entry) {
	if err := s.cat.add(e); err != nil {
		panic(err)
	}
}

// The translation of node's types and sentinels to the client's.
var (
	GossipStatus = gossipStatus
	WriteError   = writeError
)

// NoCatalogSync keeps the server's catalog on its disk only, for tests
// that count the shards of files alone. Call it before Serve.
func NoCatalogSync(s *Server) { s.syncPeriod = 0 }

// SyncCatalog syncs the server's catalog with the cloud's copy now.
func SyncCatalog(ctx context.Context, s *Server) error { return s.syncCatalog(ctx) }

// LoadCatalog reads a catalog file as a server opening it does.
func LoadCatalog(path string) ([]client.Entry, error) {
	c, err := openCatalog(path)
	if err != nil {
		return nil, err
	}
	return c.list(), nil
}

// DriveKeys reads the keys of the server's catalog in dir.
func DriveKeys(dir string) (*crypt.Keys, error) {
	return loadDriveKey(filepath.Join(dir, driveKeyFile), "")
}
