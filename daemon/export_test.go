package daemon

import "github.com/murmur-cloud/murmur/client"

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

// LoadCatalog reads a catalog file as a server opening it does.
func LoadCatalog(path string) ([]client.Entry, error) {
	c, err := openCatalog(path)
	if err != nil {
		return nil, err
	}
	return c.list(), nil
}
