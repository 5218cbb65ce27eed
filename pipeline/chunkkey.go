package pipeline

import (
	"fmt"

	"github.com/murmur-cloud/murmur/crypt"
)

// A chunk's own key, for whoever runs a task over it (package compute):
// the owner derives it (ChunkKey) and hands it to the peer, which opens the
// sealed chunk with it (OpenChunk) and reads nothing else of the drive.

// ChunkKeyNonce returns where, within its data shard, the bytes lie that
// select chunk c's per-object key (crypt.KeyNonce): the owner asks the
// peer to prove them before it derives the key. A keyed chunk needs none:
// ok is false.
func ChunkKeyNonce(c ChunkRef) (off, n int, ok bool) {
	if c.Keyed() {
		return 0, 0, false
	}
	return c.Offset + crypt.KeyNonceOffset, crypt.KeyNonceLen, true
}

// ChunkKey returns the key that opens chunk c and nothing else, given the
// key-selecting bytes of its nonce (nil for a keyed chunk). cfg holds the
// drive's (or set's) keys.
func ChunkKey(cfg Config, c ChunkRef, nonce []byte) (crypt.ObjectKey, error) {
	if cfg.Keys == nil {
		return crypt.ObjectKey{}, fmt.Errorf("pipeline: chunk key: no keys")
	}
	s := cfg.Keys.Sealer(crypt.PurposeChunk)
	if c.Keyed() {
		return s.KeyedObjectKey(&c.Key), nil
	}
	return s.ObjectKey(nonce)
}

// OpenChunk opens sealed, chunk c as its data shard holds it, with k, and
// decompresses it: the chunk's plaintext, c.Size bytes. A wrong key or
// bytes that are not the chunk fail with an error wrapping crypt.ErrAuth.
func OpenChunk(k *crypt.ObjectKey, c ChunkRef, sealed []byte) ([]byte, error) {
	if len(sealed) != c.SealedSize() {
		return nil, fmt.Errorf("%w: chunk %s: %d sealed bytes, want %d", crypt.ErrAuth, c.ID.String()[:12], len(sealed), c.SealedSize())
	}
	plain, err := k.Open(make([]byte, 0, c.SealedSize()-crypt.Overhead), c.ID[:], sealed)
	if err != nil {
		return nil, fmt.Errorf("chunk %s: %w", c.ID.String()[:12], err)
	}
	if c.Compressed() {
		_, dec := zstdCodec()
		if plain, err = dec.DecodeAll(plain, make([]byte, 0, c.Size)); err != nil || len(plain) != c.Size {
			return nil, fmt.Errorf("%w: chunk %s does not decompress to its %d bytes: %v", ErrManifest, c.ID.String()[:12], c.Size, err)
		}
	} else if len(plain) != c.Size {
		return nil, fmt.Errorf("%w: chunk %s opened to %d bytes, want %d", ErrManifest, c.ID.String()[:12], len(plain), c.Size)
	}
	return plain, nil
}
