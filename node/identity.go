package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/murmur-cloud/murmur/internal/atomicfile"
)

// identityFile is where a node keeps its Ed25519 key, in its directory.
const identityFile = "identity.key"

// LoadIdentity returns the node key kept in dir, creating one (readable by
// the owner only) if there is none.
func LoadIdentity(dir string) (crypto.PrivKey, error) {
	path := filepath.Join(dir, identityFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, fmt.Errorf("node: generate identity: %w", err)
		}
		raw, err := crypto.MarshalPrivateKey(key)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		if err := atomicfile.WriteFile(path, raw, 0o600); err != nil {
			return nil, fmt.Errorf("node: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("node: read identity: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("node: identity file %s is damaged: %w", path, err)
	}
	return key, nil
}
