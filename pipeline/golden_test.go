package pipeline_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/murmur-cloud/murmur/chunk"
	"github.com/murmur-cloud/murmur/crypt"
	"github.com/murmur-cloud/murmur/erasure"
	"github.com/murmur-cloud/murmur/pipeline"
	"github.com/murmur-cloud/murmur/store"
)

var update = flag.Bool("update", false, "rewrite testdata/v1 (only when the v1 format itself was wrong)")

// goldenDir holds a file stored by format version 1: its shards, its sealed
// manifest and the manifest's ID. Every later version must read it.
const goldenDir = "testdata/v1"

// goldenKeys are the fixed keys of the golden drive: master key bytes
// 0x00..0x1f, drive ID 0xa0..0xaf.
func goldenKeys() *crypt.Keys {
	var mk crypt.MasterKey
	var d crypt.DriveID
	for i := range mk {
		mk[i] = byte(i)
	}
	for i := range d {
		d[i] = 0xa0 + byte(i)
	}
	return mk.Keys(d)
}

// goldenInput is 48 KiB from ChaCha8 seeded with "murmur pipeline golden v1" (zero padded).
func goldenInput() []byte {
	var seed [32]byte
	copy(seed[:], "murmur pipeline golden v1")
	b := make([]byte, 48<<10)
	cha := chacha8(seed)
	cha.Read(b)
	return b
}

var goldenConfig = pipeline.Config{Chunking: chunk.Params{Min: 2 << 10, Avg: 8 << 10, Max: 32 << 10}, K: 3, M: 2}

func TestGoldenV1(t *testing.T) {
	cfg := goldenConfig
	cfg.Keys = goldenKeys()
	if *update {
		writeGolden(t, cfg)
	}
	st := store.NewMem(0)
	shards, err := filepath.Glob(filepath.Join(goldenDir, "shards", "*"))
	if err != nil || len(shards) == 0 {
		t.Fatalf("no golden shards: %v", err)
	}
	for _, p := range shards {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		id, err := erasure.ParseShardID(filepath.Base(p))
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Put(context.Background(), id, b); err != nil {
			t.Fatalf("golden shard %s: %v", filepath.Base(p), err)
		}
	}
	idText, err := os.ReadFile(filepath.Join(goldenDir, "manifest.id"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := pipeline.ParseManifestID(strings.TrimSpace(string(idText)))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(goldenDir, "manifest.sealed"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := pipeline.OpenManifest(cfg.Keys, id, sealed)
	if err != nil {
		t.Fatalf("open the v1 manifest: %v", err)
	}
	got, err := readAll(t, cfg, st, m)
	if err != nil {
		t.Fatalf("read the v1 file: %v", err)
	}
	want := goldenInput()
	if !bytes.Equal(got, want) {
		t.Fatalf("v1 file reads as %d bytes that differ from the golden input", len(got))
	}
	sum, err := os.ReadFile(filepath.Join(goldenDir, "plain.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if s := sha256.Sum256(got); strings.TrimSpace(string(sum)) != hex.EncodeToString(s[:]) {
		t.Fatal("v1 file's SHA-256 differs from plain.sha256")
	}
	// Today's writer still cuts and names the same chunks.
	now := write(t, cfg, store.NewMem(0), want)
	for i := range m.Chunks {
		if now.Chunks[i].ID != m.Chunks[i].ID || now.Chunks[i].Size != m.Chunks[i].Size {
			t.Fatalf("chunk %d is cut or named differently than in v1", i)
		}
	}
}

func writeGolden(t *testing.T, cfg pipeline.Config) {
	t.Helper()
	if err := os.RemoveAll(goldenDir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(goldenDir, "shards"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := store.NewMem(0)
	input := goldenInput()
	m := write(t, cfg, st, input)
	err := st.Walk(context.Background(), func(id erasure.ShardID, _ int) error {
		b, err := st.Get(context.Background(), id)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(goldenDir, "shards", id.String()), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	id, sealed, err := pipeline.SealManifest(cfg.Keys, m)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(input)
	for name, b := range map[string][]byte{
		"manifest.id":     []byte(id.String() + "\n"),
		"manifest.sealed": sealed,
		"plain.sha256":    []byte(hex.EncodeToString(sum[:]) + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(goldenDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWriteFuzzSeeds refreshes the committed seed corpora from the golden
// file when run with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		return
	}
	cfg := goldenConfig
	cfg.Keys = goldenKeys()
	m := write(t, cfg, store.NewMem(0), goldenInput())
	plain, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	id, sealed, err := pipeline.SealManifest(cfg.Keys, m)
	if err != nil {
		t.Fatal(err)
	}
	empty, _ := (&pipeline.Manifest{}).MarshalBinary()
	seeds := map[string]string{
		"FuzzParseManifest/golden":   fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", plain),
		"FuzzParseManifest/empty":    fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", empty),
		"FuzzParseManifest/garbage":  "go test fuzz v1\n[]byte(\"\\x01\\xff\\xff\\xff\\xff\\x0f\")\n",
		"FuzzOpenManifest/golden":    fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", id[:], sealed),
		"FuzzOpenManifest/truncated": fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n[]byte(%q)\n", id[:], sealed[:30]),
	}
	for name, body := range seeds {
		p := filepath.Join("testdata/fuzz", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
