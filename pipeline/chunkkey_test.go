package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

// TestChunkKey: from its data shard alone, each chunk opens with the key
// ChunkKey derives from the nonce bytes ChunkKeyNonce names, for plain,
// compressed and content-sealed chunks; a chunk's key opens no other
// chunk.
func TestChunkKey(t *testing.T) {
	text := []byte(strings.Repeat("a line of text that compresses well enough\n", 20000))
	for _, cfg := range []pipeline.Config{
		{Keys: testKeys(1), Chunking: small},
		{Keys: testKeys(2), Chunking: small, Compress: true},
		{Keys: testKeys(3), Chunking: small, Sealing: pipeline.SealContent, Compress: true},
	} {
		st := store.NewMem(0)
		m := write(t, cfg, st, text)
		if len(m.Chunks) < 3 {
			t.Fatalf("%d chunks", len(m.Chunks))
		}
		var keys []crypt.ObjectKey
		var at int64
		for i, c := range m.Chunks {
			shard, err := st.Get(context.Background(), m.Stripes[c.Stripe].Shards[c.Shard].ID)
			if err != nil {
				t.Fatal(err)
			}
			var nonce []byte
			if off, n, ok := pipeline.ChunkKeyNonce(c); ok {
				nonce = shard[off : off+n]
			} else if !c.Keyed() {
				t.Fatalf("chunk %d: no nonce and no key", i)
			}
			k, err := pipeline.ChunkKey(cfg, c, nonce)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := pipeline.OpenChunk(&k, c, shard[c.Offset:c.Offset+c.SealedSize()])
			if err != nil || !bytes.Equal(plain, text[at:at+int64(c.Size)]) {
				t.Fatalf("chunk %d: %v", i, err)
			}
			at += int64(c.Size)
			keys = append(keys, k)
		}
		c1 := m.Chunks[1]
		shard, _ := st.Get(context.Background(), m.Stripes[c1.Stripe].Shards[c1.Shard].ID)
		if _, err := pipeline.OpenChunk(&keys[0], c1, shard[c1.Offset:c1.Offset+c1.SealedSize()]); !errors.Is(err, crypt.ErrAuth) {
			t.Fatalf("chunk 0's key opened chunk 1: %v", err)
		}
	}
}
